using Bitswap.Runtime;
using Bitswap.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>A simulated run is a function of its seed.</summary>
public sealed class DeterminismTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_same_seed_gives_the_same_trace()
    {
        var first = await TraceOf(31);
        var second = await TraceOf(31);
        var other = await TraceOf(32);

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        output.WriteLine($"{first.Split('\n').Length} trace lines");
    }

    private static async Task<string> TraceOf(ulong seed)
    {
        var traces = new Dictionary<int, StringWriter>();
        var scenario = new FetchScenario("trace", 4, 12, Distribution.OnePeerPerBlock, FetchPattern.BigBatch, TimeSpan.FromMilliseconds(7), seed);
        await ScenarioRunner.RunAsync(scenario, i =>
        {
            var writer = new StringWriter { NewLine = "\n" };
            traces[i] = writer;
            return BitswapOptions.Default with { TraceTo = writer };
        });
        return string.Join("\n", traces.OrderBy(t => t.Key).Select(t => $"== node {t.Key}\n{t.Value}"));
    }
}
