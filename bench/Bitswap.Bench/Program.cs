using BenchmarkDotNet.Running;

namespace Bitswap.Bench;

/// <summary>Runs the benchmarks chosen on the command line (for example <c>--filter *Codec*</c>).</summary>
public static class Program
{
    /// <summary>Entry point: BenchmarkDotNet's switcher over every benchmark in this assembly.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
