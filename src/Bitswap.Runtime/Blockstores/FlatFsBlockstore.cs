using System.Runtime.InteropServices;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Microsoft.Win32.SafeHandles;

namespace Bitswap.Runtime.Blockstores;

/// <summary>Settings of a <see cref="FlatFsBlockstore"/>.</summary>
public sealed record FlatFsOptions
{
    /// <summary>The defaults: 2 MiB blocks, 64 open files, writes flushed to disk, a missing store created.</summary>
    public static readonly FlatFsOptions Default = new();

    /// <summary>Largest block written or read; larger puts are refused and larger files read as absent.</summary>
    public int BlockBytesMax { get; init; } = Limits.Default.BlockBytesMax;

    /// <summary>Block files open at once across all callers; more wait their turn.</summary>
    public int OpenFilesMax { get; init; } = 64;

    /// <summary>
    /// Flush each block file to disk before it is renamed into place, then the directory after the rename, once per
    /// directory per batch (go-ds-flatfs sync, on in Kubo: Put syncs file and directory, PutMany each file and each directory once).
    /// </summary>
    public bool FlushToDisk { get; init; } = true;

    /// <summary>
    /// Hash every block read and treat a mismatch as absent (Kubo's Datastore.HashOnRead, off by default): blocks were
    /// verified when they were written, so by default a read trusts the file.
    /// </summary>
    public bool HashOnRead { get; init; }

    /// <summary>Create the directory and its SHARDING file when the root is missing or empty.</summary>
    public bool CreateIfMissing { get; init; } = true;
}

/// <summary>
/// A blockstore on disk in Kubo's flatfs layout (see <see cref="FlatFsLayout"/>), so a Kubo repo's <c>blocks</c> folder can
/// be served and a store written here can be read by Kubo. Writes go to a hidden temp file in the shard directory, are
/// flushed, then renamed over the block file, so a reader sees a whole block or none; temp files left by a crash are
/// deleted on open. Files are keyed by multihash only, so <see cref="AllKeysAsync"/> returns raw CIDv1s: whether a block
/// was dag-pb is not recorded on disk (as in Kubo). Safe for concurrent use; open file handles are bounded.
/// </summary>
public sealed partial class FlatFsBlockstore : IBlockstore
{
    private const string TempPrefix = ".put-";
    private const string TempSuffix = ".tmp";

    private readonly FlatFsOptions _options;
    private readonly SemaphoreSlim _openFiles;
    private long _corruptReads;

    private FlatFsBlockstore(string root, FlatFsOptions options)
    {
        Root = root;
        _options = options;
        _openFiles = new SemaphoreSlim(options.OpenFilesMax, options.OpenFilesMax);
    }

    /// <summary>The store's root directory (Kubo: <c>$IPFS_PATH/blocks</c>).</summary>
    public string Root { get; }

    /// <summary>Reads that found a file whose bytes do not hash to its key, or that is over the size limit; such blocks read as absent.</summary>
    public long CorruptReads => Interlocked.Read(ref _corruptReads);

    /// <summary>
    /// Opens the store at <paramref name="root"/>, creating it (with a SHARDING file) when the directory is missing or empty
    /// and <see cref="FlatFsOptions.CreateIfMissing"/> is set, and deletes temp files an interrupted write left behind.
    /// Throws <see cref="InvalidDataException"/> when the SHARDING file is missing from a non-empty directory or names
    /// another sharding function, and <see cref="DirectoryNotFoundException"/> when the root is missing and may not be created.
    /// </summary>
    public static FlatFsBlockstore Open(string root, FlatFsOptions? options = null)
    {
        options ??= FlatFsOptions.Default;
        if (options.OpenFilesMax < 1) throw new ArgumentOutOfRangeException(nameof(options), "OpenFilesMax must be at least 1");
        root = Path.GetFullPath(root);
        var shardingPath = Path.Combine(root, FlatFsLayout.ShardingFileName);
        if (!Directory.Exists(root))
        {
            if (!options.CreateIfMissing) throw new DirectoryNotFoundException($"flatfs root {root} does not exist");
            Directory.CreateDirectory(root);
        }
        if (File.Exists(shardingPath))
        {
            var text = File.ReadAllText(shardingPath, Encoding.UTF8);
            if (!FlatFsLayout.IsNextToLast2(text))
                throw new InvalidDataException($"{shardingPath} names '{text.Trim()}'; only {FlatFsLayout.NextToLast2} is supported");
        }
        else
        {
            DeleteTempFiles(root);
            if (Directory.EnumerateFileSystemEntries(root).Any())
                throw new InvalidDataException($"{root} is not empty but has no {FlatFsLayout.ShardingFileName} file; refusing to guess its layout");
            if (!options.CreateIfMissing) throw new InvalidDataException($"{root} has no {FlatFsLayout.ShardingFileName} file");
            // go-ds-flatfs writes the shard id followed by a newline.
            WriteAtomically(root, shardingPath, Encoding.UTF8.GetBytes(FlatFsLayout.NextToLast2 + "\n"), options.FlushToDisk);
        }
        var store = new FlatFsBlockstore(root, options);
        foreach (var shard in store.ShardDirectories()) DeleteTempFiles(shard);
        DeleteTempFiles(root);
        return store;
    }

