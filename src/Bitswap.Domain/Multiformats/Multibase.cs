namespace Bitswap.Domain.Multiformats;

/// <summary>The multibase encodings this library writes and reads.</summary>
public enum MultibaseEncoding
{
    /// <summary>RFC 4648 base32, lower case, no padding; prefix <c>b</c>. The CIDv1 default.</summary>
    Base32Lower,
    /// <summary>RFC 4648 base32, upper case, no padding; prefix <c>B</c>.</summary>
    Base32Upper,
    /// <summary>Bitcoin-alphabet base58; prefix <c>z</c>.</summary>
    Base58Btc,
    /// <summary>Lower-case hex; prefix <c>f</c>.</summary>
    Base16Lower,
}

/// <summary>Multibase text encodings (multiformats/multibase), over SimpleBase's coders.</summary>
public static class Multibase
{
    /// <summary>Base58btc without a multibase prefix (CIDv0 and peer IDs).</summary>
    public static string Base58Btc(ReadOnlySpan<byte> bytes) => SimpleBase.Base58.Bitcoin.Encode(bytes);

    /// <summary>RFC 4648 base32 without padding or prefix, lower case.</summary>
    public static string Base32Lower(ReadOnlySpan<byte> bytes) => SimpleBase.Base32.Rfc4648.Encode(bytes, padding: false).ToLowerInvariant();

    /// <summary>RFC 4648 base32 without padding or prefix, upper case (flatfs keys).</summary>
    public static string Base32Upper(ReadOnlySpan<byte> bytes) => SimpleBase.Base32.Rfc4648.Encode(bytes, padding: false);

    /// <summary>Encodes with the multibase prefix character.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes, MultibaseEncoding encoding) => encoding switch
    {
        MultibaseEncoding.Base32Lower => "b" + Base32Lower(bytes),
        MultibaseEncoding.Base32Upper => "B" + Base32Upper(bytes),
        MultibaseEncoding.Base58Btc => "z" + Base58Btc(bytes),
        MultibaseEncoding.Base16Lower => "f" + Convert.ToHexStringLower(bytes),
        _ => throw new System.Diagnostics.UnreachableException($"multibase {encoding}"),
    };

    /// <summary>Decodes base58btc text without a prefix.</summary>
    public static Either<DecodeError, byte[]> DecodeBase58Btc(string text)
    {
        if (text.Length == 0) return new DecodeError(DecodeErrorKind.Empty, "empty base58 text");
        foreach (var c in text)
            if (!IsBase58Char(c)) return new DecodeError(DecodeErrorKind.BadMultibase, $"'{c}' is not a base58btc character");
        return SimpleBase.Base58.Bitcoin.Decode(text);
    }

    /// <summary>Decodes RFC 4648 base32 text without a prefix or padding, in either case.</summary>
    public static Either<DecodeError, byte[]> DecodeBase32(string text)
    {
        if (text.Length == 0) return new DecodeError(DecodeErrorKind.Empty, "empty base32 text");
        foreach (var c in text)
            if (!IsBase32Char(c)) return new DecodeError(DecodeErrorKind.BadMultibase, $"'{c}' is not a base32 character");
        // A base32 tail of 1, 3 or 6 characters cannot come from whole bytes.
        if ((text.Length % 8) is 1 or 3 or 6) return new DecodeError(DecodeErrorKind.BadMultibase, "base32 text has an impossible length");
        return SimpleBase.Base32.Rfc4648.Decode(text.ToUpperInvariant());
    }

    /// <summary>Decodes text that starts with a multibase prefix this library reads.</summary>
    public static Either<DecodeError, byte[]> Decode(string text)
    {
        if (text.Length < 2) return new DecodeError(DecodeErrorKind.Empty, "multibase text needs a prefix and a body");
        var body = text[1..];
        return text[0] switch
        {
            'b' or 'B' => DecodeBase32(body),
            'z' => DecodeBase58Btc(body),
            'f' or 'F' => DecodeHex(body),
            var p => new DecodeError(DecodeErrorKind.BadMultibase, $"multibase prefix '{p}' is not supported (b, B, z, f)"),
        };
    }

    private static Either<DecodeError, byte[]> DecodeHex(string body)
    {
        if (body.Length % 2 != 0) return new DecodeError(DecodeErrorKind.BadMultibase, "hex text has an odd length");
        foreach (var c in body)
            if (!char.IsAsciiHexDigit(c)) return new DecodeError(DecodeErrorKind.BadMultibase, $"'{c}' is not a hex digit");
        return Convert.FromHexString(body);
    }

    private static bool IsBase58Char(char c) =>
        c is >= '1' and <= '9' or >= 'A' and <= 'H' or >= 'J' and <= 'N' or >= 'P' and <= 'Z' or >= 'a' and <= 'k' or >= 'm' and <= 'z';

    private static bool IsBase32Char(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '2' and <= '7';
}
