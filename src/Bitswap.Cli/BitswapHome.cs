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

    /// <summary>Where commands keep their multicore JIT profiles: <c>jit/</c> in the home folder.</summary>
    public static string JitProfiles => Path.Combine(Root, "jit");

    /// <summary>Where commands keep scratch stores: <c>tmp/</c> in the home folder.</summary>
    public static string Scratch => Path.Combine(Root, "tmp");

    /// <summary>
    /// A new scratch folder <c>tmp/&lt;name&gt;-&lt;pid&gt;-&lt;random&gt;</c>. Folders left by processes that are gone (killed
    /// before they could clean up) are removed first, so a crash costs disk space only until the next command.
    /// </summary>
    public static DirectoryInfo NewScratch(string name) => NewScratch(name, Scratch);

    /// <summary><see cref="NewScratch(string)"/> under another scratch root.</summary>
    public static DirectoryInfo NewScratch(string name, string scratchRoot)
    {
        Directory.CreateDirectory(scratchRoot);
        foreach (var stale in Directory.EnumerateDirectories(scratchRoot))
        {
            if (OwnerOf(Path.GetFileName(stale)) is { } pid && !IsAlive(pid))
            {
                try
                {
                    Directory.Delete(stale, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Another command is removing it too, or it is not ours to remove: leave it.
                }
            }
        }

        return Directory.CreateDirectory(Path.Combine(scratchRoot, $"{name}-{Environment.ProcessId}-{Guid.NewGuid():N}"));
    }

    private static int? OwnerOf(string folder)
    {
        var parts = folder.Split('-');
        return parts.Length >= 3 && int.TryParse(parts[^2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