    /// <summary>The absolute path of the file that holds (or would hold) a multihash's block.</summary>
    public string PathOf(Multihash hash) => Path.Combine(Root, FlatFsLayout.RelativePathOf(hash));

    /// <inheritdoc />
    public ValueTask<bool> HasAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(File.Exists(PathOf(cid.Hash)));
    }

    /// <inheritdoc />
    public ValueTask<int?> GetSizeAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var info = new FileInfo(PathOf(cid.Hash));
        return ValueTask.FromResult(info.Exists && info.Length <= _options.BlockBytesMax ? (int)info.Length : (int?)null);
    }

    /// <summary>
    /// The block, or null when it is not held. Files were verified when written, so the bytes are trusted unless
    /// <see cref="FlatFsOptions.HashOnRead"/> is set; then a file that fails the check reads as absent and is counted in
    /// <see cref="CorruptReads"/>. A file over the size limit always reads as absent and is counted.
    /// </summary>
    public async ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        var data = await ReadFileAsync(PathOf(cid.Hash), cancellationToken).ConfigureAwait(false);
        if (data is null) return null;
        if (!_options.HashOnRead) return Block.FromStore(cid, data);
        var verified = Block.Verified(cid, data);
        if (verified.IsRight) return verified.RightToSeq().Head();
        Interlocked.Increment(ref _corruptReads);
        return null;
    }

    /// <summary>Checks the block's size, then writes it atomically (file, rename, directory synced); a block already on disk is left as is.</summary>
    public async ValueTask PutAsync(Block block, CancellationToken cancellationToken = default)
    {
        if (await PutFileAsync(block, cancellationToken).ConfigureAwait(false) is { } directory && _options.FlushToDisk)
            SyncDirectory(directory);
    }

    /// <summary>Writes each block as <see cref="PutAsync"/> does, but syncs each touched directory once for the whole batch.</summary>
    public async ValueTask PutManyAsync(IReadOnlyList<Block> blocks, CancellationToken cancellationToken = default)
    {
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var block in blocks)
        {
            if (await PutFileAsync(block, cancellationToken).ConfigureAwait(false) is { } directory) touched.Add(directory);
        }
        if (!_options.FlushToDisk) return;
        foreach (var directory in touched) SyncDirectory(directory);
    }

    /// <summary>Writes one block file atomically; returns its directory, or null when the block was already on disk.</summary>
    private async ValueTask<string?> PutFileAsync(Block block, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        BlockAdmission.Check(block, _options.BlockBytesMax);
        var path = PathOf(block.Cid.Hash);
        if (File.Exists(path)) return null;
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        await _openFiles.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteAtomicallyAsync(directory, path, block.Data, _options.FlushToDisk, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _openFiles.Release();
        }
        return directory;
    }

    /// <summary>fsync(2) on a directory, so a rename in it survives a crash (go-ds-flatfs syncDir); a no-op off Unix.</summary>
    private static void SyncDirectory(string directory)
    {
        // .NET opens no directory handles, so this goes to libc: open(O_RDONLY | O_DIRECTORY), fsync, close.
        if (!OperatingSystem.IsLinux()) return;
        const int ReadOnlyDirectory = 0x10000; // O_DIRECTORY on Linux; O_RDONLY is 0
        var fd = Posix.Open(directory, ReadOnlyDirectory);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Posix.Fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Posix.Close(fd);
        }
    }

    private static partial class Posix
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        internal static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close")]
        internal static partial int Close(int fd);
    }

    /// <inheritdoc />
    public bool RetainsBlockMemory => false;

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var info = new FileInfo(PathOf(cid.Hash));
        if (!info.Exists) return ValueTask.FromResult(false);
        info.Delete();
        return ValueTask.FromResult(true);
    }

    /// <summary>
    /// A raw CIDv1 for every block file, shard by shard in ordinal order and sorted within a shard. flatfs keys hold only the
    /// multihash, so a block that was put under a dag-pb CID comes back as raw; files that are not block files are skipped.
    /// </summary>
    public IAsyncEnumerable<Cid> AllKeysAsync(CancellationToken cancellationToken = default) =>
        EnumerateKeys(cancellationToken).ToAsyncEnumerable();

    private IEnumerable<Cid> EnumerateKeys(CancellationToken cancellationToken)
    {
        foreach (var shard in ShardDirectories().Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // One shard's names at a time: Kubo spreads blocks over at most 32 × 32 shards.
            var names = Directory.EnumerateFiles(shard, "*" + FlatFsLayout.BlockExtension)
                .Select(Path.GetFileName)
                .OfType<string>()
                .Order(StringComparer.Ordinal)
                .ToArray();
            foreach (var name in names)
            {
                var hash = FlatFsLayout.HashOfFileName(name);
                if (hash.IsSome) yield return Cid.V1(Multicodec.Raw, (Multihash)hash);
            }
        }
    }

    private IEnumerable<string> ShardDirectories() =>
        Directory.EnumerateDirectories(Root).Where(d => Path.GetFileName(d).Length == FlatFsLayout.ShardLength);

    private async ValueTask<byte[]?> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        await _openFiles.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SafeFileHandle handle;
            try
            {
                // Delete sharing lets a concurrent put rename over the file or a delete unlink it while we read the old inode.
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;
            }
            using (handle)
            {
                var length = RandomAccess.GetLength(handle);
                if (length > _options.BlockBytesMax)
                {
                    Interlocked.Increment(ref _corruptReads);
                    return null;
                }
                var data = new byte[length];
                var read = 0;
                while (read < data.Length)
                {
                    var n = await RandomAccess.ReadAsync(handle, data.AsMemory(read), read, cancellationToken).ConfigureAwait(false);
                    if (n == 0) break;
                    read += n;
                }
                // A file that shrank under us is not the block it names; the hash check will say so.
                return read == data.Length ? data : data[..read];
            }
        }
        finally
        {
            _openFiles.Release();
        }
    }

    private static async ValueTask WriteAtomicallyAsync(string directory, string path, ReadOnlyMemory<byte> data, bool flush, CancellationToken cancellationToken)
    {
        var temp = TempPathIn(directory);
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous, data.Length))
            {
                await RandomAccess.WriteAsync(handle, data, 0, cancellationToken).ConfigureAwait(false);
                if (flush) RandomAccess.FlushToDisk(handle);
            }
            // rename(2) replaces the target atomically: readers see the old file or the new one, never a partial one.
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void WriteAtomically(string directory, string path, byte[] data, bool flush)
    {
        var temp = TempPathIn(directory);
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, data, 0);
                if (flush) RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    // Hidden and without the block extension, so neither this store nor Kubo (which skips such names) reads it as a block.
    // Kubo's own temp files are named "put-*" and are left alone: Kubo may be writing them right now.
    private static string TempPathIn(string directory) => Path.Combine(directory, $"{TempPrefix}{Guid.NewGuid():N}{TempSuffix}");

    private static void DeleteTempFiles(string directory)
    {
        foreach (var temp in Directory.EnumerateFiles(directory, TempPrefix + "*" + TempSuffix)) TryDelete(temp);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a temp file that cannot be removed now is removed on the next open.
        }
        catch (UnauthorizedAccessException)
        {
            // Same as above.
        }
    }
}
