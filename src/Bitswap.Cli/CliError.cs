namespace Bitswap.Cli;

/// <summary>A failure the user can act on: printed as one line, exit code 1, no stack trace unless --verbose.</summary>
public sealed class CliError(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The exit code for a failure the user can act on.</summary>
    public const int ExitCode = 1;

    /// <summary>The exit code for a command line that does not parse.</summary>
    public const int UsageExitCode = 2;

    /// <summary>The exit code after Ctrl+C or SIGTERM stopped a command before it finished (128 + SIGINT).</summary>
    public const int CancelledExitCode = 130;
}
