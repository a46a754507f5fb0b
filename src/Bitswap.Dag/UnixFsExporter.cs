using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>A DAG that cannot be walked or read as a file: carries the typed decode error.</summary>
public sealed class DagException(DecodeError error) : Exception(error.ToString())
{
    /// <summary>What was wrong.</summary>
    public DecodeError Error { get; } = error;
}

/// <summary>Fetches one block by CID (from a blockstore, a CAR, or the network).</summary>
public delegate ValueTask<Block> BlockGetter(Cid cid, CancellationToken cancellationToken);

/// <summary>The links of a block that a walk follows: dag-pb links; raw blocks have none.</summary>
public static class DagLinks
{
    /// <summary>The child CIDs of a block in link order, or a typed error for a codec this library does not walk.</summary>
    public static Either<DecodeError, Seq<Cid>> Of(Block block) => block.Cid.Codec switch
    {
        Multicodec.Raw => Prelude.Right<DecodeError, Seq<Cid>>(default),
        Multicodec.DagPb => DagPb.Decode(block.Data.Span).Map(node => node.Links.Map(l => l.Hash)),
        var other => new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: cannot walk codec {Multicodec.Describe(other)}"),
    };
}

/// <summary>Walks a dag-pb/raw DAG breadth-first, fetching each layer's blocks in parallel with bounded concurrency.</summary>
public static class DagWalker
{
    /// <summary>
    /// Yields every distinct block under <paramref name="root"/> (by multihash), layer by layer, in link order within a
    /// layer. At most <see cref="Limits.DagFetchConcurrency"/> fetches run at once; deeper than <see cref="Limits.DagDepthMax"/>
    /// is a <see cref="DagException"/>, as is a block whose CID is not the one asked for.
    /// </summary>
    public static async IAsyncEnumerable<Block> WalkAsync(
        Cid root,
        BlockGetter getBlock,
        Limits? limits = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        limits ??= Limits.Default;
        var seen = new System.Collections.Generic.HashSet<Multihash> { root.Hash };
        var layer = new List<Cid> { root };
        for (var depth = 0; layer.Count > 0; depth++)
        {
            if (depth > limits.DagDepthMax)
            {
                throw new DagException(new DecodeError(DecodeErrorKind.TooLarge, $"DAG under {root} is deeper than {limits.DagDepthMax}"));
            }

            var blocks = await FetchAllAsync(layer, getBlock, limits.DagFetchConcurrency, cancellationToken);
            var next = new List<Cid>();
            foreach (var block in blocks)
            {
                yield return block;
                foreach (var child in DagLinks.Of(block).Match(c => c, e => throw new DagException(e)))
                {
                    if (seen.Add(child.Hash))
                    {
                        next.Add(child);
                    }
                }
            }

            layer = next;
        }
    }

    /// <summary>Fetches <paramref name="cids"/> with at most <paramref name="concurrency"/> in flight; results keep the input order.</summary>
    public static async Task<Block[]> FetchAllAsync(IReadOnlyList<Cid> cids, BlockGetter getBlock, int concurrency, CancellationToken cancellationToken)
    {
        var results = new Block[cids.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, cids.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = cancellationToken },
            async (i, ct) => results[i] = await FetchCheckedAsync(cids[i], getBlock, ct));
        return results;
    }

    /// <summary>Fetches one block and checks it is the block asked for (same multihash; the getter verified the hash).</summary>
    public static async ValueTask<Block> FetchCheckedAsync(Cid cid, BlockGetter getBlock, CancellationToken cancellationToken)
    {
        var block = await getBlock(cid, cancellationToken);
        return block.Cid.Hash.Equals(cid.Hash)
            ? block
            : throw new DagException(new DecodeError(DecodeErrorKind.HashMismatch, $"asked for {cid}, got {block.Cid}"));
    }
}

