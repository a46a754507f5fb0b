using System.Buffers;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Reads and writes uvarint length-prefixed messages on a stream (identify and Bitswap framing). Reads take exactly the
/// bytes of one message, so nothing beyond it is consumed.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>
    /// Reads one message of at most <paramref name="maxBytes"/>. Returns null at a clean end of stream (before the first
    /// length byte); a truncated message, a bad or oversized length is a typed error.
    /// </summary>
    public static async ValueTask<Either<DecodeError, byte[]?>> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        var header = new byte[Varint.MaxBytes];
        var used = 0;
        while (true)
        {
            var n = await stream.ReadAsync(header.AsMemory(used, 1), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                return used == 0
                    ? Prelude.Right<DecodeError, byte[]?>(null)
                    : new DecodeError(DecodeErrorKind.Truncated, "stream ended inside a length prefix");
            used++;
            if ((header[used - 1] & 0x80) == 0) break;
            if (used == Varint.MaxBytes) return Varint.ErrorFor(VarintStatus.Overlong).At("length prefix");
        }
        var status = Varint.TryRead(header.AsSpan(0, used), out var length, out _);
        if (status != VarintStatus.Ok) return Varint.ErrorFor(status).At("length prefix");
        if (length > (ulong)maxBytes) return new DecodeError(DecodeErrorKind.TooLarge, $"message of {length} bytes exceeds {maxBytes}");
        var body = new byte[(int)length];
        var read = 0;
        while (read < body.Length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0) return new DecodeError(DecodeErrorKind.Truncated, $"stream ended after {read} of {body.Length} message bytes");
            read += n;
        }
        return body;
    }

    /// <summary>Writes one message with its length prefix in a single write.</summary>
    public static async ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var prefixLength = Varint.EncodedLength((ulong)message.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(prefixLength + message.Length);
        try
        {
            Varint.Write(buffer, (ulong)message.Length);
            message.Span.CopyTo(buffer.AsSpan(prefixLength));
            await stream.WriteAsync(buffer.AsMemory(0, prefixLength + message.Length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
