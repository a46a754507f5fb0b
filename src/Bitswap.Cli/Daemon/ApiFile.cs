using Bitswap.Transport.Tcp.Addressing;

namespace Bitswap.Cli.Daemon;

/// <summary>
/// The <c>api</c> file a running daemon leaves in its home folder, as Kubo leaves <c>$IPFS_PATH/api</c>: one line holding
/// the RPC API multiaddr (<c>/ip4/127.0.0.1/tcp/5001</c>). Commands read it to find the daemon that owns the repo.
/// The home folder is the parent of the flatfs <c>blocks</c> folder, so <c>--repo DIR/blocks</c> means <c>DIR/api</c>.
/// </summary>
public static class ApiFile
{
    /// <summary>The file name (Kubo: repo/fsrepo apiFile = "api").</summary>
    public const string FileName = "api";

    /// <summary>The api file that belongs to a flatfs repo path, or to the default repo when null.</summary>
    public static string For(string? repo)
    {
        if (repo is null)
        {
            return Path.Combine(BitswapHome.Root, FileName);
        }

        var full = Path.GetFullPath(repo).TrimEnd(Path.DirectorySeparatorChar);
        var home = Path.GetDirectoryName(full) ?? full;
        return Path.Combine(home, FileName);
    }

    /// <summary>Writes the address (and a newline) to <paramref name="path"/>, replacing a stale file.</summary>
    public static void Write(string path, Multiaddr address)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, address + "\n");
    }

    /// <summary>The address in the file, or null when there is no file or it does not hold a multiaddr.</summary>
    public static Multiaddr? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }

        return Multiaddr.Parse(text.Trim()).Match(a => (Multiaddr?)a, _ => null);
    }

    /// <summary>Removes the file if it still names <paramref name="address"/> (another daemon may have replaced it).</summary>
    public static void Remove(string path, Multiaddr address)
    {
        if (Read(path) is { } current && current.Equals(address))
        {
            File.Delete(path);
        }
    }
}
