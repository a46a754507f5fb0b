using System.Reactive.Concurrency;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots;

/// <summary>
/// A golden delivery trace of the virtual network for one seed: pins the per-pair latency and bandwidth draws, the loss
/// sequence and the encoded sizes, so that recorded scenarios keep replaying to the same times.
/// </summary>
public class VirtualNetworkTraceSnapshotTests
{
    private static PeerId Peer(string name) =>
        new(Multihash.Compute(MultihashCode.Sha2_256, Encoding.UTF8.GetBytes(name)).Match(h => h, e => throw new Xunit.Sdk.XunitException(e.ToString())));

    [Fact]
    public void Delivery_trace_for_seed_7()
    {
        var epoch = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var scheduler = new HistoricalScheduler(epoch);
        var options = new VirtualNetworkOptions
        {
            Seed = 7,
            Latency = new LatencyModel.Internet(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(140), TimeSpan.FromMilliseconds(740), 0.3, 0.3, TimeSpan.FromMilliseconds(5)),
            Bandwidth = new BandwidthModel.Normal(500_000, 100_000),
            LossProbability = 0.2,
        };
        var network = new VirtualNetwork(scheduler, options);
        var names = new[] { "alice", "bob", "carol" };
        var ports = names.Select(n => network.Join(Peer(n), n == "carol" ? ProtocolVersion.V110 : ProtocolVersion.V120)).ToArray();
        var nameOf = names.ToDictionary(Peer, n => n);
        var lines = new List<string>();
        foreach (var port in ports)
            port.Events.Subscribe(e => lines.Add(
                $"{(scheduler.Now - epoch).TotalMilliseconds,10:F4} ms  {nameOf[port.Self],-5} <- {nameOf[e.Peer],-5} {Describe(e)}"));
        foreach (var from in names)
            foreach (var to in names.Where(n => n != from))
                lines.Add($"latency {from}->{to} {network.LatencyOf(Peer(from), Peer(to)).TotalMilliseconds:F4} ms, bandwidth {network.BandwidthOf(Peer(from), Peer(to)):F0} B/s");

        network.ConnectAll();
        for (var i = 0; i < 12; i++)
        {
            var data = new byte[1000 * (i + 1)];
            new Random(i).NextBytes(data);
            var from = ports[i % 3];
            var to = ports[(i + 1) % 3];
            Assert.True(from.SendAsync(to.Self, Message.Empty.WithBlock(Block.Raw(data))).IsCompletedSuccessfully);
            scheduler.AdvanceBy(TimeSpan.FromMilliseconds(3));
        }
        scheduler.Start();
        lines.Add(network.Stats.ToString());

        Snapshot.Match(string.Join("\n", lines));
    }

    private static string Describe(NetworkEvent e) => e switch
    {
        PeerUp up => $"PeerUp {up.Version}",
        PeerDown => "PeerDown",
        MessageArrived arrived => $"MessageArrived {arrived.Version} {arrived.WireBytes} B, block of {arrived.Message.Blocks.Values.Single().Size} B",
        ReceiveFailed failed => $"ReceiveFailed {failed.Error}",
        _ => throw new System.Diagnostics.UnreachableException(e.GetType().Name),
    };
}
