using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Multistream;
using Bitswap.Transport.Tcp.Yamux;
using Microsoft.Extensions.Logging;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// The outgoing Bitswap side of one connection, as boxo's MessageSender: one long-lived stream, opened on the first send
/// and reused for every message, reopened when it dies or has idled long enough that the peer may have dropped it.
/// <see cref="EnqueueAsync"/> returns once the message is in a send queue bounded in bytes; one pump encodes each message
/// (framing into a small pooled buffer, block data never copied) and hands it to the muxer.
/// </summary>
internal sealed class BitswapSender : IAsyncDisposable
{
    // Segments up to this size are copied into their own Yamux frame; larger block data is sent from its own memory.
    private const int CopiedSegmentBytesMax = 2048;

    // Memory a queued message holds per entry, presence or block beyond its encoded bytes: a map node, a Cid, its
    // Multihash and digest array (dotnet-gcdump of a node flooded with DONT_HAVE answers: about 200 B each, where the
    // encoding takes about 40 B).
    private const int HeldBytesPerEntry = 200;

    // How long closing waits for queued messages to reach the muxer (the Yamux session drains its writer for as long).
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly YamuxSession _session;
    private readonly PeerId _peer;
    private readonly PeerScope _scope;
    private readonly TcpHostOptions _options;
    private readonly ILogger _logger;
    private readonly Func<PeerId, (ProtocolVersion? Version, bool Listed)> _versionOf;
    private readonly Action<PeerId, ProtocolVersion> _negotiated;
    private readonly Action<Task> _track;
    private readonly Channel<Queued> _queue = Channel.CreateUnbounded<Queued>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ByteBudget _budget;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<ReadOnlyMemory<byte>> _segments = [];
    private readonly Task _pump;
    private YamuxStream? _stream;
    private ProtocolVersion _version = ProtocolVersion.V120;
    private bool _lazyRefused;
    private long _lastWrite;

    /// <summary>Starts the pump for one connection's session.</summary>
    public BitswapSender(
        YamuxSession session,
        PeerId peer,
        PeerScope scope,
        TcpHostOptions options,
        ILogger logger,
        Func<PeerId, (ProtocolVersion? Version, bool Listed)> versionOf,
        Action<PeerId, ProtocolVersion> negotiated,
        Action<Task> track)
    {
        _session = session;
        _peer = peer;
        _scope = scope;
        _options = options;
        _logger = logger;
        _versionOf = versionOf;
        _negotiated = negotiated;
        _track = track;
        _budget = new ByteBudget(options.SendQueueBytesMax);
        _pump = PumpAsync();
    }

    /// <summary>
    /// What <paramref name="message"/> holds while it waits in the queue: its encoded size plus the objects behind each
    /// entry, so that a queue of small presences is bounded by the memory it takes, not by its smaller encoding.
    /// </summary>
    public static int HeldBytes(Message message, int encodedBytes) =>
        (int)Math.Min(int.MaxValue, encodedBytes + (long)HeldBytesPerEntry * (message.Wantlist.Count + message.Presences.Count + message.Blocks.Count));

    /// <summary>Messages the pump could not send (the stream failed twice); they are dropped, as boxo does after its retries.</summary>
    public long Dropped { get; private set; }

