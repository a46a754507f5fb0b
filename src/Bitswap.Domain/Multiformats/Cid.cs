namespace Bitswap.Domain.Multiformats;

/// <summary>
/// A content identifier (multiformats/cid). v0 is a bare sha2-256 multihash meaning dag-pb;
/// v1 is <c>varint(1) ‖ varint(codec) ‖ multihash</c>. Equality, hashing and ordering are by the encoded bytes,
/// so a v0 CID and its v1 form are different CIDs (use <see cref="Hash"/> to compare content).
/// </summary>
public sealed class Cid : IEquatable<Cid>, IComparable<Cid>
{
    /// <summary>The longest CID accepted from peers (boxo MaximumAllowedCid = 168 bytes).</summary>
    public const int BytesMax = 168;

    private readonly byte[] _bytes;
    private readonly int _hash;

    // The first 16 bytes, big-endian and zero-padded: most comparisons in the reducers' sorted maps end here, without a
    // span compare. Equal heads fall back to the bytes, so the order stays plain lexicographic order of the encoding.
    private readonly ulong _head0;
    private readonly ulong _head1;

    private Cid(int version, ulong codec, Multihash hash, byte[] bytes)
    {
        Version = version;
        Codec = codec;
        Hash = hash;
        _bytes = bytes;
        var h = new HashCode();
        h.AddBytes(bytes);
        _hash = h.ToHashCode();
        Span<byte> head = stackalloc byte[16];
        head.Clear();
        bytes.AsSpan(0, Math.Min(16, bytes.Length)).CopyTo(head);
        _head0 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(head);
        _head1 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(head[8..]);
    }

    /// <summary>0 or 1.</summary>
    public int Version { get; }

    /// <summary>The content codec (dag-pb for every v0).</summary>
    public ulong Codec { get; }

    /// <summary>The multihash of the content.</summary>
    public Multihash Hash { get; }

    /// <summary>The binary CID.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The binary CID as memory, for protobuf fields without a copy.</summary>
    public ReadOnlyMemory<byte> Memory => _bytes;

    /// <summary>Length of the binary CID.</summary>
    public int ByteLength => _bytes.Length;

    /// <summary>A copy of the binary CID.</summary>
    public byte[] ToArray() => (byte[])_bytes.Clone();

    /// <summary>The prefix a Bitswap 1.1.0+ block carries so the receiver can rebuild this CID.</summary>
    public CidPrefix Prefix => new(Version, Codec, Hash.Code, Hash.DigestLength);

    /// <summary>True for an identity-multihash CID, whose content is inline.</summary>
    public bool IsIdentity => Hash.Code == (ulong)MultihashCode.Identity;

    /// <summary>A CIDv0 for a sha2-256 multihash.</summary>
    public static Either<DecodeError, Cid> V0(Multihash hash) =>
        hash.Code == (ulong)MultihashCode.Sha2_256 && hash.DigestLength == 32
            ? new Cid(0, Multicodec.DagPb, hash, hash.ToArray())
            : new DecodeError(DecodeErrorKind.BadCidV0, $"CIDv0 needs a 32-byte sha2-256 multihash, got {hash.FunctionName}/{hash.DigestLength}");

    /// <summary>A CIDv1 for a codec and a multihash.</summary>
    public static Cid V1(ulong codec, Multihash hash)
    {
        var bytes = new byte[1 + Varint.EncodedLength(codec) + hash.Bytes.Length];
        bytes[0] = 1;
        var n = 1 + Varint.Write(bytes.AsSpan(1), codec);
        hash.Bytes.CopyTo(bytes.AsSpan(n));
        return new Cid(1, codec, hash, bytes);
    }

    /// <summary>Hashes <paramref name="data"/> and wraps it: CIDv1 raw sha2-256 unless told otherwise.</summary>
    public static Either<DecodeError, Cid> Compute(ReadOnlySpan<byte> data, ulong codec = Multicodec.Raw, MultihashCode hash = MultihashCode.Sha2_256, int version = 1) =>
        new CidPrefix(version, codec, (ulong)hash, hash switch
        {
            MultihashCode.Sha2_256 => 32,
            MultihashCode.Sha2_512 => 64,
            _ => data.Length,
        }).Sum(data);

