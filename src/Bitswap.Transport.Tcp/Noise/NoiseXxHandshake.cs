using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Bitswap.Transport.Tcp.Noise;

/// <summary>
/// The Noise_XX_25519_ChaChaPoly_SHA256 handshake state machine (noise.md §5.3, pattern XX), without I/O:
/// <c>-&gt; e</c>, <c>&lt;- e, ee, s, es</c>, <c>-&gt; s, se</c>. Prologue and keys are injectable so the core can be checked
/// against published vectors; libp2p uses an empty prologue and fresh keys.
/// </summary>
public sealed class NoiseXxHandshake : IDisposable
{
    /// <summary>The Noise protocol name; exactly 32 bytes, so it is the initial handshake hash as is.</summary>
    public const string ProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";

    /// <summary>Bytes of an X25519 key and of a DH output.</summary>
    public const int DhBytes = 32;

    /// <summary>Largest Noise message (noise.md §3): also the limit of the libp2p 2-byte length prefix.</summary>
    public const int MessageBytesMax = 65535;

    private const int HashBytes = 32;

    private readonly bool _isInitiator;
    private readonly Key _static;
    private readonly Key _ephemeral;
    private readonly byte[] _chainingKey = new byte[HashBytes];
    private readonly byte[] _hash = new byte[HashBytes];
    private NoiseCipherState? _cipher;
    private byte[]? _remoteEphemeral;
    private byte[]? _remoteStatic;
    private int _step;
    private bool _split;