    /// <summary>
    /// Queues <paramref name="message"/>, charged at <paramref name="heldBytes"/> (see <see cref="HeldBytes"/>), waiting only
    /// while the queue holds <see cref="TcpHostOptions.SendQueueBytesMax"/> bytes; after <see cref="TcpHostOptions.SendTimeout"/> the stuck stream is reset and this throws.
    /// </summary>
    public async ValueTask EnqueueAsync(Message message, int heldBytes, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        timeout.CancelAfter(_options.SendTimeout);
        bool admitted;
        try
        {
            admitted = await _budget.WaitAsync(heldBytes, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            // The peer has not taken a queue's worth of bytes in the send timeout: only its stream pays.
            _scope.Refused(ResetReason.StalledWrite, $"the send queue stayed full for {_options.SendTimeout.TotalSeconds:0} s; stream reset");
            Volatile.Read(ref _stream)?.Reset();
            throw new NetworkException($"send to {_peer} timed out after {_options.SendTimeout.TotalSeconds:0} s: the peer is not reading");
        }
        catch (OperationCanceledException e) when (_lifetime.IsCancellationRequested)
        {
            throw new NetworkException($"the connection to {_peer} is closed", e);
        }

        if (!admitted) throw new NetworkException($"the connection to {_peer} is closed");
        // What waits in the queue is charged to the peer with the rest of its buffers until the pump has written it.
        if (_scope.TryReserve(heldBytes) is { } refused)
        {
            _budget.Release(heldBytes);
            _scope.Refused(refused, $"a message of {heldBytes} bytes would not fit the peer's budget; message dropped");
            throw new NetworkException($"send to {_peer} refused: {refused} budget spent");
        }

        if (!_queue.Writer.TryWrite(new Queued(message, heldBytes)))
        {
            _budget.Release(heldBytes);
            _scope.Release(heldBytes);
            throw new NetworkException($"the connection to {_peer} is closed");
        }
    }

    /// <summary>
    /// Takes no more messages, lets the pump hand what is queued to the muxer for up to <see cref="DrainTimeout"/> (then
    /// closes the stream with FIN), else gives up: cancels the pump and resets the stream.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _budget.Close();
        if (await Task.WhenAny(_pump, Task.Delay(DrainTimeout)).ConfigureAwait(false) != _pump)
        {
            await _lifetime.CancelAsync().ConfigureAwait(false);
            Volatile.Read(ref _stream)?.Reset();
        }

        try
        {
            await _pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Cancelled while sending.
        }

        _lifetime.Dispose();
    }

