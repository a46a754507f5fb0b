using System.Runtime.InteropServices;

namespace Bitswap.Cli;

/// <summary>The <c>bitswap</c> process: turns SIGINT/SIGTERM into cancellation and runs <see cref="BitswapCli"/>.</summary>
public static class Program
{
    /// <summary>The process entry point.</summary>
    public static async Task<int> Main(string[] args)
    {
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
}
