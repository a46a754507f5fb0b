using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Bitswap.Transport.Tcp.Noise;

namespace Bitswap.Bench;

/// <summary>One measurement of the raw pipeline.</summary>
/// <param name="BlockBytes">Block size.</param>
/// <param name="Bytes">Payload bytes measured (after warm-up).</param>
/// <param name="Elapsed">Wall time for them.</param>
/// <param name="Cpu">Process CPU time (all threads) for them.</param>
/// <param name="AllocatedBytes">Bytes allocated by the process while measuring.</param>
public sealed record CeilingResult(int BlockBytes, long Bytes, TimeSpan Elapsed, TimeSpan Cpu, long AllocatedBytes)
{
    /// <summary>Payload megabytes (10^6) per second.</summary>
    public double MegabytesPerSecond => Bytes / 1e6 / Elapsed.TotalSeconds;

    /// <summary>CPU nanoseconds spent per payload byte.</summary>
    public double NanosecondsPerByte => Cpu.TotalNanoseconds / Bytes;

    /// <summary>Cores busy on average.</summary>
    public double Cores => Cpu / Elapsed;

    /// <summary>One printable line.</summary>
    public override string ToString() => FormattableString.Invariant(
        $"ceiling {BlockBytes / 1024} KiB blocks: {MegabytesPerSecond:0} MB/s, {NanosecondsPerByte:0.00} ns/B CPU, {Cores:0.00} cores, {(double)AllocatedBytes / Bytes:0.000} B allocated/B ({Bytes / (1024 * 1024)} MiB in {Elapsed.TotalSeconds:0.000} s)");
}

/// <summary>
/// The <c>ceiling</c> mode: the raw pipeline of this machine for one connection, with none of libp2p's bookkeeping:
/// blocks encrypted by our Noise transport framing (<see cref="NoiseFrames"/>, the code <see cref="NoiseStream"/> runs)
/// into a pooled ~256 KiB batch → one loopback TCP socket → decrypted in place → SHA-256 of each block. What a transfer
/// could reach if Yamux, Bitswap and the node cost nothing.
/// </summary>
public static class CeilingRun
{
    private const int BatchBytes = 256 * 1024 + NoiseFrames.FrameWithLengthBytesMax;

    /// <summary>Parses <c>[--size-mib N]</c>, measures 1 MiB and 256 KiB blocks, prints one line each.</summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var sizeMib = 256;
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--size-mib" && i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var size) && size > 0)
            {
                sizeMib = size;
                i++;
                continue;
            }

