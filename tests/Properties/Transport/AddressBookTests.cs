using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host;
using Xunit;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>The identify address book keeps a bounded number of addresses per peer, newest last.</summary>
public sealed class AddressBookTests
{
    private static Multiaddr Address(int i) =>
        Multiaddr.Parse($"/ip4/10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/tcp/4001").Match(a => a, e => throw new InvalidOperationException(e.ToString()));

    [Fact]
    public async Task A_peer_announcing_41000_addresses_keeps_only_the_newest_up_to_the_cap()
    {
        var options = new TcpHostOptions { Listen = [] };
        await using var host = await TcpHost.StartAsync(PeerIdentity.Generate(), options);
        var flooder = PeerIdentity.Generate().PeerId;
        var honest = PeerIdentity.Generate().PeerId;
        host.AddAddress(honest, Address(1));

        for (var i = 0; i < 41_000; i++) host.AddAddress(flooder, Address(i));
        host.AddAddress(flooder, Address(40_999));

        var kept = host.AddressesOf(flooder);
        Assert.Equal(options.AddressesPerPeerMax, kept.Count);
        Assert.Equal(Address(40_999), kept[^1]);
        Assert.Equal(Address(41_000 - options.AddressesPerPeerMax), kept[0]);
        Assert.Equal(kept.Count, kept.Distinct().Count());
        Assert.Equal([Address(1)], host.AddressesOf(honest));
    }
}
