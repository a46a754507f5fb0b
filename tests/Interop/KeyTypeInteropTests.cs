using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop;

/// <summary>
/// Helia peers whose libp2p identity is RSA or secp256k1 (@libp2p/crypto generateKeyPair) fetch from us and serve to us,
/// over both handshake roles. js-libp2p 3 cannot run an ECDSA identity (@libp2p/peer-id 6.0.15 throws
/// UnsupportedKeyTypeError), so ECDSA is covered by the unit tests only.
/// </summary>
public class KeyTypeInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("RSA", "Qm")]
    [InlineData("secp256k1", "16Uiu2")]
    public async Task A_helia_peer_with_this_key_type_fetches_from_us_when_we_dial_it(string keyType, string peerIdPrefix)
    {
        await using var helia = await HeliaPeer.StartAsync(keyType);
        await using var node = await InteropNode.StartAsync();
        var block = Block.Raw(System.Text.Encoding.UTF8.GetBytes($"served to a {keyType} peer"));
        await node.Node.NotifyNewBlocksAsync(block);

        var address = Multiaddr.Parse(helia.Multiaddrs[0]).Match(a => a, e => throw new InvalidOperationException(e.ToString()));
        var remote = await node.Host.DialAsync(address).WaitAsync(Patience);
        var fetched = await helia.GetAsync(block.Cid.ToString(), TimeSpan.FromSeconds(30));

        output.WriteLine($"Helia {helia.ReadyLine["keyType"]} peer {helia.PeerId} fetched {block.Cid} ({fetched.Length} bytes) from us ({node.Peer}) over {address}");
        Assert.StartsWith(peerIdPrefix, helia.PeerId, StringComparison.Ordinal);
        Assert.Equal(helia.PeerId, remote.ToString());
        Assert.Equal(block.Data.ToArray(), fetched);
    }

    [Theory]
    [InlineData("RSA")]
    [InlineData("secp256k1")]
    public async Task A_helia_peer_with_this_key_type_serves_us_when_it_dials_us(string keyType)
    {
        await using var helia = await HeliaPeer.StartAsync(keyType);
        await using var node = await InteropNode.StartAsync();
        var data = System.Text.Encoding.UTF8.GetBytes($"served by a {keyType} peer");
        var cid = Cid.ParseOrThrow(await helia.PutAsync(data));

        Assert.Equal(node.Peer.ToString(), await helia.DialAsync(node.Address));
        var block = await node.Node.GetBlockAsync(cid).WaitAsync(Patience);

        Assert.Equal(data, block.Data.ToArray());
        Assert.Contains(PeerId.ParseOrThrow(helia.PeerId), node.Host.ConnectedPeers);
    }
}
