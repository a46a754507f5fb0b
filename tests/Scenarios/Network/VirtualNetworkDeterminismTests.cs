using System.Reactive.Concurrency;
using Bitswap.Runtime.Network;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;
using static Bitswap.Tests.Scenarios.Network.NetworkTestKit;

namespace Bitswap.Tests.Scenarios.Network;

public sealed class VirtualNetworkDeterminismTests
{
    /// <summary>Runs five nodes exchanging seeded traffic over a lossy, variable network and returns one line per event.</summary>
    private static IReadOnlyList<string> Trace(int seed)
    {
        var scheduler = NewScheduler();
        var options = new VirtualNetworkOptions
        {
            Seed = seed,
            Latency = new LatencyModel.Internet(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(140), TimeSpan.FromMilliseconds(740), 0.3, 0.3, TimeSpan.FromMilliseconds(5)),
            Bandwidth = new BandwidthModel.Normal(500_000, 100_000),
            LossProbability = 0.1,
        };
        var network = new VirtualNetwork(scheduler, options);
        var ports = Enumerable.Range(0, 5).Select(i => network.Join(Peer($"node-{i}"))).ToArray();
        var trace = new List<string>();
        var subscriptions = ports.Select(port => port.Events.Subscribe(e => trace.Add(
            $"{(scheduler.Now - Epoch).Ticks} {port.Self.Short} {e.GetType().Name} {e.Peer.Short} {(e is MessageArrived m ? m.WireBytes : 0)}"))).ToArray();
        network.ConnectAll();
        // The traffic pattern is drawn from its own generator, so it is the same for every network seed.
        var traffic = new Random(1234);
        for (var step = 0; step < 60; step++)
        {
            var from = ports[traffic.Next(ports.Length)];
            var to = ports[(Array.IndexOf(ports, from) + 1 + traffic.Next(ports.Length - 1)) % ports.Length];
            var message = traffic.Next(2) == 0 ? WantHave(step) : Carrying(BlockOf(step, traffic.Next(1, 5_000)));
            // The virtual network completes sends at once; the delivery happens later, in virtual time.
            Assert.True(from.SendAsync(to.Self, message).IsCompletedSuccessfully);
            scheduler.AdvanceBy(TimeSpan.FromMilliseconds(traffic.Next(0, 30)));
        }
        scheduler.Start();
        foreach (var subscription in subscriptions) subscription.Dispose();
        trace.Add(network.Stats.ToString());
        return trace;
    }

    [Property(MaxTest = 100)]
    public Property The_same_seed_gives_the_same_trace(int seed)
    {
        var first = Trace(seed);
        var second = Trace(seed);
        return first.SequenceEqual(second).Label($"seed {seed}");
    }

    [Fact]
    public void Different_seeds_give_different_traces()
    {
        Assert.NotEqual(Trace(1), Trace(2));
    }
}
