using System.Text.Json.Nodes;

namespace Bitswap.Cli.Daemon;

/// <summary>A read-only pass-through that counts bytes and, when given a list, notes add progress every MiB.</summary>
public sealed class CountingStream(Stream inner, List<JsonNode>? progress, string name) : Stream
{
    /// <summary>Bytes between two progress lines.</summary>
    public const long ProgressStepBytes = 1 << 20;

    /// <summary>Most progress lines noted for one file.</summary>
    public const int ProgressLinesMax = 4096;

    /// <summary>Most lines one add answer collects, progress included.</summary>
    public const int AnswerLinesMax = 100_000;

    private long _nextProgress = ProgressStepBytes;
    private int _lines;

    /// <summary>Bytes read so far.</summary>
    public long Total { get; private set; }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => Total; set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override void Flush() { }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    /// <inheritdoc />
    public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Count(int read)
    {
        Total += read;
        while (progress is not null && Total >= _nextProgress && _lines < ProgressLinesMax && progress.Count < AnswerLinesMax)
        {
            // Kubo's progress event: {"Name", "Bytes"} with the bytes read so far.
            progress.Add(new JsonObject { ["Name"] = name, ["Bytes"] = _nextProgress });
            _nextProgress += ProgressStepBytes;
            _lines++;
        }

        return read;
    }
}

/// <summary>A write-only pass-through that keeps only bytes [offset, offset + length) (cat's offset and length).</summary>
public sealed class SliceStream(Stream inner, long offset, long? length) : Stream
{
    private long _position;

    /// <inheritdoc />
    public override bool CanRead => false;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override void Flush() { }

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous writes are not allowed");

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var start = _position;
        _position += buffer.Length;
        var end = length is { } l ? offset + l : long.MaxValue;
        var from = Math.Max(start, offset);
        var to = Math.Min(_position, end);
        return to <= from ? ValueTask.CompletedTask : inner.WriteAsync(buffer.Slice((int)(from - start), (int)(to - from)), cancellationToken);
    }
}
