using Bitswap.Domain;
using Bitswap.Runtime.Network;

using Bitswap.Runtime;

namespace Bitswap.Testing;

/// <summary>How blocks are spread over the seeding nodes (boxo benchmarks_test.go distributions).</summary>
public enum Distribution
{
    /// <summary>Every seed holds every block.</summary>
    AllToAll,
    /// <summary>Two seeds: the first holds blocks 0–74 %, the second 25–100 % (boxo overlap1, 100 blocks: 0–74 and 25–99).</summary>
    Overlap1,
    /// <summary>Each block is held by one seed picked at random.</summary>
    OnePeerPerBlock,
}

/// <summary>How the fetcher asks for the blocks (boxo benchmarks_test.go fetch patterns).</summary>
public enum FetchPattern
{
    /// <summary>One session, one GetBlock at a time, each waiting for the previous.</summary>
    OneAtATime,
    /// <summary>One session, one GetBlocks for everything.</summary>
    BigBatch,
}

/// <summary>A boxo-style fetch scenario: the last node fetches, the others are seeds.</summary>
/// <param name="Name">Its name in the result table, e.g. "3Nodes-AllToAll-OneAtATime".</param>
/// <param name="Nodes">Nodes in all, seeds plus the fetcher.</param>
/// <param name="Blocks">Blocks to fetch: block 0 is 800 B, the rest 8000 B (boxo).</param>
/// <param name="Distribution">How the seeding nodes hold the blocks.</param>
/// <param name="Pattern">How the fetcher asks.</param>
/// <param name="Latency">Fixed one-way delay of every link.</param>
/// <param name="Seed">Seed of the block data, the distribution, the network and the nodes.</param>
public sealed record FetchScenario(string Name, int Nodes, int Blocks, Distribution Distribution, FetchPattern Pattern, TimeSpan Latency, ulong Seed);

/// <summary>What a scenario run measured.</summary>
/// <param name="Name">The scenario's name.</param>
/// <param name="Seed">The seed it ran with.</param>
/// <param name="BlocksWanted">Blocks the fetcher asked for.</param>
/// <param name="BlocksFetched">Blocks the fetcher got back, each verified against its CID and the original data.</param>
/// <param name="BlocksReceived">The fetcher's Stat.BlocksReceived (duplicates included).</param>
/// <param name="DupBlocks">The fetcher's Stat.DupBlksReceived.</param>
/// <param name="MessagesSent">Messages sent over the network by all nodes.</param>
/// <param name="MessagesReceived">Messages received over the network by all nodes.</param>
/// <param name="VirtualTime">Virtual time from the first want to the last block.</param>
public sealed record ScenarioResult(
    string Name,
    ulong Seed,
    int BlocksWanted,
    int BlocksFetched,
    long BlocksReceived,
    long DupBlocks,
    long MessagesSent,
    long MessagesReceived,
    TimeSpan VirtualTime);

/// <summary>Runs <see cref="FetchScenario"/>s on a virtual network in virtual time (boxo bitswap benchmarks, §6 of the reference).</summary>
public static class ScenarioRunner
{
    /// <summary>Virtual time a scenario may take before it counts as stuck.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(10);

