using System.Buffers.Binary;

namespace Bitswap.Transport.Tcp.Noise;

/// <summary>
/// The Noise transport framing (libp2p/specs noise §"Wire Format"): a 2-byte big-endian length, then ciphertext ‖ tag.
/// Pure span functions shared by <see cref="NoiseStream"/> and the ceiling benchmark, so both run the same code.
/// </summary>
public static class NoiseFrames
{
    /// <summary>Bytes of the big-endian length in front of every frame.</summary>
    public const int LengthBytes = 2;

    /// <summary>Largest frame body (ciphertext + tag), fixed by the 2-byte length prefix.</summary>
    public const int FrameBytesMax = NoiseXxHandshake.MessageBytesMax;

    /// <summary>Most plaintext bytes in one frame (65535 − 16; js NOISE_MSG_MAX_LENGTH_BYTES_WITHOUT_TAG, go MaxPlaintextLength).</summary>
    public const int PlaintextBytesMax = FrameBytesMax - NoiseCipherState.TagBytes;

    /// <summary>Largest frame on the wire, length included.</summary>
    public const int FrameWithLengthBytesMax = LengthBytes + FrameBytesMax;

    /// <summary>Wire bytes that <paramref name="plaintextBytes"/> of plaintext become once framed and sealed.</summary>
    public static int SealedLength(int plaintextBytes)
    {
        var frames = (plaintextBytes + PlaintextBytesMax - 1) / PlaintextBytesMax;
        return plaintextBytes + frames * (LengthBytes + NoiseCipherState.TagBytes);
    }

    /// <summary>
    /// Encrypts as many whole frames of <paramref name="plaintext"/> as fit into <paramref name="destination"/>, advancing
    /// <paramref name="plaintext"/> past what was sealed; returns the bytes written. A last partial frame is sealed when at
    /// least <paramref name="minimumChunk"/> plaintext bytes of it fit (so callers can fill a batch exactly).
    /// </summary>
    public static int Seal(NoiseCipherState cipher, ref ReadOnlySpan<byte> plaintext, Span<byte> destination, int minimumChunk = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(cipher);
        var used = 0;
        while (!plaintext.IsEmpty)
        {
            var chunk = Math.Min(plaintext.Length, PlaintextBytesMax);
            var room = destination.Length - used - LengthBytes - NoiseCipherState.TagBytes;
            if (room < chunk)
            {
                if (room <= 0 || room < Math.Min(minimumChunk, chunk)) break;
                chunk = room;
            }

            var frame = chunk + NoiseCipherState.TagBytes;
            BinaryPrimitives.WriteUInt16BigEndian(destination[used..], (ushort)frame);
            cipher.Encrypt(ReadOnlySpan<byte>.Empty, plaintext[..chunk], destination.Slice(used + LengthBytes, frame));
            used += LengthBytes + frame;
            plaintext = plaintext[chunk..];
        }

        return used;
    }

    /// <summary>
    /// The length of the frame at the front of <paramref name="buffer"/> (length prefix included), or 0 when fewer than two
    /// bytes are there; throws <see cref="NoiseException"/> for a frame too short to hold its tag.
    /// </summary>
    public static int PeekFrameLength(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < LengthBytes) return 0;
        var body = BinaryPrimitives.ReadUInt16BigEndian(buffer);
        if (body < NoiseCipherState.TagBytes)
            throw new NoiseException(NoiseFailure.Framing, $"a Noise frame of {body} bytes cannot hold its tag");
        return LengthBytes + body;
    }
}