    private async Task PumpAsync()
    {
        await Task.Yield();
        var ct = _lifetime.Token;
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    try
                    {
                        await SendWithRetryAsync(item.Message, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        _budget.Release(item.Bytes);
                        _scope.Release(item.Bytes);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The connection is closing.
        }
        finally
        {
            while (reader.TryRead(out var left))
            {
                _budget.Release(left.Bytes);
                _scope.Release(left.Bytes);
            }
            if (_stream is { } stream) await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task SendWithRetryAsync(Message message, CancellationToken ct)
    {
        // One retry on a fresh stream, like boxo's MessageSender (which tries three times): a long-lived stream may have
        // been reset by the peer (Helia drops a stream after 10 s without a message) just before we wrote.
        for (var attempt = 0; ; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.SendTimeout);
            YamuxStream? stream = null;
            try
            {
                stream = await EnsureStreamAsync(timeout.Token).ConfigureAwait(false);
                await WriteMessageAsync(stream, message, timeout.Token).ConfigureAwait(false);
                _lastWrite = Stopwatch.GetTimestamp();
                return;
            }
            catch (Exception e) when (e is YamuxException or IOException or MultistreamException or ObjectDisposedException
                                          || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                if (e is OperationCanceledException)
                    _scope.Refused(ResetReason.StalledWrite, $"a write waited {_options.SendTimeout.TotalSeconds:0} s on a peer that does not read; stream reset");
                stream?.Reset();
                Volatile.Write(ref _stream, null);
                if (attempt >= 1 || _session.IsClosed)
                {
                    Dropped++;
                    LogDropped(_logger, _peer, e.Message, null);
                    return;
                }
            }
        }
    }

    private async ValueTask<YamuxStream> EnsureStreamAsync(CancellationToken ct)
    {
        if (_stream is { } current)
        {
            var usable = current.StreamState is YamuxStreamState.Opening or YamuxStreamState.Negotiating or YamuxStreamState.Open or YamuxStreamState.HalfClosedRemote;
            var idle = Stopwatch.GetElapsedTime(_lastWrite) > _options.OutboundStreamIdleReopen;
            if (usable && !idle) return current;
            // Close an idle stream cleanly before the peer's idle timer resets it under a message.
            if (usable) await current.CloseWriteAsync().ConfigureAwait(false);
            await current.DisposeAsync().ConfigureAwait(false);
            Volatile.Write(ref _stream, null);
        }

        var stream = await _session.OpenStreamAsync(ct).ConfigureAwait(false);
        try
        {
            stream.MarkNegotiating();
            var (known, listed) = _versionOf(_peer);
            if (listed && known is { } version && !_lazyRefused)
            {
                // Identify listed the protocol: header, proposal and the first message go out together (go-multistream lazy client).
                await stream.WriteAsync(MultistreamSelect.LazyProposal(version.Id()), ct).ConfigureAwait(false);
                _version = version;
                _track(ConfirmAsync(stream, version.Id()));
            }
            else
            {
                using var negotiation = CancellationTokenSource.CreateLinkedTokenSource(ct);
                negotiation.CancelAfter(_options.NegotiationTimeout);
                var chosen = await MultistreamSelect.SelectAsync(stream, Proposals(known), negotiation.Token).ConfigureAwait(false);
                _version = Protocols.FromId(chosen) ?? ProtocolVersion.V120;
                stream.MarkOpen();
                _negotiated(_peer, _version);
            }
        }
        catch
        {
            stream.Reset();
            throw;
        }

        _lastWrite = Stopwatch.GetTimestamp();
        Volatile.Write(ref _stream, stream);
        return stream;
    }

    private async Task ConfirmAsync(YamuxStream stream, string protocol)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        timeout.CancelAfter(_options.NegotiationTimeout);
        try
        {
            await MultistreamSelect.ReadLazyAnswerAsync(stream, protocol, timeout.Token).ConfigureAwait(false);
            stream.MarkOpen();
        }
        catch (Exception e) when (e is MultistreamException or YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            if (_lifetime.IsCancellationRequested) return;
            // What we sent after an `na` was not a protocol line: reset, and negotiate properly next time.
            LogLazyRefused(_logger, _peer, e.Message, null);
            _lazyRefused = e is MultistreamException;
            stream.Reset();
        }
    }

    private static IReadOnlyList<string> Proposals(ProtocolVersion? known) =>
        known is { } v ? [v.Id(), .. Protocols.All.Where(p => p != v.Id())] : Protocols.All;

    private async ValueTask WriteMessageAsync(YamuxStream stream, Message message, CancellationToken ct)
    {
        foreach (var part in MessageCodec.Split(message, _version, _options.Limits.MessageBytesMax))
        {
            var framingBytes = MessageCodec.FramingBytes(part, _version);
            var framing = ArrayPool<byte>.Shared.Rent(framingBytes);
            try
            {
                _segments.Clear();
                var laidOut = MessageCodec.WriteFrameSegments(part, _version, _options.Limits.MessageBytesMax, framing.AsMemory(0, framingBytes), _segments);
                if (laidOut.IsLeft)
                {
                    LogDropped(_logger, _peer, laidOut.Match(_ => "", e => e.Detail), null);
                    continue;
                }

                // Framing lives in the pooled buffer returned below, so it is copied; block data is sent where it is, in the
                // same frame as the framing just before it.
                var head = ReadOnlyMemory<byte>.Empty;
                foreach (var segment in _segments)
                {
                    var isFraming = MemoryMarshal.TryGetArray(segment, out var array) && ReferenceEquals(array.Array, framing);
                    if (isFraming || segment.Length <= CopiedSegmentBytesMax)
                    {
                        if (!head.IsEmpty) await stream.WriteAsync(head, ct).ConfigureAwait(false);
                        head = segment;
                    }
                    else
                    {
                        await stream.WriteUncopiedAsync(head, segment, ct).ConfigureAwait(false);
                        head = ReadOnlyMemory<byte>.Empty;
                    }
                }

                if (!head.IsEmpty) await stream.WriteAsync(head, ct).ConfigureAwait(false);
            }
            finally
            {
                _segments.Clear();
                ArrayPool<byte>.Shared.Return(framing);
            }
        }
    }

    private readonly record struct Queued(Message Message, int Bytes);

    private static readonly Action<ILogger, PeerId, string, Exception?> LogDropped =
        LoggerMessage.Define<PeerId, string>(LogLevel.Debug, new EventId(20, "BitswapSendDropped"), "bitswap message to {Peer} dropped: {Reason}");

    private static readonly Action<ILogger, PeerId, string, Exception?> LogLazyRefused =
        LoggerMessage.Define<PeerId, string>(LogLevel.Debug, new EventId(21, "BitswapLazyRefused"), "optimistic bitswap negotiation with {Peer} failed: {Reason}");
}
