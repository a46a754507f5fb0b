using Bitswap.Domain.Multiformats;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>Unsigned varint round trips and minimality.</summary>
public class VarintProperties
{
    [Property(MaxTest = 1000)]
    public bool Round_trip_returns_the_value_and_its_length(ulong raw)
    {
        var value = raw & Varint.MaxValue;
        var bytes = Varint.Encode(value);
        return Varint.TryRead(bytes, out var decoded, out var length) == VarintStatus.Ok
            && decoded == value && length == bytes.Length && length == Varint.EncodedLength(value) && length <= Varint.MaxBytes;
    }

    [Property(MaxTest = 1000)]
    public bool Padding_a_varint_makes_it_non_minimal(ulong raw)
    {
        var value = raw & (Varint.MaxValue >> 7);
        var bytes = Varint.Encode(value);
        bytes[^1] |= 0x80;
        byte[] padded = [.. bytes, 0x00];
        return Varint.TryRead(padded, out _, out _) == VarintStatus.NonMinimal;
    }

    [Fact]
    public void Spec_examples_encode_as_listed()
    {
        Assert.Equal("01", Convert.ToHexStringLower(Varint.Encode(1)));
        Assert.Equal("7f", Convert.ToHexStringLower(Varint.Encode(127)));
        Assert.Equal("8001", Convert.ToHexStringLower(Varint.Encode(128)));
        Assert.Equal("ff01", Convert.ToHexStringLower(Varint.Encode(255)));
        Assert.Equal("ac02", Convert.ToHexStringLower(Varint.Encode(300)));
        Assert.Equal("808001", Convert.ToHexStringLower(Varint.Encode(16384)));
        Assert.Equal("ffffffffffffffff7f", Convert.ToHexStringLower(Varint.Encode(Varint.MaxValue)));
        Assert.Equal(VarintStatus.Overlong, Varint.TryRead(Convert.FromHexString("ffffffffffffffffff01"), out _, out _));
        Assert.Equal(VarintStatus.Truncated, Varint.TryRead(Convert.FromHexString("8080"), out _, out _));
        Assert.Equal(VarintStatus.NonMinimal, Varint.TryRead(Convert.FromHexString("8100"), out _, out _));
    }
}