    /// <summary>The v1 form of this CID (a v1 CID is returned as is).</summary>
    public Cid ToV1() => Version == 1 ? this : V1(Codec, Hash);

    /// <summary>Reads a binary CID from the start of <paramref name="source"/>, returning it and its length.</summary>
    public static Either<DecodeError, (Cid Cid, int Length)> Read(ReadOnlySpan<byte> source)
    {
        if (source.IsEmpty) return new DecodeError(DecodeErrorKind.Empty, "empty CID");
        // A v0 CID is a bare sha2-256 multihash: it starts 0x12 0x20.
        if (source.Length >= 2 && source[0] == 0x12 && source[1] == 0x20)
        {
            if (source.Length < 34) return new DecodeError(DecodeErrorKind.Truncated, $"CIDv0 needs 34 bytes, got {source.Length}");
            return Multihash.FromBytes(source[..34]).Bind(V0).Map(cid => (cid, 34));
        }
        var versionStatus = Varint.TryRead(source, out var version, out var versionLength);
        if (versionStatus != VarintStatus.Ok) return Varint.ErrorFor(versionStatus).At("CID version");
        if (version != 1) return new DecodeError(DecodeErrorKind.BadCidVersion, $"CID version {version} (only 0 and 1 exist)");
        var codecStatus = Varint.TryRead(source[versionLength..], out var codec, out var codecLength);
        if (codecStatus != VarintStatus.Ok) return Varint.ErrorFor(codecStatus).At("CID codec");
        var header = versionLength + codecLength;
        var hashRead = Multihash.Read(source[header..]);
        if (hashRead.IsLeft) return hashRead.LeftToSeq().Head();
        var (hash, hashLength) = hashRead.RightToSeq().Head();
        var total = header + hashLength;
        return (new Cid(1, codec, hash, source[..total].ToArray()), total);
    }

    /// <summary>Parses bytes that must hold exactly one binary CID.</summary>
    public static Either<DecodeError, Cid> FromBytes(ReadOnlySpan<byte> source)
    {
        var read = Read(source);
        if (read.IsLeft) return read.LeftToSeq().Head();
        var (cid, length) = read.RightToSeq().Head();
        return length == source.Length
            ? cid
            : new DecodeError(DecodeErrorKind.TrailingBytes, $"{source.Length - length} bytes after the CID");
    }

    /// <summary>Parses text: a base58btc v0 (<c>Qm…</c>) or a multibase v1 (<c>b…</c>, <c>B…</c>, <c>z…</c>, <c>f…</c>).</summary>
    public static Either<DecodeError, Cid> Parse(string text)
    {
        if (string.IsNullOrEmpty(text)) return new DecodeError(DecodeErrorKind.Empty, "empty CID text");
        if (text.Length == 46 && text.StartsWith("Qm", StringComparison.Ordinal))
            return Multibase.DecodeBase58Btc(text).Bind(bytes => FromBytes(bytes)).Bind(cid =>
                cid.Version == 0 ? Prelude.Right<DecodeError, Cid>(cid) : new DecodeError(DecodeErrorKind.BadCidV0, "Qm text must be a CIDv0"));
        return Multibase.Decode(text).Bind(bytes =>
            bytes.Length > 0 && bytes[0] == 1
                ? FromBytes(bytes)
                : new DecodeError(DecodeErrorKind.BadCidVersion, "multibase CID text must hold a CIDv1"));
    }

    /// <summary>Parses text or throws <see cref="FormatException"/>; for literals in code and tests.</summary>
    public static Cid ParseOrThrow(string text) =>
        Parse(text).Match(cid => cid, error => throw new FormatException($"bad CID '{text}': {error}"));

    /// <summary>The canonical text: base58btc for v0, lower-case base32 (<c>b</c>) for v1.</summary>
    public override string ToString() => Version == 0 ? Multibase.Base58Btc(_bytes) : Multibase.Encode(_bytes, MultibaseEncoding.Base32Lower);

    /// <summary>The text in a chosen multibase (v1 only; v0 has a single form).</summary>
    public string ToString(MultibaseEncoding encoding) => Version == 0 ? ToString() : Multibase.Encode(_bytes, encoding);

