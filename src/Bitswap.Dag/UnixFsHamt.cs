using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>
/// HAMT-sharded UnixFS directories as ipfs-unixfs-importer 17.1.1 builds them (dir-sharded.ts, hamt-sharding 3): 256
/// slots per node (DEFAULT_SHARD_FANOUT_BITS = 8), hash type 0x22 (murmur3-x64-64: the first 8 bytes of murmur3-x64-128
/// of the UTF-8 name, consumed one byte per level), a leaf linked as "XX" + name and a sub-shard as "XX" (XX = the
/// slot in upper-case hex), Data = UnixFS Type=HAMTShard with the occupied-slot bitfield (big-endian, leading zero bytes
/// dropped), fanout 256 and hashType 0x22.
/// </summary>
public static class UnixFsHamt
{
    /// <summary>Slots per shard node (2^8).</summary>
    public const int Fanout = 256;

    /// <summary>The multihash code of murmur3-x64-64, the hash named in the node (ipfs-unixfs-importer DEFAULT_SHARD_HASH_CODE).</summary>
    public const ulong HashType = 0x22;

    /// <summary>Levels one 64-bit hash can address (8 bits each); hamt-sharding would rehash past this, we refuse.</summary>
    public const int DepthMax = 8;

    /// <summary>Builds the shard over <paramref name="entries"/>: every node's block (children before parents) and the root's cumulative size.</summary>
    public static (IReadOnlyList<Block> Blocks, Block Root, long DagSize) Build(IEnumerable<DirectoryEntry> entries, int cidVersion)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var root = new Bucket();
        foreach (var entry in entries)
        {
            Insert(root, new Leaf(entry, Hash64(entry.Name)), 0);
        }

