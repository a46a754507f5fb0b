using System.Buffers;
using System.Collections.Concurrent;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Pooled receive buffers for whole Bitswap messages. Up to 64 KiB they come from <see cref="ArrayPool{T}.Shared"/>;
/// larger ones are sized in 64 KiB steps (a 1 MiB block's message takes 1 MiB + 64 KiB, not the 2 MiB a power-of-two
/// pool would hand out) and kept in a process-wide pool that holds large buffers in use and idle to the transport's memory
/// budget, so buffers a consumer never returns cost their size once and nothing more, and a flood leaves no garbage.
/// </summary>
internal static class ReceiveBuffers
{
    /// <summary>Size step of large buffers.</summary>
    public const int StepBytes = 64 * 1024;

    // Bytes of large buffers, in use and idle together, beyond which returned ones are dropped rather than kept: the
    // transport's whole memory budget (TcpHostOptions.SystemMemoryBytesMax, 128 MiB). Live buffers are held to that budget
    // by the resource manager, so a quiet node keeps only what it once used, and a node under attack (peers that start
    // messages, are reset at their budget and start again) reuses its buffers instead of leaving large-object garbage.
    private const long PooledBytesMax = 128L * 1024 * 1024;

    // Large-object garbage this pool may leave before it asks for a full collection. The runtime sizes its large-object
    // budget from what survives, and receive buffers survive for as long as a message takes to arrive, so under a flood of
    // half-sent messages the runtime let hundreds of MiB of dropped buffers wait (peak 367-422 MB resident, see
    // docs/redteam.md); at most one collection a second, and only after this much was dropped.
    private const long DroppedBytesBeforeCollect = 32L * 1024 * 1024;
    private const long CollectIntervalMs = 1000;
    private static long _droppedBytes;
    private static long _lastCollectMs;

    // Per size class; a class only ever holds arrays of exactly its size.
    private static readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> Idle = new();
    private static long _retainedBytes;
    private static long _rentedBytes;

    /// <summary>A buffer of at least <paramref name="bytes"/> bytes.</summary>
    public static byte[] Rent(int bytes)
    {
        if (bytes <= StepBytes) return ArrayPool<byte>.Shared.Rent(bytes);
        var size = (int)Math.Min((long)Array.MaxLength, ((long)bytes + StepBytes - 1) / StepBytes * StepBytes);
        Interlocked.Add(ref _rentedBytes, size);
        if (Idle.TryGetValue(size, out var bag) && bag.TryTake(out var reused))
        {
            Interlocked.Add(ref _retainedBytes, -size);
            return reused;
        }

        // A new array: idle ones of other sizes make room for it first, so that in use and idle stay within the cap. Under
        // the cap (an honest node almost always is) the size classes are not even walked.
        if (Interlocked.Read(ref _rentedBytes) + Interlocked.Read(ref _retainedBytes) <= PooledBytesMax)
        {
            return GC.AllocateUninitializedArray<byte>(size);
        }

        foreach (var (otherSize, others) in Idle)
        {
            while (Interlocked.Read(ref _rentedBytes) + Interlocked.Read(ref _retainedBytes) > PooledBytesMax && others.TryTake(out _))
            {
                Interlocked.Add(ref _retainedBytes, -otherSize);
                Dropped(otherSize);
            }
        }

        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Gives a buffer from <see cref="Rent"/> back; it must not be used afterwards.</summary>
    public static void Return(byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Length <= StepBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        if (buffer.Length % StepBytes != 0) return;
        var inUse = Interlocked.Add(ref _rentedBytes, -buffer.Length);
        if (Interlocked.Add(ref _retainedBytes, buffer.Length) + inUse > PooledBytesMax)
        {
            Interlocked.Add(ref _retainedBytes, -buffer.Length);
            Dropped(buffer.Length);
            return;
        }

        Idle.GetOrAdd(buffer.Length, _ => []).Add(buffer);
    }

    private static void Dropped(int bytes)
    {
        if (Interlocked.Add(ref _droppedBytes, bytes) < DroppedBytesBeforeCollect) return;
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastCollectMs);
        if (now - last < CollectIntervalMs || Interlocked.CompareExchange(ref _lastCollectMs, now, last) != last) return;
        Interlocked.Exchange(ref _droppedBytes, 0);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