    /// <inheritdoc />
    public bool Equals(Cid? other) => other is not null && _hash == other._hash && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Cid);

    /// <inheritdoc />
    public override int GetHashCode() => _hash;

    /// <summary>Orders by the binary form, so that sorted collections of CIDs are deterministic.</summary>
    public int CompareTo(Cid? other)
    {
        if (other is null) return 1;
        if (_head0 != other._head0) return _head0 < other._head0 ? -1 : 1;
        if (_head1 != other._head1) return _head1 < other._head1 ? -1 : 1;
        return _bytes.AsSpan().SequenceCompareTo(other._bytes);
    }

    /// <summary>Equality by bytes.</summary>
    public static bool operator ==(Cid? left, Cid? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by bytes.</summary>
    public static bool operator !=(Cid? left, Cid? right) => !(left == right);
}

/// <summary>
/// The four varints that, with a block's data, rebuild its CID: version, codec, multihash code, digest length.
/// A CIDv0 prefix is <c>00 70 12 20</c>.
/// </summary>
public readonly record struct CidPrefix(int Version, ulong Codec, ulong HashCode, int DigestLength)
{
    /// <summary>The encoded prefix.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[Varint.EncodedLength((ulong)Version) + Varint.EncodedLength(Codec) + Varint.EncodedLength(HashCode) + Varint.EncodedLength((ulong)DigestLength)];
        var n = Varint.Write(bytes, (ulong)Version);
        n += Varint.Write(bytes.AsSpan(n), Codec);
        n += Varint.Write(bytes.AsSpan(n), HashCode);
        Varint.Write(bytes.AsSpan(n), (ulong)DigestLength);
        return bytes;
    }

    /// <summary>Decodes a prefix that must fill <paramref name="source"/>.</summary>
    public static Either<DecodeError, CidPrefix> Decode(ReadOnlySpan<byte> source)
    {
        Span<ulong> values = stackalloc ulong[4];
        var offset = 0;
        for (var i = 0; i < 4; i++)
        {
            var status = Varint.TryRead(source[offset..], out values[i], out var length);
            if (status != VarintStatus.Ok) return Varint.ErrorFor(status).At($"CID prefix field {i + 1}");
            offset += length;
        }
        if (offset != source.Length) return new DecodeError(DecodeErrorKind.TrailingBytes, $"{source.Length - offset} bytes after the CID prefix");
        if (values[0] > 1) return new DecodeError(DecodeErrorKind.BadCidVersion, $"CID prefix version {values[0]}");
        if (values[3] > Multihash.DigestBytesMax && values[2] != (ulong)MultihashCode.Identity)
            return new DecodeError(DecodeErrorKind.TooLarge, $"CID prefix digest length {values[3]}");
        if (values[3] > int.MaxValue) return new DecodeError(DecodeErrorKind.TooLarge, $"CID prefix digest length {values[3]}");
        if (values[0] == 0 && (values[1] != Multicodec.DagPb || values[2] != (ulong)MultihashCode.Sha2_256 || values[3] != 32))
            return new DecodeError(DecodeErrorKind.BadCidV0, "a v0 prefix must be dag-pb sha2-256/32");
        return new CidPrefix((int)values[0], values[1], values[2], (int)values[3]);
    }

    /// <summary>Hashes <paramref name="data"/> and builds the CID this prefix describes.</summary>
    public Either<DecodeError, Cid> Sum(ReadOnlySpan<byte> data)
    {
        var self = this;
        if (HashCode == (ulong)MultihashCode.Identity && DigestLength != data.Length)
            return new DecodeError(DecodeErrorKind.BadDigestLength, $"identity prefix says {DigestLength} bytes, data has {data.Length}");
        return Multihash.Compute(HashCode, data).Bind(hash =>
        {
            if (hash.DigestLength != self.DigestLength)
                return new DecodeError(DecodeErrorKind.BadDigestLength, $"prefix asks for a {self.DigestLength}-byte digest, {hash.FunctionName} gives {hash.DigestLength}");
            return self.Version == 0 ? Cid.V0(hash) : Prelude.Right<DecodeError, Cid>(Cid.V1(self.Codec, hash));
        });
    }
}
