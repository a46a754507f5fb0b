namespace Bitswap.Domain.Multiformats;

/// <summary>The outcome of reading an unsigned varint.</summary>
public enum VarintStatus
{
    /// <summary>A complete, minimal varint of at most 9 bytes was read.</summary>
    Ok,
    /// <summary>The input ended inside the varint.</summary>
    Truncated,
    /// <summary>More than 9 bytes: beyond the 63 bits multiformats allows.</summary>
    Overlong,
    /// <summary>The value has a shorter encoding.</summary>
    NonMinimal,
}

/// <summary>
/// Multiformats unsigned varint (multiformats/unsigned-varint): LEB128, minimal, at most 9 bytes (63 bits).
/// Not the protobuf varint, which allows 10 bytes and non-minimal forms.
/// </summary>
public static class Varint
{
    /// <summary>The longest encoding the spec allows.</summary>
    public const int MaxBytes = 9;

    /// <summary>The largest value that fits in 9 bytes.</summary>
    public const ulong MaxValue = (1UL << 63) - 1;

    /// <summary>How many bytes <paramref name="value"/> takes once encoded.</summary>
    public static int EncodedLength(ulong value)
    {
        var n = 1;
        while (value >= 0x80) { value >>= 7; n++; }
        return n;
    }

    /// <summary>Writes <paramref name="value"/> at the start of <paramref name="destination"/> and returns the byte count.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value needs more than 63 bits: a programming error, not bad input.</exception>
    public static int Write(Span<byte> destination, ulong value)
    {
        if (value > MaxValue) throw new ArgumentOutOfRangeException(nameof(value), "multiformats varints carry at most 63 bits");
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Encodes <paramref name="value"/> into a new array.</summary>
    public static byte[] Encode(ulong value)
    {
        var bytes = new byte[EncodedLength(value)];
        Write(bytes, value);
        return bytes;
    }

    /// <summary>Reads a varint from the start of <paramref name="source"/>, reporting why it failed if it did.</summary>
    public static VarintStatus TryRead(ReadOnlySpan<byte> source, out ulong value, out int length)
    {
        value = 0;
        length = 0;
        var shift = 0;
        for (var i = 0; i < source.Length; i++)
        {
            if (i == MaxBytes) return VarintStatus.Overlong;
            var b = source[i];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                // Only the value 0 may end in a 0x00 byte; a trailing 0x00 elsewhere means padding.
                if (b == 0 && i > 0) { value = 0; return VarintStatus.NonMinimal; }
                length = i + 1;
                return VarintStatus.Ok;
            }
            shift += 7;
        }
        value = 0;
        return source.Length >= MaxBytes ? VarintStatus.Overlong : VarintStatus.Truncated;
    }

    /// <summary>Reads a varint from the start of <paramref name="source"/> as a value and its length, or a typed error.</summary>
    public static Either<DecodeError, (ulong Value, int Length)> Read(ReadOnlySpan<byte> source) =>
        TryRead(source, out var value, out var length) switch
        {
            VarintStatus.Ok => (value, length),
            var status => ErrorFor(status),
        };

    /// <summary>Decodes input that must hold exactly one varint and nothing else.</summary>
    public static Either<DecodeError, ulong> DecodeExact(ReadOnlySpan<byte> source)
    {
        var status = TryRead(source, out var value, out var length);
        if (status != VarintStatus.Ok) return ErrorFor(status);
        if (length != source.Length) return new DecodeError(DecodeErrorKind.TrailingBytes, $"{source.Length - length} bytes after the varint");
        return value;
    }

    /// <summary>The typed error for a failed read.</summary>
    public static DecodeError ErrorFor(VarintStatus status) => status switch
    {
        VarintStatus.Truncated => new DecodeError(DecodeErrorKind.Truncated, "varint truncated"),
        VarintStatus.Overlong => new DecodeError(DecodeErrorKind.VarintOverlong, "varint longer than 9 bytes"),
        VarintStatus.NonMinimal => new DecodeError(DecodeErrorKind.VarintNonMinimal, "varint not minimally encoded"),
        _ => throw new System.Diagnostics.UnreachableException($"no error for {status}"),
    };
}
