using Bitswap.Domain.Multiformats;
using Google.Protobuf;
using LanguageExt;
using NSec.Cryptography;

namespace Bitswap.Transport.Tcp.Identity;

/// <summary>
/// A libp2p Ed25519 identity: the key pair behind a peer ID (libp2p/specs peer-ids/peer-ids.md). Holds the
/// private key; the Noise static key is a different, ephemeral X25519 key and never comes from here.
/// </summary>
public sealed class Identity
{
    /// <summary>Serialized public keys up to this size are inlined as an identity multihash; larger ones are hashed (peer-ids.md).</summary>
    public const int InlinePublicKeyBytesMax = 42;

    /// <summary>Largest key protobuf read from a file or the wire (an RSA-4096 key is about 2.4 KB).</summary>
    public const int KeyProtobufBytesMax = 8 * 1024;

    private const int SeedBytes = 32;
    private const int PublicKeyBytes = 32;

    private static KeyCreationParameters Exportable => new() { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };

    private readonly Key _key;

    private Identity(Key key)
    {
        _key = key;
        var publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        var seed = key.Export(KeyBlobFormat.RawPrivateKey);
        PublicKeyProtobuf = EncodeKey(Pb.KeyType.Ed25519, publicKey, isPrivate: false);
        PrivateKeyProtobuf = EncodeKey(Pb.KeyType.Ed25519, [.. seed, .. publicKey], isPrivate: true);
        CryptographicZero(seed);
        PeerId = PeerIdFromCanonicalPublicKey(PublicKeyProtobuf);
    }

    /// <summary>The peer ID: the identity multihash of <see cref="PublicKeyProtobuf"/>.</summary>
    public PeerId PeerId { get; }

    /// <summary>The serialized libp2p PublicKey (<c>08 01 12 20</c> ‖ 32-byte Ed25519 key).</summary>
    public byte[] PublicKeyProtobuf { get; }

    /// <summary>The serialized libp2p PrivateKey (<c>08 01 12 40</c> ‖ seed ‖ public key).</summary>
    public byte[] PrivateKeyProtobuf { get; }

    /// <summary>Creates a fresh random Ed25519 identity.</summary>
    public static Identity Generate() => new(Key.Create(SignatureAlgorithm.Ed25519, Exportable));

    /// <summary>Restores an identity from a serialized libp2p PrivateKey (64-byte seed ‖ pub, or the legacy 96-byte seed ‖ pub ‖ pub).</summary>
    /// <exception cref="FormatException">The bytes are not an Ed25519 private key this library accepts.</exception>
    public static Identity FromPrivateKey(ReadOnlySpan<byte> libp2pPrivateKeyProtobuf) =>
        ParsePrivateKey(libp2pPrivateKeyProtobuf).Match(identity => identity, error => throw new FormatException($"bad libp2p private key: {error}"));

