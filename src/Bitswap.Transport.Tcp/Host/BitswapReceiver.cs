using System.Buffers;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Transport.Tcp.Yamux;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Reads length-prefixed Bitswap messages off one inbound stream, on the session's read loop. Bytes land in a pooled buffer
/// that grows as they arrive (never to what a prefix merely announces: at most four times what was received, or 256 KiB), each whole message
/// is framed by <see cref="Framing.TryReadPrefix"/>, decoded in place by <see cref="MessageCodec.DecodeSlices"/> (blocks
/// are slices of the buffer, hashed once there, cache-hot) and handed over with the buffer as its lease.
/// </summary>
internal sealed class BitswapReceiver : IYamuxReceiver
{
    private const int InitialBytes = 16 * 1024;
    private const int ReserveFloorBytes = 256 * 1024;

    private static readonly byte[] Discard = new byte[InitialBytes];

    private readonly int _messageBytesMax;
    private readonly Func<Message, int, IDisposable?, ValueTask> _arrived;
    // A consumer still busy with an earlier message (the read loop awaits it in ReadyAsync), and the messages completed
    // meanwhile in the same Data frame, handed over one at a time after it: calls for one stream never overlap.
    private Task? _busy;
    private Queue<(Message Message, int WireBytes, IDisposable? Lease)>? _backlog;
    private readonly Action<DecodeError> _failed;
    private readonly Func<ReadOnlyMemory<byte>, LanguageExt.Either<DecodeError, Message>> _decode;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PeerScope _scope;
    private byte[]? _buffer;
    private long _lastProgress = System.Diagnostics.Stopwatch.GetTimestamp();
    private volatile bool _partial;
    private long _held;
    private int _filled;
    private int _frameBytes = -1;
    private int _prefixBytes;
    private bool _dead;

    /// <summary>Creates a receiver; <paramref name="arrived"/> and <paramref name="failed"/> run on the session's read loop.</summary>
    public BitswapReceiver(ProtocolVersion version, Limits limits, PeerScope scope, Func<Message, int, IDisposable?, ValueTask> arrived, Action<DecodeError> failed)
    {
        _scope = scope;
        _messageBytesMax = limits.MessageBytesMax;
        _arrived = arrived;
        _failed = failed;
        _decode = bytes => MessageCodec.DecodeSlices(bytes, version, limits);
    }

    /// <summary>Completes when the peer finished the stream (true) or it died or carried a bad message (false).</summary>
    public Task Ended => _ended.Task;

    /// <summary>Whether the stream ended because of a bad message or a reset.</summary>
    public bool Failed { get; private set; }

