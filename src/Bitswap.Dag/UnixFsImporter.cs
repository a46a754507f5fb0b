using System.Buffers;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>The CID profiles of IPIP-499 ("UnixFS CID profiles").</summary>
public enum ImportProfile
{
    /// <summary>unixfs-v1-2025: 1 MiB chunks, 1024 links per node, CIDv1, raw leaves.</summary>
    UnixFsV1_2025,
    /// <summary>unixfs-v0-2015: 256 KiB chunks, 174 links per node, CIDv0, UnixFS-wrapped dag-pb leaves.</summary>
    UnixFsV0_2015,
}

/// <summary>How a file is cut into blocks. Build from a profile with <see cref="For"/> and override with `with`.</summary>
/// <param name="Profile">The IPIP-499 profile the other values came from.</param>
/// <param name="ChunkSize">Bytes per leaf (fixed-size chunker).</param>
/// <param name="RawLeaves">Leaves are raw blocks (CIDv1 raw) instead of dag-pb UnixFS File nodes.</param>
/// <param name="CidVersion">CID version of dag-pb nodes (0 or 1); raw leaves are always CIDv1.</param>
/// <param name="MaxLinks">Most links in one parent node of the balanced layout.</param>
public sealed record ImportOptions(ImportProfile Profile, int ChunkSize, bool RawLeaves, int CidVersion, int MaxLinks)
{
    /// <summary>Largest chunk accepted: a leaf must fit in one bitswap block.</summary>
    public const int ChunkSizeMax = 2 * 1024 * 1024;

    /// <summary>The profile's values (as ipfs-unixfs-importer 17 sets them for `profile`).</summary>
    public static ImportOptions For(ImportProfile profile) => profile switch
    {
        ImportProfile.UnixFsV1_2025 => new ImportOptions(profile, 1024 * 1024, RawLeaves: true, CidVersion: 1, MaxLinks: 1024),
        ImportProfile.UnixFsV0_2015 => new ImportOptions(profile, 256 * 1024, RawLeaves: false, CidVersion: 0, MaxLinks: 174),
        _ => throw new System.Diagnostics.UnreachableException($"profile {profile}"),
    };

    /// <summary>IPIP-499 unixfs-v1-2025.</summary>
    public static ImportOptions V1_2025 => For(ImportProfile.UnixFsV1_2025);

    /// <summary>IPIP-499 unixfs-v0-2015.</summary>
    public static ImportOptions V0_2015 => For(ImportProfile.UnixFsV0_2015);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for values no importer accepts.</summary>
    public ImportOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1, nameof(ChunkSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ChunkSize, ChunkSizeMax, nameof(ChunkSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLinks, 2, nameof(MaxLinks));
        if (CidVersion is not (0 or 1))
        {
            throw new ArgumentOutOfRangeException(nameof(CidVersion), CidVersion, "CID version is 0 or 1");
        }

        return this;
    }
}

/// <summary>The outcome of an import: the root CID, the file size and how many blocks were produced.</summary>
/// <param name="Root">The root CID.</param>
/// <param name="FileSize">Bytes read from the stream.</param>
/// <param name="BlockCount">Blocks handed to the sink (duplicates included).</param>
/// <param name="DagSize">Encoded bytes of the whole DAG (the root's Tsize).</param>
public sealed record ImportResult(Cid Root, long FileSize, int BlockCount, long DagSize);

/// <summary>
/// Imports a byte stream as a UnixFS file the way ipfs-unixfs-importer does with a fixed-size chunker and the balanced
/// layout, so the root CID matches Helia's (and Kubo's) for the same options: a single-chunk file is its own root; otherwise
/// leaves are grouped MaxLinks at a time into UnixFS File parents (blocksizes, filesize, links named "" with Tsize =
/// encoded bytes of the child's DAG), layer by layer, until one node remains.
/// </summary>
public static class UnixFsImporter
{
    /// <summary>One child of a parent being built: its CID, file bytes under it, and encoded bytes of its DAG.</summary>
    private readonly record struct Child(Cid Cid, ulong FileBytes, ulong DagBytes);

