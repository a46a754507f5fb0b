using Bitswap.Transport.Tcp.Yamux;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots.Yamux;

/// <summary>Golden yamux frame bytes (libp2p-reference.md §6.4) and the stream lifecycle diagram.</summary>
public class YamuxSnapshotTests
{
    public static TheoryData<string, string, byte, byte, ushort, uint, uint> Vectors => new()
    {
        { "open stream 1", "000100010000000100000000", 0, 1, 1, 1, 0 },
        { "ack stream 1", "000100020000000100000000", 0, 1, 2, 1, 0 },
        { "5 data bytes", "000000000000000100000005", 0, 0, 0, 1, 5 },
        { "fin", "000100040000000100000000", 0, 1, 4, 1, 0 },
        { "rst", "000100080000000100000000", 0, 1, 8, 1, 0 },
        { "ping", "000200010000000000000007", 0, 2, 1, 0, 7 },
        { "pong", "000200020000000000000007", 0, 2, 2, 0, 7 },
        { "go away normal", "000300000000000000000000", 0, 3, 0, 0, 0 },
        { "go away protocol error", "000300000000000000000001", 0, 3, 0, 0, 1 },
        { "big-endian fields", "0001000f1234567889abcdef", 0, 1, 15, 0x12345678, 0x89abcdef },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Frame_header_encodes_to_the_reference_bytes(string name, string hex, byte version, byte type, ushort flags, uint stream, uint length)
    {
        var header = new YamuxFrameHeader(version, (YamuxFrameType)type, (YamuxFrameFlags)flags, stream, length);

        Assert.True(hex == header.ToHex(), name);
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Frame_header_decodes_from_the_reference_bytes(string name, string hex, byte version, byte type, ushort flags, uint stream, uint length)
    {
        var header = YamuxFrameHeader.Read(Convert.FromHexString(hex));

        Assert.True(new YamuxFrameHeader(version, (YamuxFrameType)type, (YamuxFrameFlags)flags, stream, length) == header, name);
    }

    [Fact]
    public void Data_frame_with_hello_matches_the_reference_bytes()
    {
        var bytes = new byte[YamuxFrameHeader.Size + 5];
        new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 5).WriteTo(bytes);
        "hello"u8.CopyTo(bytes.AsSpan(YamuxFrameHeader.Size));

        Assert.Equal("00000000000000010000000568656c6c6f", Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void Stream_lifecycle_diagram_is_unchanged()
    {
        Snapshot.Match(YamuxStream.LifecycleDiagram());
    }

    [Fact]
    public void Committed_mermaid_file_matches_the_machine()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Bitswap.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        var committed = File.ReadAllText(Path.Combine(root.FullName, "src", "Bitswap.Transport.Tcp", "Yamux", "StreamLifecycle.mmd"));
        Assert.Equal(YamuxStream.LifecycleDiagram().ReplaceLineEndings("\n").TrimEnd(), committed.ReplaceLineEndings("\n").TrimEnd());
    }
}
