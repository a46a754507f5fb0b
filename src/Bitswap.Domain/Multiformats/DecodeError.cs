namespace Bitswap.Domain.Multiformats;

/// <summary>What was wrong with some input that failed to decode or parse.</summary>
public enum DecodeErrorKind
{
    /// <summary>The input ended before the value was complete.</summary>
    Truncated,
    /// <summary>A varint longer than the 9 bytes multiformats allows.</summary>
    VarintOverlong,
    /// <summary>A varint that has a shorter encoding (e.g. <c>81 00</c> for 1).</summary>
    VarintNonMinimal,
    /// <summary>Bytes were left over after a value that must fill its input.</summary>
    TrailingBytes,
    /// <summary>A multihash digest length that disagrees with its function or its input.</summary>
    BadDigestLength,
    /// <summary>A hash function this library recognises but cannot compute.</summary>
    UnsupportedHash,
    /// <summary>A hash function code nobody registered.</summary>
    UnknownHash,
    /// <summary>A CID version other than 0 or 1.</summary>
    BadCidVersion,
    /// <summary>A CIDv0 that is not a 34-byte sha2-256 multihash, or a v0 prefix with another codec.</summary>
    BadCidV0,
    /// <summary>Text in a multibase this library does not read, or characters outside its alphabet.</summary>
    BadMultibase,
    /// <summary>Empty input where a value was required.</summary>
    Empty,
    /// <summary>The data does not hash to the digest it claims.</summary>
    HashMismatch,
    /// <summary>A value over a configured limit.</summary>
    TooLarge,
    /// <summary>A protobuf that Google.Protobuf could not parse.</summary>
    BadProtobuf,
    /// <summary>A CID inside a wire message that failed to parse.</summary>
    BadCid,
    /// <summary>A block prefix inside a wire message that failed to parse.</summary>
    BadPrefix,
    /// <summary>A field this protocol version cannot carry, or a value out of range.</summary>
    BadField,
}

/// <summary>A typed decoding failure: the kind of fault and a human sentence naming where it was.</summary>
/// <param name="Kind">The kind of fault.</param>
/// <param name="Detail">Where and what, for people (e.g. "wantlist entry 3: varint truncated").</param>
public sealed record DecodeError(DecodeErrorKind Kind, string Detail)
{
    /// <summary>Prefixes the detail with a location, keeping the kind.</summary>
    public DecodeError At(string where) => this with { Detail = $"{where}: {Detail}" };

    /// <inheritdoc />
    public override string ToString() => $"{Kind}: {Detail}";
}
