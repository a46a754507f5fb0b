using System.Security.Cryptography;

namespace Bitswap.Domain.Multiformats;

/// <summary>Multihash function codes (multiformats/multicodec table.csv, tag "multihash").</summary>
public enum MultihashCode : ulong
{
    /// <summary>The data itself, no hashing.</summary>
    Identity = 0x00,
    /// <summary>SHA-1 (recognised, not computed).</summary>
    Sha1 = 0x11,
    /// <summary>SHA2-256, the IPFS default.</summary>
    Sha2_256 = 0x12,
    /// <summary>SHA2-512.</summary>
    Sha2_512 = 0x13,
    /// <summary>SHA3-512 (recognised, not computed).</summary>
    Sha3_512 = 0x14,
    /// <summary>SHA3-384 (recognised, not computed).</summary>
    Sha3_384 = 0x15,
    /// <summary>SHA3-256 (recognised, not computed).</summary>
    Sha3_256 = 0x16,
    /// <summary>SHA3-224 (recognised, not computed).</summary>
    Sha3_224 = 0x17,
    /// <summary>Keccak-256 (recognised, not computed).</summary>
    Keccak256 = 0x1b,
    /// <summary>BLAKE3 (recognised, not computed).</summary>
    Blake3 = 0x1e,
    /// <summary>Double SHA2-256 as used by Bitcoin (recognised, not computed).</summary>
    DblSha2_256 = 0x56,
    /// <summary>BLAKE2b-256 (recognised, not computed).</summary>
    Blake2b256 = 0xb220,
    /// <summary>BLAKE2s-256 (recognised, not computed).</summary>
    Blake2s256 = 0xb260,
}

/// <summary>
/// A self-describing hash: <c>varint(code) ‖ varint(length) ‖ digest</c>. Equality and hashing are by the encoded bytes.
/// </summary>
public sealed class Multihash : IEquatable<Multihash>
{
    /// <summary>The longest digest accepted from the wire (boxo MaximumHashLength = 128).</summary>
    public const int DigestBytesMax = 128;

    private readonly byte[] _bytes;
    private readonly int _digestOffset;
    private readonly int _hash;

    private Multihash(byte[] bytes, ulong code, int digestOffset)
    {
        _bytes = bytes;
        Code = code;
        _digestOffset = digestOffset;
        _hash = ComputeHashCode(bytes);
    }

    /// <summary>The hash function code.</summary>
    public ulong Code { get; }

    /// <summary>The encoded multihash.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The digest, without the code and length.</summary>
    public ReadOnlySpan<byte> Digest => _bytes.AsSpan(_digestOffset);

    /// <summary>The digest length in bytes.</summary>
    public int DigestLength => _bytes.Length - _digestOffset;

    /// <summary>A copy of the encoded multihash.</summary>
    public byte[] ToArray() => (byte[])_bytes.Clone();

    /// <summary>The registered name of the function, or its hex code.</summary>
    public string FunctionName => NameOf(Code).IfNone(() => $"0x{Code:x}");

    /// <summary>Wraps a digest that was computed elsewhere.</summary>
    public static Multihash FromDigest(ulong code, ReadOnlySpan<byte> digest)
    {
        var bytes = new byte[Varint.EncodedLength(code) + Varint.EncodedLength((ulong)digest.Length) + digest.Length];
        var n = Varint.Write(bytes, code);
        n += Varint.Write(bytes.AsSpan(n), (ulong)digest.Length);
        digest.CopyTo(bytes.AsSpan(n));
        return new Multihash(bytes, code, n);
    }

    /// <summary>Hashes <paramref name="data"/> with a function this library computes: sha2-256, sha2-512 or identity.</summary>
    public static Either<DecodeError, Multihash> Compute(MultihashCode code, ReadOnlySpan<byte> data) => Compute((ulong)code, data);

    /// <summary>Hashes <paramref name="data"/> with the function named by its code.</summary>
    public static Either<DecodeError, Multihash> Compute(ulong code, ReadOnlySpan<byte> data)
    {
        switch ((MultihashCode)code)
        {
            case MultihashCode.Sha2_256:
            {
                Span<byte> digest = stackalloc byte[32];
                SHA256.HashData(data, digest);
                return FromDigest(code, digest);
            }
            case MultihashCode.Sha2_512:
            {
                Span<byte> digest = stackalloc byte[64];
                SHA512.HashData(data, digest);
                return FromDigest(code, digest);
            }
            case MultihashCode.Identity:
                return FromDigest(code, data);
            default:
                return NameOf(code).Match(
                    name => new DecodeError(DecodeErrorKind.UnsupportedHash, $"multihash {name} (0x{code:x}) is recognised but not computed here"),
                    () => new DecodeError(DecodeErrorKind.UnknownHash, $"unknown multihash code 0x{code:x}"));
        }
    }

