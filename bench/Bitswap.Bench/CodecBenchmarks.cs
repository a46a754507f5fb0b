using BenchmarkDotNet.Attributes;
using Bitswap.Domain;
using Bitswap.Domain.Wire;

namespace Bitswap.Bench;

/// <summary>Encoding and decoding a server message of 16 blocks of 256 KiB (4 MiB of data) in Bitswap 1.2.0.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int BlockCount = 16;
    private const int BlockBytes = 256 * 1024;

    // 16 × 256 KiB plus framing is just over the spec's 4 MiB, so the decoder gets room for this one message.
    private static readonly Limits RoomyLimits = Limits.Default with { MessageBytesMax = 8 * 1024 * 1024 };

    private Message _message = Message.Empty;
    private byte[] _encoded = [];

    /// <summary>Builds the message from seeded random data and encodes it once for the decode benchmark.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var message = Message.Empty.WithPendingBytes(1 << 20);
        for (var i = 0; i < BlockCount; i++)
        {
            var data = new byte[BlockBytes];
            random.NextBytes(data);
            message = message.WithBlock(Block.Raw(data));
        }
        _message = message;
        _encoded = MessageCodec.Encode(message, ProtocolVersion.V120);
    }

    /// <summary>Encodes to a fresh array.</summary>
    [Benchmark]
    public int Encode() => MessageCodec.Encode(_message, ProtocolVersion.V120).Length;

    /// <summary>Computes the encoded size only.</summary>
    [Benchmark]
    public int EncodedSize() => MessageCodec.EncodedSize(_message, ProtocolVersion.V120);

    /// <summary>Decodes, hashing every block (sha2-256) to rebuild its CID.</summary>
    [Benchmark]
    public int Decode() => MessageCodec.Decode(_encoded, ProtocolVersion.V120, RoomyLimits).Match(m => m.Blocks.Count, _ => -1);
}
