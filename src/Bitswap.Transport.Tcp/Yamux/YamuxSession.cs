using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Bitswap.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>
/// A frame waiting for the writer loop. <paramref name="Payload"/> is sent as is; when <paramref name="Rented"/> is set the
/// payload lives in that pooled array, returned after writing, else it is the writer's own memory (a block's Data), which
/// is encrypted straight from where it is.
/// </summary>
internal readonly record struct OutboundFrame(YamuxFrameHeader Header, ReadOnlyMemory<byte> Payload, byte[]? Rented, bool HoldsDataSlot)
{
    /// <summary>Payload bytes after <see cref="Payload"/>, sent from the caller's memory without a copy.</summary>
    public ReadOnlyMemory<byte> Tail { get; init; }
}

/// <summary>
/// One yamux session over a duplex transport (libp2p/specs yamux/README.md; behaviour of js-libp2p-yamux and go-yamux, see
/// libp2p-reference.md §6). A read loop parses frames and routes them to streams; a single writer loop drains a bounded
/// channel and batches frames into few transport writes.
/// </summary>
public sealed class YamuxSession : IAsyncDisposable
{
    /// <summary>
    /// Largest Data frame payload we send: one Noise frame's plaintext (65535 − 16), just under js-libp2p-yamux's 64 KiB
    /// maxMessageSize, so a frame costs one header frame and one payload frame to encrypt.
    /// </summary>
    internal const int DataFramePayloadMax = Noise.NoiseFrames.PlaintextBytesMax;

    /// <summary>
    /// Largest Data frame payload we send from the caller's memory (no copy, so the frame costs no buffer): one 1 MiB
    /// block and its few bytes of message framing. js-libp2p-yamux answers every Data frame with a window update and
    /// sends frames as large as its send window itself, so a block cut into 64 KiB frames cost it four or more times the
    /// updates (socket writes) of a block from a Helia server; go-yamux and js-libp2p-yamux accept any frame within the window.
    /// </summary>
    internal const int UncopiedFramePayloadMax = (1 << 20) + 4096;

    // Data frames, stream openings and ping requests wait for one of these slots, which is what back-pressures writers.
    // Control frames share the same FIFO (a FIN must never overtake its stream's data), so the slot count also bounds how
    // much data can sit ahead of a pong: 16 frames, each at most 64 KiB of rented copies or one block in its own memory
    // (<see cref="UncopiedFramePayloadMax"/>), and never more than the streams' send windows allow.
    private const int DataSlotCount = 16;

    // Frames queued without waiting (window updates, ACK, FIN, RST, pongs). A peer that keeps provoking them while never
    // reading what we write would grow this queue, so past the cap the session ends.
    private const int ControlFramesMax = 8192;

    private const int PingsInFlightMax = 16;
    private const int ReadBufferBytes = 64 * 1024;
    // One writer batch: frames until this much payload is gathered (the Noise layer cuts ~256 KiB socket writes), and
    // at most this many frames, whose headers share one scratch buffer.
    private const int WriteBatchBytes = 256 * 1024;
    private const int WriteBatchFramesMax = 512;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly Stream transport;
    private readonly bool isClient;

