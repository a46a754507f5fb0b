using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Bitswap.Cli;

/// <summary>What every command action gets: the streams, the verbosity and a logger factory that honours it.</summary>
public sealed class CliContext : IDisposable
{
    private CliContext(Output output, bool verbose, ILoggerFactory logs)
    {
        Output = output;
        Verbose = verbose;
        Logs = logs;
    }

    /// <summary>Where results and errors go.</summary>
    public Output Output { get; }

    /// <summary>True with <c>--verbose</c>.</summary>
    public bool Verbose { get; }

    /// <summary>Console logs on stderr at debug level with <c>--verbose</c>, otherwise nothing (errors are one line).</summary>
    public ILoggerFactory Logs { get; }

    /// <summary>Builds the context for one parsed command line.</summary>
    public static CliContext Create(Output output, ParseResult parsed)
    {
        var verbose = parsed.GetValue(BitswapCli.Verbose);
        var logs = LoggerFactory.Create(builder =>
        {
            if (verbose)
            {
                builder.SetMinimumLevel(LogLevel.Debug);
                builder.AddSimpleConsole(o => o.SingleLine = true);
                builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            }
            else
            {
                builder.SetMinimumLevel(LogLevel.None);
            }
        });
        return new CliContext(output, verbose, logs);
    }

    /// <inheritdoc />
    public void Dispose() => Logs.Dispose();
}
