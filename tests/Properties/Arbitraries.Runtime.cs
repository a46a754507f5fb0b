using Bitswap.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Bitswap.Tests.Properties;

/// <summary>A small random simulated fetch: its scenario, fully determined by the drawn values.</summary>
/// <param name="Scenario">The scenario to run.</param>
public sealed record SimulatedRun(FetchScenario Scenario)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Scenario.Nodes} nodes, {Scenario.Blocks} blocks, {Scenario.Distribution}, {Scenario.Pattern}, {Scenario.Latency.TotalMilliseconds} ms, seed {Scenario.Seed}";
}

/// <summary>Generators for the runtime's properties.</summary>
public static partial class Arbitraries
{
    /// <summary>Random small simulated runs: 2–5 nodes, 1–12 blocks, 0–40 ms latency, any distribution and pattern.</summary>
    public static Arbitrary<SimulatedRun> SimulatedRuns() =>
        (from nodes in Gen.Choose(2, 5)
         from blocks in Gen.Choose(1, 12)
         from latency in Gen.Choose(0, 40)
         from distribution in Gen.Elements(Distribution.AllToAll, Distribution.OnePeerPerBlock, Distribution.Overlap1)
         from pattern in Gen.Elements(FetchPattern.OneAtATime, FetchPattern.BigBatch)
         from seed in Gen.Choose(1, int.MaxValue)
         let fixedNodes = distribution == Distribution.Overlap1 ? 3 : nodes
         select new SimulatedRun(new FetchScenario("property", fixedNodes, blocks, distribution, pattern, TimeSpan.FromMilliseconds(latency), (ulong)seed)))
        .ToArbitrary();
}
