using Bitswap.Domain.Multiformats;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>The outcome of reading one length-prefixed message: a message, a clean end of stream, or a typed error.</summary>
/// <param name="Message">The message bytes, or null at end of stream or on error.</param>
/// <param name="Error">What was wrong, or null.</param>
public readonly record struct FrameRead(byte[]? Message, DecodeError? Error)
{
    /// <summary>True at a clean end of stream.</summary>
    public bool IsEnd => Message is null && Error is null;
}

/// <summary>
/// Reads uvarint length-prefixed messages from a stream (identify and Bitswap framing; writing uses the domain's
/// <see cref="Bitswap.Domain.Wire.Framing"/>). Reads take exactly the bytes of one message, so nothing beyond it is consumed.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>
    /// Reads one message of at most <paramref name="maxBytes"/>. Returns null at a clean end of stream (before the first
    /// length byte); a truncated message, a bad or oversized length is a typed error.
    /// </summary>
    public static async ValueTask<FrameRead> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        var header = new byte[Varint.MaxBytes];
        var used = 0;
        while (true)
        {
            var n = await stream.ReadAsync(header.AsMemory(used, 1), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                return used == 0
                    ? new FrameRead(null, null)
                    : new FrameRead(null, new DecodeError(DecodeErrorKind.Truncated, "stream ended inside a length prefix"));
            used++;
            if ((header[used - 1] & 0x80) == 0) break;
            if (used == Varint.MaxBytes) return new FrameRead(null, Varint.ErrorFor(VarintStatus.Overlong).At("length prefix"));
        }
        var status = Varint.TryRead(header.AsSpan(0, used), out var length, out _);
        if (status != VarintStatus.Ok) return new FrameRead(null, Varint.ErrorFor(status).At("length prefix"));
        if (length > (ulong)maxBytes) return new FrameRead(null, new DecodeError(DecodeErrorKind.TooLarge, $"message of {length} bytes exceeds {maxBytes}"));
        var body = new byte[(int)length];
        var read = 0;
        while (read < body.Length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0) return new FrameRead(null, new DecodeError(DecodeErrorKind.Truncated, $"stream ended after {read} of {body.Length} message bytes"));
            read += n;
        }
        return new FrameRead(body, null);
    }
}
