using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Network;
using Xunit;
using static Bitswap.Tests.Scenarios.Network.NetworkTestKit;

namespace Bitswap.Tests.Scenarios.Network;

public sealed class VirtualRoutingTests
{
    private static async Task<List<PeerId>> Find(IProviderFinder finder, Cid cid, int max)
    {
        var found = new List<PeerId>();
        await foreach (var peer in finder.FindProvidersAsync(cid, max)) found.Add(peer);
        return found;
    }

    [Fact]
    public async Task Providers_are_found_in_peer_order_up_to_the_maximum()
    {
        var routing = new VirtualRouting();
        var cid = BlockOf(1, 10).Cid;
        var peers = Enumerable.Range(0, 5).Select(i => Peer($"p{i}")).ToArray();
        foreach (var peer in peers) routing.Provide(peer, cid);
        routing.Provide(peers[0], cid);

        Assert.Equal(peers.Order(), await Find(routing, cid, 10));
        Assert.Equal(peers.Order().Take(2), await Find(routing, cid, 2));
        Assert.Empty(await Find(routing, BlockOf(2, 10).Cid, 10));
    }

    [Fact]
    public async Task A_v0_and_a_v1_cid_of_the_same_content_share_providers()
    {
        var routing = new VirtualRouting();
        var v1 = Cid.V1(Multicodec.DagPb, BlockOf(3, 10).Cid.Hash);
        var v0 = Cid.V0(v1.Hash).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        routing.Provide(Peer("holder"), v1);
        Assert.Equal([Peer("holder")], await Find(routing, v0, 10));
    }

    [Fact]
    public async Task Unprovide_withdraws_an_announcement_and_the_per_cid_cap_holds()
    {
        var routing = new VirtualRouting(providersPerCidMax: 2);
        var cid = BlockOf(4, 10).Cid;
        routing.Provide(Peer("a"), cid);
        routing.Provide(Peer("b"), cid);
        routing.Provide(Peer("c"), cid);
        Assert.Equal(2, routing.ProvidersOf(cid).Count);
        Assert.DoesNotContain(Peer("c"), routing.ProvidersOf(cid));

        Assert.True(routing.Unprovide(Peer("a"), cid));
        Assert.False(routing.Unprovide(Peer("a"), cid));
        Assert.Equal([Peer("b")], await Find(routing, cid, 10));
    }
}
