using System.Buffers;
using System.Diagnostics;
using Bitswap.Transport.Tcp.Host;

namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>
/// One yamux stream. Reads drain the receive buffer and hand window credit back to the peer; writes never exceed the send
/// window the peer granted. All mutable state is guarded by one lock, shared by user calls and the session's read loop.
/// </summary>
public sealed class YamuxStream : Stream
{
    private readonly YamuxSession session;
    private readonly object sync = new();
    private readonly StreamLifecycle lifecycle = new();
    // Frames the app has not read yet. Small frames are packed into shared segments, so a peer sending one-byte frames
    // costs one byte per byte, not an array each; every segment's array is charged to the peer's memory budget.
    private const int PackedSegmentBytes = 4096;
    private readonly Queue<Segment> received = new();
    private Segment? tail;
    private long chargedBytes;
    private readonly int windowMax;
    private int headOffset;
    private long sendWindow;
    private int receiveWindow;
    private long receiveCredit;
    private long bufferedBytes;
    private long epochStart;
    private bool needsAck;
    private bool disposed;
    private YamuxException? readFailure;
    private YamuxException? writeFailure;
    private TaskCompletionSource? readSignal;
    private TaskCompletionSource? writeSignal;
    private IYamuxReceiver? receiver;
    private bool receiverEnded;

    // The read loop is inside the receiver's calls (between BeginReceive and EndReceive). Ending the receiver from another
    // thread (a reset, a stall timeout) then waits for EndReceive, so the receiver is never called concurrently and never
    // frees a buffer the loop is still reading into.
    private bool delivering;
    private bool endPending;
    private YamuxException? pendingFailure;

    internal YamuxStream(YamuxSession session, uint id, bool isInbound)
    {
        this.session = session;
        Id = id;
        IsInbound = isInbound;
        var initial = session.Limits.YamuxInitialWindowBytes;
        windowMax = Math.Max(initial, session.Limits.YamuxWindowBytesMax);
        sendWindow = initial;
        receiveWindow = initial;
        receiveCredit = initial;
        epochStart = Stopwatch.GetTimestamp();
        needsAck = isInbound;
    }

    /// <summary>The stream ID (odd when the client opened it, even when the server did).</summary>
    public uint Id { get; }

    /// <summary>Whether the peer opened this stream.</summary>
    public bool IsInbound { get; }

    /// <summary>Where the stream is in its lifecycle.</summary>
    public YamuxStreamState StreamState
    {
        get
        {
            lock (sync)
            {
                return lifecycle.State;
            }
        }
    }

    /// <summary>Bytes we may still send before the peer grants more window.</summary>
    public long SendWindow
    {
        get
        {
            lock (sync)
            {
                return sendWindow;
            }
        }
    }

    /// <summary>The current receive window size (grows by auto-tuning up to <c>TcpHostOptions.YamuxWindowBytesMax</c>).</summary>
    public int ReceiveWindow
    {
        get
        {
            lock (sync)
            {
                return receiveWindow;
            }
        }
    }

    /// <summary>Always true: yamux streams are readable.</summary>
    public override bool CanRead => true;

    /// <summary>Always true: yamux streams are writable.</summary>
    public override bool CanWrite => true;

    /// <summary>Always false: yamux streams cannot seek.</summary>
    public override bool CanSeek => false;

    /// <summary>Not supported.</summary>
    public override long Length => throw new NotSupportedException();

    /// <summary>Not supported.</summary>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>The stream lifecycle as a Mermaid state diagram (committed as Yamux/StreamLifecycle.mmd).</summary>
    public static string LifecycleDiagram() => StreamLifecycle.MermaidGraph();

    /// <summary>Records that the host started multistream-select on the stream.</summary>
    public void MarkNegotiating() => Fire(YamuxStreamTrigger.NegotiationStarted);

    /// <summary>Records that the host finished multistream-select on the stream.</summary>
    public void MarkOpen() => Fire(YamuxStreamTrigger.NegotiationFinished);

    /// <summary>
    /// Hands every later incoming byte to <paramref name="target"/> on the session's read loop (bytes already buffered go
    /// first, from this call), opens the receive window to its maximum since the receiver consumes at once, and ends the
    /// stream's own reads. Call at most once, after protocol negotiation.
    /// </summary>
    public void AttachReceiver(IYamuxReceiver target)
    {
        ArgumentNullException.ThrowIfNull(target);
        lock (sync)
        {
            if (receiver is not null) throw new InvalidOperationException($"stream {Id} already has a receiver");
            receiver = target;
            while (received.Count > 0)
            {
                var segment = received.Dequeue();
                Feed(target, segment.Array.AsSpan(headOffset, segment.Length - headOffset));
                headOffset = 0;
                ArrayPool<byte>.Shared.Return(segment.Array);
            }

            tail = null;
            Uncharge(chargedBytes);
            bufferedBytes = 0;
            receiveWindow = windowMax;
            GrantWindowLocked();
            if (readFailure is not null || !lifecycle.RemoteCanWrite) EndReceiverLocked(readFailure);
        }
    }

