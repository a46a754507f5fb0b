using Bitswap.Dag;
using Bitswap.Runtime.Blockstores;

namespace Bitswap.Cli;

/// <summary>Opens flatfs repos and imports files into blockstores, with one-line errors.</summary>
public static class Repo
{
    /// <summary>Opens (creating if missing) the flatfs repo at <paramref name="path"/>, or the default one.</summary>
    public static FlatFsBlockstore Open(string? path, bool flushToDisk = true)
    {
        var root = path ?? BitswapHome.Repo;
        try
        {
            return FlatFsBlockstore.Open(root, FlatFsOptions.Default with { FlushToDisk = flushToDisk });
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or InvalidDataException or BlockRejectedException or InvalidOperationException)
        {
            throw new CliError($"cannot open repo {root}: {error.Message}", error);
        }
    }

    /// <summary>Imports one file as UnixFS into <paramref name="blockstore"/>.</summary>
    public static async Task<ImportResult> ImportFileAsync(string path, ImportOptions options, IBlockstore blockstore, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new CliError($"no such file: {path}");
        }

        await using var content = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return await ImportAsync(content, options, blockstore, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Imports a stream as UnixFS into <paramref name="blockstore"/>.</summary>
    public static Task<ImportResult> ImportAsync(Stream content, ImportOptions options, IBlockstore blockstore, CancellationToken cancellationToken)
    {
        try
        {
            options = options.Validated();
        }
        catch (ArgumentOutOfRangeException error)
        {
            throw new CliError($"invalid import options: {error.Message.Split('\n')[0]}");
        }

        return UnixFsImporter.ImportAsync(content, options, (block, ct) => blockstore.PutAsync(block, ct), cancellationToken);
    }

    /// <summary>The import options for a profile name and overrides.</summary>
    public static ImportOptions Options(string profile, int? chunkSize, bool? rawLeaves, int? cidVersion, int? maxLinks)
    {
        var options = profile switch
        {
            "unixfs-v1-2025" => ImportOptions.V1_2025,
            "unixfs-v0-2015" => ImportOptions.V0_2015,
            _ => throw new CliError($"unknown profile '{profile}': use unixfs-v1-2025 or unixfs-v0-2015"),
        };
        return options with
        {
            ChunkSize = chunkSize ?? options.ChunkSize,
            RawLeaves = rawLeaves ?? options.RawLeaves,
            CidVersion = cidVersion ?? options.CidVersion,
            MaxLinks = maxLinks ?? options.MaxLinks,
        };
    }
}