/// <summary>
/// Reassembles a UnixFS file from its DAG: raw leaves, dag-pb File/Raw nodes (inline data first, then children in link
/// order). Children are fetched ahead in parallel (bounded); bytes are written in file order. Checks blocksizes and
/// filesize against what the children hold, so a malformed DAG is a typed <see cref="DagException"/>, never wrong bytes.
/// </summary>
public static class UnixFsExporter
{
    /// <summary>Writes the file under <paramref name="root"/> to <paramref name="destination"/>; returns the bytes written.</summary>
    public static async Task<long> ExportAsync(Cid root, BlockGetter getBlock, Stream destination, Limits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        limits ??= Limits.Default;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var gate = new SemaphoreSlim(Math.Max(1, limits.DagFetchConcurrency));
        // Depth-first in file order, with a window of prefetched siblings and cousins ahead of the cursor.
        var queue = new LinkedList<(Cid Cid, int Depth, ulong? ExpectedBytes)>();
        var fetches = new Dictionary<LinkedListNode<(Cid Cid, int Depth, ulong? ExpectedBytes)>, Task<Block>>();
        queue.AddFirst((root, 0, null));
        long written = 0;
        try
        {
            while (queue.First is { } head)
            {
                StartFetches(queue, fetches, getBlock, gate, limits.DagFetchConcurrency, stop.Token);
                var block = await fetches[head];
                fetches.Remove(head);
                queue.RemoveFirst();
                var (cid, depth, expected) = head.Value;
                var (inline, children) = Decode(block, depth, limits);
                if (expected is { } want && want != FileBytes(block, inline, children))
                {
                    throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{cid}: holds {FileBytes(block, inline, children)} file bytes, its parent's blocksizes say {want}"));
                }

                if (!inline.IsEmpty)
                {
                    await destination.WriteAsync(inline, stop.Token);
                    written += inline.Length;
                }

                LinkedListNode<(Cid Cid, int Depth, ulong? ExpectedBytes)>? after = null;
                foreach (var (child, size) in children)
                {
                    after = after is null ? queue.AddFirst((child, depth + 1, size)) : queue.AddAfter(after, (child, depth + 1, size));
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var pending in fetches.Values)
            {
                try
                {
                    await pending;
                }
                catch (Exception)
                {
                    // Abandoned prefetches: the export already has its result or its error.
                }
            }

            gate.Dispose();
        }

        return written;
    }

    /// <summary>Reads the file under <paramref name="root"/> into memory (for small files and tests).</summary>
    public static async Task<byte[]> ReadAllAsync(Cid root, BlockGetter getBlock, Limits? limits = null, CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        await ExportAsync(root, getBlock, buffer, limits, cancellationToken);
        return buffer.ToArray();
    }

    private static void StartFetches(LinkedList<(Cid Cid, int Depth, ulong? ExpectedBytes)> queue, Dictionary<LinkedListNode<(Cid Cid, int Depth, ulong? ExpectedBytes)>, Task<Block>> fetches, BlockGetter getBlock, SemaphoreSlim gate, int window, CancellationToken cancellationToken)
    {
        var node = queue.First;
        for (var i = 0; i < Math.Max(1, window) && node is not null; i++, node = node.Next)
        {
            if (!fetches.ContainsKey(node))
            {
                fetches[node] = FetchGatedAsync(node.Value.Cid, getBlock, gate, cancellationToken);
            }
        }
    }

    private static async Task<Block> FetchGatedAsync(Cid cid, BlockGetter getBlock, SemaphoreSlim gate, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            return await DagWalker.FetchCheckedAsync(cid, getBlock, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    private static ulong FileBytes(Block block, ReadOnlyMemory<byte> inline, Seq<(Cid Cid, ulong Size)> children) =>
        (ulong)inline.Length + children.Fold(0UL, (sum, c) => sum + c.Size);

    /// <summary>The inline bytes of a file node and its children with the file bytes each must hold.</summary>
    private static (ReadOnlyMemory<byte> Inline, Seq<(Cid Cid, ulong Size)> Children) Decode(Block block, int depth, Limits limits)
    {
        if (depth > limits.DagDepthMax)
        {
            throw new DagException(new DecodeError(DecodeErrorKind.TooLarge, $"{block.Cid}: deeper than {limits.DagDepthMax}"));
        }

        switch (block.Cid.Codec)
        {
            case Multicodec.Raw:
                return (block.Data, default);
            case Multicodec.DagPb:
                var node = DagPb.Decode(block.Data.Span).Match(n => n, e => throw new DagException(e.At(block.Cid.ToString())));
                if (node.Data is not { } data)
                {
                    throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: dag-pb node without UnixFS data"));
                }

                var unixfs = UnixFsData.Decode(data.Span).Match(u => u, e => throw new DagException(e.At(block.Cid.ToString())));
                if (unixfs.Type is not (UnixFsType.File or UnixFsType.Raw))
                {
                    throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: UnixFS {unixfs.Type} is not a file"));
                }

                if (unixfs.BlockSizes.Count != node.Links.Count)
                {
                    throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: {node.Links.Count} links but {unixfs.BlockSizes.Count} blocksizes"));
                }

                var inline = unixfs.Data ?? ReadOnlyMemory<byte>.Empty;
                var children = node.Links.Zip(unixfs.BlockSizes).Map(p => (p.Item1.Hash, p.Item2));
                if (unixfs.FileSize is { } fileSize && fileSize != (ulong)inline.Length + children.Fold(0UL, (sum, c) => sum + c.Item2))
                {
                    throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: filesize {fileSize} disagrees with its data and blocksizes"));
                }

                return (inline, children);
            default:
                throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: codec {Multicodec.Describe(block.Cid.Codec)} is not UnixFS"));
        }
    }
}