    private NoiseXxHandshake(bool isInitiator, ReadOnlySpan<byte> prologue, Key staticKey, Key ephemeralKey)
    {
        _isInitiator = isInitiator;
        _static = staticKey;
        _ephemeral = ephemeralKey;
        Encoding.ASCII.GetBytes(ProtocolName, _hash);
        _hash.CopyTo(_chainingKey, 0);
        MixHash(prologue);
        LocalStaticPublicKey = staticKey.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>
    /// Starts a handshake. Empty key spans mean "generate a fresh key"; tests pass fixed 32-byte X25519 private keys.
    /// </summary>
    public static NoiseXxHandshake Create(bool isInitiator, ReadOnlySpan<byte> prologue = default,
        ReadOnlySpan<byte> staticPrivateKey = default, ReadOnlySpan<byte> ephemeralPrivateKey = default) =>
        new(isInitiator, prologue, ImportOrCreate(staticPrivateKey), ImportOrCreate(ephemeralPrivateKey));

    /// <summary>True for the side that sends the first message.</summary>
    public bool IsInitiator => _isInitiator;

    /// <summary>True once all three messages have been written or read.</summary>
    public bool IsComplete => _step == 3;

    /// <summary>Our X25519 static public key (what the libp2p payload signature covers).</summary>
    public byte[] LocalStaticPublicKey { get; }

    /// <summary>The remote X25519 static public key, once received (after message 2 for the initiator, 3 for the responder).</summary>
    public byte[]? RemoteStaticPublicKey => _remoteStatic?.ToArray();

    /// <summary>The current handshake hash <c>h</c> (the channel binding once the handshake is complete).</summary>
    public byte[] HandshakeHash => (byte[])_hash.Clone();

    /// <summary>True when the next step is ours to write.</summary>
    public bool IsMyTurn => _step < 3 && (_step % 2 == 0) == _isInitiator;

    /// <summary>Writes the next handshake message carrying <paramref name="payload"/>.</summary>
    public byte[] WriteMessage(ReadOnlySpan<byte> payload)
    {
        if (!IsMyTurn) throw new InvalidOperationException($"handshake step {_step} is not ours to write");
        var output = new List<byte>(DhBytes + DhBytes + NoiseCipherState.TagBytes + payload.Length + NoiseCipherState.TagBytes);
        switch (_step)
        {
            case 0:
                WriteEphemeral(output);
                break;
            case 1:
                WriteEphemeral(output);
                MixKey(Dh(_ephemeral, _remoteEphemeral!));
                output.AddRange(EncryptAndHash(LocalStaticPublicKey));
                MixKey(Dh(_static, _remoteEphemeral!));
                break;
            case 2:
                output.AddRange(EncryptAndHash(LocalStaticPublicKey));
                MixKey(Dh(_static, _remoteEphemeral!));
                break;
            default:
                throw new System.Diagnostics.UnreachableException($"handshake step {_step}");
        }
        output.AddRange(EncryptAndHash(payload));
        if (output.Count > MessageBytesMax) throw new ArgumentException("the handshake message would exceed 65535 bytes", nameof(payload));
        _step++;
        return output.ToArray();
    }

    /// <summary>Reads the next handshake message from the peer and returns its payload.</summary>
    /// <exception cref="NoiseException">The message is malformed or fails authentication.</exception>
    public byte[] ReadMessage(ReadOnlySpan<byte> message)
    {
        if (_step >= 3 || IsMyTurn) throw new InvalidOperationException($"handshake step {_step} is not ours to read");
        if (message.Length > MessageBytesMax) throw new NoiseException(NoiseFailure.Framing, "handshake message longer than 65535 bytes");
        var rest = message;
        switch (_step)
        {
            case 0:
                rest = ReadEphemeral(rest);
                break;
            case 1:
                rest = ReadEphemeral(rest);
                MixKey(Dh(_ephemeral, _remoteEphemeral!));
                rest = ReadStatic(rest);
                MixKey(Dh(_ephemeral, _remoteStatic!));
                break;
            case 2:
                rest = ReadStatic(rest);
                MixKey(Dh(_ephemeral, _remoteStatic!));
                break;
            default:
                throw new System.Diagnostics.UnreachableException($"handshake step {_step}");
        }
        var payload = DecryptAndHash(rest);
        _step++;
        return payload;
    }

    /// <summary>
    /// Derives the two transport ciphers (noise.md Split): the initiator sends with the first and receives with the
    /// second; the responder the other way round. Callable once, after the third message.
    /// </summary>
    public (NoiseCipherState Send, NoiseCipherState Receive) Split()
    {
        if (!IsComplete) throw new InvalidOperationException("the handshake is not complete");
        if (_split) throw new InvalidOperationException("the handshake was already split");
        _split = true;
        Span<byte> keys = stackalloc byte[2 * NoiseCipherState.KeyBytes];
        Hkdf2(_chainingKey, ReadOnlySpan<byte>.Empty, keys);
        var first = new NoiseCipherState(keys[..NoiseCipherState.KeyBytes]);
        var second = new NoiseCipherState(keys[NoiseCipherState.KeyBytes..]);
        CryptographicOperations.ZeroMemory(keys);
        return _isInitiator ? (first, second) : (second, first);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _cipher?.Dispose();
        _static.Dispose();
        _ephemeral.Dispose();
        CryptographicOperations.ZeroMemory(_chainingKey);
    }

    private static Key ImportOrCreate(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.IsEmpty) return Key.Create(KeyAgreementAlgorithm.X25519);
        if (privateKey.Length != DhBytes) throw new ArgumentException("an X25519 private key has 32 bytes", nameof(privateKey));
        return Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);
    }

    private void WriteEphemeral(List<byte> output)
    {
        var publicKey = _ephemeral.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        output.AddRange(publicKey);
        MixHash(publicKey);
    }

    private ReadOnlySpan<byte> ReadEphemeral(ReadOnlySpan<byte> message)
    {
        if (message.Length < DhBytes) throw new NoiseException(NoiseFailure.Framing, "handshake message too short for an ephemeral key");
        _remoteEphemeral = message[..DhBytes].ToArray();
        MixHash(_remoteEphemeral);
        return message[DhBytes..];
    }

    private ReadOnlySpan<byte> ReadStatic(ReadOnlySpan<byte> message)
    {
        const int encrypted = DhBytes + NoiseCipherState.TagBytes;
        if (message.Length < encrypted) throw new NoiseException(NoiseFailure.Framing, "handshake message too short for a static key");
        _remoteStatic = DecryptAndHash(message[..encrypted]);
        return message[encrypted..];
    }

    private byte[] Dh(Key privateKey, byte[] remotePublic)
    {
        if (!PublicKey.TryImport(KeyAgreementAlgorithm.X25519, remotePublic, KeyBlobFormat.RawPublicKey, out var publicKey) || publicKey is null)
            throw new NoiseException(NoiseFailure.BadKey, "the remote X25519 public key was rejected");
        var parameters = new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        using var shared = KeyAgreementAlgorithm.X25519.Agree(privateKey, publicKey, in parameters)
            ?? throw new NoiseException(NoiseFailure.BadKey, "X25519 produced an all-zero secret (low-order remote key)");
        return shared.Export(SharedSecretBlobFormat.RawSharedSecret);
    }

    private void MixHash(ReadOnlySpan<byte> data)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(_hash);
        sha.AppendData(data);
        sha.GetHashAndReset(_hash);
    }

    private void MixKey(byte[] inputKeyMaterial)
    {
        Span<byte> output = stackalloc byte[2 * HashBytes];
        Hkdf2(_chainingKey, inputKeyMaterial, output);
        output[..HashBytes].CopyTo(_chainingKey);
        _cipher?.Dispose();
        // HASHLEN is 32 = the cipher key size, so no truncation of the second output.
        _cipher = new NoiseCipherState(output[HashBytes..]);
        CryptographicOperations.ZeroMemory(output);
        CryptographicOperations.ZeroMemory(inputKeyMaterial);
    }

    /// <summary>
    /// Noise's HKDF with two outputs (noise.md §4.3), written out with HMAC-SHA256 because the platform HKDF
    /// (OpenSSL) rejects the empty input key material that Split uses. Equal to RFC 5869 with salt = chaining key.
    /// </summary>
    public static void Hkdf2(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial, Span<byte> output)
    {
        if (output.Length != 2 * HashBytes) throw new ArgumentException("HKDF here yields exactly two 32-byte outputs", nameof(output));
        Span<byte> temp = stackalloc byte[HashBytes];
        Span<byte> block = stackalloc byte[HashBytes + 1];
        HMACSHA256.HashData(chainingKey, inputKeyMaterial, temp);
        block[0] = 0x01;
        HMACSHA256.HashData(temp, block[..1], output[..HashBytes]);
        output[..HashBytes].CopyTo(block);
        block[HashBytes] = 0x02;
        HMACSHA256.HashData(temp, block, output[HashBytes..]);
        CryptographicOperations.ZeroMemory(temp);
        CryptographicOperations.ZeroMemory(block);
    }

    private byte[] EncryptAndHash(ReadOnlySpan<byte> plaintext)
    {
        byte[] ciphertext;
        if (_cipher is null)
        {
            ciphertext = plaintext.ToArray();
        }
        else
        {
            ciphertext = new byte[plaintext.Length + NoiseCipherState.TagBytes];
            _cipher.Encrypt(_hash, plaintext, ciphertext);
        }
        MixHash(ciphertext);
        return ciphertext;
    }

    private byte[] DecryptAndHash(ReadOnlySpan<byte> ciphertext)
    {
        byte[] plaintext;
        if (_cipher is null)
        {
            plaintext = ciphertext.ToArray();
        }
        else
        {
            if (ciphertext.Length < NoiseCipherState.TagBytes) throw new NoiseException(NoiseFailure.Framing, "handshake ciphertext shorter than its tag");
            plaintext = new byte[ciphertext.Length - NoiseCipherState.TagBytes];
            _cipher.Decrypt(_hash, ciphertext, plaintext);
        }
        MixHash(ciphertext);
        return plaintext;
    }
}
