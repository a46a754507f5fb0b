using System.Buffers;
using System.Buffers.Binary;

namespace Bitswap.Transport.Tcp.Noise;

/// <summary>
/// The encrypted duplex byte stream over a finished Noise handshake (libp2p/specs noise §"Wire Format"): every frame is a
/// 2-byte big-endian length ‖ ciphertext ‖ tag, at most 65535 bytes. Large writes become several frames sent in one
/// transport write; reads fill a pooled buffer from the transport and decrypt in place, or straight into the caller's
/// buffer when a whole frame fits. One reader and one writer may run concurrently. Any failure leaves the stream
/// unusable: later calls throw <see cref="NoiseException"/> with <see cref="NoiseFailure.Unusable"/>.
/// </summary>
public sealed class NoiseStream : Stream, IGatherWriter
{
    /// <summary>Largest frame body (ciphertext + tag), fixed by the 2-byte length prefix.</summary>
    public const int FrameBytesMax = NoiseXxHandshake.MessageBytesMax;

    /// <summary>Most plaintext bytes in one frame (65535 − 16; js NOISE_MSG_MAX_LENGTH_BYTES_WITHOUT_TAG, go MaxPlaintextLength).</summary>
    public const int PlaintextBytesMax = FrameBytesMax - NoiseCipherState.TagBytes;

    private const int LengthBytes = NoiseFrames.LengthBytes;
    private const int FrameWithLengthBytesMax = NoiseFrames.FrameWithLengthBytesMax;

    // Gathered segments up to this size are copied into one staged frame; larger ones are sealed straight from their memory.
    private const int StageSegmentBytesMax = 2048;

    // A sealed frame that only fills the end of a batch must carry at least this much plaintext, else the batch goes first.
    private const int PartialFrameBytesMin = 4096;

    // About four frames per transport read or write: big enough to batch syscalls. Exactly a power of two, because the
    // pool rounds every request up to one: four whole frames with their lengths (262,148 bytes) took a 512 KiB array,
    // twice, for every connection's lifetime; 256 KiB holds three whole frames and most of a fourth.
    private const int BufferBytes = 256 * 1024;

    private const int Idle = 0;
    private const int Busy = 1;
    private const int BusyDisposeRequested = 2;
    private const int Released = 3;

    private readonly Stream _transport;
    private readonly NoiseCipherState _send;
    private readonly NoiseCipherState _receive;
    private readonly bool _leaveOpen;
    private readonly byte[] _readBuffer;
    private readonly byte[] _writeBuffer;
    private byte[]? _stage;
    private int _rawStart;
    private int _rawEnd;
    private int _plainStart;
    private int _plainEnd;
    private int _readState;
    private int _writeState;
    private volatile bool _broken;
    private volatile bool _disposed;

    /// <summary>Wraps <paramref name="transport"/> with the two transport ciphers from <see cref="NoiseXxHandshake.Split"/>; takes ownership of the ciphers.</summary>
    public NoiseStream(Stream transport, NoiseCipherState send, NoiseCipherState receive, bool leaveOpen = false)
    {
        _transport = transport;
        _send = send;
        _receive = receive;
        _leaveOpen = leaveOpen;
        _readBuffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        _writeBuffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
    }

    /// <inheritdoc />
    public override bool CanRead => !_disposed;

    /// <inheritdoc />
    public override bool CanWrite => !_disposed;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Flush() => _transport.Flush();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => _transport.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        Enter(ref _readState);
        try
        {
            while (true)
            {
                var delivered = Deliver(buffer);
                if (delivered > 0) return delivered;
                MakeRoom();
                var read = _transport.Read(_readBuffer, _rawEnd, BufferBytes - _rawEnd);
                if (read == 0) return EndOfTransport();
                _rawEnd += read;
            }
        }
        catch (Exception e) when (e is NoiseException or IOException)
        {
            _broken = true;
            throw;
        }
        finally
        {
            Exit(ref _readState, _readBuffer, _receive);
        }
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        Enter(ref _readState);
        try
        {
            while (true)
            {
                var delivered = Deliver(buffer.Span);
                if (delivered > 0) return delivered;
                MakeRoom();
                var read = await _transport.ReadAsync(_readBuffer.AsMemory(_rawEnd, BufferBytes - _rawEnd), cancellationToken).ConfigureAwait(false);
                if (read == 0) return EndOfTransport();
                _rawEnd += read;
            }
        }
        catch (Exception e) when (e is NoiseException or IOException)
        {
            _broken = true;
            throw;
        }
        finally
        {
            Exit(ref _readState, _readBuffer, _receive);
        }
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Enter(ref _writeState);
        try
        {
            while (!buffer.IsEmpty)
            {
                var used = Seal(ref buffer);
                _transport.Write(_writeBuffer, 0, used);
            }
        }
        catch
        {
            // A half-written batch leaves the peer's nonce out of step with ours: nothing more can be sent.
            _broken = true;
            throw;
        }
        finally
        {
            Exit(ref _writeState, _writeBuffer, _send);
        }
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Enter(ref _writeState);
        try
        {
            while (!buffer.IsEmpty)
            {
                var used = Seal(ref buffer);
                await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            _broken = true;
            throw;
        }
        finally
        {
            Exit(ref _writeState, _writeBuffer, _send);
        }
    }