    /// <summary>Restores an identity from a serialized libp2p PrivateKey, or says why it cannot.</summary>
    public static Either<DecodeError, Identity> ParsePrivateKey(ReadOnlySpan<byte> libp2pPrivateKeyProtobuf)
    {
        if (libp2pPrivateKeyProtobuf.Length > KeyProtobufBytesMax)
            return new DecodeError(DecodeErrorKind.TooLarge, $"private key of {libp2pPrivateKeyProtobuf.Length} bytes");
        Pb.PrivateKey message;
        try
        {
            message = Pb.PrivateKey.Parser.ParseFrom(libp2pPrivateKeyProtobuf);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, $"private key: {e.Message}");
        }
        if (!message.HasType || !message.HasData) return new DecodeError(DecodeErrorKind.BadField, "private key lacks Type or Data");
        if (message.Type != Pb.KeyType.Ed25519) return new DecodeError(DecodeErrorKind.BadField, $"only Ed25519 private keys are supported, not {message.Type}");
        var data = message.Data.Span;
        // go-libp2p once stored seed ‖ pub ‖ pub (96 bytes); accept it when both copies agree.
        if (data.Length == SeedBytes + 2 * PublicKeyBytes)
        {
            if (!data.Slice(SeedBytes, PublicKeyBytes).SequenceEqual(data.Slice(SeedBytes + PublicKeyBytes, PublicKeyBytes)))
                return new DecodeError(DecodeErrorKind.BadField, "legacy 96-byte private key holds two different public keys");
        }
        else if (data.Length != SeedBytes + PublicKeyBytes)
        {
            return new DecodeError(DecodeErrorKind.BadField, $"Ed25519 private key data must be 64 bytes, got {data.Length}");
        }
        var key = Key.Import(SignatureAlgorithm.Ed25519, data[..SeedBytes], KeyBlobFormat.RawPrivateKey, Exportable);
        if (!key.PublicKey.Export(KeyBlobFormat.RawPublicKey).AsSpan().SequenceEqual(data.Slice(SeedBytes, PublicKeyBytes)))
        {
            key.Dispose();
            return new DecodeError(DecodeErrorKind.BadField, "the public key does not belong to the seed");
        }
        return new Identity(key);
    }

    /// <summary>
    /// Reads the PrivateKey protobuf stored at <paramref name="path"/>, or creates a new identity and stores it there
    /// (owner read/write only on Unix).
    /// </summary>
    public static Identity LoadOrCreate(string path)
    {
        if (File.Exists(path)) return FromPrivateKey(File.ReadAllBytes(path));
        var identity = Generate();
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using var file = new FileStream(path, options);
            file.Write(identity.PrivateKeyProtobuf);
            file.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created the key between our check and our write: theirs wins.
            return FromPrivateKey(File.ReadAllBytes(path));
        }
        return identity;
    }

    /// <summary>Signs <paramref name="data"/> with plain RFC 8032 Ed25519 (64-byte signature).</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) => SignatureAlgorithm.Ed25519.Sign(_key, data);

    /// <summary>
    /// Checks a signature made by the key in <paramref name="publicKeyProtobuf"/> (any supported key type); false for an
    /// unsupported or malformed key or a bad signature.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKeyProtobuf, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        VerifySignature(publicKeyProtobuf, data, signature).Match(valid => valid, _ => false);

    /// <summary>
    /// Checks a signature made by the key in <paramref name="publicKeyProtobuf"/>: Left when the key cannot be used
    /// (malformed, or of an unsupported type, which the error says), Right(false) when the signature is wrong.
    /// </summary>
    public static Either<DecodeError, bool> VerifySignature(ReadOnlySpan<byte> publicKeyProtobuf, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        var parsed = ParsePublicKey(publicKeyProtobuf);
        if (parsed.IsLeft) return parsed.LeftToSeq().Head();
        var (type, keyData) = parsed.RightToSeq().Head();
        return PublicKeys.Verify(type, keyData, data, signature);
    }

    /// <summary>
    /// The peer ID of a serialized libp2p PublicKey: identity multihash of its canonical encoding when that is at
    /// most 42 bytes, else its sha2-256 multihash.
    /// </summary>
    public static Either<DecodeError, PeerId> PeerIdFromPublicKey(ReadOnlySpan<byte> publicKeyProtobuf) =>
        ParsePublicKey(publicKeyProtobuf).Map(key => PeerIdFromCanonicalPublicKey(EncodeKey(key.Type, key.Data, isPrivate: false)));

    /// <summary>Serializes a raw 32-byte Ed25519 public key as a libp2p PublicKey protobuf.</summary>
    public static byte[] Ed25519PublicKeyProtobuf(ReadOnlySpan<byte> rawPublicKey)
    {
        if (rawPublicKey.Length != PublicKeyBytes) throw new ArgumentException("an Ed25519 public key has 32 bytes", nameof(rawPublicKey));
        return EncodeKey(Pb.KeyType.Ed25519, rawPublicKey.ToArray(), isPrivate: false);
    }

    private static Either<DecodeError, (Pb.KeyType Type, byte[] Data)> ParsePublicKey(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return new DecodeError(DecodeErrorKind.Empty, "empty public key");
        if (bytes.Length > KeyProtobufBytesMax) return new DecodeError(DecodeErrorKind.TooLarge, $"public key of {bytes.Length} bytes");
        Pb.PublicKey message;
        try
        {
            message = Pb.PublicKey.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, $"public key: {e.Message}");
        }
        if (!message.HasType || !message.HasData) return new DecodeError(DecodeErrorKind.BadField, "public key lacks Type or Data");
        if (!Enum.IsDefined(message.Type)) return PublicKeys.Unsupported(message.Type);
        if (message.Type == Pb.KeyType.Ed25519 && message.Data.Length != PublicKeyBytes)
            return new DecodeError(DecodeErrorKind.BadField, $"Ed25519 public key data must be 32 bytes, got {message.Data.Length}");
        if (message.Data.Length == 0) return new DecodeError(DecodeErrorKind.BadField, "public key data is empty");
        return (message.Type, message.Data.ToByteArray());
    }

    private static PeerId PeerIdFromCanonicalPublicKey(byte[] canonical)
    {
        var code = canonical.Length <= InlinePublicKeyBytesMax ? MultihashCode.Identity : MultihashCode.Sha2_256;
        return new PeerId(Multihash.Compute(code, canonical).Match(h => h, e => throw new System.Diagnostics.UnreachableException(e.ToString())));
    }

    // Type first, then Data, minimal varints, nothing else: the encoding peer IDs are computed over.
    private static byte[] EncodeKey(Pb.KeyType type, byte[] data, bool isPrivate)
    {
        IMessage message = isPrivate
            ? new Pb.PrivateKey { Type = type, Data = ByteString.CopyFrom(data) }
            : new Pb.PublicKey { Type = type, Data = ByteString.CopyFrom(data) };
        return message.ToByteArray();
    }

    private static void CryptographicZero(byte[] secret) => System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
}