    /// <summary>Reads <paramref name="content"/> to its end, hands every block to <paramref name="sink"/> (leaves first, root last).</summary>
    public static async Task<ImportResult> ImportAsync(
        Stream content,
        ImportOptions options,
        Func<Block, CancellationToken, ValueTask> sink,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(sink);
        options = options.Validated();
        var leaves = new List<Child>();
        var blockCount = 0;
        long fileSize = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(options.ChunkSize);
        try
        {
            while (true)
            {
                var filled = await FillAsync(content, buffer.AsMemory(0, options.ChunkSize), cancellationToken);
                // The chunker always emits one chunk, empty for an empty stream, and never an empty trailing chunk.
                if (filled == 0 && leaves.Count > 0)
                {
                    break;
                }

                fileSize += filled;
                var leaf = LeafBlock(buffer.AsSpan(0, filled), options);
                await sink(leaf.Block, cancellationToken);
                blockCount++;
                leaves.Add(leaf.Child);
                if (filled < options.ChunkSize)
                {
                    break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (leaves.Count == 1)
        {
            return new ImportResult(leaves[0].Cid, fileSize, blockCount, (long)leaves[0].DagBytes);
        }

        var layer = leaves;
        while (layer.Count > 1)
        {
            var next = new List<Child>((layer.Count + options.MaxLinks - 1) / options.MaxLinks);
            for (var start = 0; start < layer.Count; start += options.MaxLinks)
            {
                var group = layer.GetRange(start, Math.Min(options.MaxLinks, layer.Count - start));
                var parent = ParentBlock(group, options);
                await sink(parent.Block, cancellationToken);
                blockCount++;
                next.Add(parent.Child);
            }

            layer = next;
        }

        return new ImportResult(layer[0].Cid, fileSize, blockCount, (long)layer[0].DagBytes);
    }

    /// <summary>Imports a byte array, collecting the blocks in the order they were produced (root last).</summary>
    public static async Task<(ImportResult Result, Seq<Block> Blocks)> ImportBytesAsync(ReadOnlyMemory<byte> content, ImportOptions options, CancellationToken cancellationToken = default)
    {
        var blocks = new List<Block>();
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        var result = await ImportAsync(stream, options, (block, _) =>
        {
            blocks.Add(block);
            return ValueTask.CompletedTask;
        }, cancellationToken);
        return (result, Prelude.toSeq(blocks));
    }

    private static (Block Block, Child Child) LeafBlock(ReadOnlySpan<byte> chunk, ImportOptions options)
    {
        if (options.RawLeaves)
        {
            var raw = Block.Raw(chunk.ToArray());
            return (raw, new Child(raw.Cid, (ulong)chunk.Length, (ulong)raw.Size));
        }

        var node = new DagPbNode(default, UnixFsData.FileLeaf(chunk.ToArray()).Encode());
        var block = DagPbBlock(node, options.CidVersion);
        return (block, new Child(block.Cid, (ulong)chunk.Length, (ulong)block.Size));
    }

    private static (Block Block, Child Child) ParentBlock(List<Child> children, ImportOptions options)
    {
        // ipfs-unixfs-importer drops children with no file bytes; only an empty file has one, and it is its own root.
        var kept = children.Where(c => c.FileBytes > 0).ToArray();
        var data = UnixFsData.FileParent(Prelude.toSeq(kept.Select(c => c.FileBytes).ToArray()));
        var links = Prelude.toSeq(kept.Select(c => new DagPbLink(c.Cid, "", c.DagBytes)).ToArray());
        var block = DagPbBlock(new DagPbNode(links, data.Encode()), options.CidVersion);
        var dagBytes = (ulong)block.Size + kept.Aggregate(0UL, (sum, c) => sum + c.DagBytes);
        return (block, new Child(block.Cid, data.FileSize ?? 0, dagBytes));
    }

    private static Block DagPbBlock(DagPbNode node, int cidVersion) =>
        Block.Create(DagPb.Encode(node), Multicodec.DagPb, MultihashCode.Sha2_256, cidVersion)
            .Match(b => b, e => throw new System.Diagnostics.UnreachableException($"sha2-256 dag-pb CIDs always compute: {e}"));

    private static async ValueTask<int> FillAsync(Stream content, Memory<byte> chunk, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < chunk.Length)
        {
            var read = await content.ReadAsync(chunk[filled..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }
}
