using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Recording;
using Bitswap.Testing;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots;

/// <summary>Golden replay traces: a fixed small run, recorded at the fetcher and replayed through the reducers.</summary>
public class ReplayTraceSnapshots
{
    [Fact]
    public async Task Replayed_trace_of_a_one_at_a_time_fetch_from_two_seeds()
    {
        var trace = await ReplayedFetcherTrace(new FetchScenario("golden", 3, 3, Distribution.Overlap1, FetchPattern.OneAtATime, TimeSpan.FromMilliseconds(10), 7));
        Snapshot.Match(trace);
    }

    [Fact]
    public async Task Replayed_trace_of_a_batch_fetch_from_one_peer_per_block()
    {
        var trace = await ReplayedFetcherTrace(new FetchScenario("golden", 4, 4, Distribution.OnePeerPerBlock, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 8));
        Snapshot.Match(trace);
    }

    private static async Task<string> ReplayedFetcherTrace(FetchScenario scenario)
    {
        var log = new MemoryStream();
        var live = new StringWriter { NewLine = "\n" };
        await ScenarioRunner.RunAsync(scenario, i => i == scenario.Nodes - 1
            ? BitswapOptions.Default with { RecordTo = log, TraceTo = live }
            : BitswapOptions.Default);
        log.Position = 0;
        var replayed = Replay.Run(MessageLogReader.Read(log));
        Assert.Equal(live.ToString(), replayed);
        return replayed;
    }
}
