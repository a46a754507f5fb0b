using System.Diagnostics;
using System.Globalization;

namespace Bitswap.Bench;

/// <summary>
/// The <c>reducers-quick</c> mode: the three reducer workloads of <see cref="ReducerBenchmarks"/>, timed with a stopwatch
/// and measured with the thread's allocation counter, for quick feedback while tuning (BenchmarkDotNet gives the figures to report).
/// </summary>
public static class ReducerProbe
{
    /// <summary>Runs each workload a few times (<c>[--runs N] [--alloc-profile] [--by-input] [--only NAME]</c>) after a warm-up and prints its best time and its allocation per run.</summary>
    public static int Run(IReadOnlyList<string> args)
    {
        var runs = args.Count >= 2 && args[0] == "--runs" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        using var profile = args.Contains("--alloc-profile") ? new AllocationProfile() : null;
        _byInput = args.Contains("--by-input");
        _profile = profile;
        var only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
        _only = only;
        var workloads = new ReducerWorkloads();
        workloads.Validate();
        Measure("engine serve 1024 want-blocks (per block served)", () => workloads.EngineServe().Inputs, ReducerWorkloads.ServerWants, runs);
        Measure("client want 1000 CIDs, 10 peers (per CID wanted)", () => workloads.ClientWant().Inputs, ReducerWorkloads.ClientWants, runs);
        Measure("client receive 1024 blocks (per block delivered)", () => workloads.ClientReceive().Inputs, ReducerWorkloads.ClientBlocks, runs);
        Measure("node mixed stream (per input)", () => workloads.NodeMixed().Inputs, 0, runs);
        return 0;
    }

    private static AllocationProfile? _profile;
    private static bool _byInput;
    private static string? _only;

    private static void Measure(string name, Func<int> run, int units, int runs)
    {
        // --only "client receive" profiles one workload alone.
        if (_only is not null && !name.StartsWith(_only, StringComparison.Ordinal)) return;
        // Warm up until tiered compilation is done with the reducers (it waits 100 ms after the last new method, then
        // compiles in the background): a run of a few milliseconds right after start measures unoptimized code.
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < 30 || warmup.ElapsedMilliseconds < 2_000; i++) run();
        _profile?.Start();
        var best = TimeSpan.MaxValue;
        // CPU time as well as wall time: on a shared machine a run can be descheduled, which wall time counts.
        var bestCpu = TimeSpan.MaxValue;
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        long allocated = 0;
        var inputs = 0;
        var collections = GC.CollectionCount(0);
        var pause = GC.GetTotalPauseDuration();
        for (var i = 0; i < runs; i++)
        {
            // The last run alone is tallied by input, so the figures are one run's.
            ReducerTally.ByInput = _byInput && i == runs - 1 ? [] : null;
            var before = GC.GetAllocatedBytesForCurrentThread();
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            inputs = run();
            clock.Stop();
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpuBefore;
            if (cpu < bestCpu) bestCpu = cpu;
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (clock.Elapsed < best) best = clock.Elapsed;
        }
        var per = units > 0 ? units : inputs;
        collections = GC.CollectionCount(0) - collections;
        pause = GC.GetTotalPauseDuration() - pause;
        Console.WriteLine(FormattableString.Invariant(
            $"{name}: best {best.TotalMilliseconds:0.000} ms, {allocated / 1024.0 / 1024.0:0.00} MiB; {best.TotalMilliseconds * 1000 / per:0.00} µs (CPU {bestCpu.TotalMilliseconds * 1000 / per:0.00} µs) and {allocated / (double)per:0} B per unit ({inputs} inputs); {collections / (double)runs:0.0} collections and {pause.TotalMilliseconds / runs:0.000} ms paused per run"));
        if (ReducerTally.ByInput is { } tally)
        {
            foreach (var (input, (count, bytes, time)) in tally.OrderByDescending(kv => kv.Value.Bytes))
                Console.WriteLine(FormattableString.Invariant($"    {input,-18} {count,5} inputs {bytes,10} B ({bytes / (double)per:0} B per unit), {time.TotalMilliseconds:0.000} ms ({time.TotalMilliseconds * 1000 / per:0.00} µs per unit)"));
            ReducerTally.ByInput = null;
        }

        if (_profile is not null)
        {
            foreach (var row in _profile.Top(12)) Console.WriteLine(row);
        }
    }
}