    /// <summary>
    /// Writes the concatenation of <paramref name="segments"/> as Noise frames, encrypting each large segment straight from
    /// its own memory into the pooled write buffer and staging small ones (headers, framing) into shared frames; the
    /// buffer goes to the transport whenever it is full (about 256 KiB) and once at the end.
    /// </summary>
    public async ValueTask WriteGatherAsync(IReadOnlyList<ReadOnlyMemory<byte>> segments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(segments);
        Enter(ref _writeState);
        try
        {
            _stage ??= new byte[PlaintextBytesMax];
            var used = 0;
            var staged = 0;
            for (var i = 0; i < segments.Count; i++)
            {
                var segment = segments[i];
                if (segment.Length <= StageSegmentBytesMax)
                {
                    if (staged + segment.Length > PlaintextBytesMax)
                    {
                        if (!TrySealStage(ref used, ref staged))
                        {
                            await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
                            used = 0;
                            TrySealStage(ref used, ref staged);
                        }
                    }

                    segment.Span.CopyTo(_stage.AsSpan(staged));
                    staged += segment.Length;
                    continue;
                }

                if (staged > 0 && !TrySealStage(ref used, ref staged))
                {
                    await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
                    used = 0;
                    TrySealStage(ref used, ref staged);
                }

                while (!segment.IsEmpty)
                {
                    var sealedBytes = SealPart(ref segment, used);
                    used += sealedBytes;
                    if (sealedBytes == 0 || BufferBytes - used < LengthBytes + NoiseCipherState.TagBytes + PartialFrameBytesMin)
                    {
                        await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
                        used = 0;
                    }
                }
            }

            if (staged > 0 && !TrySealStage(ref used, ref staged))
            {
                await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
                used = 0;
                TrySealStage(ref used, ref staged);
            }

            if (used > 0) await _transport.WriteAsync(_writeBuffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _broken = true;
            throw;
        }
        finally
        {
            Exit(ref _writeState, _writeBuffer, _send);
        }
    }

    // Seals the staged plaintext as one frame at `used`; false (nothing done) when the write buffer lacks room.
    private bool TrySealStage(ref int used, ref int staged)
    {
        if (BufferBytes - used < LengthBytes + staged + NoiseCipherState.TagBytes) return false;
        ReadOnlySpan<byte> plaintext = _stage.AsSpan(0, staged);
        used += NoiseFrames.Seal(_send, ref plaintext, _writeBuffer.AsSpan(used, BufferBytes - used));
        staged = 0;
        return true;
    }

    // Seals as much of `segment` as fits after `used` (a last frame may be partial to fill the buffer); returns bytes written.
    private int SealPart(ref ReadOnlyMemory<byte> segment, int used)
    {
        var span = segment.Span;
        var before = span.Length;
        var written = NoiseFrames.Seal(_send, ref span, _writeBuffer.AsSpan(used, BufferBytes - used), PartialFrameBytesMin);
        segment = segment[(before - span.Length)..];
        return written;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_leaveOpen) _transport.Dispose();
            Release(ref _readState, _readBuffer, _receive);
            Release(ref _writeState, _writeBuffer, _send);
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (!_leaveOpen) await _transport.DisposeAsync().ConfigureAwait(false);
            Release(ref _readState, _readBuffer, _receive);
            Release(ref _writeState, _writeBuffer, _send);
        }
        GC.SuppressFinalize(this);
    }

    // Encrypts as many frames of `plaintext` as fit in the write buffer; returns the bytes to send.
    private int Seal(ref ReadOnlySpan<byte> plaintext) => NoiseFrames.Seal(_send, ref plaintext, _writeBuffer.AsSpan(0, BufferBytes));

    private int Seal(ref ReadOnlyMemory<byte> plaintext)
    {
        var span = plaintext.Span;
        var before = span.Length;
        var used = Seal(ref span);
        plaintext = plaintext[(before - span.Length)..];
        return used;
    }

    // Hands out pending plaintext, then decrypts every complete frame already buffered while room remains.
    private int Deliver(Span<byte> destination)
    {
        var written = 0;
        while (written < destination.Length)
        {
            if (_plainStart < _plainEnd)
            {
                var n = Math.Min(_plainEnd - _plainStart, destination.Length - written);
                _readBuffer.AsSpan(_plainStart, n).CopyTo(destination[written..]);
                _plainStart += n;
                written += n;
                continue;
            }
            var available = _rawEnd - _rawStart;
            if (available < LengthBytes) break;
            var frameLength = BinaryPrimitives.ReadUInt16BigEndian(_readBuffer.AsSpan(_rawStart));
            if (frameLength < NoiseCipherState.TagBytes)
                throw new NoiseException(NoiseFailure.Framing, $"a Noise frame of {frameLength} bytes cannot hold its tag");
            if (available < LengthBytes + frameLength) break;
            var frame = _readBuffer.AsSpan(_rawStart + LengthBytes, frameLength);
            var plainLength = frameLength - NoiseCipherState.TagBytes;
            if (destination.Length - written >= plainLength)
            {
                written += _receive.Decrypt(ReadOnlySpan<byte>.Empty, frame, destination[written..]);
            }
            else
            {
                _receive.Decrypt(ReadOnlySpan<byte>.Empty, frame, frame);
                _plainStart = _rawStart + LengthBytes;
                _plainEnd = _plainStart + plainLength;
            }
            _rawStart += LengthBytes + frameLength;
        }
        return written;
    }

    // Called only when no plaintext is pending and no complete frame is buffered, so only a partial frame moves.
    private void MakeRoom()
    {
        if (_rawStart == _rawEnd)
        {
            _rawStart = _rawEnd = 0;
        }
        else if (BufferBytes - _rawEnd < FrameWithLengthBytesMax)
        {
            var pending = _rawEnd - _rawStart;
            Buffer.BlockCopy(_readBuffer, _rawStart, _readBuffer, 0, pending);
            _rawStart = 0;
            _rawEnd = pending;
        }
        _plainStart = _plainEnd = 0;
    }

    private int EndOfTransport()
    {
        if (_rawStart == _rawEnd) return 0;
        throw new NoiseException(NoiseFailure.Framing, $"the transport closed inside a Noise frame ({_rawEnd - _rawStart} bytes pending)");
    }

    private void Enter(ref int state)
    {
        if (_broken) throw new NoiseException(NoiseFailure.Unusable, "the Noise channel failed earlier and is unusable");
        switch (Interlocked.CompareExchange(ref state, Busy, Idle))
        {
            case Idle:
                return;
            case Busy or BusyDisposeRequested:
                throw new InvalidOperationException("a Noise stream allows one reader and one writer at a time");
            default:
                throw new ObjectDisposedException(nameof(NoiseStream));
        }
    }

    // Returns the side's buffer to the pool if Dispose ran while this operation was in flight.
    private static void Exit(ref int state, byte[] buffer, NoiseCipherState cipher)
    {
        if (Interlocked.CompareExchange(ref state, Idle, Busy) == BusyDisposeRequested)
        {
            Volatile.Write(ref state, Released);
            ArrayPool<byte>.Shared.Return(buffer);
            cipher.Dispose();
        }
    }

    private static void Release(ref int state, byte[] buffer, NoiseCipherState cipher)
    {
        while (true)
        {
            var current = Volatile.Read(ref state);
            if (current == Idle)
            {
                if (Interlocked.CompareExchange(ref state, Released, Idle) != Idle) continue;
                ArrayPool<byte>.Shared.Return(buffer);
                cipher.Dispose();
                return;
            }
            if (current == Busy)
            {
                if (Interlocked.CompareExchange(ref state, BusyDisposeRequested, Busy) != Busy) continue;
                return;
            }
            return;
        }
    }
}
