using Xunit;

namespace Bitswap.Tests.Interop;

/// <summary>The interop peer itself: two Helia nodes exchange a block over bitswap, driven through <see cref="HeliaPeer"/>.</summary>
public class HeliaPeerTests
{
    [Fact]
    public async Task Two_helia_peers_exchange_a_block_over_bitswap()
    {
        await using var provider = await HeliaPeer.StartAsync();
        await using var fetcher = await HeliaPeer.StartAsync();
        var data = "interop peer self-check"u8.ToArray();

        var cid = await provider.PutAsync(data);
        Assert.Equal(provider.PeerId, await fetcher.DialAsync(provider.Multiaddrs[0]));
        var fetched = await fetcher.GetAsync(cid, TimeSpan.FromSeconds(20));

        Assert.Equal(data, fetched);
        Assert.Contains(provider.PeerId, await fetcher.PeersAsync());
        Assert.Contains("/ipfs/bitswap/1.2.0", await fetcher.ProtocolsAsync(provider.PeerId));
    }

    [Fact]
    public async Task Bad_commands_get_error_answers_and_the_peer_keeps_serving()
    {
        await using var peer = await HeliaPeer.StartAsync();

        var unknown = await peer.SendAsync("no-such-command");
        var badCid = await Assert.ThrowsAsync<HeliaPeerException>(() => peer.GetAsync("not-a-cid", TimeSpan.FromSeconds(1)));
        var cid = await peer.PutAsync(new byte[] { 1, 2, 3 });

        Assert.Contains("unknown command", unknown["error"]!.ToString());
        Assert.Equal("get", badCid.Command);
        Assert.True(await peer.HasAsync(cid));
    }
}