    /// <summary>True when <paramref name="data"/> hashes to this multihash; false on mismatch or an uncomputable function.</summary>
    public bool Verifies(ReadOnlySpan<byte> data) =>
        Compute(Code, data).Match(computed => computed.Equals(this), _ => false);

    /// <summary>Reads a multihash from the start of <paramref name="source"/>, returning it and how many bytes it used.</summary>
    public static Either<DecodeError, (Multihash Hash, int Length)> Read(ReadOnlySpan<byte> source)
    {
        var codeStatus = Varint.TryRead(source, out var code, out var codeLength);
        if (codeStatus != VarintStatus.Ok) return Varint.ErrorFor(codeStatus).At("multihash code");
        var lengthStatus = Varint.TryRead(source[codeLength..], out var digestLength, out var lengthLength);
        if (lengthStatus != VarintStatus.Ok) return Varint.ErrorFor(lengthStatus).At("multihash length");
        if (digestLength > DigestBytesMax && code != (ulong)MultihashCode.Identity)
            return new DecodeError(DecodeErrorKind.TooLarge, $"multihash digest of {digestLength} bytes exceeds {DigestBytesMax}");
        var header = codeLength + lengthLength;
        if ((ulong)(source.Length - header) < digestLength)
            return new DecodeError(DecodeErrorKind.Truncated, $"multihash digest needs {digestLength} bytes, {source.Length - header} left");
        var total = header + (int)digestLength;
        var expected = ExpectedDigestLength(code);
        if (expected is { } e && e != (int)digestLength)
            return new DecodeError(DecodeErrorKind.BadDigestLength, $"{NameOf(code).IfNone("hash")} digest must be {e} bytes, got {digestLength}");
        return (new Multihash(source[..total].ToArray(), code, header), total);
    }

    /// <summary>Parses bytes that must hold exactly one multihash.</summary>
    public static Either<DecodeError, Multihash> FromBytes(ReadOnlySpan<byte> source)
    {
        var read = Read(source);
        if (read.IsLeft) return read.LeftToSeq().Head();
        var (hash, length) = read.RightToSeq().Head();
        return length == source.Length
            ? hash
            : new DecodeError(DecodeErrorKind.TrailingBytes, $"{source.Length - length} bytes after the multihash");
    }

    /// <summary>The registered name of a multihash function code, if known.</summary>
    public static Option<string> NameOf(ulong code) => (MultihashCode)code switch
    {
        MultihashCode.Identity => "identity",
        MultihashCode.Sha1 => "sha1",
        MultihashCode.Sha2_256 => "sha2-256",
        MultihashCode.Sha2_512 => "sha2-512",
        MultihashCode.Sha3_512 => "sha3-512",
        MultihashCode.Sha3_384 => "sha3-384",
        MultihashCode.Sha3_256 => "sha3-256",
        MultihashCode.Sha3_224 => "sha3-224",
        MultihashCode.Keccak256 => "keccak-256",
        MultihashCode.Blake3 => "blake3",
        MultihashCode.DblSha2_256 => "dbl-sha2-256",
        MultihashCode.Blake2b256 => "blake2b-256",
        MultihashCode.Blake2s256 => "blake2s-256",
        _ => Option<string>.None,
    };

    private static int? ExpectedDigestLength(ulong code) => (MultihashCode)code switch
    {
        MultihashCode.Sha1 => 20,
        MultihashCode.Sha2_256 or MultihashCode.Sha3_256 or MultihashCode.Keccak256
            or MultihashCode.DblSha2_256 or MultihashCode.Blake2b256 or MultihashCode.Blake2s256 => 32,
        MultihashCode.Sha2_512 or MultihashCode.Sha3_512 => 64,
        MultihashCode.Sha3_384 => 48,
        MultihashCode.Sha3_224 => 28,
        _ => null,
    };

    private static int ComputeHashCode(ReadOnlySpan<byte> bytes)
    {
        var h = new HashCode();
        h.AddBytes(bytes);
        return h.ToHashCode();
    }

    /// <inheritdoc />
    public bool Equals(Multihash? other) => other is not null && _hash == other._hash && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Multihash);

    /// <inheritdoc />
    public override int GetHashCode() => _hash;

    /// <summary>The multihash in base58btc, the form IPFS shows for CIDv0 and peer IDs.</summary>
    public override string ToString() => Multibase.Base58Btc(_bytes);
}
