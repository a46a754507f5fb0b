using System.Buffers;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain.Wire;

/// <summary>The outcome of trying to read one length-prefixed frame from a buffer.</summary>
public enum FrameStatus
{
    /// <summary>The buffer ends before the frame does; read more and try again.</summary>
    NeedMore,
    /// <summary>A whole frame was read and removed from the front of the buffer.</summary>
    Frame,
    /// <summary>The length prefix is malformed or over the limit; the stream cannot be read further.</summary>
    Error,
}

/// <summary>
/// Length-prefixed framing of Bitswap messages on a stream: a minimal multiformats unsigned varint length, then the bytes.
/// Pure buffer functions; the transport does the stream I/O.
/// </summary>
public static class Framing
{
    /// <summary>Writes the length prefix and <paramref name="payload"/> into <paramref name="writer"/>.</summary>
    public static void WriteFrame(IBufferWriter<byte> writer, ReadOnlySpan<byte> payload)
    {
        var prefix = writer.GetSpan(Varint.MaxBytes);
        writer.Advance(Varint.Write(prefix, (ulong)payload.Length));
        writer.Write(payload);
    }

    /// <summary>
    /// Writes <paramref name="message"/> encoded for <paramref name="version"/> as one frame and returns the bytes written,
    /// or a <see cref="DecodeErrorKind.TooLarge"/> error (and writes nothing) when the encoding exceeds <paramref name="maxBytes"/>.
    /// </summary>
    public static Either<DecodeError, int> WriteMessage(IBufferWriter<byte> writer, Message message, ProtocolVersion version, int maxBytes)
    {
        var size = MessageCodec.EncodedSize(message, version);
        if (size > maxBytes)
            return new DecodeError(DecodeErrorKind.TooLarge, $"message of {size} bytes exceeds {maxBytes}; split it first");
        var prefix = writer.GetSpan(Varint.MaxBytes);
        var prefixLength = Varint.Write(prefix, (ulong)size);
        writer.Advance(prefixLength);
        MessageCodec.WriteTo(message, version, writer);
        return prefixLength + size;
    }

    /// <summary>The frame (length prefix and bytes) of <paramref name="payload"/> as a new array.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[Varint.EncodedLength((ulong)payload.Length) + payload.Length];
        var n = Varint.Write(bytes, (ulong)payload.Length);
        payload.CopyTo(bytes.AsSpan(n));
        return bytes;
    }

    /// <summary>
    /// Reads one frame from the front of <paramref name="buffer"/>. On <see cref="FrameStatus.Frame"/> the frame's bytes (without
    /// the prefix) are in <paramref name="frame"/> and <paramref name="buffer"/> is advanced past them; on
    /// <see cref="FrameStatus.NeedMore"/> the buffer is untouched; on <see cref="FrameStatus.Error"/> the prefix was
    /// overlong, non-minimal or announced more than <paramref name="maxBytes"/>, and <paramref name="error"/> says which.
    /// </summary>
    public static FrameStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxBytes, out ReadOnlySequence<byte> frame, out DecodeError? error)
    {
        frame = ReadOnlySequence<byte>.Empty;
        Span<byte> head = stackalloc byte[Varint.MaxBytes];
        var available = (int)Math.Min(buffer.Length, Varint.MaxBytes);
        buffer.Slice(0, available).CopyTo(head);
        var status = TryReadPrefix(head[..available], maxBytes, out var prefixLength, out var length, out error);
        if (status != FrameStatus.Frame) return status;
        if (buffer.Length - prefixLength < length) return FrameStatus.NeedMore;
        frame = buffer.Slice(prefixLength, length);
        buffer = buffer.Slice(frame.End);
        return FrameStatus.Frame;
    }

    /// <summary>
    /// Reads the length prefix at the front of <paramref name="head"/> (the first bytes of a frame; up to
    /// <see cref="Varint.MaxBytes"/> are enough). <see cref="FrameStatus.Frame"/> means the prefix is whole and valid: the frame
    /// has <paramref name="prefixLength"/> + <paramref name="length"/> bytes, which may not all be there yet.
    /// <see cref="FrameStatus.NeedMore"/> means the prefix itself is incomplete; <see cref="FrameStatus.Error"/> as in
    /// <see cref="TryReadFrame"/>. This is the one place a frame length is judged, for buffered and streaming readers alike.
    /// </summary>
    public static FrameStatus TryReadPrefix(ReadOnlySpan<byte> head, int maxBytes, out int prefixLength, out int length, out DecodeError? error)
    {
        length = 0;
        error = null;
        var status = Varint.TryRead(head[..Math.Min(head.Length, Varint.MaxBytes)], out var value, out prefixLength);
        switch (status)
        {
            case VarintStatus.Ok:
                break;
            case VarintStatus.Truncated:
                return FrameStatus.NeedMore;
            case VarintStatus.Overlong:
            case VarintStatus.NonMinimal:
                error = Varint.ErrorFor(status).At("frame length");
                return FrameStatus.Error;
            default:
                throw new System.Diagnostics.UnreachableException($"varint status {status}");
        }
        if (value > (ulong)Math.Max(maxBytes, 0))
        {
            error = new DecodeError(DecodeErrorKind.TooLarge, $"frame length {value} exceeds {maxBytes}");
            return FrameStatus.Error;
        }
        length = (int)value;
        return FrameStatus.Frame;
    }
}
