using System.Net;
using Bitswap.Domain;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Xunit;
using static Bitswap.Tests.Scenarios.Network.NetworkTestKit;

namespace Bitswap.Tests.Scenarios.Network;

public sealed class VirtualNetworkTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task A_message_arrives_after_the_configured_latency_in_virtual_time()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(50 * Ms) });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);
        var sent = Carrying(BlockOf(1, 300)).WithEntry(WantlistEntry.WantBlock(BlockOf(2, 10).Cid, 7));

        await a.SendAsync(b.Self, sent);
        scheduler.AdvanceBy(49 * Ms);
        Assert.Empty(atB.Arrivals);
        scheduler.AdvanceBy(1 * Ms);

        var (at, arrival) = Assert.Single(atB.Arrivals);
        Assert.Equal(Epoch + 50 * Ms, at);
        Assert.Equal(a.Self, arrival.Peer);
        Assert.Equal(ProtocolVersion.V120, arrival.Version);
        Assert.Equal(sent, arrival.Message);
        Assert.Equal(a.Stats.BytesSent, arrival.WireBytes);
    }

    [Fact]
    public async Task Connecting_announces_the_peer_on_both_sides_before_any_message()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler);
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atA = new EventRecorder(a, scheduler);
        using var atB = new EventRecorder(b, scheduler);

        await a.ConnectAsync(b.Self);
        await a.SendAsync(b.Self, WantHave(1));
        scheduler.Start();

        Assert.Equal([new PeerUp(b.Self, ProtocolVersion.V120, IPAddress.Loopback)], atA.Events.Select(e => e.Event));
        Assert.Equal(2, atB.Events.Count);
        Assert.Equal(new PeerUp(a.Self, ProtocolVersion.V120, IPAddress.Loopback), atB.Events[0].Event);
        Assert.IsType<MessageArrived>(atB.Events[1].Event);
        Assert.Equal([b.Self], a.ConnectedPeers);
        Assert.Equal([a.Self], b.ConnectedPeers);
    }

    [Fact]
    public async Task A_1_1_0_node_and_a_1_2_0_node_agree_on_1_1_0()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler);
        var old = network.Join(Peer("old"), ProtocolVersion.V110);
        var current = network.Join(Peer("current"));
        using var atOld = new EventRecorder(old, scheduler);
        using var atCurrent = new EventRecorder(current, scheduler);

        await current.ConnectAsync(old.Self);
        var block = BlockOf(3, 100);
        await current.SendAsync(old.Self, Carrying(block));
        scheduler.Start();

        Assert.Equal(ProtocolVersion.V110, old.VersionOf(current.Self));
        Assert.Equal(ProtocolVersion.V110, current.VersionOf(old.Self));
        Assert.Equal(new PeerUp(old.Self, ProtocolVersion.V110, IPAddress.Loopback), atCurrent.Events.Single().Event);
        var (_, arrival) = Assert.Single(atOld.Arrivals);
        Assert.Equal(ProtocolVersion.V110, arrival.Version);
        Assert.Equal(block, arrival.Message.Blocks.Values.Single());
    }

    [Fact]
    public async Task Two_1_MB_messages_on_a_1_MB_per_second_link_arrive_about_a_second_apart()
    {
        var scheduler = NewScheduler();
        var options = new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(10 * Ms), Bandwidth = new BandwidthModel.Fixed(1_000_000) };
        var network = new VirtualNetwork(scheduler, options);
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);

        await a.SendAsync(b.Self, Carrying(BlockOf(1, 1_000_000)));
        await a.SendAsync(b.Self, Carrying(BlockOf(2, 1_000_000)));
        scheduler.Start();

        var arrivals = atB.Arrivals.ToArray();
        Assert.Equal(2, arrivals.Length);
        var firstTransmission = TimeSpan.FromTicks((long)Math.Ceiling(arrivals[0].Arrival.WireBytes * 10_000_000.0 / 1_000_000));
        var secondTransmission = TimeSpan.FromTicks((long)Math.Ceiling(arrivals[1].Arrival.WireBytes * 10_000_000.0 / 1_000_000));
        Assert.Equal(Epoch + firstTransmission + 10 * Ms, arrivals[0].At);
        Assert.Equal(arrivals[0].At + secondTransmission, arrivals[1].At);
        Assert.InRange(arrivals[1].At - arrivals[0].At, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1.001));
    }

    [Fact]
    public async Task Messages_on_one_link_arrive_in_the_order_they_were_sent()
    {
        var scheduler = NewScheduler();
        var options = new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(5 * Ms), Bandwidth = new BandwidthModel.Fixed(100_000) };
        var network = new VirtualNetwork(scheduler, options);
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);

        // Big and small messages interleaved: a small one must still wait behind a big one on the same link.
        var blocks = Enumerable.Range(0, 20).Select(i => BlockOf(i, i % 2 == 0 ? 20_000 : 10)).ToArray();
        foreach (var block in blocks)
        {
            await a.SendAsync(b.Self, Carrying(block));
            scheduler.AdvanceBy(1 * Ms);
        }
        scheduler.Start();

        Assert.Equal(blocks.Select(x => x.Cid), atB.Arrivals.Select(x => x.Arrival.Message.Blocks.Keys.Single()));
        var times = atB.Arrivals.Select(x => x.At).ToArray();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task Messages_from_several_senders_are_delivered_in_due_time_order()
    {
        var scheduler = NewScheduler();
        var options = new VirtualNetworkOptions { Seed = 7, Latency = new LatencyModel.Uniform(1 * Ms, 200 * Ms) };
        var network = new VirtualNetwork(scheduler, options);
        var target = network.Join(Peer("target"));
        var senders = Enumerable.Range(0, 8).Select(i => network.Join(Peer($"sender-{i}"))).ToArray();
        using var atTarget = new EventRecorder(target, scheduler);
        network.ConnectAll();

        foreach (var sender in senders) await sender.SendAsync(target.Self, WantHave(1));
        scheduler.Start();

        var expected = senders.Select(s => (Peer: s.Self, At: Epoch + network.LatencyOf(s.Self, target.Self))).OrderBy(x => x.At).ToArray();
        Assert.Equal(expected.Select(x => x.At), atTarget.Arrivals.Select(x => x.At));
        Assert.Equal(expected.Select(x => x.Peer), atTarget.Arrivals.Select(x => x.Arrival.Peer));
        Assert.All(expected, x => Assert.InRange(x.At - Epoch, 1 * Ms, 200 * Ms));
    }

    [Fact]
    public async Task Loss_drops_the_configured_fraction_the_same_way_for_a_fixed_seed()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Seed = 42, LossProbability = 0.3 });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);

        for (var i = 0; i < 1000; i++) await a.SendAsync(b.Self, WantHave(i));
        scheduler.Start();

        // One draw per send from a generator seeded with the network seed.
        var random = new Random(42);
        var expectedLost = Enumerable.Range(0, 1000).Count(_ => random.NextDouble() < 0.3);
        var stats = network.Stats;
        Assert.Equal(1000, stats.MessagesSent);
        Assert.Equal(expectedLost, stats.MessagesLost);
        Assert.Equal(1000 - expectedLost, stats.MessagesReceived);
        Assert.Equal(1000 - expectedLost, atB.Arrivals.Count());
        Assert.InRange(stats.MessagesLost, 250, 350);
        Assert.Equal(1000, a.Stats.MessagesSent);
        Assert.Equal(1000 - expectedLost, b.Stats.MessagesReceived);
    }

    [Fact]
    public async Task Disconnecting_stops_delivery_of_messages_in_flight_and_tells_both_sides()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(100 * Ms) });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atA = new EventRecorder(a, scheduler);
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);
        await a.SendAsync(b.Self, WantHave(1));
        scheduler.AdvanceBy(50 * Ms);

        await a.DisconnectAsync(b.Self);
        scheduler.Start();

        Assert.Empty(atB.Arrivals);
        Assert.Equal(new PeerDown(b.Self), atA.Events[^1].Event);
        Assert.Equal(new PeerDown(a.Self), atB.Events[^1].Event);
        Assert.Equal(1, network.Stats.MessagesCutOff);
        Assert.Null(a.VersionOf(b.Self));
        Assert.Empty(a.ConnectedPeers);
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(b.Self, WantHave(2)).AsTask());
    }

    [Fact]
    public async Task A_message_sent_on_an_old_connection_is_not_delivered_on_a_new_one()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(100 * Ms) });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        network.Connect(a.Self, b.Self);
        await a.SendAsync(b.Self, WantHave(1));
        network.Disconnect(a.Self, b.Self);
        network.Connect(a.Self, b.Self);
        await a.SendAsync(b.Self, WantHave(2));
        scheduler.Start();

        var (_, arrival) = Assert.Single(atB.Arrivals);
        Assert.Equal(WantHave(2), arrival.Message);
    }

    [Fact]
    public async Task Sending_to_a_peer_that_is_not_connected_fails()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler);
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(b.Self, WantHave(1)).AsTask());
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(Peer("stranger"), WantHave(1)).AsTask());
        await Assert.ThrowsAsync<NetworkException>(() => a.ConnectAsync(Peer("stranger")).AsTask());
        await Assert.ThrowsAsync<NetworkException>(() => a.ConnectAsync(a.Self).AsTask());
        Assert.Equal(0, network.Stats.MessagesSent);
    }

    [Fact]
    public async Task A_message_over_the_size_limit_is_refused()
    {
        var scheduler = NewScheduler();
        var limits = Limits.Default with { MessageBytesMax = 1000 };
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Limits = limits });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        await a.ConnectAsync(b.Self);
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(b.Self, Carrying(BlockOf(1, 2000))).AsTask());
        Assert.Equal(0, network.Stats.MessagesSent);
    }

    [Fact]
    public async Task A_message_the_receiver_cannot_decode_is_reported_as_a_receive_failure()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Limits = Limits.Default with { BlockBytesMax = 1000 } });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        using var atB = new EventRecorder(b, scheduler);
        await a.ConnectAsync(b.Self);
        await a.SendAsync(b.Self, Carrying(BlockOf(1, 2000)));
        scheduler.Start();

        var failure = Assert.IsType<ReceiveFailed>(atB.Events[^1].Event);
        Assert.Equal(a.Self, failure.Peer);
        Assert.Equal(Bitswap.Domain.Multiformats.DecodeErrorKind.TooLarge, failure.Error.Kind);
    }

    [Fact]
    public async Task Too_many_messages_in_flight_on_one_link_fail_the_send()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(10 * Ms), InFlightMessagesPerLinkMax = 3 });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        await a.ConnectAsync(b.Self);
        for (var i = 0; i < 3; i++) await a.SendAsync(b.Self, WantHave(i));
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(b.Self, WantHave(3)).AsTask());
        scheduler.Start();
        await a.SendAsync(b.Self, WantHave(4));
    }

    [Fact]
    public async Task Leaving_the_network_disconnects_every_peer_and_completes_the_events()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler);
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        var c = network.Join(Peer("c"));
        using var atA = new EventRecorder(a, scheduler);
        using var atB = new EventRecorder(b, scheduler);
        network.ConnectAll();
        scheduler.Start();

        await a.DisposeAsync();
        scheduler.Start();

        Assert.True(atA.Completed);
        Assert.Equal(new PeerDown(a.Self), atB.Events[^1].Event);
        Assert.Equal(new[] { b.Self, c.Self }.Order(), network.Peers);
        Assert.Equal([c.Self], b.ConnectedPeers);
        await Assert.ThrowsAsync<NetworkException>(() => a.SendAsync(b.Self, WantHave(1)).AsTask());
    }

    [Fact]
    public void Models_that_cannot_be_drawn_from_are_refused()
    {
        var scheduler = NewScheduler();
        Assert.Throws<ArgumentException>(() => new VirtualNetwork(scheduler, new VirtualNetworkOptions { Bandwidth = new BandwidthModel.Fixed(0) }));
        Assert.Throws<ArgumentException>(() => new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Uniform(10 * Ms, 5 * Ms) }));
        Assert.Throws<ArgumentException>(() => new VirtualNetwork(scheduler, new VirtualNetworkOptions
        {
            Latency = new LatencyModel.Internet(Ms, Ms, Ms, MediumFraction: 0.7, LargeFraction: 0.7, StdDev: Ms),
        }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VirtualNetwork(scheduler, new VirtualNetworkOptions { LossProbability = 1.5 }));
    }

    [Fact]
    public void Joining_twice_fails()
    {
        var network = new VirtualNetwork(NewScheduler());
        network.Join(Peer("a"));
        Assert.Throws<InvalidOperationException>(() => network.Join(Peer("a")));
    }

    [Fact]
    public async Task Per_node_and_global_counters_add_up()
    {
        var scheduler = NewScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(Ms) });
        var a = network.Join(Peer("a"));
        var b = network.Join(Peer("b"));
        await a.ConnectAsync(b.Self);
        await a.SendAsync(b.Self, WantHave(1));
        await a.SendAsync(b.Self, Carrying(BlockOf(1, 500)));
        await b.SendAsync(a.Self, WantHave(2));
        scheduler.Start();

        var total = network.Stats;
        Assert.Equal(3, total.MessagesSent);
        Assert.Equal(3, total.MessagesReceived);
        Assert.Equal(a.Stats.BytesSent + b.Stats.BytesSent, total.BytesSent);
        Assert.Equal(total.BytesSent, total.BytesReceived);
        Assert.Equal(new NetworkStats(2, 1, a.Stats.BytesSent, b.Stats.BytesSent), a.Stats);
        Assert.Equal(new NetworkStats(1, 2, b.Stats.BytesSent, a.Stats.BytesSent), b.Stats);
        Assert.True(a.Stats.BytesSent > 500);
    }

    [Fact]
    public void Latency_and_bandwidth_are_drawn_once_per_directed_pair()
    {
        var options = new VirtualNetworkOptions
        {
            Seed = 3,
            Latency = new LatencyModel.Normal(80 * Ms, 20 * Ms),
            Bandwidth = new BandwidthModel.Normal(1_000_000, 200_000),
        };
        var first = new VirtualNetwork(NewScheduler(), options);
        var second = new VirtualNetwork(NewScheduler(), options);
        var (x, y) = (Peer("x"), Peer("y"));

        Assert.Equal(first.LatencyOf(x, y), first.LatencyOf(x, y));
        Assert.Equal(first.LatencyOf(x, y), second.LatencyOf(x, y));
        Assert.Equal(first.BandwidthOf(y, x), second.BandwidthOf(y, x));
        Assert.NotEqual(first.LatencyOf(x, y), first.LatencyOf(y, x));
        Assert.NotEqual(first.LatencyOf(x, y), new VirtualNetwork(NewScheduler(), options with { Seed = 4 }).LatencyOf(x, y));
    }

    [Fact]
    public void Internet_latency_falls_in_three_clusters_in_roughly_the_configured_shares()
    {
        var options = new VirtualNetworkOptions
        {
            Seed = 11,
            Latency = new LatencyModel.Internet(Base: 60 * Ms, Medium: 140 * Ms, Large: 740 * Ms, MediumFraction: 0.3, LargeFraction: 0.3, StdDev: TimeSpan.Zero),
        };
        var network = new VirtualNetwork(NewScheduler(), options);
        var peers = Enumerable.Range(0, 40).Select(i => Peer($"p{i}")).ToArray();
        var latencies = peers.SelectMany(p => peers.Where(q => q != p).Select(q => network.LatencyOf(p, q))).ToArray();

        Assert.All(latencies, l => Assert.Contains(l, new[] { 60 * Ms, 200 * Ms, 800 * Ms }));
        var share = (TimeSpan cluster) => latencies.Count(l => l == cluster) / (double)latencies.Length;
        Assert.InRange(share(60 * Ms), 0.35, 0.45);
        Assert.InRange(share(200 * Ms), 0.25, 0.35);
        Assert.InRange(share(800 * Ms), 0.25, 0.35);
    }
}
