using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain;

/// <summary>
/// A block: data and the CID it hashes to. Equality is by CID and data. Build with <see cref="Create"/>
/// (computes the CID) or <see cref="Verified"/> (checks a claimed CID); never trust a CID you did not check.
/// </summary>
public sealed class Block : IEquatable<Block>
{
    private Block(Cid cid, ReadOnlyMemory<byte> data)
    {
        Cid = cid;
        Data = data;
    }

    /// <summary>The block's content identifier.</summary>
    public Cid Cid { get; }

    /// <summary>The block's bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The block size in bytes.</summary>
    public int Size => Data.Length;

    /// <summary>Hashes <paramref name="data"/> into a block: CIDv1 raw sha2-256 unless told otherwise.</summary>
    public static Either<DecodeError, Block> Create(ReadOnlyMemory<byte> data, ulong codec = Multicodec.Raw, MultihashCode hash = MultihashCode.Sha2_256, int version = 1) =>
        Cid.Compute(data.Span, codec, hash, version).Map(cid => new Block(cid, data));

    /// <summary>A raw sha2-256 CIDv1 block; for data the caller generated (never fails).</summary>
    public static Block Raw(ReadOnlyMemory<byte> data) =>
        Create(data).Match(b => b, e => throw new System.Diagnostics.UnreachableException($"sha2-256 always computes: {e}"));

    /// <summary>Checks that <paramref name="data"/> hashes to <paramref name="cid"/>.</summary>
    public static Either<DecodeError, Block> Verified(Cid cid, ReadOnlyMemory<byte> data) =>
        cid.Prefix.Sum(data.Span).Bind(computed => computed.Equals(cid)
            ? Prelude.Right<DecodeError, Block>(new Block(cid, data))
            : new DecodeError(DecodeErrorKind.HashMismatch, $"data hashes to {computed}, not {cid}"));

    /// <summary>
    /// Pairs a CID with data read back from a store that verified it when it was written (Kubo's HashOnRead=false);
    /// never for data from the network or a file, which go through <see cref="Verified"/> or the wire decoder.
    /// </summary>
    public static Block FromStore(Cid cid, ReadOnlyMemory<byte> data) => new(cid, data);

    /// <summary>The same block with its data copied into memory it owns, for keeping a block lent from a pooled buffer.</summary>
    public Block Detached() => new(Cid, Data.ToArray());

    /// <summary>Pairs a CID with data without hashing, for data that was just hashed by its prefix (the codec does this).</summary>
    internal static Block Trusted(Cid cid, ReadOnlyMemory<byte> data) => new(cid, data);

    /// <inheritdoc />
    public bool Equals(Block? other) => other is not null && Cid.Equals(other.Cid) && Data.Span.SequenceEqual(other.Data.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Block);

    /// <inheritdoc />
    public override int GetHashCode() => Cid.GetHashCode();

    /// <inheritdoc />
    public override string ToString() => $"{Cid} ({Size} B)";
}
