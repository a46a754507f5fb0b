using System.CommandLine;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Bitswap.Cli.Commands;
using Bitswap.Runtime.Network;

namespace Bitswap.Cli;

/// <summary>
/// The <c>bitswap</c> command tree and its single error policy: any failure is one line on stderr and a non-zero exit,
/// unless <c>--verbose</c> asks for debug logs and full stack traces. Tests call <see cref="RunAsync"/> in-process.
/// </summary>
public static partial class BitswapCli
{
    /// <summary>Debug logs and full stack traces, for every command.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Debug logs on stderr and full stack traces on errors",
        Recursive = true,
    };

    /// <summary>The command tree, writing to <paramref name="output"/>.</summary>
    public static RootCommand Build(Output output)
    {
        var root = new RootCommand("Bitswap (IPFS block exchange) over libp2p TCP: serve, fetch, add and inspect blocks");
        root.Options.Add(Verbose);
        root.Subcommands.Add(ServeCommand.Create(output));
        root.Subcommands.Add(GetCommand.Create(output));
        root.Subcommands.Add(AddCommand.Create(output));
        root.Subcommands.Add(CarCommand.Create(output));
        root.Subcommands.Add(ReplayCommand.Create(output));
        root.Subcommands.Add(DemoCommand.Create(output));
        root.Subcommands.Add(IdCommand.Create(output));
        root.Subcommands.Add(DaemonCommand.Create(output));
        root.Subcommands.Add(CatCommand.Create(output));
        root.Subcommands.Add(RemoteCommands.Stat(output));
        root.Subcommands.Add(RemoteCommands.Wantlist(output));
        root.Subcommands.Add(RemoteCommands.Ledger(output));
        root.Subcommands.Add(RemoteCommands.Swarm(output));
        return root;
    }

    /// <summary>Parses and runs one command line; returns the process exit code. Never throws for a failed command.</summary>
    public static async Task<int> RunAsync(string[] args, Output output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Build(output).Parse(args);
        if (parsed.Errors.Count > 0)
        {
            output.Error.WriteLine($"bitswap: {OneLine(parsed.Errors[0].Message)} (see bitswap --help)");
            return CliError.UsageExitCode;
        }

        var verbose = parsed.GetValue(Verbose);
        try
        {
            var configuration = new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
                Output = output.Out,
                Error = output.Error,
            };
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (cancellationToken.IsCancellationRequested && IsCancellation(error))
        {
            output.Error.WriteLine("bitswap: cancelled");
            return CliError.CancelledExitCode;
        }
        catch (Exception error)
        {
            output.Error.WriteLine(verbose ? error.ToString() : $"bitswap: {Describe(error)}");
            return CliError.ExitCode;
        }
        finally
        {
            await output.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await output.Error.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>The one-line description of a failure: the message the user can act on, without a stack trace.</summary>
    public static string Describe(Exception error)
    {
        var root = error is AggregateException aggregate ? aggregate.Flatten().InnerExceptions[0] : error;
        var text = root switch
        {
            CliError e => e.Message,
            NetworkException e => $"network: {e.Message}",
            SocketException e => $"network: {e.Message}",
            TimeoutException e => $"timed out: {e.Message}",
            UnauthorizedAccessException e => $"permission denied: {e.Message}",
            IOException e => $"I/O error: {e.Message}",
            OperationCanceledException => "cancelled",
            _ => $"{root.GetType().Name}: {root.Message}",
        };
        return OneLine(text);
    }

    private static bool IsCancellation(Exception error) =>
        error is OperationCanceledException || (error is AggregateException a && a.Flatten().InnerExceptions.All(e => e is OperationCanceledException));

    private static string OneLine(string text) => Whitespace().Replace(text, " ").Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
