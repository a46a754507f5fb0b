namespace Bitswap.Cli;

/// <summary>
/// Where the CLI keeps its key and blocks: <c>$BITSWAP_PATH</c> when set, else <c>~/.bitswap</c>. The key is
/// <c>identity.key</c> (mode 0600) and the repo is a Kubo-compatible flatfs folder <c>blocks/</c>.
/// </summary>
public static class BitswapHome
{
    /// <summary>The environment variable that moves the home folder.</summary>
    public const string EnvironmentVariable = "BITSWAP_PATH";

    /// <summary>The home folder.</summary>
    public static string Root =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".bitswap");

    /// <summary>The default key file.</summary>
    public static string KeyFile => Path.Combine(Root, "identity.key");

    /// <summary>The default flatfs repo.</summary>
    public static string Repo => Path.Combine(Root, "blocks");
}
