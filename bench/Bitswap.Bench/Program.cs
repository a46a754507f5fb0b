using BenchmarkDotNet.Running;

namespace Bitswap.Bench;

/// <summary>
/// Runs <c>transfer [--size-mib N] [--block-size N]...</c> (two nodes over TCP, steady state, against the ceiling),
/// <c>ceiling [--size-mib N]</c> (the raw encrypt → TCP → decrypt → SHA-256 pipeline), <c>wire [--size-mib N] [--block-kib N] [--runs N]</c>
/// (the transport alone, host to host), <c>scenarios [--filter TEXT]</c> (the boxo scenarios in virtual time),
/// <c>serve-many [--peers N] [--wants N] [--seconds S]</c> (one server, many wantlists), <c>reducers-quick [--runs N]</c> (the reducer
/// workloads without BenchmarkDotNet), or otherwise the BenchmarkDotNet benchmarks chosen on the command line (for example <c>--filter *Codec*</c>).
/// </summary>
public static class Program
{
    /// <summary>Entry point: the scenario modes by their first argument, else BenchmarkDotNet's switcher over this assembly.</summary>
    public static async Task<int> Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case "transfer":
                return await TransferRun.MainAsync(args[1..]).ConfigureAwait(false);
            case "ceiling":
                return await CeilingRun.MainAsync(args[1..]).ConfigureAwait(false);
            case "wire":
                return await WireRun.MainAsync(args[1..]).ConfigureAwait(false);
            case "scenarios":
                return await ScenarioRun.MainAsync(args[1..]).ConfigureAwait(false);
            case "serve-many":
                return ServeManyRun.Run(args[1..]);
            case "reducers-quick":
                return ReducerProbe.Run(args[1..]);
            default:
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return 0;
        }
    }
}
