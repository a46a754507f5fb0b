namespace Bitswap.Cli;

/// <summary>A failure the user can act on: printed as one line, exit code 1, no stack trace unless --verbose.</summary>
public sealed class CliError(string message, Exception? inner = null) : Exception(message, inner);