    // A Noise channel buffers and decrypts whole frames itself: read from it exactly what is needed, so a Data frame's
    // payload is decrypted straight into its destination instead of through our read buffer.
    private readonly bool transportBuffers;
    private readonly Host.TcpHostOptions limits;
    private readonly ILogger logger;
    private readonly object gate = new();
    private readonly Dictionary<uint, YamuxStream> streams = [];
    private readonly Dictionary<uint, PendingPing> pings = [];
    private readonly Channel<OutboundFrame> outbound;
    private readonly SemaphoreSlim dataSlots = new(DataSlotCount, DataSlotCount);
    private readonly Channel<YamuxStream> acceptQueue;
    private readonly CancellationTokenSource lifetime = new();
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] headerBuffer = new byte[YamuxFrameHeader.Size];
    // Only a transport that does not buffer itself is read through this; over Noise it stays empty, saving 64 KiB a connection.
    private readonly byte[] readBuffer;
    private int readStart;
    private int readEnd;
    private int pendingControlFrames;
    private uint nextStreamId;
    private uint nextPingId;
    private int inboundCount;
    private int outboundCount;
    private bool started;
    private bool closed;
    private bool localGoAway;
    private bool remoteGoAway;
    private long rttStopwatchTicks;
    private Task readLoop = Task.CompletedTask;
    private Task writeLoop = Task.CompletedTask;
    private Task keepAliveLoop = Task.CompletedTask;
    private Task? shutdown;

    /// <summary>Creates a session; call <see cref="Start"/> to run it.</summary>
    /// <param name="transport">The duplex byte stream (the Noise channel in production); the session owns and disposes it.</param>
    /// <param name="isClient">True for the connection's dialer, which uses odd stream IDs.</param>
    /// <param name="limits">Stream counts, windows and keepalive timing (the yamux part of the host options).</param>
    /// <param name="logger">Diagnostics sink.</param>
    /// <param name="scope">The remote peer's memory account, charged for the data streams buffer; null accounts nothing.</param>
    public YamuxSession(Stream transport, bool isClient, Host.TcpHostOptions limits, ILogger? logger = null, Host.PeerScope? scope = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(limits);
        this.transport = transport;
        this.isClient = isClient;
        transportBuffers = transport is Noise.NoiseStream;
        readBuffer = transportBuffers ? [] : new byte[ReadBufferBytes];
        this.limits = limits;
        this.logger = logger ?? NullLogger.Instance;
        Scope = scope ?? Host.PeerScope.Unlimited;
        nextStreamId = isClient ? 1u : 2u;
        outbound = Channel.CreateBounded<OutboundFrame>(new BoundedChannelOptions(DataSlotCount + ControlFramesMax + 1)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        acceptQueue = Channel.CreateBounded<YamuxStream>(new BoundedChannelOptions(Math.Max(1, limits.InboundStreamsPerConnectionMax))
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Completes when the session is dead: successfully after a clean close, faulted with a <see cref="YamuxException"/> otherwise.</summary>
    public Task Completion => completion.Task;

    /// <summary>Whether the session has ended or is ending.</summary>
    public bool IsClosed
    {
        get
        {
            lock (gate)
            {
                return closed;
            }
        }
    }

    /// <summary>Streams the session still tracks (open, half-closed, or waiting to be accepted).</summary>
    public int ActiveStreams
    {
        get
        {
            lock (gate)
            {
                return streams.Count;
            }
        }
    }

    /// <summary>Whether this side dialed the connection (odd stream IDs).</summary>
    public bool IsClient => isClient;

    /// <summary>The last round-trip time measured by a ping, or zero before the first pong.</summary>
    public TimeSpan RoundTripTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref rttStopwatchTicks));

    internal Host.TcpHostOptions Limits => limits;

    /// <summary>The remote peer's memory account.</summary>
    internal Host.PeerScope Scope { get; }

    internal long RttStopwatchTicks => Volatile.Read(ref rttStopwatchTicks);

    /// <summary>Starts the read loop, the write loop and the keepalive pings.</summary>
    public void Start()
    {
        lock (gate)
        {
            if (started)
            {
                throw new InvalidOperationException("The yamux session is already started.");
            }

            started = true;
        }

        writeLoop = WriteLoopAsync();
        readLoop = ReadLoopAsync();
        keepAliveLoop = limits.YamuxKeepAliveIntervalMs > 0 ? KeepAliveLoopAsync() : Task.CompletedTask;
    }

    /// <summary>Opens an outbound stream (WindowUpdate|SYN); data may be written at once, before the peer's ACK.</summary>
    public async ValueTask<YamuxStream> OpenStreamAsync(CancellationToken ct)
    {
        await dataSlots.WaitAsync(ct).ConfigureAwait(false);
        YamuxException? refusal = null;
        YamuxStream? stream = null;
        lock (gate)
        {
            if (closed || localGoAway)
            {
                refusal = new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
            }
            else if (remoteGoAway)
            {
                refusal = new YamuxException(YamuxErrorKind.GoAwayReceived, "the peer sent GoAway; no new streams");
            }
            else if (outboundCount >= limits.OutboundStreamsPerConnectionMax)
            {
                refusal = new YamuxException(YamuxErrorKind.LimitReached, $"{outboundCount} outbound streams already open");
            }
            else if (nextStreamId > uint.MaxValue - 2)
            {
                refusal = new YamuxException(YamuxErrorKind.LimitReached, "stream IDs exhausted");
            }
            else
            {
                stream = new YamuxStream(this, nextStreamId, isInbound: false);
                var syn = new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, nextStreamId, 0);
                if (outbound.Writer.TryWrite(new OutboundFrame(syn, ReadOnlyMemory<byte>.Empty, null, HoldsDataSlot: true)))
                {
                    streams[nextStreamId] = stream;
                    outboundCount++;
                    nextStreamId += 2;
                }
                else
                {
                    refusal = new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
                }
            }
        }

        if (refusal is not null)
        {
            dataSlots.Release();
            throw refusal;
        }

        return stream!;
    }

    /// <summary>Waits for the next inbound stream and acknowledges it; throws <see cref="YamuxException"/> once the session ends.</summary>
    public async ValueTask<YamuxStream> AcceptStreamAsync(CancellationToken ct)
    {
        YamuxStream stream;
        try
        {
            stream = await acceptQueue.Reader.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw e.InnerException as YamuxException ?? new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed", e);
        }

        stream.AcknowledgeIfNeeded();
        return stream;
    }

    /// <summary>Sends a ping and returns the round-trip time.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken ct)
    {
        var pending = new PendingPing(new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously));
        uint id;
        lock (gate)
        {
            if (closed)
            {
                throw new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
            }

            if (pings.Count >= PingsInFlightMax)
            {
                throw new YamuxException(YamuxErrorKind.LimitReached, $"{pings.Count} pings already in flight");
            }

            id = nextPingId++;
            pings[id] = pending;
        }

        try
        {
            await dataSlots.WaitAsync(ct).ConfigureAwait(false);
            pending.SentAt = Stopwatch.GetTimestamp();
            var ping = new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, id);
            if (!outbound.Writer.TryWrite(new OutboundFrame(ping, ReadOnlyMemory<byte>.Empty, null, HoldsDataSlot: true)))
            {
                dataSlots.Release();
                throw new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
            }

            return await pending.Reply.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            lock (gate)
            {
                pings.Remove(id);
            }
        }
    }

    /// <summary>Sends GoAway(normal), flushes what is queued, closes the transport and resets the remaining streams.</summary>
    public async Task CloseAsync()
    {
        lock (gate)
        {
            if (!closed && !localGoAway)
            {
                localGoAway = true;
                EnqueueUnchecked(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.Normal));
            }
        }

        Terminate(null);
        try
        {
            await completion.Task.ConfigureAwait(false);
        }
        catch (YamuxException)
        {
            // The session had already failed; closing it again is not an error.
        }
    }

    /// <summary>Same as <see cref="CloseAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        if (shutdown is not null)
        {
            await shutdown.ConfigureAwait(false);
        }

        lifetime.Dispose();
    }

    internal ValueTask AcquireDataSlotAsync(CancellationToken ct) => new(dataSlots.WaitAsync(ct));

    internal void AcquireDataSlot() => dataSlots.Wait(CancellationToken.None);

    internal void ReleaseDataSlot() => dataSlots.Release();

    /// <summary>Queues a Data frame that holds a data slot; false if the session is closed (the caller keeps the slot and buffer).</summary>
    internal bool TryEnqueueData(YamuxFrameHeader header, ReadOnlyMemory<byte> payload, byte[]? rented, ReadOnlyMemory<byte> tail = default) =>
        outbound.Writer.TryWrite(new OutboundFrame(header, payload, rented, HoldsDataSlot: true) { Tail = tail });

    /// <summary>Queues a frame without waiting; ends the session if the peer has let too many control frames pile up.</summary>
    internal bool TrySendControl(YamuxFrameHeader header)
    {
        if (Interlocked.Increment(ref pendingControlFrames) > ControlFramesMax)
        {
            Interlocked.Decrement(ref pendingControlFrames);
            Terminate(new YamuxException(YamuxErrorKind.LimitReached, "control frames pile up: the peer is not reading"));
            return false;
        }

        if (!outbound.Writer.TryWrite(new OutboundFrame(header, ReadOnlyMemory<byte>.Empty, null, HoldsDataSlot: false)))
        {
            Interlocked.Decrement(ref pendingControlFrames);
            return false;
        }

        return true;
    }

    /// <summary>Forgets a stream that reached Closed or Reset.</summary>
    internal void OnStreamFinished(YamuxStream stream)
    {
        lock (gate)
        {
            if (streams.TryGetValue(stream.Id, out var known) && ReferenceEquals(known, stream))
            {
                streams.Remove(stream.Id);
                if (stream.IsInbound)
                {
                    inboundCount--;
                }
                else
                {
                    outboundCount--;
                }
            }
        }
    }

    // The GoAway that ends a session may exceed the control cap; the channel keeps one spare slot for it.
    private void EnqueueUnchecked(YamuxFrameHeader header)
    {
        Interlocked.Increment(ref pendingControlFrames);
        if (!outbound.Writer.TryWrite(new OutboundFrame(header, ReadOnlyMemory<byte>.Empty, null, HoldsDataSlot: false)))
        {
            Interlocked.Decrement(ref pendingControlFrames);
        }
    }

    private bool IsOwnParity(uint streamId) => (streamId % 2 == 1) == isClient;

    private static YamuxException Protocol(string message) => new(YamuxErrorKind.ProtocolError, message);

    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        var ct = lifetime.Token;
        try
        {
            while (true)
            {
                var got = await ReadFullyAsync(headerBuffer, ct).ConfigureAwait(false);
                if (got == 0)
                {
                    LogEnded(logger, "remote closed the transport", null);
                    Terminate(null);
                    return;
                }

                if (got < YamuxFrameHeader.Size)
                {
                    throw Protocol("transport ended inside a frame header");
                }

                await HandleFrameAsync(YamuxFrameHeader.Read(headerBuffer), ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The session is shutting down.
        }
        catch (YamuxException e)
        {
            Terminate(e);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            Terminate(IsClosed ? null : new YamuxException(YamuxErrorKind.TransportFailed, "reading the transport failed", e));
        }
        catch (Exception e)
        {
            // Whatever goes wrong must end this session, never escape the loop.
            Terminate(new YamuxException(YamuxErrorKind.TransportFailed, "the read loop failed", e));
        }
    }

    private ValueTask HandleFrameAsync(YamuxFrameHeader header, CancellationToken ct)
    {
        if (header.Version != YamuxFrameHeader.CurrentVersion)
        {
            throw Protocol($"unsupported version {header.Version}");
        }

        switch (header.Type)
        {
            case YamuxFrameType.Data:
            case YamuxFrameType.WindowUpdate:
                return HandleStreamFrameAsync(header, ct);
            case YamuxFrameType.Ping:
                HandlePing(header);
                return ValueTask.CompletedTask;
            case YamuxFrameType.GoAway:
                HandleGoAway(header);
                return ValueTask.CompletedTask;
            default:
                throw Protocol($"unknown frame type {(byte)header.Type}");
        }
    }

    private async ValueTask HandleStreamFrameAsync(YamuxFrameHeader header, CancellationToken ct)
    {
        if (header.StreamId == 0)
        {
            throw Protocol($"{header.Type} frame on the session stream 0");
        }

        var isData = header.Type == YamuxFrameType.Data;
        if (isData && header.Length > (uint)limits.YamuxWindowBytesMax)
        {
            throw new YamuxException(YamuxErrorKind.ReceiveWindowExceeded, $"data frame of {header.Length} bytes exceeds any window");
        }

        YamuxStream? stream;
        if (header.Has(YamuxFrameFlags.Syn))
        {
            stream = AcceptInbound(header.StreamId);
        }
        else
        {
            lock (gate)
            {
                streams.TryGetValue(header.StreamId, out stream);
            }
        }

        if (stream is null)
        {
            // Unknown, closed or refused stream: the frame is ignored, but its payload must still be consumed.
            if (isData)
            {
                await SkipAsync(header.Length, ct).ConfigureAwait(false);
            }

            return;
        }

        if (header.Has(YamuxFrameFlags.Ack))
        {
            stream.OnAcknowledged();
        }

        if (isData)
        {
            if (header.Length > 0)
            {
                var length = (int)header.Length;
                stream.ConsumeReceiveCredit(length);
                if (stream.BeginReceive() is { } receiver)
                {
                    // Straight into the receiver's memory: no copy through the stream buffer, no hop to a reader task.
                    try
                    {
                        var left = length;
                        while (left > 0)
                        {
                            var memory = receiver.GetReceiveMemory(left);
                            if (await ReadFullyAsync(memory, ct).ConfigureAwait(false) < memory.Length)
                            {
                                throw Protocol("transport ended inside a data frame");
                            }

                            receiver.OnReceived(memory.Length);
                            left -= memory.Length;
                        }
                    }
                    finally
                    {
                        stream.EndReceive();
                    }

                    await receiver.ReadyAsync().ConfigureAwait(false);
                }
                else
                {
                    var payload = ArrayPool<byte>.Shared.Rent(length);
                    try
                    {
                        if (await ReadFullyAsync(payload.AsMemory(0, length), ct).ConfigureAwait(false) < length)
                        {
                            throw Protocol("transport ended inside a data frame");
                        }
                    }
                    catch
                    {
                        ArrayPool<byte>.Shared.Return(payload);
                        throw;
                    }

                    stream.OnData(payload, length);
                }
            }
        }
        else if (!header.Has(YamuxFrameFlags.Rst))
        {
            // An RST's length may carry go-yamux's error code; it is never a window delta.
            stream.OnWindowUpdate(header.Length);
        }

        if (header.Has(YamuxFrameFlags.Fin))
        {
            stream.OnRemoteFin();
        }

        if (header.Has(YamuxFrameFlags.Rst))
        {
            stream.OnRemoteReset();
        }
    }

    private YamuxStream? AcceptInbound(uint streamId)
    {
        if (IsOwnParity(streamId))
        {
            throw Protocol($"SYN for stream {streamId} has our own parity (both endpoints are {(isClient ? "clients" : "servers")})");
        }

        bool refuse;
        lock (gate)
        {
            if (closed)
            {
                return null;
            }

            if (streams.ContainsKey(streamId))
            {
                throw Protocol($"duplicate SYN for stream {streamId}");
            }

            refuse = localGoAway || inboundCount >= limits.InboundStreamsPerConnectionMax;
            if (!refuse)
            {
                var stream = new YamuxStream(this, streamId, isInbound: true);
                if (acceptQueue.Writer.TryWrite(stream))
                {
                    streams[streamId] = stream;
                    inboundCount++;
                    return stream;
                }

                refuse = true;
            }
        }

        LogRefused(logger, streamId, null);
        TrySendControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, streamId, 0));
        return null;
    }

    private void HandlePing(YamuxFrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw Protocol($"ping on stream {header.StreamId}");
        }

        if (header.Flags == YamuxFrameFlags.Syn)
        {
            TrySendControl(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Ack, 0, header.Length));
        }
        else if (header.Flags == YamuxFrameFlags.Ack)
        {
            PendingPing? pending;
            lock (gate)
            {
                pings.Remove(header.Length, out pending);
            }

            if (pending is not null)
            {
                var rtt = Stopwatch.GetTimestamp() - pending.SentAt;
                Volatile.Write(ref rttStopwatchTicks, Math.Max(1, rtt));
                pending.Reply.TrySetResult(Stopwatch.GetElapsedTime(0, rtt));
            }
        }
        else
        {
            throw Protocol($"ping with flags {header.Flags}");
        }
    }

    private void HandleGoAway(YamuxFrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw Protocol($"GoAway on stream {header.StreamId}");
        }

        lock (gate)
        {
            remoteGoAway = true;
        }

        if (header.Length != (uint)YamuxGoAwayCode.Normal)
        {
            throw new YamuxException(YamuxErrorKind.RemoteError, $"the peer sent GoAway with code {header.Length}");
        }

        LogGoAway(logger, null);
    }

    private async ValueTask SkipAsync(uint length, CancellationToken ct)
    {
        var scratch = ArrayPool<byte>.Shared.Rent((int)Math.Min(length, ReadBufferBytes));
        try
        {
            var left = (long)length;
            while (left > 0)
            {
                var chunk = (int)Math.Min(left, scratch.Length);
                if (await ReadFullyAsync(scratch.AsMemory(0, chunk), ct).ConfigureAwait(false) < chunk)
                {
                    throw Protocol("transport ended inside a data frame");
                }

                left -= chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Fills <paramref name="destination"/>; returns fewer bytes only when the transport ended.</summary>
    private async ValueTask<int> ReadFullyAsync(Memory<byte> destination, CancellationToken ct)
    {
        var total = 0;
        while (total < destination.Length)
        {
            if (readStart < readEnd)
            {
                var n = Math.Min(readEnd - readStart, destination.Length - total);
                readBuffer.AsSpan(readStart, n).CopyTo(destination.Span[total..]);
                readStart += n;
                total += n;
                continue;
            }

            if (transportBuffers || destination.Length - total >= ReadBufferBytes)
            {
                var direct = await transport.ReadAsync(destination[total..], ct).ConfigureAwait(false);
                if (direct == 0)
                {
                    return total;
                }

                total += direct;
                continue;
            }

            var filled = await transport.ReadAsync(readBuffer, ct).ConfigureAwait(false);
            if (filled == 0)
            {
                return total;
            }

            readStart = 0;
            readEnd = filled;
        }

        return total;
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        var ct = lifetime.Token;
        var reader = outbound.Reader;
        var gather = transport as Noise.IGatherWriter;
        var headers = ArrayPool<byte>.Shared.Rent(WriteBatchFramesMax * YamuxFrameHeader.Size);
        var joined = gather is null ? ArrayPool<byte>.Shared.Rent(WriteBatchBytes + DataFramePayloadMax + YamuxFrameHeader.Size) : null;
        var segments = new List<ReadOnlyMemory<byte>>(2 * WriteBatchFramesMax);
        var taken = new List<OutboundFrame>(WriteBatchFramesMax);
        try
        {
            while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                var payloadBytes = 0;
                while (taken.Count < WriteBatchFramesMax && payloadBytes < WriteBatchBytes && reader.TryRead(out var frame))
                {
                    taken.Add(frame);
                    var header = headers.AsMemory(YamuxFrameHeader.Size * (taken.Count - 1), YamuxFrameHeader.Size);
                    frame.Header.WriteTo(header.Span);
                    segments.Add(header);
                    if (!frame.Payload.IsEmpty)
                    {
                        segments.Add(frame.Payload);
                        payloadBytes += frame.Payload.Length;
                    }

                    if (!frame.Tail.IsEmpty)
                    {
                        segments.Add(frame.Tail);
                        payloadBytes += frame.Tail.Length;
                    }
                }

                try
                {
                    if (gather is not null)
                    {
                        await gather.WriteGatherAsync(segments, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        var used = 0;
                        foreach (var segment in segments)
                        {
                            if (used + segment.Length > joined!.Length)
                            {
                                // A frame from the caller's memory can be larger than the join buffer: written as it is.
                                await transport.WriteAsync(joined.AsMemory(0, used), ct).ConfigureAwait(false);
                                used = 0;
                                if (segment.Length > joined.Length)
                                {
                                    await transport.WriteAsync(segment, ct).ConfigureAwait(false);
                                    continue;
                                }
                            }

                            segment.Span.CopyTo(joined.AsSpan(used));
                            used += segment.Length;
                        }

                        if (used > 0) await transport.WriteAsync(joined.AsMemory(0, used), ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    foreach (var frame in taken)
                    {
                        Release(frame);
                    }

                    taken.Clear();
                    segments.Clear();
                }

                if (!reader.TryPeek(out _))
                {
                    await transport.FlushAsync(ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutdown gave up waiting for the transport.
        }
        catch (Exception e)
        {
            // A failed write ends the session; it must not escape the loop.
            Terminate(new YamuxException(YamuxErrorKind.TransportFailed, "writing the transport failed", e));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(headers);
            if (joined is not null)
            {
                ArrayPool<byte>.Shared.Return(joined);
            }

            outbound.Writer.TryComplete();
            while (reader.TryRead(out var frame))
            {
                Release(frame);
            }
        }
    }

    private void Release(OutboundFrame frame)
    {
        if (frame.Rented is not null)
        {
            ArrayPool<byte>.Shared.Return(frame.Rented);
        }

        if (frame.HoldsDataSlot)
        {
            dataSlots.Release();
        }
        else
        {
            Interlocked.Decrement(ref pendingControlFrames);
        }
    }

    private async Task KeepAliveLoopAsync()
    {
        // Like js-libp2p-yamux, ping once at start to learn the RTT (it drives window auto-tuning), then every interval.
        var ct = lifetime.Token;
        var interval = TimeSpan.FromMilliseconds(limits.YamuxKeepAliveIntervalMs);
        var timeout = TimeSpan.FromMilliseconds(Math.Max(1, limits.YamuxPingTimeoutMs));
        try
        {
            await Task.Yield();
            while (!ct.IsCancellationRequested)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(timeout);
                try
                {
                    await PingAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Terminate(new YamuxException(YamuxErrorKind.KeepAliveTimeout, $"no pong within {timeout.TotalMilliseconds} ms"));
                    return;
                }

                await Task.Delay(interval, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The session is shutting down.
        }
        catch (YamuxException)
        {
            // The session ended while a ping was in flight.
        }
    }

    /// <summary>Ends the session once: GoAway(1) for a protocol error, then drain the writer, reset streams, close the transport.</summary>
    private void Terminate(YamuxException? error)
    {
        List<YamuxStream> victims;
        List<PendingPing> pending;
        lock (gate)
        {
            if (closed)
            {
                return;
            }

            closed = true;
            if (error is not null && error.IsProtocolError && !localGoAway)
            {
                localGoAway = true;
                EnqueueUnchecked(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError));
            }

            outbound.Writer.TryComplete();
            victims = [.. streams.Values];
            streams.Clear();
            inboundCount = 0;
            outboundCount = 0;
            pending = [.. pings.Values];
            pings.Clear();
        }

        if (error is not null)
        {
            LogEnded(logger, error.Message, error);
        }

        var reason = error ?? new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed");
        acceptQueue.Writer.TryComplete(reason);
        foreach (var stream in victims)
        {
            stream.OnSessionEnded(reason);
        }

        foreach (var ping in pending)
        {
            ping.Reply.TrySetException(reason);
        }

        shutdown = FinishAsync(error);
    }

    private async Task FinishAsync(YamuxException? error)
    {
        try
        {
            await writeLoop.WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The peer stopped reading; cancelling below unblocks the writer.
        }

        await lifetime.CancelAsync().ConfigureAwait(false);
        try
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The transport was already broken.
        }

        await Task.WhenAll(writeLoop, readLoop, keepAliveLoop).ConfigureAwait(false);
        while (outbound.Reader.TryRead(out var frame))
        {
            Release(frame);
        }

        while (acceptQueue.Reader.TryRead(out var unaccepted))
        {
            // Nobody will accept it now: whatever it buffered (even after the peer's FIN) goes back to the peer's budget.
            unaccepted.OnSessionEnded(error ?? new YamuxException(YamuxErrorKind.SessionClosed, "the session is closed"));
            unaccepted.Dispose();
        }

        if (error is null)
        {
            completion.TrySetResult();
        }
        else
        {
            completion.TrySetException(error);
        }
    }

    private static readonly Action<ILogger, string, Exception?> LogEnded =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(1, "YamuxSessionEnded"), "yamux session ended: {Reason}");

    private static readonly Action<ILogger, uint, Exception?> LogRefused =
        LoggerMessage.Define<uint>(LogLevel.Debug, new EventId(2, "YamuxStreamRefused"), "yamux refused inbound stream {StreamId}");

    private static readonly Action<ILogger, Exception?> LogGoAway =
        LoggerMessage.Define(LogLevel.Debug, new EventId(3, "YamuxGoAway"), "yamux peer sent GoAway(normal)");

    private sealed class PendingPing(TaskCompletionSource<TimeSpan> reply)
    {
        public TaskCompletionSource<TimeSpan> Reply { get; } = reply;

        public long SentAt { get; set; }
    }
}
