using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

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

    /// <summary>
    /// One node of a UnixFS file: its inline bytes and its children with the file bytes each must hold, checked against
    /// the file bytes its parent says it holds (<paramref name="expectedBytes"/>, null for the root). Throws
    /// <see cref="DagException"/> for a malformed node. For writers that place blocks as they arrive, in any order.
    /// </summary>
    public static (ReadOnlyMemory<byte> Inline, Seq<(Cid Cid, ulong Size)> Children) Piece(Block block, int depth, ulong? expectedBytes, Limits limits)
    {
        var (inline, children) = Decode(block, depth, limits);
        if (expectedBytes is { } want && want != FileBytes(block, inline, children))
        {
            throw new DagException(new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: holds {FileBytes(block, inline, children)} file bytes, its parent's blocksizes say {want}"));
        }

        return (inline, children);
    }

    /// <summary>The file bytes a node holds: its inline bytes and its children's.</summary>
    public static ulong FileBytesOf(ReadOnlyMemory<byte> inline, Seq<(Cid Cid, ulong Size)> children) =>
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
