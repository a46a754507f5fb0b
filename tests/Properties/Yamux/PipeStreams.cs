using System.Buffers;
using System.IO.Pipelines;
using Bitswap.Transport.Tcp.Yamux;

namespace Bitswap.Tests.Properties.Yamux;

/// <summary>In-memory duplex byte streams built from two <see cref="Pipe"/>s.</summary>
public static class PipeStreams
{
    /// <summary>Two connected ends: what one writes, the other reads. Disposing an end is a clean EOF for the other.</summary>
    public static (DuplexPipeStream Left, DuplexPipeStream Right) CreatePair(long pauseWriterBytes = 1024 * 1024)
    {
        var options = new PipeOptions(
            pauseWriterThreshold: pauseWriterBytes,
            resumeWriterThreshold: pauseWriterBytes / 2,
            useSynchronizationContext: false);
        var leftToRight = new Pipe(options);
        var rightToLeft = new Pipe(options);
        return (new DuplexPipeStream(rightToLeft.Reader, leftToRight.Writer), new DuplexPipeStream(leftToRight.Reader, rightToLeft.Writer));
    }
}

/// <summary>One end of an in-memory duplex pipe (asynchronous I/O only, which is all a yamux session uses).</summary>
public sealed class DuplexPipeStream(PipeReader reader, PipeWriter writer) : Stream
{
    private int disposed;

    /// <summary>Always true.</summary>
    public override bool CanRead => true;

    /// <summary>Always true.</summary>
    public override bool CanWrite => true;

    /// <summary>Always false.</summary>
    public override bool CanSeek => false;

    /// <summary>Not supported.</summary>
    public override long Length => throw new NotSupportedException();

    /// <summary>Not supported.</summary>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>Reads what the other end wrote; 0 once it is disposed and everything is read.</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var available = result.Buffer;
            if (!available.IsEmpty)
            {
                var n = (int)Math.Min(available.Length, buffer.Length);
                available.Slice(0, n).CopyTo(buffer.Span);
                reader.AdvanceTo(available.GetPosition(n));
                return n;
            }

