using System.Buffers.Binary;

namespace Bitswap.Cli;

/// <summary>
/// A read-only stream of <see cref="Length"/> deterministic pseudo-random bytes (SplitMix64, 8 bytes per step, little
/// endian): the same seed gives the same content on every machine, without holding it in memory.
/// </summary>
public sealed class PseudoRandomStream(long length, ulong seed) : Stream
{
    private ulong _state = seed;
    private long _position;
    private ulong _carry;
    private int _carryBytes;

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    public override long Length { get; } = length;

    /// <inheritdoc />
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException("a pseudo-random stream only reads forward");
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(buffer.Length, Length - _position);
        var written = 0;
        while (written < count && _carryBytes > 0)
        {
            buffer[written++] = (byte)_carry;
            _carry >>= 8;
            _carryBytes--;
        }

        while (count - written >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[written..], Next());
            written += 8;
        }

        if (written < count)
        {
            _carry = Next();
            _carryBytes = 8;
            while (written < count)
            {
                buffer[written++] = (byte)_carry;
                _carry >>= 8;
                _carryBytes--;
            }
        }

        _position += count;
        return count;
    }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("a pseudo-random stream only reads forward");

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException("a pseudo-random stream is read-only");

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("a pseudo-random stream is read-only");

    private ulong Next()
    {
        // SplitMix64 (Steele, Lea, Flood 2014): constants from the published algorithm.
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