    /// <summary>Sends FIN: we will write no more; reading continues until the peer's FIN.</summary>
    public Task CloseWriteAsync()
    {
        bool finished;
        lock (sync)
        {
            if (!lifecycle.CanWrite || writeFailure is not null)
            {
                return Task.CompletedTask;
            }

            session.TrySendControl(StampAck(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, Id, 0)));
            lifecycle.Fire(YamuxStreamTrigger.LocalFin);
            finished = lifecycle.IsTerminal;
            SignalLocked();
        }

        if (finished)
        {
            session.OnStreamFinished(this);
        }

        return Task.CompletedTask;
    }

    /// <summary>Sends RST and fails every pending and later read or write on this stream.</summary>
    public void Reset()
    {
        lock (sync)
        {
            if (lifecycle.IsTerminal)
            {
                return;
            }

            session.TrySendControl(StampAck(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, Id, 0)));
            var failure = new YamuxException(YamuxErrorKind.StreamReset, $"stream {Id} was reset locally");
            readFailure ??= failure;
            writeFailure ??= failure;
            lifecycle.Fire(YamuxStreamTrigger.LocalReset);
            ReleaseBuffersLocked();
            EndReceiverLocked(failure);
            SignalLocked();
        }

        session.OnStreamFinished(this);
    }

    /// <inheritdoc cref="Stream.Read(byte[], int, int)"/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Blocks until data, the peer's FIN (returns 0) or a reset (throws <see cref="YamuxException"/>).</summary>
    public override int Read(Span<byte> buffer)
    {
        lock (sync)
        {
            while (true)
            {
                if (TryReadLocked(buffer, out var read))
                {
                    return read;
                }

                Monitor.Wait(sync);
            }
        }
    }

    /// <inheritdoc cref="Stream.ReadAsync(byte[], int, int, CancellationToken)"/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Waits for data, the peer's FIN (returns 0) or a reset (throws <see cref="YamuxException"/>).</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task waiter;
            lock (sync)
            {
                if (TryReadLocked(buffer.Span, out var read))
                {
                    return read;
                }

                readSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiter = readSignal.Task;
            }

            await waiter.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="Stream.Write(byte[], int, int)"/>
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Sends the bytes, blocking while the send window is exhausted.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int chunk;
            lock (sync)
            {
                while (!TryReserveLocked(buffer.Length, out chunk))
                {
                    Monitor.Wait(sync);
                }
            }

            var payload = ArrayPool<byte>.Shared.Rent(chunk);
            buffer[..chunk].CopyTo(payload);
            session.AcquireDataSlot();
            EnqueueData(payload.AsMemory(0, chunk), payload);
            buffer = buffer[chunk..];
        }
    }

    /// <inheritdoc cref="Stream.WriteAsync(byte[], int, int, CancellationToken)"/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Sends the bytes, waiting while the send window is exhausted; never sends more than the window.</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int chunk;
            Task? waiter = null;
            lock (sync)
            {
                if (!TryReserveLocked(buffer.Length, out chunk))
                {
                    writeSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    waiter = writeSignal.Task;
                }
            }

            if (waiter is not null)
            {
                await waiter.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            var payload = ArrayPool<byte>.Shared.Rent(chunk);
            buffer.Span[..chunk].CopyTo(payload);
            try
            {
                await session.AcquireDataSlotAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(payload);
                lock (sync)
                {
                    sendWindow += chunk;
                }

                throw;
            }

            EnqueueData(payload.AsMemory(0, chunk), payload);
            buffer = buffer[chunk..];
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> like <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> but without
    /// copying it: the frames point at the caller's memory, which must stay unchanged until the session has written them
    /// (immutable block data does). Completes once every byte is queued to the session within the send window.
    /// </summary>
    public ValueTask WriteUncopiedAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        WriteUncopiedAsync(ReadOnlyMemory<byte>.Empty, data, cancellationToken);

    /// <summary>
    /// Sends <paramref name="head"/> (copied: it may be a scratch buffer) and then <paramref name="data"/> (not copied, as in
    /// <see cref="WriteUncopiedAsync(ReadOnlyMemory{byte}, CancellationToken)"/>), the head in the same Data frame as the
    /// start of the data when the window allows: a block and its message framing cost the receiver one frame.
    /// </summary>
    public async ValueTask WriteUncopiedAsync(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (!head.IsEmpty || !data.IsEmpty)
        {
            int chunk;
            Task? waiter = null;
            lock (sync)
            {
                if (!TryReserveLocked(head.Length + data.Length, YamuxSession.UncopiedFramePayloadMax, out chunk))
                {
                    writeSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    waiter = writeSignal.Task;
                }
            }

            if (waiter is not null)
            {
                await waiter.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                await session.AcquireDataSlotAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                lock (sync)
                {
                    sendWindow += chunk;
                }

                throw;
            }

            var copied = Math.Min(chunk, head.Length);
            byte[]? rented = null;
            var payload = ReadOnlyMemory<byte>.Empty;
            if (copied > 0)
            {
                rented = ArrayPool<byte>.Shared.Rent(copied);
                head.Span[..copied].CopyTo(rented);
                payload = rented.AsMemory(0, copied);
                head = head[copied..];
            }

            var tail = data[..(chunk - copied)];
            data = data[(chunk - copied)..];
            EnqueueData(payload, rented, tail);
        }
    }

    /// <summary>Nothing to do: the session's writer flushes after every batch.</summary>
    public override void Flush()
    {
    }

    /// <summary>Nothing to do: the session's writer flushes after every batch.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Not supported.</summary>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <summary>Not supported.</summary>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Sends FIN if we may still write, then releases the receive buffer.</summary>
    public override ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends FIN if we may still write, then releases the receive buffer; the stream is forgotten once the peer finishes too.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            bool finished;
            lock (sync)
            {
                if (disposed)
                {
                    return;
                }

                disposed = true;
                if (lifecycle.CanWrite && writeFailure is null)
                {
                    session.TrySendControl(StampAck(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, Id, 0)));
                    lifecycle.Fire(YamuxStreamTrigger.LocalFin);
                }

                readFailure ??= new YamuxException(YamuxErrorKind.StreamClosed, $"stream {Id} is disposed");
                writeFailure ??= readFailure;
                ReleaseBuffersLocked();
                EndReceiverLocked(readFailure);
                GrantWindowLocked();
                SignalLocked();
                finished = lifecycle.IsTerminal;
            }

            if (finished)
            {
                session.OnStreamFinished(this);
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Sends the ACK of an accepted inbound stream unless a frame already carried it.</summary>
    internal void AcknowledgeIfNeeded()
    {
        lock (sync)
        {
            if (needsAck && !lifecycle.IsTerminal)
            {
                session.TrySendControl(StampAck(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, Id, 0)));
            }
        }
    }

    internal void OnAcknowledged() => Fire(YamuxStreamTrigger.Acknowledged);

    /// <summary>
    /// The attached receiver, if any and still live, marked as in use by the read loop until <see cref="EndReceive"/>; the
    /// loop then reads payloads straight into it.
    /// </summary>
    internal IYamuxReceiver? BeginReceive()
    {
        lock (sync)
        {
            if (receiverEnded || receiver is null) return null;
            delivering = true;
            return receiver;
        }
    }

    /// <summary>After the read loop gave a Data frame's payload to the receiver: end it if that was asked meanwhile, and return the window to the peer.</summary>
    internal void EndReceive()
    {
        lock (sync)
        {
            delivering = false;
            if (endPending)
            {
                endPending = false;
                receiver!.OnEnded(pendingFailure);
                pendingFailure = null;
            }

            GrantWindowLocked();
        }
    }

    private static void Feed(IYamuxReceiver target, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var memory = target.GetReceiveMemory(bytes.Length);
            var n = Math.Min(memory.Length, bytes.Length);
            bytes[..n].CopyTo(memory.Span);
            target.OnReceived(n);
            bytes = bytes[n..];
        }
    }

    private void EndReceiverLocked(YamuxException? failure)
    {
        if (receiver is null || receiverEnded) return;
        receiverEnded = true;
        if (delivering)
        {
            endPending = true;
            pendingFailure = failure;
            return;
        }

        receiver.OnEnded(failure);
    }

    /// <summary>Charges an incoming Data frame to the receive window; exceeding it is a protocol error (js: ReceiveWindowExceededError).</summary>
    internal void ConsumeReceiveCredit(int length)
    {
        lock (sync)
        {
            if (length > receiveCredit)
            {
                throw new YamuxException(
                    YamuxErrorKind.ReceiveWindowExceeded,
                    $"stream {Id} received {length} bytes with only {receiveCredit} bytes of window left");
            }

            receiveCredit -= length;
        }
    }

    /// <summary>
    /// Takes ownership of a pooled payload from the read loop. The window already bounds the bytes; the arrays that hold
    /// them are charged to the peer, and a charge the peer's budget cannot take resets this stream only.
    /// </summary>
    internal void OnData(byte[] payload, int length)
    {
        ResetReason? refused;
        lock (sync)
        {
            if (disposed || readFailure is not null || !lifecycle.RemoteCanWrite)
            {
                // Nobody will read this; drop it but keep the peer's window open so it is not stuck.
                ArrayPool<byte>.Shared.Return(payload);
                GrantWindowLocked();
                return;
            }

            if (receiver is not null)
            {
                // The receiver was attached after the read loop chose the buffered path for this frame.
                if (!receiverEnded) Feed(receiver, payload.AsSpan(0, length));
                ArrayPool<byte>.Shared.Return(payload);
                GrantWindowLocked();
                return;
            }

            refused = BufferLocked(payload, length);
            if (refused is null)
            {
                bufferedBytes += length;
                SignalLocked();
            }
        }

        if (refused is { } reason)
        {
            session.Scope.Refused(reason, $"yamux stream {Id} would buffer more than the budget allows; stream reset");
            Reset();
        }
    }

    // Appends to the last segment when the frame fits, packs a small frame into a fresh shared segment, or keeps a large
    // payload as its own segment; null when the peer's budget took the new segment.
    private ResetReason? BufferLocked(byte[] payload, int length)
    {
        if (tail is { } last && last.Array.Length - last.Length >= length)
        {
            payload.AsSpan(0, length).CopyTo(last.Array.AsSpan(last.Length));
            last.Length += length;
            ArrayPool<byte>.Shared.Return(payload);
            return null;
        }

        var array = payload;
        if (length < PackedSegmentBytes && payload.Length < PackedSegmentBytes)
        {
            array = ArrayPool<byte>.Shared.Rent(PackedSegmentBytes);
            payload.AsSpan(0, length).CopyTo(array);
            ArrayPool<byte>.Shared.Return(payload);
        }

        if (session.Scope.TryReserve(array.Length) is { } refused)
        {
            ArrayPool<byte>.Shared.Return(array);
            return refused;
        }

        chargedBytes += array.Length;
        tail = new Segment(array, length);
        received.Enqueue(tail);
        return null;
    }

    private void Uncharge(long bytes)
    {
        if (bytes == 0) return;
        chargedBytes -= bytes;
        session.Scope.Release(bytes);
    }

    internal void OnWindowUpdate(uint delta)
    {
        lock (sync)
        {
            sendWindow += delta;
            SignalLocked();
        }
    }

    internal void OnRemoteFin()
    {
        bool finished;
        lock (sync)
        {
            lifecycle.Fire(YamuxStreamTrigger.RemoteFin);
            finished = lifecycle.IsTerminal;
            EndReceiverLocked(null);
            SignalLocked();
        }

        if (finished)
        {
            session.OnStreamFinished(this);
        }
    }

    internal void OnRemoteReset()
    {
        lock (sync)
        {
            var failure = new YamuxException(YamuxErrorKind.StreamReset, $"stream {Id} was reset by the peer");
            readFailure ??= failure;
            writeFailure ??= failure;
            lifecycle.Fire(YamuxStreamTrigger.RemoteReset);
            ReleaseBuffersLocked();
            EndReceiverLocked(failure);
            SignalLocked();
        }

        session.OnStreamFinished(this);
    }

    /// <summary>The session died: writes fail; reads still drain data the peer finished sending, otherwise they fail too.</summary>
    internal void OnSessionEnded(YamuxException reason)
    {
        lock (sync)
        {
            var failure = new YamuxException(YamuxErrorKind.SessionClosed, $"the session ended: {reason.Message}", reason);
            writeFailure ??= failure;
            if (lifecycle.RemoteCanWrite)
            {
                readFailure ??= failure;
                ReleaseBuffersLocked();
            }

            lifecycle.Fire(YamuxStreamTrigger.LocalReset);
            EndReceiverLocked(failure);
            SignalLocked();
        }
    }

    private void Fire(YamuxStreamTrigger trigger)
    {
        lock (sync)
        {
            lifecycle.Fire(trigger);
        }
    }

    private YamuxFrameHeader StampAck(YamuxFrameHeader header)
    {
        if (!needsAck)
        {
            return header;
        }

        needsAck = false;
        lifecycle.Fire(YamuxStreamTrigger.Acknowledged);
        return header with { Flags = header.Flags | YamuxFrameFlags.Ack };
    }

    private bool TryReadLocked(Span<byte> destination, out int read)
    {
        read = 0;
        if (destination.IsEmpty)
        {
            return true;
        }

        if (bufferedBytes > 0)
        {
            while (read < destination.Length && received.Count > 0)
            {
                var segment = received.Peek();
                var n = Math.Min(segment.Length - headOffset, destination.Length - read);
                segment.Array.AsSpan(headOffset, n).CopyTo(destination[read..]);
                read += n;
                headOffset += n;
                if (headOffset == segment.Length)
                {
                    received.Dequeue();
                    if (ReferenceEquals(segment, tail)) tail = null;
                    headOffset = 0;
                    Uncharge(segment.Array.Length);
                    ArrayPool<byte>.Shared.Return(segment.Array);
                }
            }

            bufferedBytes -= read;
            GrantWindowLocked();
            return true;
        }

        if (readFailure is not null)
        {
            throw readFailure;
        }

        // Remote FIN (or both FINs): end of stream once the buffer is drained.
        return !lifecycle.RemoteCanWrite;
    }

    /// <summary>
    /// Returns consumed window to the peer once at least half the window can be granted (go-yamux), doubling the window when
    /// the previous update was less than 4 RTTs ago (go-yamux and js-libp2p-yamux auto-tuning), up to the configured maximum.
    /// </summary>
    private void GrantWindowLocked()
    {
        if (!lifecycle.RemoteCanWrite)
        {
            return;
        }

        var grantable = receiveWindow - receiveCredit - bufferedBytes;
        if (grantable < receiveWindow / 2)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        var rtt = session.RttStopwatchTicks;
        if (rtt > 0 && now - epochStart < 4 * rtt && receiveWindow < windowMax)
        {
            receiveWindow = (int)Math.Min((long)receiveWindow * 2, windowMax);
            grantable = receiveWindow - receiveCredit - bufferedBytes;
        }

        epochStart = now;
        if (session.TrySendControl(StampAck(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, Id, (uint)grantable))))
        {
            receiveCredit += grantable;
        }
    }

    /// <summary>Reserves up to one frame of send window; false when the window is exhausted (throws when writing is over).</summary>
    private bool TryReserveLocked(int wanted, out int chunk) => TryReserveLocked(wanted, YamuxSession.DataFramePayloadMax, out chunk);

    /// <summary>Reserves up to <paramref name="frameMax"/> bytes of send window; false when the window is exhausted.</summary>
    private bool TryReserveLocked(int wanted, int frameMax, out int chunk)
    {
        chunk = 0;
        if (writeFailure is not null)
        {
            throw writeFailure;
        }

        if (!lifecycle.CanWrite)
        {
            throw new YamuxException(YamuxErrorKind.StreamClosed, $"stream {Id} is closed for writing");
        }

        if (sendWindow <= 0)
        {
            return false;
        }

        chunk = (int)Math.Min(Math.Min(wanted, sendWindow), frameMax);
        sendWindow -= chunk;
        return true;
    }

    /// <summary>Queues a Data frame whose window and data slot are already reserved; <paramref name="rented"/> goes back to the pool after writing.</summary>
    private void EnqueueData(ReadOnlyMemory<byte> payload, byte[]? rented, ReadOnlyMemory<byte> tail = default)
    {
        YamuxException? failure;
        lock (sync)
        {
            failure = writeFailure ?? (lifecycle.CanWrite ? null : new YamuxException(YamuxErrorKind.StreamClosed, $"stream {Id} is closed for writing"));
            if (failure is null)
            {
                var header = StampAck(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, Id, (uint)(payload.Length + tail.Length)));
                if (session.TryEnqueueData(header, payload, rented, tail))
                {
                    return;
                }

                failure = new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
            }
        }

        session.ReleaseDataSlot();
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        throw failure;
    }

    private void ReleaseBuffersLocked()
    {
        while (received.Count > 0)
        {
            ArrayPool<byte>.Shared.Return(received.Dequeue().Array);
        }

        tail = null;
        Uncharge(chargedBytes);
        headOffset = 0;
        bufferedBytes = 0;
    }

    // A run of unread bytes; the tail segment grows while small frames are packed into it.
    private sealed class Segment(byte[] array, int length)
    {
        public byte[] Array { get; } = array;

        public int Length { get; set; } = length;
    }

    private void SignalLocked()
    {
        Monitor.PulseAll(sync);
        readSignal?.TrySetResult();
        readSignal = null;
        writeSignal?.TrySetResult();
        writeSignal = null;
    }
}