    /// <summary>Bytes of the peer's budget this receiver holds for a message still arriving.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>How long a partly received message has made no progress; null between messages. Safe from any thread.</summary>
    public TimeSpan? PartialIdle => _partial && !_dead ? System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _lastProgress)) : null;

    /// <inheritdoc />
    public Memory<byte> GetReceiveMemory(int available)
    {
        if (_dead)
        {
            // Drain what the peer already sent into shared scratch (its contents are never read); the stream is being reset.
            return Discard.AsMemory(0, Math.Min(available, Discard.Length));
        }

        // Before the prefix is known, read no more than a prefix can be; after, no more than the message lacks.
        var wanted = _frameBytes < 0 ? Math.Min(available, Varint.MaxBytes) : Math.Min(available, _frameBytes - _filled);
        if (Reserve(_filled + wanted) is { } refused)
        {
            Refuse(refused, $"a message of {_frameBytes} bytes, {_filled} received");
            return Discard.AsMemory(0, Math.Min(available, Discard.Length));
        }

        return _buffer.AsMemory(_filled, wanted);
    }

    /// <inheritdoc />
    public void OnReceived(int count)
    {
        if (_dead) return;
        _filled += count;
        Volatile.Write(ref _lastProgress, System.Diagnostics.Stopwatch.GetTimestamp());
        _partial = _filled > 0;
        while (!_dead && _buffer is not null)
        {
            if (_frameBytes < 0)
            {
                var status = Framing.TryReadPrefix(_buffer.AsSpan(0, _filled), _messageBytesMax, out _prefixBytes, out var length, out var error);
                if (status == FrameStatus.NeedMore) return;
                if (status == FrameStatus.Error)
                {
                    Fail(error!);
                    return;
                }

                _frameBytes = _prefixBytes + length;
            }

            if (_filled < _frameBytes) return;
            Complete();
        }
    }

    /// <inheritdoc />
    public void OnEnded(YamuxException? failure)
    {
        if (!_dead && failure is null && (_filled > 0 || _frameBytes >= 0))
        {
            Fail(new DecodeError(DecodeErrorKind.Truncated, $"stream ended after {_filled} bytes of a message"));
        }

        Failed |= failure is not null;
        _dead = true;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ReceiveBuffers.Return(buffer);
        }

        _scope.Release(_held);
        Volatile.Write(ref _held, 0);
        _partial = false;

        _ended.TrySetResult();
    }

    // A whole message is at the front of the buffer: decode it in place and hand the buffer over with it.
    private void Complete()
    {
        var buffer = _buffer!;
        var charge = _held;
        var frameBytes = _frameBytes;
        var excess = _filled - frameBytes;
        byte[]? next = null;
        ResetReason? refused = null;
        if (excess > 0)
        {
            next = ReceiveBuffers.Rent(Math.Max(InitialBytes, excess));
            buffer.AsSpan(frameBytes, excess).CopyTo(next);
            refused = _scope.TryReserve(next.Length);
            if (refused is not null)
            {
                ReceiveBuffers.Return(next);
                next = null;
            }
        }

        // The whole message's buffer leaves with it: its charge moves to the lease (or is released below), so a message
        // waiting for the node loop still counts against its peer until the loop is done with it.
        _buffer = next;
        Volatile.Write(ref _held, next?.Length ?? 0);
        _filled = next is null ? 0 : excess;
        _partial = _filled > 0;
        _frameBytes = -1;
        var wire = buffer.AsMemory(_prefixBytes, frameBytes - _prefixBytes);
        var decoded = _decode(wire);
        if (decoded.IsLeft)
        {
            ReceiveBuffers.Return(buffer);
            _scope.Release(charge);
            Fail(decoded.Match(_ => throw new System.Diagnostics.UnreachableException(), e => e));
            return;
        }

        var message = decoded.Match(m => m, _ => throw new System.Diagnostics.UnreachableException());
        if (message.Blocks.Count == 0)
        {
            // Nothing points into the buffer (CIDs are copied): reuse it at once.
            ReceiveBuffers.Return(buffer);
            _scope.Release(charge);
            Deliver(message, wire.Length, null);
        }
        else
        {
            Deliver(message, wire.Length, new PooledLease(buffer, _scope, charge));
        }

        if (refused is { } reason) Refuse(reason, $"{excess} bytes of the next message");
    }

    private void Deliver(Message message, int wireBytes, IDisposable? lease)
    {
        if (_busy is not null)
        {
            (_backlog ??= new()).Enqueue((message, wireBytes, lease));
            return;
        }
        var handing = _arrived(message, wireBytes, lease);
        if (!handing.IsCompletedSuccessfully) _busy = handing.AsTask();
    }

    /// <inheritdoc />
    public ValueTask ReadyAsync() => _busy is null ? default : DrainAsync();

    private async ValueTask DrainAsync()
    {
        await _busy!.ConfigureAwait(false);
        while (_backlog is { Count: > 0 })
        {
            var (message, wireBytes, lease) = _backlog.Dequeue();
            await _arrived(message, wireBytes, lease).ConfigureAwait(false);
        }
        _busy = null;
    }

    // Grows the buffer to hold `needed` bytes: straight to the whole message when it is at most four times what has
    // arrived (or 256 KiB), else to the next of 256 KiB, 1 MiB, 4 MiB that holds what arrived. A prefix announcing 4 MiB
    // thus reserves 256 KiB until the bytes come, a 1 MiB message is copied once, at 256 KiB, and the few sizes in
    // between are ones the pool keeps, so a peer that keeps starting messages and never finishing them leaves no garbage.
    private ResetReason? Reserve(int needed)
    {
        if (_buffer is not null && _buffer.Length >= needed) return null;
        var allowed = Math.Max(4L * needed, ReserveFloorBytes);
        var step = ReserveFloorBytes;
        while (step < needed) step *= 4;
        var target = _frameBytes < 0 ? Math.Max(needed, InitialBytes)
            : _frameBytes <= allowed ? _frameBytes
            : step;
        var grown = ReceiveBuffers.Rent(target);
        if (_scope.TryReserve(grown.Length - _held) is { } refused)
        {
            ReceiveBuffers.Return(grown);
            return refused;
        }

        Volatile.Write(ref _held, grown.Length);
        if (_buffer is { } old)
        {
            old.AsSpan(0, _filled).CopyTo(grown);
            ReceiveBuffers.Return(old);
        }

        _buffer = grown;
        return null;
    }

    // The peer's budget is spent: the buffer goes back now, not when the stream's reset comes round.
    private void Refuse(ResetReason reason, string detail)
    {
        _scope.Refused(reason, $"bitswap stream would hold more than the budget allows: {detail}; stream reset");
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ReceiveBuffers.Return(buffer);
            _scope.Release(_held);
            Volatile.Write(ref _held, 0);
        }

        Fail(new DecodeError(DecodeErrorKind.TooLarge, $"the peer's receive budget is spent ({reason})"));
    }

    private void Fail(DecodeError error)
    {
        _dead = true;
        Failed = true;
        _failed(error);
    }
}
