namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Ownership of one rented receive buffer whose slices are the Data of a received message's blocks. Disposing returns the
/// buffer to the pool; only the first dispose does anything, so a double dispose cannot hand the same array out twice.
/// </summary>
internal sealed class PooledLease : IDisposable
{
    private byte[]? _buffer;

    /// <summary>Takes ownership of <paramref name="buffer"/>, rented from <see cref="ReceiveBuffers"/>.</summary>
    public PooledLease(byte[] buffer) => _buffer = buffer;

    /// <summary>Whether the buffer went back to the pool.</summary>
    public bool IsDisposed => Volatile.Read(ref _buffer) is null;

    /// <summary>Returns the buffer to the pool; the blocks' Data must not be read afterwards.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer) ReceiveBuffers.Return(buffer);
    }
}
