using Bitswap.Transport.Tcp.Yamux;
using FsCheck;
using FsCheck.Fluent;

namespace Bitswap.Tests.Properties;

/// <summary>Bytes fed to a yamux session by a hostile or broken peer.</summary>
/// <param name="Bytes">The whole input, sent at once and followed by EOF.</param>
public sealed record YamuxWireNoise(byte[] Bytes)
{
    /// <summary>Length and the first bytes in hex, so a failing case is readable.</summary>
    public override string ToString() => $"{Bytes.Length} bytes: {Convert.ToHexStringLower(Bytes.AsSpan(0, Math.Min(Bytes.Length, 96)))}";
}

/// <summary>Shared generators.</summary>
public static partial class Arbitraries
{
    /// <summary>
    /// Mostly plausible frames (small stream IDs of both parities, every type and flag combination, payloads that match or
    /// not) mixed with raw garbage, so the session's validation paths are reached rather than only the version check.
    /// </summary>
    public static Arbitrary<YamuxWireNoise> YamuxWireNoise()
    {
        var garbage = ArbMap.Default.GeneratorFor<byte[]>();
        var frame =
            from version in Gen.Frequency((19, Gen.Constant((byte)0)), (1, Gen.Choose(1, 255).Select(v => (byte)v)))
            from type in Gen.Frequency((18, Gen.Choose(0, 3)), (1, Gen.Choose(4, 255)))
            from flags in Gen.Choose(0, 15)
            from stream in Gen.Frequency((1, Gen.Constant(0)), (8, Gen.Choose(1, 9)), (1, Gen.Choose(10, int.MaxValue)))
            from length in Gen.Frequency((8, Gen.Choose(0, 64)), (1, Gen.Choose(65, 300_000)), (1, Gen.Choose(0, int.MaxValue)))
            from payloadMatches in Gen.Frequency((9, Gen.Constant(true)), (1, Gen.Constant(false)))
            select Encode(new YamuxFrameHeader((byte)version, (YamuxFrameType)type, (YamuxFrameFlags)flags, (uint)stream, (uint)length), payloadMatches);
        var piece = Gen.Frequency((6, frame), (1, garbage));
        var input = Gen.Choose(0, 24).SelectMany(n => Gen.ArrayOf(piece, n)).Select(parts => new YamuxWireNoise([.. parts.SelectMany(p => p)]));
        return input.ToArbitrary();
    }

    private static byte[] Encode(YamuxFrameHeader header, bool payloadMatches)
    {
        var payload = header.Type == YamuxFrameType.Data && payloadMatches && header.Length <= 300_000 ? (int)header.Length : 0;
        var bytes = new byte[YamuxFrameHeader.Size + payload];
        header.WriteTo(bytes);
        for (var i = 0; i < payload; i++)
        {
            bytes[YamuxFrameHeader.Size + i] = (byte)(i * 31);
        }

        return bytes;
    }
}
