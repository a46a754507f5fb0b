using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;

namespace Bitswap.Tests.Properties;

/// <summary>Generators for multiformats and wire messages.</summary>
public static partial class Arbitraries
{
    /// <summary>Any byte.</summary>
    public static Gen<byte> ByteGen { get; } = Gen.Choose(0, 255).Select(b => (byte)b);

    /// <summary>A byte array of exactly <paramref name="length"/> bytes.</summary>
    public static Gen<byte[]> BytesOf(int length) => ByteGen.ArrayOf(length);

    /// <summary>A byte array of 0 to <paramref name="maxLength"/> bytes.</summary>
    public static Gen<byte[]> BytesUpTo(int maxLength) => Gen.Choose(0, maxLength).SelectMany(BytesOf);

    /// <summary>Content codecs: the registered ones and arbitrary codes up to three varint bytes.</summary>
    public static Gen<ulong> CodecGen { get; } = Gen.OneOf(
        Gen.Elements(Multicodec.Raw, Multicodec.DagPb, Multicodec.DagCbor, Multicodec.Libp2pKey, Multicodec.DagJson, Multicodec.Json),
        Gen.Choose(0, (1 << 21) - 1).Select(c => (ulong)c));

    /// <summary>A multihash over a random digest: sha2-256, sha2-512, blake3 (32 bytes) or identity (0–48 bytes).</summary>
    public static Gen<Multihash> MultihashGen { get; } = Gen.OneOf(
        BytesOf(32).Select(d => Multihash.FromDigest((ulong)MultihashCode.Sha2_256, d)),
        BytesOf(64).Select(d => Multihash.FromDigest((ulong)MultihashCode.Sha2_512, d)),
        BytesOf(32).Select(d => Multihash.FromDigest((ulong)MultihashCode.Blake3, d)),
        BytesUpTo(48).Select(d => Multihash.FromDigest((ulong)MultihashCode.Identity, d)));

    /// <summary>A CIDv0 over a random sha2-256 digest.</summary>
    public static Gen<Cid> CidV0Gen { get; } = BytesOf(32).Select(d =>
        Cid.V0(Multihash.FromDigest((ulong)MultihashCode.Sha2_256, d)).Match(c => c, e => throw new InvalidOperationException(e.ToString())));

    /// <summary>A CIDv1 over a random codec and multihash.</summary>
    public static Gen<Cid> CidV1Gen { get; } = CodecGen.SelectMany(codec => MultihashGen.Select(hash => Cid.V1(codec, hash)));

    /// <summary>A CIDv0 or CIDv1.</summary>
    public static Gen<Cid> CidGen { get; } = Gen.Frequency((1, CidV0Gen), (3, CidV1Gen));

    /// <summary>A block of up to 300 bytes hashed as v0 dag-pb, v1 raw sha2-256, v1 dag-cbor sha2-512 or v1 identity.</summary>
    public static Gen<Block> BlockGen { get; } = BytesUpTo(300).SelectMany(data => Gen.Elements(
            (Codec: Multicodec.DagPb, Hash: MultihashCode.Sha2_256, Version: 0),
            (Codec: Multicodec.Raw, Hash: MultihashCode.Sha2_256, Version: 1),
            (Codec: Multicodec.DagCbor, Hash: MultihashCode.Sha2_512, Version: 1),
            (Codec: Multicodec.Raw, Hash: MultihashCode.Identity, Version: 1))
        .Select(kind => Block.Create(data, kind.Codec, kind.Hash, kind.Version).Match(b => b, e => throw new InvalidOperationException(e.ToString()))));

    /// <summary>A wantlist entry: mostly wants, some cancels (including odd cancels of want-haves with flags set).</summary>
    public static Gen<WantlistEntry> EntryGen { get; } =
        from cid in CidGen
        from priority in Gen.Frequency((3, Gen.Choose(0, 1000)), (1, Gen.Choose(int.MinValue, int.MaxValue)))
        from type in Gen.Elements(WantType.Block, WantType.Have)
        from cancel in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from sendDontHave in Gen.Elements(false, true)
        select new WantlistEntry(cid, priority, type, cancel, sendDontHave);

    /// <summary>A presence for a random CID.</summary>
    public static Gen<(Cid Cid, PresenceType Type)> PresenceGen { get; } =
        from cid in CidGen
        from type in Gen.Elements(PresenceType.Have, PresenceType.DontHave)
        select (cid, type);

    /// <summary>A message with up to 8 entries (some repeating a CID, to exercise merging), 4 blocks and 6 presences.</summary>
    public static Gen<Message> MessageGen { get; } =
        from entries in Gen.Choose(0, 8).SelectMany(n => EntryGen.ListOf(n))
        from repeats in Gen.Choose(0, 3).SelectMany(n => EntryGen.ListOf(n))
        from blocks in Gen.Choose(0, 4).SelectMany(n => BlockGen.ListOf(n))
        from presences in Gen.Choose(0, 6).SelectMany(n => PresenceGen.ListOf(n))
        from full in Gen.Elements(false, true)
        from pending in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(0, int.MaxValue)))
        select Build(entries, repeats, blocks, presences, full, pending);

    /// <summary>Wire messages (see <see cref="MessageGen"/>).</summary>
    public static Arbitrary<Message> WireMessage() => MessageGen.ToArbitrary();

    /// <summary>A protocol version.</summary>
    public static Gen<ProtocolVersion> VersionGen { get; } = Gen.Elements(ProtocolVersion.V100, ProtocolVersion.V110, ProtocolVersion.V120);

    private static Message Build(IEnumerable<WantlistEntry> entries, IEnumerable<WantlistEntry> repeats, IEnumerable<Block> blocks,
        IEnumerable<(Cid Cid, PresenceType Type)> presences, bool full, int pending)
    {
        var entryList = entries.ToList();
        // Repeat some CIDs with other flags so the merge rules run while building.
        var merged = entryList.Concat(repeats.Zip(entryList, (r, e) => r with { Cid = e.Cid }));
        var message = Message.Empty.WithEntries(merged).WithFull(full).WithPendingBytes(pending);
        message = presences.Aggregate(message, (m, p) => m.WithPresence(p.Cid, p.Type));
        return blocks.Aggregate(message, (m, b) => m.WithBlock(b));
    }
}
