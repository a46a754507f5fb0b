namespace Bitswap.Transport.Tcp.Noise;

/// <summary>A byte stream that can write several memory segments as one logical write, without first joining them.</summary>
public interface IGatherWriter
{
    /// <summary>Writes the concatenation of <paramref name="segments"/>; the memory may be reused once this completes.</summary>
    ValueTask WriteGatherAsync(IReadOnlyList<ReadOnlyMemory<byte>> segments, CancellationToken cancellationToken = default);
}
