namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Ownership of one rented receive buffer whose slices are the Data of a received message's blocks, and of the bytes of
/// the peer's budget it is charged. Disposing returns the buffer to the pool and the bytes to the budget; only the first
/// dispose does anything, so a double dispose cannot hand the same array out twice.
/// </summary>
internal sealed class PooledLease : IDisposable
{
    private readonly PeerScope _scope;
    private readonly long _charge;
    private byte[]? _buffer;

    /// <summary>Takes ownership of <paramref name="buffer"/>, rented from <see cref="ReceiveBuffers"/>, and of <paramref name="charge"/> bytes reserved in <paramref name="scope"/>.</summary>
    public PooledLease(byte[] buffer, PeerScope scope, long charge)
    {
        _buffer = buffer;
        _scope = scope;
        _charge = charge;
    }

    // A consumer that drops the lease without disposing it must not leak the peer's budget forever; the buffer itself may
    // still be referenced through the blocks, so only the charge is given back here.
    ~PooledLease()
    {
        if (Interlocked.Exchange(ref _buffer, null) is not null) _scope.Release(_charge);
    }

    /// <summary>Whether the buffer went back to the pool.</summary>
    public bool IsDisposed => Volatile.Read(ref _buffer) is null;

    /// <summary>Returns the buffer to the pool; the blocks' Data must not be read afterwards.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ReceiveBuffers.Return(buffer);
            _scope.Release(_charge);
        }

        GC.SuppressFinalize(this);
    }
}