            await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'; usage: ceiling [--size-mib N]").ConfigureAwait(false);
            return 2;
        }

        foreach (var block in new[] { 1024 * 1024, 256 * 1024 })
        {
            Console.WriteLine(await MeasureAsync(block, sizeMib * 1024L * 1024L).ConfigureAwait(false));
        }

        return 0;
    }

    /// <summary>Sends a 64 MiB warm-up, then measures <paramref name="totalBytes"/> of <paramref name="blockSize"/>-byte blocks.</summary>
    public static async Task<CeilingResult> MeasureAsync(int blockSize, long totalBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        var key = RandomNumberGenerator.GetBytes(NoiseCipherState.KeyBytes);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await sender.ConnectAsync((IPEndPoint)listener.LocalEndpoint).ConfigureAwait(false);
        using var receiver = await accept.ConfigureAwait(false);

        // 16 MiB of distinct source blocks, cycled, so the sender does not encrypt one cache-hot block over and over.
        var sourceBlocks = Math.Max(1, 16 * 1024 * 1024 / blockSize);
        var source = new byte[sourceBlocks * (long)blockSize];
        new Random(7).NextBytes(source);

        var warmUp = 64L * 1024 * 1024;
        var blocks = (warmUp + totalBytes + blockSize - 1) / blockSize;
        var warmUpBlocks = warmUp / blockSize;
        using var encrypt = new NoiseCipherState(key);
        using var decrypt = new NoiseCipherState(key);
        var measuredStart = new TaskCompletionSource<(long Ticks, TimeSpan Cpu, long Allocated)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var send = Task.Run(() => SendAsync(sender, encrypt, source, blockSize, sourceBlocks, blocks));
        var receive = Task.Run(() => ReceiveAsync(receiver, decrypt, blockSize, blocks, warmUpBlocks, measuredStart));
        await send.ConfigureAwait(false);
        var end = await receive.ConfigureAwait(false);
        var start = await measuredStart.Task.ConfigureAwait(false);
        var measuredBytes = (blocks - warmUpBlocks) * (long)blockSize;
        return new CeilingResult(blockSize, measuredBytes, Stopwatch.GetElapsedTime(start.Ticks, end.Ticks), end.Cpu - start.Cpu, end.Allocated - start.Allocated);
    }

    private static async Task SendAsync(Socket socket, NoiseCipherState cipher, byte[] source, int blockSize, int sourceBlocks, long blocks)
    {
        var batch = ArrayPool<byte>.Shared.Rent(BatchBytes);
        try
        {
            var used = 0;
            for (long b = 0; b < blocks; b++)
            {
                ReadOnlyMemory<byte> block = source.AsMemory((int)(b % sourceBlocks) * blockSize, blockSize);
                while (!block.IsEmpty)
                {
                    var sealedBytes = Seal(cipher, ref block, batch, used);
                    used += sealedBytes;
                    if (sealedBytes == 0 || used >= 256 * 1024)
                    {
                        await SendAllAsync(socket, batch.AsMemory(0, used)).ConfigureAwait(false);
                        used = 0;
                    }
                }
            }

            if (used > 0) await SendAllAsync(socket, batch.AsMemory(0, used)).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch);
        }
    }

    private static int Seal(NoiseCipherState cipher, ref ReadOnlyMemory<byte> block, byte[] batch, int used)
    {
        var span = block.Span;
        var before = span.Length;
        var written = NoiseFrames.Seal(cipher, ref span, batch.AsSpan(used, BatchBytes - used), 4096);
        block = block[(before - span.Length)..];
        return written;
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var n = await socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false);
            bytes = bytes[n..];
        }
    }

    private static async Task<(long Ticks, TimeSpan Cpu, long Allocated)> ReceiveAsync(
        Socket socket, NoiseCipherState cipher, int blockSize, long blocks, long warmUpBlocks,
        TaskCompletionSource<(long Ticks, TimeSpan Cpu, long Allocated)> measuredStart)
    {
        var raw = ArrayPool<byte>.Shared.Rent(2 * BatchBytes);
        var block = ArrayPool<byte>.Shared.Rent(blockSize);
        var digest = new byte[32];
        try
        {
            int start = 0, end = 0, filled = 0;
            long received = 0;
            if (warmUpBlocks == 0) measuredStart.TrySetResult(Snapshot());
            while (received < blocks)
            {
                if (raw.Length - end < NoiseFrames.FrameWithLengthBytesMax)
                {
                    Buffer.BlockCopy(raw, start, raw, 0, end - start);
                    end -= start;
                    start = 0;
                }

                var n = await socket.ReceiveAsync(raw.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) throw new IOException("the sender closed early");
                end += n;
                while (true)
                {
                    var frame = NoiseFrames.PeekFrameLength(raw.AsSpan(start, end - start));
                    if (frame == 0 || end - start < frame) break;
                    var body = raw.AsSpan(start + NoiseFrames.LengthBytes, frame - NoiseFrames.LengthBytes);
                    filled += cipher.Decrypt(ReadOnlySpan<byte>.Empty, body, block.AsSpan(filled));
                    start += frame;
                    if (filled < blockSize) continue;
                    SHA256.HashData(block.AsSpan(0, blockSize), digest);
                    filled = 0;
                    received++;
                    if (received == warmUpBlocks) measuredStart.TrySetResult(Snapshot());
                }
            }

            return Snapshot();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private static (long Ticks, TimeSpan Cpu, long Allocated) Snapshot()
    {
        using var process = Process.GetCurrentProcess();
        return (Stopwatch.GetTimestamp(), process.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: false));
    }
}
