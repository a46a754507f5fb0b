using Bitswap.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>Runs each benchmark scenario once and collects the results for <see cref="BenchmarkScenarioTests"/>.</summary>
public sealed class BenchmarkResults
{
    private readonly Dictionary<string, ScenarioResult> _results = [];

    /// <summary>Serializes writers of results.md across test classes, which xUnit runs in parallel.</summary>
    public static readonly object FileGate = new();

    /// <summary>The boxo BenchmarkFixedDelay scenarios of bitswap-reference.md §6 (10 ms fixed delay).</summary>
    public static readonly IReadOnlyList<FetchScenario> Scenarios =
    [
        new("3Nodes-AllToAll-OneAtATime", 3, 100, Distribution.AllToAll, FetchPattern.OneAtATime, TimeSpan.FromMilliseconds(10), 101),
        new("3Nodes-AllToAll-BigBatch", 3, 100, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 102),
        new("3Nodes-Overlap1-OneAtATime", 3, 100, Distribution.Overlap1, FetchPattern.OneAtATime, TimeSpan.FromMilliseconds(10), 103),
        new("10Nodes-AllToAll-BigBatch", 10, 100, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 104),
        new("10Nodes-OnePeerPerBlock-BigBatch", 10, 100, Distribution.OnePeerPerBlock, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 105),
        new("200Nodes-AllToAll-BigBatch", 200, 20, Distribution.AllToAll, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(10), 106),
    ];

    /// <summary>
    /// Records a result and rewrites results.md in scenario order; rows of scenarios not run this time are kept from
    /// the file, so running one scenario does not drop the others.
    /// </summary>
    public void Add(ScenarioResult result)
    {
        lock (FileGate)
        {
            _results[result.Name] = result;
            var path = ResultsPath;
            var kept = File.Exists(path)
                ? File.ReadAllLines(path).Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToDictionary(l => l.Split('|')[1].Trim(), l => l)
                : [];
            var fresh = ScenarioRunner.Table(_results.Values).Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToDictionary(l => l.Split('|')[1].Trim(), l => l);
            var header = ScenarioRunner.Table([]).TrimEnd('\n');
            var rows = Scenarios.Select(s => fresh.GetValueOrDefault(s.Name) ?? kept.GetValueOrDefault(s.Name)).OfType<string>();
            var text = "# Benchmark scenarios (virtual time)\n\n"
                + "Written by `BenchmarkScenarioTests` (tests/Scenarios). Counts come from the fetcher's Stat (received, dups) and the\n"
                + "virtual network (messages of all nodes). Block 0 is 800 B, the rest 8000 B; 10 ms fixed one-way delay.\n\n"
                + header + "\n" + string.Join("\n", rows) + "\n";
            File.WriteAllText(path, text + Sections(path));
        }
    }

    /// <summary>Replaces (or appends) the section of results.md that starts with <paramref name="heading"/> ("## ...").</summary>
    public static void WriteSection(string heading, string body)
    {
        lock (FileGate)
        {
            var path = ResultsPath;
            var text = File.Exists(path) ? File.ReadAllText(path) : "";
            var at = text.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
            if (at >= 0)
            {
                var next = text.IndexOf("\n## ", at + 1, StringComparison.Ordinal);
                text = text[..at] + (next >= 0 ? text[next..] : "");
            }

            File.WriteAllText(path, text.TrimEnd('\n') + "\n\n" + heading + "\n\n" + body.TrimEnd('\n') + "\n");
        }
    }

    private static string ResultsPath => Path.Combine(ProjectDirectory(), "results.md");

    /// <summary>The "## " sections after the table, kept when the table is rewritten.</summary>
    private static string Sections(string path)
    {
        if (!File.Exists(path)) return "";
        var text = File.ReadAllText(path);
        var at = text.IndexOf("\n## ", StringComparison.Ordinal);
        return at >= 0 ? text[at..] : "";
    }

    private static string ProjectDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scenarios.csproj")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? AppContext.BaseDirectory;
    }
}

/// <summary>The boxo benchmark scenarios, asserting correctness and reporting counts (never time).</summary>
public sealed class BenchmarkScenarioTests(BenchmarkResults results, ITestOutputHelper output) : IClassFixture<BenchmarkResults>
{
    /// <summary>Scenario names for the theory.</summary>
    public static TheoryData<string> Names => [.. BenchmarkResults.Scenarios.Select(s => s.Name)];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Benchmark_scenario_fetches_every_block_intact(string name)
    {
        var scenario = BenchmarkResults.Scenarios.Single(s => s.Name == name);
        output.WriteLine($"seed {scenario.Seed}");
        var wall = System.Diagnostics.Stopwatch.StartNew();

        var result = await ScenarioRunner.RunAsync(scenario);

        results.Add(result);
        output.WriteLine(ScenarioRunner.Table([result]));
        output.WriteLine($"wall time {wall.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(scenario.Blocks, result.BlocksFetched);
        Assert.True(result.BlocksReceived >= scenario.Blocks, $"seed {scenario.Seed}: Stat counted {result.BlocksReceived} blocks for {scenario.Blocks} fetched");
        Assert.Equal(result.BlocksReceived - scenario.Blocks, result.DupBlocks);
    }
}
