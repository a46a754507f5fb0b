using Bitswap.Dag;
using Bitswap.Runtime.Blockstores;

namespace Bitswap.Cli;

/// <summary>
/// <c>add -r</c>: imports a folder tree as UnixFS directories with the CIDs ipfs-unixfs-importer 17.1.1 (Helia's
/// addAll) gives. Hidden entries (names starting with '.') are skipped, as <c>ipfs add -r</c> does without --hidden.
/// A directory past the importer's shard threshold becomes a HAMT shard (<see cref="UnixFsHamt"/>), as there.
/// </summary>
public static class DirectoryImport
{
    /// <summary>Most entries (files and folders) in one tree.</summary>
    public const int EntriesMax = 1_000_000;

    /// <summary>Deepest folder nesting followed.</summary>
    public const int DepthMax = 256;

    /// <summary>Imports the tree under <paramref name="folder"/>; returns the root directory's entry (its name is the folder's).</summary>
    public static async Task<DirectoryEntry> ImportAsync(string folder, ImportOptions options, IBlockstore blockstore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(blockstore);
        var root = new DirectoryInfo(folder);
        if (!root.Exists)
        {
            throw new CliError($"no such folder: {folder}");
        }

        var count = 0;
        return await ImportFolderAsync(root, options.Validated(), blockstore, 0, () => ++count, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<DirectoryEntry> ImportFolderAsync(
        DirectoryInfo folder, ImportOptions options, IBlockstore blockstore, int depth, Func<int> count, CancellationToken cancellationToken)
    {
        if (depth > DepthMax)
        {
            throw new CliError($"{folder.FullName}: deeper than {DepthMax} folders");
        }

        var entries = new List<DirectoryEntry>();
        foreach (var item in folder.EnumerateFileSystemInfos().Where(i => !i.Name.StartsWith('.')).OrderBy(i => i.Name, StringComparer.Ordinal))
        {
            if (count() > EntriesMax)
            {
                throw new CliError($"more than {EntriesMax} entries under the folder");
            }

            if (item.LinkTarget is not null)
            {
                throw new CliError($"{item.FullName} is a symbolic link: not supported");
            }

            if (item is DirectoryInfo sub)
            {
                entries.Add(await ImportFolderAsync(sub, options, blockstore, depth + 1, count, cancellationToken).ConfigureAwait(false));
            }
            else
            {
                var result = await Repo.ImportFileAsync(item.FullName, options, blockstore, cancellationToken).ConfigureAwait(false);
                entries.Add(new DirectoryEntry(item.Name, result.Root, result.DagSize, IsDirectory: false));
            }
        }

        if (UnixFsDirectory.NeedsSharding(entries, options.Profile))
        {
            var (blocks, shard, shardSize) = UnixFsHamt.Build(entries, options.CidVersion);
            await blockstore.PutManyAsync(blocks, cancellationToken).ConfigureAwait(false);
            return new DirectoryEntry(folder.Name, shard.Cid, shardSize, IsDirectory: true);
        }

        var (block, size) = UnixFsDirectory.Encode(entries, options.CidVersion);
        await blockstore.PutAsync(block, cancellationToken).ConfigureAwait(false);
        return new DirectoryEntry(folder.Name, block.Cid, size, IsDirectory: true);
    }
}
