using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>One entry of a UnixFS directory: its name, its root CID and its cumulative DAG size (the link's Tsize).</summary>
/// <param name="Name">The entry name (no '/').</param>
/// <param name="Cid">The entry's root CID.</param>
/// <param name="DagSize">Encoded bytes of the entry's whole DAG.</param>
/// <param name="IsDirectory">True for a subdirectory (it does not count towards the shard estimate, see <see cref="UnixFsDirectory.ShardEstimate"/>).</param>
public sealed record DirectoryEntry(string Name, Cid Cid, long DagSize, bool IsDirectory);

/// <summary>
/// Plain (unsharded) UnixFS directories as ipfs-unixfs-importer 17.1.1 builds them (dir-flat.ts): a dag-pb node whose
/// Data is UnixFS Type=Directory (no mode, no mtime), links sorted by the UTF-8 bytes of their names (@ipld/dag-pb
/// prepare), Tsize = each child's cumulative size, and the directory's own size = its encoded length + the Tsizes.
/// </summary>
public static class UnixFsDirectory
{
    /// <summary>ipfs-unixfs-importer's DEFAULT_SHARD_SPLIT_THRESHOLD_BYTES (constants.ts): past this estimate a directory becomes a HAMT.</summary>
    public const long ShardSplitThresholdBytes = 262_144;

    /// <summary>Encodes the directory node over <paramref name="entries"/>; returns the block and its cumulative size.</summary>
    public static (Block Block, long DagSize) Encode(IEnumerable<DirectoryEntry> entries, int cidVersion)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var sorted = entries.OrderBy(e => Encoding.UTF8.GetBytes(e.Name), Utf8Order.Instance).ToArray();
        var links = sorted.Select(e => new DagPbLink(e.Cid, e.Name, (ulong)e.DagSize));
        var data = new UnixFsData(UnixFsType.Directory, null, null, Seq<ulong>.Empty).Encode();
        var bytes = DagPb.Encode(new DagPbNode(Prelude.toSeq(links), data));
        var block = Block.Create(bytes, Multicodec.DagPb, MultihashCode.Sha2_256, cidVersion)
            .Match(b => b, e => throw new InvalidOperationException($"directory node: {e.Detail}"));
        return (block, bytes.Length + sorted.Sum(e => e.DagSize));
    }

    /// <summary>
    /// The importer's size estimate that decides sharding (dir-flat.ts estimateNodeSize), counting only file children
    /// (a subdirectory has no CID yet when the importer checks). <c>links-bytes</c> (unixfs-v0-2015): name bytes + CID
    /// bytes per link; <c>block-bytes</c> (unixfs-v1-2025): the serialized Data field plus each serialized link (pb-size.ts).
    /// </summary>
    public static long ShardEstimate(IEnumerable<DirectoryEntry> entries, ImportProfile profile)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var files = entries.Where(e => !e.IsDirectory).ToArray();
        if (profile == ImportProfile.UnixFsV0_2015)
        {
            return files.Sum(e => (long)Encoding.UTF8.GetByteCount(e.Name) + e.Cid.ByteLength);
        }

        // Data field of a directory without mode or mtime: tag, length, then 08 01.
        long size = 1 + VarintLength(2) + 2;
        foreach (var e in files)
        {
            var name = Encoding.UTF8.GetByteCount(e.Name);
            var link = 1 + VarintLength((ulong)e.Cid.ByteLength) + e.Cid.ByteLength + 1 + VarintLength((ulong)name) + name + 1 + VarintLength((ulong)e.DagSize);
            size += 1 + VarintLength((ulong)link) + link;
        }

        return size;
    }

    /// <summary>True when ipfs-unixfs-importer would shard this directory (estimate strictly above the threshold, flat-to-shard.ts).</summary>
    public static bool NeedsSharding(IEnumerable<DirectoryEntry> entries, ImportProfile profile) =>
        ShardEstimate(entries, profile) > ShardSplitThresholdBytes;

    private static int VarintLength(ulong value)
    {
        var length = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            length++;
        }

        return length;
    }

    /// <summary>@ipld/dag-pb's link order: bytewise, a prefix first.</summary>
    private sealed class Utf8Order : IComparer<byte[]>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());
    }
}
