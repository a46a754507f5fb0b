using Bitswap.Dag;
using Bitswap.Domain;

namespace Bitswap.Cli.Daemon;

/// <summary>
/// The folders of one RPC <c>add</c>: files arrive as multipart parts named by their path ("dir/sub/file", as
/// kubo-rpc-client's addAll sends them), folders as application/x-directory parts. Once every part is in, the folders
/// are built bottom-up with the importer's rules (plain, or HAMT past the threshold).
/// </summary>
public sealed class AddTree
{
    /// <summary>Most folders in one add.</summary>
    public const int FoldersMax = 100_000;

    private readonly Folder _top = new("");
    private int _folders;

    /// <summary>True once any part named a folder.</summary>
    public bool HasFolders { get; private set; }

    /// <summary>The top-level entries built so far (for wrap-with-directory).</summary>
    public IReadOnlyList<DirectoryEntry> TopEntries => [.. _top.Files.Values];

    /// <summary>Splits a part's path into checked segments.</summary>
    public static string[] Segments(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0 || segments.Any(s => s is "." or ".."))
        {
            throw RpcException.Client($"invalid path \"{path}\" in the multipart body");
        }

        return segments;
    }

    /// <summary>Notes a folder part.</summary>
    public void AddFolder(string path) => FolderAt(Segments(path), Segments(path).Length);

    /// <summary>Notes an imported file at its path.</summary>
    public void AddFile(string path, DirectoryEntry file)
    {
        var segments = Segments(path);
        var folder = FolderAt(segments, segments.Length - 1);
        folder.Files[segments[^1]] = file with { Name = segments[^1] };
    }

    /// <summary>
    /// Builds every folder, deepest first, storing the blocks through <paramref name="put"/>; calls
    /// <paramref name="built"/> with each folder's path and entry (the top-level ones last, as Kubo reports them).
    /// </summary>
    public async Task BuildAsync(ImportOptions options, Func<Block, CancellationToken, ValueTask> put, Action<string, DirectoryEntry> built, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (name, folder) in _top.Folders.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            _top.Files[name] = await BuildAsync(folder, name, options, put, built, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<DirectoryEntry> BuildAsync(
        Folder folder, string path, ImportOptions options, Func<Block, CancellationToken, ValueTask> put, Action<string, DirectoryEntry> built, CancellationToken cancellationToken)
    {
        foreach (var (name, child) in folder.Folders.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            folder.Files[name] = await BuildAsync(child, $"{path}/{name}", options, put, built, cancellationToken).ConfigureAwait(false);
        }

        var entries = folder.Files.Values.ToList();
        DirectoryEntry entry;
        if (UnixFsDirectory.NeedsSharding(entries, options.Profile))
        {
            var (blocks, root, size) = UnixFsHamt.Build(entries, options.CidVersion);
            foreach (var block in blocks)
            {
                await put(block, cancellationToken).ConfigureAwait(false);
            }

            entry = new DirectoryEntry(folder.Name, root.Cid, size, IsDirectory: true);
        }
        else
        {
            var (block, size) = UnixFsDirectory.Encode(entries, options.CidVersion);
            await put(block, cancellationToken).ConfigureAwait(false);
            entry = new DirectoryEntry(folder.Name, block.Cid, size, IsDirectory: true);
        }

        built(path, entry);
        return entry;
    }

    private Folder FolderAt(string[] segments, int depth)
    {
        var folder = _top;
        for (var i = 0; i < depth; i++)
        {
            if (folder.Files.ContainsKey(segments[i]))
            {
                throw RpcException.Client($"\"{string.Join('/', segments[..(i + 1)])}\" is both a file and a folder");
            }

            if (!folder.Folders.TryGetValue(segments[i], out var next))
            {
                if (++_folders > FoldersMax)
                {
                    throw RpcException.Client($"more than {FoldersMax} folders in one add");
                }

                next = new Folder(segments[i]);
                folder.Folders[segments[i]] = next;
                HasFolders = true;
            }

            folder = next;
        }

        return folder;
    }

    private sealed class Folder(string name)
    {
        public string Name { get; } = name;

        public Dictionary<string, Folder> Folders { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, DirectoryEntry> Files { get; } = new(StringComparer.Ordinal);
    }
}
