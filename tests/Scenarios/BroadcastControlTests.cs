using System.Net;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Network;
using Bitswap.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>
/// Broadcast control (boxo#937) on the virtual network: peers on a public address, two of which hold the data, the rest
/// bystanders. A fetcher reads the data in several sessions, as a gateway serves several requests.
/// </summary>
public sealed class BroadcastControlTests(ITestOutputHelper output)
{
    /// <summary>What one run of the scenario counted at the fetcher.</summary>
    private sealed record Counts(int Fetched, int Wanted, long WantHaveBroadcasts, long BroadcastMessages, long Skips, TimeSpan VirtualTime, long MessagesSent);

    [Fact]
    public async Task Broadcast_control_sends_at_least_80_percent_fewer_want_have_broadcasts_and_still_finds_every_block()
    {
        const ulong seed = 937;
        var without = await RunAsync(BroadcastControl.Disabled, seed);
        var with = await RunAsync(BroadcastControl.Default, seed);

        var table = string.Join('\n',
            "| broadcast control | blocks | want-have broadcasts (peer × CID) | messages with broadcasts | broadcast skips | msgs sent (all nodes) | virtual time |",
            "|---|---|---|---|---|---|---|",
            Row("off (boxo default)", without),
            Row("on (Kubo 0.36+ default)", with));
        output.WriteLine($"seed {seed}");
        output.WriteLine(table);
        BenchmarkResults.WriteSection(
            "## Broadcast control (boxo#937)",
            "Written by `BroadcastControlTests` (seed 937): 30 nodes on a public address, all connected; two hold 60 blocks and\n"
            + "announce them to routing, 27 hold nothing; the last node fetches the blocks in 6 sessions of 10. Counted at the\n"
            + "fetcher: want-have entries sent as broadcasts (no DONT_HAVE asked), the messages carrying them, and Stat.BroadcastSkips.\n"
            + "With control on, the first session's broadcast reaches nobody and its blocks are found by the provider search after\n"
            + "1 s (boxo ProvSearchDelay); the holders then answered, so later sessions broadcast only to them.\n\n"
            + table + "\n");

        Assert.Equal(with.Wanted, with.Fetched);
        Assert.Equal(without.Wanted, without.Fetched);
        Assert.Equal(0, without.Skips);
        Assert.True(with.Skips > 0, $"seed {seed}: broadcast control skipped no peer");
        Assert.True(
            with.WantHaveBroadcasts * 5 <= without.WantHaveBroadcasts,
            $"seed {seed}: {with.WantHaveBroadcasts} want-have broadcasts with broadcast control, {without.WantHaveBroadcasts} without: less than 80% fewer");

        static string Row(string name, Counts c) =>
            $"| {name} | {c.Fetched}/{c.Wanted} | {c.WantHaveBroadcasts} | {c.BroadcastMessages} | {c.Skips} | {c.MessagesSent} | {c.VirtualTime.TotalSeconds:0.000} s |";
    }

    [Fact]
    public async Task Random_peers_are_drawn_from_the_seed_so_a_run_repeats_exactly()
    {
        var control = BroadcastControl.Default with { MaxRandomPeers = 3 };
        var first = await RunAsync(control, 938);
        var second = await RunAsync(control, 938);

        Assert.Equal(first, second);
        Assert.Equal(first.Wanted, first.Fetched);
    }

    /// <summary>
    /// 30 nodes on public addresses, all connected: seeds 0 and 1 hold the 60 blocks (and announce them to routing), the
    /// 27 others hold nothing; the last node fetches them in 6 sessions of 10 blocks, one after another.
    /// </summary>
    private static async Task<Counts> RunAsync(BroadcastControl control, ulong seed)
    {
        const int nodes = 30;
        const int sessions = 6;
        const int perSession = 10;
        var scheduler = new SimulationScheduler();
        var network = new VirtualNetwork(scheduler, new VirtualNetworkOptions
        {
            Latency = new LatencyModel.Fixed(TimeSpan.FromMilliseconds(10)),
            Seed = unchecked((int)seed),
            // TEST-NET-3 (RFC 5737): a public address, so no peer counts as local.
            PeerAddress = IPAddress.Parse("203.0.113.7"),
        });
        await using var generator = new SessionGenerator(network, scheduler, seed, _ => BitswapOptions.Default with { BroadcastControl = control });
        var instances = generator.Instances(nodes);
        var fetcher = instances[^1];
        var blocks = ScenarioRunner.MakeBlocks(sessions * perSession, seed);
        scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        foreach (var holder in instances.Take(2))
        {
            var adding = holder.Node.NotifyNewBlocksAsync(blocks, CancellationToken.None);
            scheduler.RunUntil(() => adding.IsCompleted, TimeSpan.FromSeconds(1));
            await adding;
            foreach (var block in blocks) generator.Routing.Provide(holder.Peer, block.Cid);
        }

        long wantHaves = 0;
        long messages = 0;
        using var counting = fetcher.Node.Events.Subscribe(e =>
        {
            // Broadcast wants are the want-haves that ask for no DONT_HAVE (boxo messagequeue); peer wants ask for one.
            if (e is not WantsSent sent) return;
            var broadcast = sent.Entries.Count(x => !x.Cancel && x.WantType == WantType.Have && !x.SendDontHave);
            wantHaves += broadcast;
            if (broadcast > 0) messages++;
        });

        scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        var start = scheduler.Now;
        var fetched = new List<Block>();
        foreach (var chunk in blocks.Chunk(perSession))
        {
            using var session = fetcher.Node.NewSession();
            var completed = false;
            Exception? failure = null;
            using (session.GetBlocks(chunk.Select(b => b.Cid)).Subscribe(fetched.Add, e => failure = e, () => completed = true))
            {
                scheduler.RunUntil(() => completed || failure is not null, ScenarioRunner.Deadline);
            }

            if (failure is not null || !completed) throw new InvalidOperationException($"seed {seed}: {chunk.Length - fetched.Count(b => chunk.Contains(b))} blocks never arrived ({failure?.Message})");
        }

        var elapsed = scheduler.Now - start;
        Assert.Equal(blocks.Select(b => b.Cid).Order(), fetched.Select(b => b.Cid).Order());
        var result = new Counts(fetched.Count, blocks.Count, wantHaves, messages, fetcher.Node.Stat().BroadcastSkips, elapsed, instances.Sum(i => i.Network.Stats.MessagesSent));
        await generator.CloseAsync();
        return result;
    }
}
