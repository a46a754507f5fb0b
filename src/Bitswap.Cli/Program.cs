using System.Runtime.InteropServices;

namespace Bitswap.Cli;

/// <summary>The <c>bitswap</c> process: turns SIGINT/SIGTERM into cancellation and runs <see cref="BitswapCli"/>.</summary>
public static class Program
{
    /// <summary>The process entry point.</summary>
    public static async Task<int> Main(string[] args)
    {
        SkipTypeClassScan();
        using var stop = new CancellationTokenSource();
        void Cancel(PosixSignalContext context)
        {
            // The command shuts down in order (nodes, hosts, files) instead of the runtime killing it mid-write.
            context.Cancel = true;
            stop.Cancel();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        return await BitswapCli.RunAsync(args, Output.FromConsole(), stop.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// LanguageExt looks for user-defined type-class instances (Eq, Ord, Hashable) the first time a collection needs a
    /// default comparer, by loading and scanning every assembly the entry assembly references: for this CLI (ASP.NET
    /// Core, OpenTelemetry, Spectre) that took 250–450 ms on the first reducer step of a cold fetch, measured on
    /// 2026-11-29. This code defines no such instances, and without them LanguageExt falls back to the runtime's
    /// default comparers, which is what it would pick for every key type we use. So the CLI installs an empty registry,
    /// built without running its scanning constructor, before anything touches a collection.
    /// </summary>
    private static void SkipTypeClassScan() =>
        LanguageExt.ClassInstances.ClassInstancesAssembly.singleton ??=
            (LanguageExt.ClassInstances.ClassInstancesAssembly)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(typeof(LanguageExt.ClassInstances.ClassInstancesAssembly));
}
