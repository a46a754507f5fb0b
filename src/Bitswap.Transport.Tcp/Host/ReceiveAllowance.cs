namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// The bytes one connection may hold in partly received Bitswap messages, across all its streams: a peer that opens many
/// streams and starts large messages on each gets its streams reset instead of growing the buffers without bound.
/// </summary>
internal sealed class ReceiveAllowance(long capacity)
{
    private long _used;

    /// <summary>Takes <paramref name="bytes"/> if that stays within the capacity.</summary>
    public bool TryTake(long bytes)
    {
        while (true)
        {
            var used = Volatile.Read(ref _used);
            if (used + bytes > capacity) return false;
            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used) return true;
        }
    }

    /// <summary>Gives back bytes from <see cref="TryTake"/>.</summary>
    public void Give(long bytes) => Interlocked.Add(ref _used, -bytes);
}