    /// <summary>The blocks of a scenario: block 0 is 800 B, the others 8000 B, of seeded random bytes (boxo benchmarks).</summary>
    public static IReadOnlyList<Block> MakeBlocks(int count, ulong seed)
    {
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var data = new byte[i == 0 ? 800 : 8000];
            random.NextBytes(data);
            return Block.Raw(data);
        })];
    }

    /// <summary>
    /// Runs a scenario; throws <see cref="InvalidOperationException"/> (naming the random seed) when a block is missing or
    /// corrupt. <paramref name="peerAddress"/> is the address connections report (loopback by default: every peer is local
    /// to broadcast control).
    /// </summary>
    public static async Task<ScenarioResult> RunAsync(FetchScenario scenario, Func<int, BitswapOptions>? options = null, System.Net.IPAddress? peerAddress = null)
    {
        var scheduler = new SimulationScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions
        {
            Latency = new LatencyModel.Fixed(scenario.Latency),
            Seed = unchecked((int)scenario.Seed),
            PeerAddress = peerAddress ?? System.Net.IPAddress.Loopback,
        });
        await using var generator = new SessionGenerator(network, scheduler, scenario.Seed, options);
        var instances = generator.Instances(scenario.Nodes);
        var seeds = instances.Take(scenario.Nodes - 1).ToList();
        var fetcher = instances[^1];
        var blocks = MakeBlocks(scenario.Blocks, scenario.Seed);
        scheduler.RunFor(TimeSpan.FromMilliseconds(1));

        var holdings = Distribute(scenario, seeds.Count, blocks);
        for (var i = 0; i < seeds.Count; i++)
        {
            if (holdings[i].Count > 0)
            {
                var adding = seeds[i].Node.NotifyNewBlocksAsync(holdings[i], CancellationToken.None);
                scheduler.RunUntil(() => adding.IsCompleted, TimeSpan.FromSeconds(1));
                await adding.ConfigureAwait(false);
            }
        }

        scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        var start = scheduler.Now;
        var fetched = new List<Block>();
        using (var session = fetcher.Node.NewSession())
        {
            switch (scenario.Pattern)
            {
                case FetchPattern.OneAtATime:
                    foreach (var block in blocks)
                    {
                        var fetching = session.GetBlockAsync(block.Cid);
                        scheduler.RunUntil(() => fetching.IsCompleted, Deadline);
                        if (!fetching.IsCompleted)
                        {
                            throw Stuck(scenario, $"block {block.Cid} never arrived");
                        }

                        fetched.Add(await fetching.ConfigureAwait(false));
                    }

                    break;
                case FetchPattern.BigBatch:
                    var completed = false;
                    Exception? failure = null;
                    using (session.GetBlocks(blocks.Select(b => b.Cid)).Subscribe(fetched.Add, e => failure = e, () => completed = true))
                    {
                        scheduler.RunUntil(() => completed || failure is not null, Deadline);
                    }

                    if (failure is not null || !completed)
                    {
                        throw Stuck(scenario, failure?.Message ?? $"{blocks.Count - fetched.Count} blocks never arrived");
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(scenario), scenario.Pattern, "unknown fetch pattern");
            }
        }

        var elapsed = scheduler.Now - start;
        Verify(scenario, blocks, fetched);
        var stat = fetcher.Node.Stat();
        var result = new ScenarioResult(
            scenario.Name,
            scenario.Seed,
            blocks.Count,
            fetched.Count,
            stat.BlocksReceived,
            stat.DupBlksReceived,
            instances.Sum(i => i.Network.Stats.MessagesSent),
            instances.Sum(i => i.Network.Stats.MessagesReceived),
            elapsed);
        await generator.CloseAsync().ConfigureAwait(false);
        return result;
    }

    /// <summary>The result table in Markdown, one row per result (boxo prints "sent, recv, dups d/b").</summary>
    public static string Table(IEnumerable<ScenarioResult> results)
    {
        var lines = new List<string>
        {
            "| scenario | seed | blocks | received | dups | msgs sent | msgs recv | virtual time |",
            "|---|---|---|---|---|---|---|---|",
        };
        lines.AddRange(results.Select(r =>
            $"| {r.Name} | {r.Seed} | {r.BlocksFetched}/{r.BlocksWanted} | {r.BlocksReceived} | {r.DupBlocks} | {r.MessagesSent} | {r.MessagesReceived} | {r.VirtualTime.TotalSeconds:0.000} s |"));
        return string.Join("\n", lines) + "\n";
    }

    private static List<List<Block>> Distribute(FetchScenario scenario, int seedCount, IReadOnlyList<Block> blocks)
    {
        var holdings = Enumerable.Range(0, seedCount).Select(_ => new List<Block>()).ToList();
        switch (scenario.Distribution)
        {
            case Distribution.AllToAll:
                holdings.ForEach(h => h.AddRange(blocks));
                break;
            case Distribution.Overlap1:
                if (seedCount != 2)
                {
                    throw new ArgumentException("overlap1 needs exactly two seeds", nameof(scenario));
                }

                // boxo overlap1 with 100 blocks: A holds 0–74, B holds 25–99.
                holdings[0].AddRange(blocks.Take(blocks.Count * 3 / 4));
                holdings[1].AddRange(blocks.Skip(blocks.Count / 4));
                break;
            case Distribution.OnePeerPerBlock:
                var random = new Random(unchecked((int)scenario.Seed) + 1);
                foreach (var block in blocks)
                {
                    holdings[random.Next(seedCount)].Add(block);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scenario), scenario.Distribution, "unknown distribution");
        }

        return holdings;
    }

    private static void Verify(FetchScenario scenario, IReadOnlyList<Block> blocks, List<Block> fetched)
    {
        var expected = blocks.ToDictionary(b => b.Cid);
        if (fetched.Count != blocks.Count || fetched.Select(b => b.Cid).Distinct().Count() != blocks.Count)
        {
            throw Stuck(scenario, $"fetched {fetched.Count} blocks ({fetched.Select(b => b.Cid).Distinct().Count()} distinct) of {blocks.Count}");
        }

        foreach (var block in fetched)
        {
            var verified = Block.Verified(block.Cid, block.Data).IsRight;
            if (!verified || !expected.TryGetValue(block.Cid, out var original) || !original.Data.Span.SequenceEqual(block.Data.Span))
            {
                throw Stuck(scenario, $"block {block.Cid} does not match its hash or the original");
            }
        }
    }

    private static InvalidOperationException Stuck(FetchScenario scenario, string what) =>
        new($"{scenario.Name} with seed {scenario.Seed}: {what}");
}
