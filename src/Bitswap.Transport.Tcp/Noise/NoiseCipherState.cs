using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bitswap.Transport.Tcp.Noise;

/// <summary>Why a Noise operation failed.</summary>
public enum NoiseFailure
{
    /// <summary>A ciphertext did not authenticate: tampering, corruption, or a wrong key.</summary>
    Decryption,
    /// <summary>A frame or handshake message broke the framing rules (too short, too long, truncated).</summary>
    Framing,
    /// <summary>The remote identity's signature over its Noise static key is missing or wrong.</summary>
    BadSignature,
    /// <summary>The remote identity key or handshake payload could not be parsed.</summary>
    BadPayload,
    /// <summary>The remote peer is not the one we dialled.</summary>
    WrongPeer,
    /// <summary>A Diffie-Hellman result was rejected (a low-order public key).</summary>
    BadKey,
    /// <summary>A nonce counter ran out; the session must end.</summary>
    NonceExhausted,
    /// <summary>The channel failed earlier and is no longer usable.</summary>
    Unusable,
}

/// <summary>A Noise handshake or transport failure; the connection must be dropped (libp2p/specs noise §3.5).</summary>
public sealed class NoiseException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NoiseException(NoiseFailure failure, string message) : base(message) => Failure = failure;

    /// <summary>Creates the exception with the failure that caused it.</summary>
    public NoiseException(NoiseFailure failure, string message, Exception inner) : base(message, inner) => Failure = failure;

    /// <summary>What kind of failure this was.</summary>
    public NoiseFailure Failure { get; }
}

/// <summary>
/// A Noise CipherState (noise.md §5.1) over ChaCha20-Poly1305: a 32-byte key and a 64-bit nonce counter; the AEAD nonce is
/// 4 zero bytes ‖ the counter little-endian. Not thread-safe: one per direction.
/// </summary>
public sealed class NoiseCipherState : IDisposable
{
    /// <summary>Bytes of the Poly1305 tag appended to every ciphertext.</summary>
    public const int TagBytes = 16;

    /// <summary>Bytes of a cipher key.</summary>
    public const int KeyBytes = 32;

    private readonly ChaCha20Poly1305 _aead;
    private readonly byte[] _nonce = new byte[12];
    private ulong _counter;

    /// <summary>Creates a cipher with <paramref name="key"/> and a nonce counter at 0.</summary>
    public NoiseCipherState(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyBytes) throw new ArgumentException("a Noise cipher key has 32 bytes", nameof(key));
        _aead = new ChaCha20Poly1305(key);
    }

    /// <summary>The nonce the next operation will use.</summary>
    public ulong Nonce => _counter;

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="destination"/> (ciphertext ‖ tag, plaintext length + 16).</summary>
    public void Encrypt(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        NextNonce();
        _aead.Encrypt(_nonce, plaintext, destination[..plaintext.Length], destination.Slice(plaintext.Length, TagBytes), associatedData);
    }

    /// <summary>
    /// Decrypts ciphertext ‖ tag into <paramref name="destination"/> (which may be the ciphertext itself) and returns the
    /// plaintext length.
    /// </summary>
    /// <exception cref="NoiseException">The message is shorter than a tag or fails authentication.</exception>
    public int Decrypt(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertextAndTag, Span<byte> destination)
    {
        if (ciphertextAndTag.Length < TagBytes) throw new NoiseException(NoiseFailure.Framing, $"a Noise ciphertext of {ciphertextAndTag.Length} bytes has no room for its tag");
        var length = ciphertextAndTag.Length - TagBytes;
        NextNonce();
        try
        {
            _aead.Decrypt(_nonce, ciphertextAndTag[..length], ciphertextAndTag.Slice(length, TagBytes), destination[..length], associatedData);
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new NoiseException(NoiseFailure.Decryption, "a Noise message failed authentication", e);
        }
        return length;
    }

    /// <inheritdoc />
    public void Dispose() => _aead.Dispose();

    private void NextNonce()
    {
        // 2^64-1 is reserved by the spec; stop before it.
        if (_counter == ulong.MaxValue) throw new NoiseException(NoiseFailure.NonceExhausted, "the Noise nonce counter is exhausted");
        BinaryPrimitives.WriteUInt64LittleEndian(_nonce.AsSpan(4), _counter);
        _counter++;
    }
}