        var blocks = new List<Block>();
        var (block, size) = Flush(root, cidVersion, blocks);
        return (blocks, block, size);
    }

    /// <summary>The 8 hash bytes of a name, in the order the levels consume them: @multiformats/murmur3 digests start with h1 big-endian.</summary>
    public static byte[] Hash64(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var (h1, _) = Murmur3X64128(Encoding.UTF8.GetBytes(name), 0);
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, h1);
        return bytes;
    }

    /// <summary>MurmurHash3 x64 128-bit (Austin Appleby's reference), returning (h1, h2).</summary>
    public static (ulong H1, ulong H2) Murmur3X64128(ReadOnlySpan<byte> data, uint seed)
    {
        const ulong c1 = 0x87c37b91114253d5UL, c2 = 0x4cf5ad432745937fUL;
        ulong h1 = seed, h2 = seed;
        var blocks = data.Length / 16;
        for (var i = 0; i < blocks; i++)
        {
            var k1 = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i * 16));
            var k2 = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice((i * 16) + 8));
            k1 *= c1; k1 = BitOperations.RotateLeft(k1, 31); k1 *= c2; h1 ^= k1;
            h1 = BitOperations.RotateLeft(h1, 27); h1 += h2; h1 = (h1 * 5) + 0x52dce729;
            k2 *= c2; k2 = BitOperations.RotateLeft(k2, 33); k2 *= c1; h2 ^= k2;
            h2 = BitOperations.RotateLeft(h2, 31); h2 += h1; h2 = (h2 * 5) + 0x38495ab5;
        }

        var tail = data.Slice(blocks * 16);
        ulong t1 = 0, t2 = 0;
        for (var i = tail.Length - 1; i >= 8; i--)
        {
            t2 = (t2 << 8) | tail[i];
        }

        for (var i = Math.Min(tail.Length, 8) - 1; i >= 0; i--)
        {
            t1 = (t1 << 8) | tail[i];
        }

        if (tail.Length > 8)
        {
            t2 *= c2; t2 = BitOperations.RotateLeft(t2, 33); t2 *= c1; h2 ^= t2;
        }

        if (tail.Length > 0)
        {
            t1 *= c1; t1 = BitOperations.RotateLeft(t1, 31); t1 *= c2; h1 ^= t1;
        }

        h1 ^= (ulong)data.Length; h2 ^= (ulong)data.Length;
        h1 += h2; h2 += h1;
        h1 = Mix(h1); h2 = Mix(h2);
        h1 += h2; h2 += h1;
        return (h1, h2);

        static ulong Mix(ulong k)
        {
            k ^= k >> 33; k *= 0xff51afd7ed558ccdUL; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53UL; k ^= k >> 33;
            return k;
        }
    }

    /// <summary>The entries under a shard node, walking sub-shards through <paramref name="getBlock"/>, with their names unprefixed.</summary>
    public static async IAsyncEnumerable<DagPbLink> EntriesAsync(Block shard, BlockGetter getBlock, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shard);
        ArgumentNullException.ThrowIfNull(getBlock);
        var node = DagPb.Decode(shard.Data.Span).Match(n => n, e => throw new DagException(e));
        foreach (var link in node.Links)
        {
            var name = link.Name ?? "";
            if (name.Length == 2)
            {
                var child = await getBlock(link.Hash, cancellationToken).ConfigureAwait(false);
                await foreach (var inner in EntriesAsync(child, getBlock, cancellationToken).ConfigureAwait(false))
                {
                    yield return inner;
                }
            }
            else if (name.Length > 2)
            {
                yield return link with { Name = name[2..] };
            }
        }
    }

    private static void Insert(Bucket bucket, Leaf leaf, int depth)
    {
        if (depth >= DepthMax)
        {
            throw new InvalidOperationException($"two names share a 64-bit hash: {leaf.Entry.Name}");
        }

        var slot = leaf.Hash[depth];
        switch (bucket.Children[slot])
        {
            case null:
                bucket.Children[slot] = leaf;
                break;
            case Bucket sub:
                Insert(sub, leaf, depth + 1);
                break;
            case Leaf existing when existing.Entry.Name == leaf.Entry.Name:
                bucket.Children[slot] = leaf;
                break;
            case Leaf existing:
                // hamt-sharding _findNewBucketAndPos: the occupant moves one level down, then the newcomer follows it.
                var child = new Bucket();
                bucket.Children[slot] = child;
                Insert(child, existing, depth + 1);
                Insert(child, leaf, depth + 1);
                break;
        }
    }

    private static (Block Block, long Size) Flush(Bucket bucket, int cidVersion, List<Block> blocks)
    {
        var links = new List<DagPbLink>();
        long childrenSize = 0;
        var bitfield = BigInteger.Zero;
        for (var slot = 0; slot < Fanout; slot++)
        {
            var label = slot.ToString("X2", System.Globalization.CultureInfo.InvariantCulture);
            switch (bucket.Children[slot])
            {
                case null:
                    continue;
                case Bucket sub:
                    var (block, size) = Flush(sub, cidVersion, blocks);
                    links.Add(new DagPbLink(block.Cid, label, (ulong)size));
                    childrenSize += size;
                    break;
                case Leaf leaf:
                    links.Add(new DagPbLink(leaf.Entry.Cid, label + leaf.Entry.Name, (ulong)leaf.Entry.DagSize));
                    childrenSize += leaf.Entry.DagSize;
                    break;
            }

            bitfield |= BigInteger.One << slot;
        }

        var data = DataField(bitfield.ToByteArray(isUnsigned: true, isBigEndian: true));
        var sorted = links.OrderBy(l => Encoding.UTF8.GetBytes(l.Name ?? ""), ByteOrder.Instance).ToArray();
        var bytes = DagPb.Encode(new DagPbNode(Prelude.toSeq(sorted), data));
        var node = Block.Create(bytes, Multicodec.DagPb, MultihashCode.Sha2_256, cidVersion)
            .Match(b => b, e => throw new InvalidOperationException($"shard node: {e.Detail}"));
        blocks.Add(node);
        return (node, bytes.Length + childrenSize);
    }

    /// <summary>UnixFS Data {Type=HAMTShard, Data=bitfield, hashType=0x22, fanout=256}, fields in number order as ipfs-unixfs writes them.</summary>
    private static byte[] DataField(byte[] bitfield)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(0x08);
        buffer.WriteByte((byte)UnixFsType.HamtShard);
        buffer.WriteByte(0x12);
        WriteVarint(buffer, (ulong)bitfield.Length);
        buffer.Write(bitfield);
        buffer.WriteByte(0x28);
        WriteVarint(buffer, HashType);
        buffer.WriteByte(0x30);
        WriteVarint(buffer, Fanout);
        return buffer.ToArray();
    }

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        stream.WriteByte((byte)value);
    }

    private sealed class Bucket
    {
        public object?[] Children { get; } = new object?[Fanout];
    }

    private sealed record Leaf(DirectoryEntry Entry, byte[] Hash);

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());
    }
}
