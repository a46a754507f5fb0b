using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Testing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;

namespace Bitswap.Tests.Properties;

/// <summary>A generated exchange: which node holds which block, and what the fetcher (the last node) wants.</summary>
/// <param name="Holders">For each world block, the index of the node holding it, or -1 for none.</param>
/// <param name="Wanted">Indexes of the world blocks the fetcher wants.</param>
/// <param name="Nodes">Nodes in the run, the fetcher last.</param>
/// <param name="Seed">The seed every node derives its own from.</param>
/// <param name="LatencyMs">One-way delay of every link.</param>
public sealed record ExchangeScript(int[] Holders, int[] Wanted, int Nodes, ulong Seed, int LatencyMs)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"nodes={Nodes} seed={Seed} latency={LatencyMs} holders=[{string.Join(",", Holders)}] wanted=[{string.Join(",", Wanted)}]";
}

/// <summary>Several whole nodes stepped together by <see cref="NodeNetwork"/>, in virtual time, without the shell.</summary>
public class NodeNetworkProperties
{
    private static Arbitrary<ExchangeScript> Exchanges() =>
        (from nodes in Gen.Choose(2, 4)
         from holders in Gen.ArrayOf(Gen.Choose(-1, nodes - 2), ServerWorld.Blocks.Length)
         from wanted in Gen.SubListOf(Enumerable.Range(0, ServerWorld.Blocks.Length).ToArray())
         from seed in Gen.Choose(0, int.MaxValue)
         from latency in Gen.Choose(1, 50)
         select new ExchangeScript(holders, [.. wanted], nodes, (ulong)seed, latency)).ToArbitrary();

    private static NodeNetwork Play(ExchangeScript script)
    {
        var network = new NodeNetwork(script.LatencyMs);
        var ids = Enumerable.Range(0, script.Nodes).Select(i => ServerWorld.Peers[i]).ToArray();
        for (var n = 0; n < script.Nodes; n++)
        {
            var held = Enumerable.Range(0, ServerWorld.Blocks.Length).Where(b => script.Holders[b] == n).Select(b => ServerWorld.Blocks[b]);
            network.Add(ids[n], NodeConfig.Default(Domain.Node.DeriveSeed(script.Seed, (ulong)n)) with { Explain = true }, held);
        }
        for (var a = 0; a < script.Nodes; a++)
            for (var b = a + 1; b < script.Nodes; b++) network.Connect(ids[a], ids[b]);
        network.Want(ids[^1], 1, script.Wanted.Select(b => ServerWorld.Blocks[b].Cid).ToSeq());
        var reachable = script.Wanted.Count(b => script.Holders[b] >= 0);
        network.RunUntil(() => network.DeliveredTo(ids[^1]).Count >= reachable, 60_000);
        return network;
    }

    [Property(MaxTest = 200)]
    public Property Every_wanted_block_some_node_holds_is_delivered_once() =>
        Prop.ForAll(Exchanges(), script =>
        {
            var network = Play(script);
            var fetcher = ServerWorld.Peers[script.Nodes - 1];
            var delivered = network.DeliveredTo(fetcher).Select(d => d.Block.Cid).ToList();
            var expected = script.Wanted.Where(b => script.Holders[b] >= 0).Select(b => ServerWorld.Blocks[b].Cid).Order().ToList();
            return delivered.Order().SequenceEqual(expected)
                .Label($"delivered {delivered.Count} of {expected.Count}, {delivered.Count - delivered.Distinct().Count()} twice");
        });

    [Property(MaxTest = 200)]
    public Property The_same_exchange_gives_the_same_trace() =>
        Prop.ForAll(Exchanges(), script =>
        {
            var first = Play(script).Trace;
            var second = Play(script).Trace;
            return first.SequenceEqual(second).Label($"traces of {first.Count} and {second.Count} steps differ");
        });
}
