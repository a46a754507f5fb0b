using System.Buffers.Binary;

namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>Yamux frame types (libp2p/specs yamux/README.md, "Type field").</summary>
public enum YamuxFrameType : byte
{
    /// <summary>Stream payload; the length field is the payload size.</summary>
    Data = 0,

    /// <summary>Adds the length field to the receiver's send window.</summary>
    WindowUpdate = 1,

    /// <summary>Session ping; the length field is an opaque value echoed back.</summary>
    Ping = 2,

    /// <summary>Session termination; the length field is the error code.</summary>
    GoAway = 3,
}

/// <summary>Yamux frame flags (libp2p/specs yamux/README.md, "Flag field").</summary>
[Flags]
public enum YamuxFrameFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>Opens a stream, or asks for a ping reply.</summary>
    Syn = 1,

    /// <summary>Acknowledges a stream, or answers a ping.</summary>
    Ack = 2,

    /// <summary>Half-closes the sender's direction of a stream.</summary>
    Fin = 4,

    /// <summary>Resets a stream at once.</summary>
    Rst = 8,
}

/// <summary>GoAway error codes (libp2p/specs yamux/README.md).</summary>
public enum YamuxGoAwayCode : uint
{
    /// <summary>Normal termination.</summary>
    Normal = 0,

    /// <summary>The peer broke the protocol.</summary>
    ProtocolError = 1,

    /// <summary>The sender failed internally.</summary>
    InternalError = 2,
}

/// <summary>The 12-byte big-endian header that starts every yamux frame.</summary>
/// <param name="Version">Protocol version; only 0 is valid.</param>
/// <param name="Type">Frame type (a raw byte, so unknown types survive decoding and can be rejected by the session).</param>
/// <param name="Flags">Flag bits.</param>
/// <param name="StreamId">Stream the frame belongs to; 0 is the session.</param>
/// <param name="Length">Payload size, window delta, ping value or GoAway code, depending on the type.</param>
public readonly record struct YamuxFrameHeader(byte Version, YamuxFrameType Type, YamuxFrameFlags Flags, uint StreamId, uint Length)
{
    /// <summary>Bytes in an encoded header.</summary>
    public const int Size = 12;

    /// <summary>The only version the spec defines.</summary>
    public const byte CurrentVersion = 0;

    /// <summary>A version-0 header.</summary>
    public YamuxFrameHeader(YamuxFrameType type, YamuxFrameFlags flags, uint streamId, uint length)
        : this(CurrentVersion, type, flags, streamId, length)
    {
    }

    /// <summary>Whether the header carries every flag in <paramref name="flags"/>.</summary>
    public bool Has(YamuxFrameFlags flags) => (Flags & flags) == flags;

    /// <summary>Writes the header into the first 12 bytes of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        destination[0] = Version;
        destination[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
    }

    /// <summary>The header as a fresh 12-byte array.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Reads a header from the first 12 bytes of <paramref name="source"/>, without validating it.</summary>
    public static YamuxFrameHeader Read(ReadOnlySpan<byte> source) =>
        new(
            source[0],
            (YamuxFrameType)source[1],
            (YamuxFrameFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]));

    /// <summary>Renders the header as 24 lowercase hex digits, for logs and golden tests.</summary>
    public string ToHex() => Convert.ToHexStringLower(ToArray());
}
