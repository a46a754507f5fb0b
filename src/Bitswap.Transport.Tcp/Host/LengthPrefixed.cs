using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

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
/// Reads small uvarint length-prefixed messages (identify) from a stream, byte-exactly so nothing after the message is
/// consumed. A thin stream wrapper over <see cref="Framing.TryReadPrefix"/>, the one place frame lengths are judged;
/// Bitswap messages are framed on the Yamux read loop by <see cref="BitswapReceiver"/> instead.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>
    /// Reads one message of at most <paramref name="maxBytes"/>. Returns an empty read at a clean end of stream (before the
    /// first length byte); a truncated message, a bad or oversized length is a typed error.
    /// </summary>
    public static async ValueTask<FrameRead> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[Varint.MaxBytes];
        var used = 0;
        int prefixLength, length;
        while (true)
        {
            var n = await stream.ReadAsync(header.AsMemory(used, 1), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                return used == 0
                    ? new FrameRead(null, null)
                    : new FrameRead(null, new DecodeError(DecodeErrorKind.Truncated, "stream ended inside a length prefix"));
            used++;
            var status = Framing.TryReadPrefix(header.AsSpan(0, used), maxBytes, out prefixLength, out length, out var error);
            if (status == FrameStatus.Error) return new FrameRead(null, error);
            if (status == FrameStatus.Frame) break;
        }

        var body = new byte[length];
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
