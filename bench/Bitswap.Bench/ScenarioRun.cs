using System.Diagnostics;
using System.Globalization;
using Bitswap.Testing;

namespace Bitswap.Bench;

/// <summary>
/// The <c>scenarios</c> mode: the six boxo BenchmarkFixedDelay scenarios (bitswap-reference.md §6, 10 ms fixed delay) on
/// the virtual network in virtual time, each timed by the wall clock as well.
/// </summary>
public static class ScenarioRun
{
    /// <summary>The scenarios, with the same names and seeds as tests/Scenarios/BenchmarkScenarioTests.</summary>
    public static readonly IReadOnlyList<FetchScenario> Scenarios =
    [
        new("3Nodes-AllToAll-OneAtATime", 3, 100, Distribution.AllToAll, FetchPattern.OneAtATime, TimeSpan.FromMilliseconds(10), 101),
        new("3Nodes-AllToAll-BigBatch", 3, 100, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 102),
        new("3Nodes-Overlap1-OneAtATime", 3, 100, Distribution.Overlap1, FetchPattern.OneAtATime, TimeSpan.FromMilliseconds(10), 103),
        new("10Nodes-AllToAll-BigBatch", 10, 100, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 104),
        new("10Nodes-OnePeerPerBlock-BigBatch", 10, 100, Distribution.OnePeerPerBlock, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 105),
        new("200Nodes-AllToAll-BigBatch", 200, 20, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 106),
    ];

    /// <summary>Runs every scenario (or those whose name contains <c>--filter</c>'s text) and prints the table.</summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var filter = args.Count == 2 && args[0] == "--filter" ? args[1] : "";
        if (args.Count != 0 && filter.Length == 0)
        {
            await Console.Error.WriteLineAsync("usage: scenarios [--filter TEXT]").ConfigureAwait(false);
            return 2;
        }

        var rows = new List<(ScenarioResult Result, TimeSpan Wall)>();
        foreach (var scenario in Scenarios.Where(s => s.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)))
        {
            var clock = Stopwatch.StartNew();
            var result = await ScenarioRunner.RunAsync(scenario).ConfigureAwait(false);
            clock.Stop();
            if (result.BlocksFetched != scenario.Blocks)
            {
                throw new InvalidOperationException($"{scenario.Name} (seed {scenario.Seed}) fetched {result.BlocksFetched} of {scenario.Blocks} blocks");
            }

            Console.WriteLine(FormattableString.Invariant($"{scenario.Name}: {clock.Elapsed.TotalSeconds:0.000} s wall"));
            rows.Add((result, clock.Elapsed));
        }

        Console.WriteLine(Table(rows));
        return 0;
    }

    /// <summary>ScenarioRunner's table with a wall-time column.</summary>
    public static string Table(IReadOnlyList<(ScenarioResult Result, TimeSpan Wall)> rows)
    {
        var lines = ScenarioRunner.Table(rows.Select(r => r.Result)).TrimEnd('\n').Split('\n');
        var table = new List<string> { lines[0] + " wall time |", lines[1] + "---|" };
        table.AddRange(rows.Select((r, i) => lines[i + 2] + string.Create(CultureInfo.InvariantCulture, $" {r.Wall.TotalSeconds:0.000} s |")));
        return string.Join("\n", table) + "\n";
    }
}