            reader.AdvanceTo(available.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return 0;
            }
        }
    }

    /// <summary>Delegates to <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>.</summary>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Writes and flushes to the other end (waits while the pipe is above its pause threshold).</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await writer.WriteAsync(buffer, cancellationToken);
    }

    /// <summary>Delegates to <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Nothing to flush: every write is flushed.</summary>
    public override void Flush()
    {
    }

    /// <summary>Nothing to flush: every write is flushed.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Synchronous reads are not offered by this test pipe.</summary>
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

    /// <summary>Synchronous writes are not offered by this test pipe.</summary>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");

    /// <summary>Not supported.</summary>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <summary>Not supported.</summary>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Completes both pipes: the other end reads EOF.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref disposed, 1) == 0)
        {
            reader.CancelPendingRead();
            reader.Complete();
            writer.Complete();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// Independent flow-control referee: sees every frame both sessions write and checks that no side ever sent a stream more
/// Data bytes than the 256 KiB initial window plus the window updates the other side had written by then.
/// </summary>
public sealed class WindowAudit(int initialWindow)
{
    private readonly object gate = new();
    private readonly Dictionary<(string Side, uint Stream), long> sent = [];
    private readonly Dictionary<(string Side, uint Stream), long> granted = [];
    private readonly List<string> violations = [];

    /// <summary>Data payload bytes seen, all sides and streams.</summary>
    public long DataBytes { get; private set; }

    /// <summary>The most window a side ever had outstanding on one stream (shows whether auto-tuning kicked in).</summary>
    public long LargestWindowSeen { get; private set; }

    /// <summary>Every overflow found, as text.</summary>
    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (gate)
            {
                return [.. violations];
            }
        }
    }

    /// <summary>Wraps a side's transport so its outgoing frames are audited.</summary>
    public Stream Tap(Stream transport, string side, string peer) => new FrameTap(transport, this, side, peer);

    private void Observe(string side, string peer, YamuxFrameHeader header)
    {
        lock (gate)
        {
            if (header.Type == YamuxFrameType.WindowUpdate && !header.Has(YamuxFrameFlags.Rst))
            {
                // A window update written by `side` raises what `peer` may send on that stream.
                granted[(peer, header.StreamId)] = granted.GetValueOrDefault((peer, header.StreamId)) + header.Length;
            }
            else if (header.Type == YamuxFrameType.Data && header.Length > 0)
            {
                var key = (side, header.StreamId);
                var total = sent.GetValueOrDefault(key) + header.Length;
                sent[key] = total;
                DataBytes += header.Length;
                var allowed = initialWindow + granted.GetValueOrDefault(key);
                LargestWindowSeen = Math.Max(LargestWindowSeen, allowed - (total - header.Length));
                if (total > allowed)
                {
                    violations.Add($"{side} stream {header.StreamId}: sent {total} bytes with {allowed} allowed");
                }
            }
        }
    }

    private sealed class FrameTap(Stream inner, WindowAudit audit, string side, string peer) : Stream
    {
        private readonly byte[] header = new byte[YamuxFrameHeader.Size];
        private int headerFilled;
        private long payloadLeft;

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Parse(buffer.Span);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override ValueTask DisposeAsync() => inner.DisposeAsync();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private void Parse(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                if (payloadLeft > 0)
                {
                    var skip = (int)Math.Min(payloadLeft, bytes.Length);
                    payloadLeft -= skip;
                    bytes = bytes[skip..];
                    continue;
                }

                var take = Math.Min(YamuxFrameHeader.Size - headerFilled, bytes.Length);
                bytes[..take].CopyTo(header.AsSpan(headerFilled));
                headerFilled += take;
                bytes = bytes[take..];
                if (headerFilled == YamuxFrameHeader.Size)
                {
                    headerFilled = 0;
                    var parsed = YamuxFrameHeader.Read(header);
                    audit.Observe(side, peer, parsed);
                    payloadLeft = parsed.Type == YamuxFrameType.Data ? parsed.Length : 0;
                }
            }
        }
    }
}

/// <summary>A hand-driven yamux peer on the raw end of a pipe: writes arbitrary frames and reads what the session sends.</summary>
public sealed class RawPeer(Stream transport) : IAsyncDisposable
{
    private readonly byte[] header = new byte[YamuxFrameHeader.Size];

    /// <summary>Writes one frame (header plus optional payload) verbatim.</summary>
    public async Task SendAsync(YamuxFrameHeader frame, byte[]? payload = null)
    {
        var bytes = new byte[YamuxFrameHeader.Size + (payload?.Length ?? 0)];
        frame.WriteTo(bytes);
        payload?.CopyTo(bytes, YamuxFrameHeader.Size);
        await transport.WriteAsync(bytes);
    }

    /// <summary>Writes raw bytes.</summary>
    public async Task SendRawAsync(byte[] bytes) => await transport.WriteAsync(bytes);

    /// <summary>Reads the next frame the session sent, or null at EOF.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)?> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var got = await transport.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cts.Token);
        if (got < header.Length)
        {
            return null;
        }

        var parsed = YamuxFrameHeader.Read(header);
        var payload = new byte[parsed.Type == YamuxFrameType.Data ? parsed.Length : 0];
        await transport.ReadExactlyAsync(payload, cts.Token);
        return (parsed, payload);
    }

    /// <summary>Reads frames until one matches, failing the test at EOF or timeout.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)> ReceiveUntilAsync(Func<YamuxFrameHeader, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var frame = await ReceiveAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1))
                ?? throw new Xunit.Sdk.XunitException("the session closed the transport before the expected frame");
            if (match(frame.Header))
            {
                return frame;
            }
        }
    }

    /// <summary>Closes the raw end (EOF for the session).</summary>
    public ValueTask DisposeAsync() => transport.DisposeAsync();
}
