using System.Buffers;
using System.Collections.Concurrent;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Pooled receive buffers for whole Bitswap messages. Up to 64 KiB they come from <see cref="ArrayPool{T}.Shared"/>;
/// larger ones are sized in 64 KiB steps (a 1 MiB block's message takes 1 MiB + 64 KiB, not the 2 MiB a power-of-two
/// pool would hand out) and kept in a process-wide pool bounded in bytes, so buffers a consumer never returns cost their
/// size once and nothing more.
/// </summary>
internal static class ReceiveBuffers
{
    /// <summary>Size step of large buffers.</summary>
    public const int StepBytes = 64 * 1024;

    // Bytes of idle large buffers kept for reuse: four 4 MiB messages, as many as a node lets wait for its loop
    // (Limits.MailboxBytesMax); more would only hold memory a busy moment once needed.
    private const long RetainedBytesMax = 16L * 1024 * 1024;

    // Per size class; a class only ever holds arrays of exactly its size.
    private static readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> Idle = new();
    private static long _retainedBytes;

    /// <summary>A buffer of at least <paramref name="bytes"/> bytes.</summary>
    public static byte[] Rent(int bytes)
    {
        if (bytes <= StepBytes) return ArrayPool<byte>.Shared.Rent(bytes);
        var size = (int)Math.Min((long)Array.MaxLength, ((long)bytes + StepBytes - 1) / StepBytes * StepBytes);
        if (Idle.TryGetValue(size, out var bag) && bag.TryTake(out var reused))
        {
            Interlocked.Add(ref _retainedBytes, -size);
            return reused;
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
        if (Interlocked.Add(ref _retainedBytes, buffer.Length) > RetainedBytesMax)
        {
            Interlocked.Add(ref _retainedBytes, -buffer.Length);
            return;
        }

        Idle.GetOrAdd(buffer.Length, _ => []).Add(buffer);
    }
}
