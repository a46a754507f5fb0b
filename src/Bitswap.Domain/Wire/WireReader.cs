namespace Bitswap.Domain.Wire;

/// <summary>
/// A minimal protobuf wire-format reader (protobuf.dev/programming-guides/encoding) over one buffer, for message.proto's
/// Bitswap message. Length-delimited fields come back as slices of the buffer, so block data is never copied. It accepts
/// exactly what Google.Protobuf's generated parser accepts for this schema: unknown fields (groups included) are skipped,
/// a known field with another wire type is an unknown field, and the last value of a singular field wins.
/// </summary>
internal struct WireReader(ReadOnlyMemory<byte> buffer)
{
    /// <summary>Google.Protobuf's default recursion limit, applied to nested groups.</summary>
    private const int RecursionLimit = 100;

    private readonly ReadOnlyMemory<byte> _buffer = buffer;
    private int _position;

    /// <summary>The protobuf wire types (protobuf.dev encoding "Message Structure").</summary>
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5;

    /// <summary>Whether the whole buffer was read.</summary>
    public readonly bool AtEnd => _position >= _buffer.Length;

    /// <summary>Reads a field tag; false with <paramref name="error"/> set when it is malformed.</summary>
    public bool TryReadTag(out int field, out int wireType, out string? error)
    {
        field = 0;
        wireType = 0;
        if (!TryReadVarint(out var raw, out error)) return false;
        // Google.Protobuf reads a tag as a 32-bit varint: longer encodings keep only the low 32 bits.
        var tag = (uint)raw;
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field == 0) return Fail("Protocol message contained an invalid tag (zero).", out error);
        return true;
    }

    /// <summary>Reads a base-128 varint of up to 10 bytes (protobuf rules: not necessarily minimal).</summary>
    public bool TryReadVarint(out ulong value, out string? error)
    {
        value = 0;
        var span = _buffer.Span;
        for (var shift = 0; shift < 70; shift += 7)
        {
            if (_position >= span.Length) return Truncated(out error);
            var b = span[_position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                error = null;
                return true;
            }
        }

        return Fail("CodedInputStream encountered a malformed varint.", out error);
    }

    /// <summary>Reads a length-delimited field as a slice of the buffer.</summary>
    public bool TryReadBytes(out ReadOnlyMemory<byte> value, out string? error)
    {
        value = default;
        if (!TryReadVarint(out var length, out error)) return false;
        // Google.Protobuf reads the length as an int32: a negative one is an error.
        var signed = (int)length;
        if (signed < 0) return Fail("CodedInputStream encountered an embedded string or message which claimed a negative size.", out error);
        if (signed > _buffer.Length - _position) return Truncated(out error);
        value = _buffer.Slice(_position, signed);
        _position += signed;
        return true;
    }

    /// <summary>Skips a field of <paramref name="wireType"/> whose tag was just read.</summary>
    public bool TrySkip(int field, int wireType, out string? error) => TrySkip(field, wireType, 0, out error);

    private bool TrySkip(int field, int wireType, int depth, out string? error)
    {
        switch (wireType)
        {
            case Varint:
                return TryReadVarint(out _, out error);
            case Fixed64:
                return TryAdvance(8, out error);
            case Fixed32:
                return TryAdvance(4, out error);
            case LengthDelimited:
                return TryReadBytes(out _, out error);
            case StartGroup:
                if (depth >= RecursionLimit)
                    return Fail("Protocol message had too many levels of nesting.  May be malicious.  Use CodedInputStream.SetRecursionLimit() to increase the depth limit.", out error);
                while (true)
                {
                    if (AtEnd) return Truncated(out error);
                    if (!TryReadTag(out var inner, out var innerType, out error)) return false;
                    if (innerType == EndGroup)
                    {
                        if (inner != field) return Fail("Protocol message end-group tag did not match expected tag.", out error);
                        return true;
                    }

                    if (!TrySkip(inner, innerType, depth + 1, out error)) return false;
                }

            case EndGroup:
                return Fail("Protocol message end-group tag did not match expected tag.", out error);
            default:
                return Fail("Protocol message contained a tag with an invalid wire type.", out error);
        }
    }

    private bool TryAdvance(int count, out string? error)
    {
        if (_buffer.Length - _position < count) return Truncated(out error);
        _position += count;
        error = null;
        return true;
    }

    private static bool Truncated(out string? error) =>
        Fail("While parsing a protocol message, the input ended unexpectedly in the middle of a field.  This could mean either that the input has been truncated or that an embedded message misreported its own length.", out error);

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}
