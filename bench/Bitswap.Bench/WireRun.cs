using System.Diagnostics;
using System.Globalization;
using Bitswap.Domain;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Bench;

/// <summary>
/// The <c>wire</c> mode: the transport half alone. Two <see cref="TcpHost"/>s over loopback; one sends messages of one
/// block each through <see cref="TcpHost.SendAsync"/> as fast as the send queue admits them, the other takes each
/// <see cref="MessageArrived"/> (block hashed once by the transport) and disposes its lease at once, as a shell that
/// stored the block would. No Bitswap node, no blockstore: what the shell could get from the transport.
/// </summary>
public static class WireRun
{
    /// <summary>Parses <c>[--size-mib N] [--block-kib N] [--runs N]</c>, runs, prints one line per run and the ceiling.</summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var sizeMib = 256;
        var blockKib = 1024;
        var runs = 3;
        for (var i = 0; i + 1 < args.Count; i += 2)
        {
            if (!int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value <= 0)
            {
                await Console.Error.WriteLineAsync($"invalid value for {args[i]}").ConfigureAwait(false);
                return 2;
            }

            switch (args[i])
            {
                case "--size-mib": sizeMib = value; break;
                case "--block-kib": blockKib = value; break;
                case "--runs": runs = value; break;
                default:
                    await Console.Error.WriteLineAsync($"unknown argument '{args[i]}'; usage: wire [--size-mib N] [--block-kib N] [--runs N]").ConfigureAwait(false);
                    return 2;
            }
        }

        var blockBytes = blockKib * 1024;
        var random = new Random(11);
        var blocks = Enumerable.Range(0, Math.Max(1, 64 * 1024 / blockKib)).Select(_ =>
        {
            var data = new byte[blockBytes];
            random.NextBytes(data);
            return Block.Raw(data);
        }).ToArray();
        var total = sizeMib * 1024L * 1024L;
        await MeasureAsync(blocks, 64L * 1024 * 1024).ConfigureAwait(false);
        for (var run = 0; run < runs; run++)
        {
            var (elapsed, cpu, allocated) = await MeasureAsync(blocks, total).ConfigureAwait(false);
            Console.WriteLine(FormattableString.Invariant(
                $"wire {blockKib} KiB blocks: {total / 1e6 / elapsed.TotalSeconds:0} MB/s, {cpu.TotalNanoseconds / total:0.00} ns/B CPU, {cpu / elapsed:0.00} cores, {(double)allocated / total:0.000} B allocated/B ({sizeMib} MiB in {elapsed.TotalSeconds:0.000} s)"));
        }

        Console.WriteLine(await CeilingRun.MeasureAsync(blockBytes, total).ConfigureAwait(false));
        return 0;
    }

    private static async Task<(TimeSpan Elapsed, TimeSpan Cpu, long Allocated)> MeasureAsync(Block[] blocks, long totalBytes)
    {
        await using var sender = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        await using var receiver = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        var count = (totalBytes + blocks[0].Size - 1) / blocks[0].Size;
        var received = 0L;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = receiver.Events.Subscribe(e =>
        {
            if (e is not MessageArrived arrived) return;
            arrived.Lease?.Dispose();
            if (Interlocked.Add(ref received, arrived.Message.Blocks.Count) >= count) done.TrySetResult();
        });
        await sender.DialAsync(receiver.ListenAddresses[0]).ConfigureAwait(false);
        var messages = blocks.Select(b => Message.Empty.WithBlock(b)).ToArray();
        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = CpuTime();
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < count; i++)
        {
            await sender.SendAsync(receiver.Self, messages[i % messages.Length]).ConfigureAwait(false);
        }

        await done.Task.WaitAsync(TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        clock.Stop();
        return (clock.Elapsed, CpuTime() - cpuBefore, GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore);
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
