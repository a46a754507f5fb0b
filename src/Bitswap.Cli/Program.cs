using System.Runtime.InteropServices;

namespace Bitswap.Cli;

/// <summary>The <c>bitswap</c> process: turns SIGINT/SIGTERM into cancellation and runs <see cref="BitswapCli"/>.</summary>
public static class Program
{
    /// <summary>The process entry point.</summary>
    public static async Task<int> Main(string[] args)
    {
        SkipTypeClassScan();
        StartJitProfile(args);
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
    /// Multicore JIT: each command records the methods it compiled in <c>jit/&lt;command&gt;.jitprofile</c> under the home
    /// folder, and the next run compiles them on a second core while the first one works. Measured on 2026-11-29
    /// (12:17 UTC, quiet machine, 8 interleaved cold 64 MiB fetches each way from a warm `bitswap serve`): median 359 ms
    /// against 396 ms from dial to last byte, first block at 159–180 ms against 187–211 ms. (Under load 5–7 earlier the
    /// same day it gained nothing: the second core was busy.) <c>BITSWAP_JIT_PROFILE=0</c> turns it off; a home folder
    /// that cannot be written leaves it off.
    /// </summary>
    private static void StartJitProfile(string[] args)
    {
        if (Environment.GetEnvironmentVariable(JitProfileVariable) == "0") return;
        // One profile per command (a get and a serve compile different methods); anything else shares one.
        var command = args.Length > 0 && args[0].Length <= 32 && args[0].All(c => char.IsAsciiLetterLower(c) || c == '-') ? args[0] : "other";
        try
        {
            Directory.CreateDirectory(BitswapHome.JitProfiles);
            System.Runtime.ProfileOptimization.SetProfileRoot(BitswapHome.JitProfiles);
            System.Runtime.ProfileOptimization.StartProfile(command + ".jitprofile");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No profile: the command runs as it would without one.
        }
    }

    /// <summary>Set to 0 to run without the multicore JIT profile.</summary>
    public const string JitProfileVariable = "BITSWAP_JIT_PROFILE";

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
