using System.Numerics;
using System.Security.Cryptography;
using Bitswap.Domain.Multiformats;
using LanguageExt;
using NSec.Cryptography;

namespace Bitswap.Transport.Tcp.Identity;

/// <summary>
/// Signature checks for every libp2p key type (libp2p/specs peer-ids/peer-ids.md "How Keys are Encoded and Messages
/// Signed"): Ed25519, RSA, secp256k1 and ECDSA. Verification only: our own identity is always Ed25519.
/// </summary>
public static class PublicKeys
{
    /// <summary>Smallest RSA modulus accepted (go-libp2p core/crypto/rsa_common.go MinRsaKeyBits).</summary>
    public const int RsaBitsMin = 2048;

    /// <summary>Largest RSA modulus accepted (go-libp2p core/crypto/rsa_common.go maxRsaKeyBits).</summary>
    public const int RsaBitsMax = 8192;

    /// <summary>A compressed secp256k1 point: a parity byte (02 or 03) and the 32-byte X coordinate (SEC 1 v2 §2.3.3).</summary>
    public const int Secp256k1CompressedBytes = 33;

    // secp256k1 field prime p = 2^256 - 2^32 - 977 (SEC 2 v2 §2.4.1); p ≡ 3 (mod 4).
    private static readonly BigInteger Secp256k1P = BigInteger.Parse(
        "0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F", System.Globalization.NumberStyles.HexNumber);

    /// <summary>
    /// Checks <paramref name="signature"/> over <paramref name="message"/> with a key of the given type and data (the
    /// <c>Data</c> field of a libp2p PublicKey). Left when the key is of an unsupported type or malformed; Right(false)
    /// when the key is fine and the signature is not.
    /// </summary>
    public static Either<DecodeError, bool> Verify(Pb.KeyType type, byte[] keyData, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        type switch
        {
            Pb.KeyType.Ed25519 => VerifyEd25519(keyData, message, signature),
            Pb.KeyType.Rsa => VerifyRsa(keyData, message, signature),
            Pb.KeyType.Secp256K1 => VerifySecp256k1(keyData, message, signature),
            Pb.KeyType.Ecdsa => VerifyEcdsa(keyData, message, signature),
            _ => Unsupported(type),
        };

    /// <summary>Checks that the key data is well-formed for its type without verifying anything; Left says why not.</summary>
    public static Option<DecodeError> Validate(Pb.KeyType type, byte[] keyData) =>
        Verify(type, keyData, ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty).Match(_ => Option<DecodeError>.None, e => e);

    /// <summary>The error for a key type this library cannot check.</summary>
    public static DecodeError Unsupported(Pb.KeyType type) =>
        new(DecodeErrorKind.BadField, $"the key type {(Enum.IsDefined(type) ? type.ToString() : ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture))} is unsupported");

    private static Either<DecodeError, bool> VerifyEd25519(byte[] keyData, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (!NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, keyData, KeyBlobFormat.RawPublicKey, out var publicKey) || publicKey is null)
            return new DecodeError(DecodeErrorKind.BadField, "Ed25519 public key is not a valid point");
        return signature.Length == SignatureAlgorithm.Ed25519.SignatureSize && SignatureAlgorithm.Ed25519.Verify(publicKey, message, signature);
    }

    // RSA: Data is a DER PKIX SubjectPublicKeyInfo; signatures are PKCS#1 v1.5 over SHA-256 (peer-ids.md "RSA").
    private static Either<DecodeError, bool> VerifyRsa(byte[] keyData, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        using var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(keyData, out var read);
            if (read != keyData.Length) return new DecodeError(DecodeErrorKind.TrailingBytes, "RSA public key has bytes after its SubjectPublicKeyInfo");
        }
        catch (CryptographicException e)
        {
            return new DecodeError(DecodeErrorKind.BadField, $"RSA public key is not a PKIX SubjectPublicKeyInfo: {e.Message}");
        }
        if (rsa.KeySize < RsaBitsMin) return new DecodeError(DecodeErrorKind.BadField, $"RSA key of {rsa.KeySize} bits is below the {RsaBitsMin}-bit minimum");
        if (rsa.KeySize > RsaBitsMax) return new DecodeError(DecodeErrorKind.TooLarge, $"RSA key of {rsa.KeySize} bits is above the {RsaBitsMax}-bit maximum");
        if (signature.IsEmpty) return false;
        try
        {
            return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    // secp256k1: Data is the 33-byte compressed point; signatures are DER ECDSA over SHA-256 (peer-ids.md "Secp256k1").
    private static Either<DecodeError, bool> VerifySecp256k1(byte[] keyData, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (keyData.Length != Secp256k1CompressedBytes || (keyData[0] != 0x02 && keyData[0] != 0x03))
            return new DecodeError(DecodeErrorKind.BadField, $"secp256k1 public key must be a 33-byte compressed point, got {keyData.Length} bytes");
        var y = DecompressSecp256k1Y(keyData);
        if (y is null) return new DecodeError(DecodeErrorKind.BadField, "secp256k1 public key is not on the curve");
        ECDsa ecdsa;
        try
        {
            ecdsa = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.CreateFromFriendlyName("secp256k1"),
                Q = new ECPoint { X = keyData[1..], Y = y },
            });
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            return new DecodeError(DecodeErrorKind.BadField, $"secp256k1 public key rejected: {e.Message}");
        }
        using (ecdsa) return VerifyEcdsaDer(ecdsa, message, signature);
    }

    // ECDSA: Data is a DER PKIX SubjectPublicKeyInfo (go-libp2p accepts any named curve); signatures are DER over SHA-256.
    private static Either<DecodeError, bool> VerifyEcdsa(byte[] keyData, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(keyData, out var read);
            if (read != keyData.Length) return new DecodeError(DecodeErrorKind.TrailingBytes, "ECDSA public key has bytes after its SubjectPublicKeyInfo");
        }
        catch (CryptographicException e)
        {
            return new DecodeError(DecodeErrorKind.BadField, $"ECDSA public key is not a PKIX SubjectPublicKeyInfo: {e.Message}");
        }
        return VerifyEcdsaDer(ecdsa, message, signature);
    }

    private static bool VerifyEcdsaDer(ECDsa ecdsa, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (signature.IsEmpty) return false;
        try
        {
            return ecdsa.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    // SEC 1 v2 §2.3.4 point decompression on y² = x³ + 7: the base library only imports uncompressed points, so the
    // square root in the field (exponent (p+1)/4 since p ≡ 3 mod 4) is taken here; the curve check stays with OpenSSL.
    private static byte[]? DecompressSecp256k1Y(byte[] compressed)
    {
        var x = new BigInteger(compressed.AsSpan(1), isUnsigned: true, isBigEndian: true);
        if (x >= Secp256k1P) return null;
        var rhs = (BigInteger.ModPow(x, 3, Secp256k1P) + 7) % Secp256k1P;
        var y = BigInteger.ModPow(rhs, (Secp256k1P + 1) / 4, Secp256k1P);
        if (BigInteger.ModPow(y, 2, Secp256k1P) != rhs) return null;
        if ((y.IsEven ? 0x02 : 0x03) != compressed[0]) y = Secp256k1P - y;
        var bytes = new byte[32];
        y.TryWriteBytes(bytes.AsSpan(32 - y.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return bytes;
    }
}
