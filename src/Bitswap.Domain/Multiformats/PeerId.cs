namespace Bitswap.Domain.Multiformats;

/// <summary>
/// A libp2p peer identity: the multihash of the peer's serialized public key (identity multihash for Ed25519,
/// sha2-256 for larger keys). Shown as bare base58btc (<c>12D3KooW…</c>, <c>Qm…</c>); also parsed from a
/// CIDv1 with the libp2p-key codec. Ordered by bytes, so maps keyed by peer iterate deterministically.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>, IComparable<PeerId>
{
    private readonly string _text;

    /// <summary>Wraps a multihash as a peer ID.</summary>
    public PeerId(Multihash hash)
    {
        Hash = hash;
        _text = hash.ToString();
    }

    /// <summary>The multihash that is the peer ID.</summary>
    public Multihash Hash { get; }

    /// <summary>The binary peer ID (the multihash bytes).</summary>
    public ReadOnlySpan<byte> Bytes => Hash.Bytes;

    /// <summary>Parses bytes that must hold exactly one multihash.</summary>
    public static Either<DecodeError, PeerId> FromBytes(ReadOnlySpan<byte> bytes) => Multihash.FromBytes(bytes).Map(h => new PeerId(h));

    /// <summary>Parses <c>12D3KooW…</c>/<c>Qm…</c> base58btc text or a libp2p-key CIDv1.</summary>
    public static Either<DecodeError, PeerId> Parse(string text)
    {
        if (string.IsNullOrEmpty(text)) return new DecodeError(DecodeErrorKind.Empty, "empty peer ID");
        if (text[0] == '1' || text.StartsWith("Qm", StringComparison.Ordinal))
            return Multibase.DecodeBase58Btc(text).Bind(bytes => FromBytes(bytes));
        return Cid.Parse(text).Bind(cid => cid.Codec == Multicodec.Libp2pKey
            ? Prelude.Right<DecodeError, PeerId>(new PeerId(cid.Hash))
            : new DecodeError(DecodeErrorKind.BadField, $"a peer ID CID must use libp2p-key, not {Multicodec.Describe(cid.Codec)}"));
    }

    /// <summary>Parses text or throws <see cref="FormatException"/>; for literals in code and tests.</summary>
    public static PeerId ParseOrThrow(string text) =>
        Parse(text).Match(p => p, e => throw new FormatException($"bad peer ID '{text}': {e}"));

    /// <summary>The CIDv1 (libp2p-key) text form, <c>bafzaa…</c> for Ed25519 keys.</summary>
    public string ToCidString() => Cid.V1(Multicodec.Libp2pKey, Hash).ToString();

    /// <summary>The base58btc text form.</summary>
    public override string ToString() => _text;

    /// <summary>The first and last characters, for logs and traces.</summary>
    public string Short => _text.Length <= 12 ? _text : $"{_text[..6]}…{_text[^4..]}";

    /// <inheritdoc />
    public bool Equals(PeerId? other) => other is not null && Hash.Equals(other.Hash);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PeerId);

    /// <inheritdoc />
    public override int GetHashCode() => Hash.GetHashCode();

    /// <summary>Orders by the binary form.</summary>
    public int CompareTo(PeerId? other) => other is null ? 1 : Hash.Bytes.SequenceCompareTo(other.Hash.Bytes);

    /// <summary>Equality by bytes.</summary>
    public static bool operator ==(PeerId? left, PeerId? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by bytes.</summary>
    public static bool operator !=(PeerId? left, PeerId? right) => !(left == right);
}
