using System.Diagnostics;
using System.Globalization;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Bench;

/// <summary>One measured fetch of the file over TCP.</summary>
/// <param name="Bytes">File size in bytes.</param>
/// <param name="Elapsed">Wall time from the session's first want to the last byte exported.</param>
/// <param name="Blocks">Blocks the fetcher received (Stat().BlocksReceived, duplicates included).</param>
/// <param name="DupBlocks">Duplicate blocks the fetcher received (Stat().DupBlksReceived).</param>
/// <param name="MeanBlockLatency">Mean of ReceivedBlock.Latency over the blocks received.</param>
/// <param name="AllocatedBytes">Bytes allocated by the whole process (both nodes) during the fetch.</param>
/// <param name="Gen0">Gen-0 collections during the fetch (gen-1 and gen-2 collections count here too).</param>
/// <param name="Gen1">Gen-1 collections during the fetch.</param>
/// <param name="Gen2">Gen-2 collections during the fetch.</param>
/// <param name="Cpu">Process CPU time (both nodes, all threads) during the fetch.</param>
public sealed record TransferMeasurement(long Bytes, TimeSpan Elapsed, long Blocks, long DupBlocks, TimeSpan MeanBlockLatency, long AllocatedBytes, int Gen0, int Gen1, int Gen2, TimeSpan Cpu = default);

/// <summary>
/// The <c>transfer</c> mode: two <see cref="BitswapNode"/>s on the real TCP transport over loopback; one imports a
/// pseudo-random file as UnixFS, the other fetches it through one session. One warm-up run, then the measured runs, each
/// with fresh hosts and nodes so the fetcher starts empty.
/// </summary>
public static class TransferRun
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Parses <c>[--size-mib N] [--runs N] [--block-kib N] [--warm-ups N] [--ceiling]</c>, runs, and prints the table
    /// (with <c>--ceiling</c>, also the raw pipeline for the same block size and the transfer as a share of it).
    /// </summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var sizeMib = 64;
        var runs = 3;
        var blockKib = 1024;
        var warmUps = 1;
        var ceiling = false;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--size-mib" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var size) && size > 0:
                    sizeMib = size;
                    i++;
                    break;
                case "--runs" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var count) && count > 0:
                    runs = count;
                    i++;
                    break;
                case "--block-kib" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var kib) && kib > 0 && kib <= 2048:
                    blockKib = kib;
                    i++;
                    break;
                case "--warm-ups" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var w) && w >= 0:
                    warmUps = w;
                    i++;
                    break;
                case "--ceiling":
                    ceiling = true;
                    break;
                default:
                    await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'; usage: transfer [--size-mib N] [--runs N] [--block-kib N] [--warm-ups N] [--ceiling]").ConfigureAwait(false);
                    return 2;
            }
        }

        var content = new byte[sizeMib * 1024L * 1024L];
        new Random(20251124).NextBytes(content);
        var options = ImportOptions.V1_2025 with { ChunkSize = blockKib * 1024 };
        var (import, blocks) = await UnixFsImporter.ImportBytesAsync(content, options).ConfigureAwait(false);
        Console.WriteLine($"file {content.Length} B, root {import.Root}, {import.BlockCount} blocks (UnixFS v1 2025 with {blockKib} KiB raw leaves, CIDv1)");

        for (var w = 0; w < warmUps; w++)
        {
            var warmUp = await MeasureAsync(content, import.Root, blocks.ToArray()).ConfigureAwait(false);
            Console.WriteLine(FormattableString.Invariant($"warm-up {w + 1}: {warmUp.Elapsed.TotalSeconds:0.000} s"));
        }

        var measured = new List<TransferMeasurement>();
        for (var run = 0; run < runs; run++)
        {
            measured.Add(await MeasureAsync(content, import.Root, blocks.ToArray()).ConfigureAwait(false));
        }

        Console.WriteLine(Table(measured));
        if (ceiling)
        {
            var raw = await CeilingRun.MeasureAsync(blockKib * 1024, 256L * 1024 * 1024).ConfigureAwait(false);
            Console.WriteLine(raw);
            var mean = measured.Average(r => r.Bytes / 1e6 / r.Elapsed.TotalSeconds);
            var median = measured.Select(r => r.Bytes / 1e6 / r.Elapsed.TotalSeconds).Order().ElementAt(measured.Count / 2);
            Console.WriteLine(FormattableString.Invariant($"transfer / ceiling: mean {mean / raw.MegabytesPerSecond:0%}, median {median / raw.MegabytesPerSecond:0%}"));
        }

        return 0;
    }

    /// <summary>The result table in Markdown, one row per measured run, then the mean.</summary>
    public static string Table(IReadOnlyList<TransferMeasurement> runs)
    {
        var lines = new List<string>
        {
            "| run | size | seconds | MB/s | ns/B CPU | cores | blocks | dup blocks | mean block latency | allocated | alloc B/B | GCs (0/1/2) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        };
        lines.AddRange(runs.Select((r, i) => Row((i + 1).ToString(CultureInfo.InvariantCulture), r)));
        if (runs.Count > 1)
        {
            var mean = new TransferMeasurement(
                runs[0].Bytes,
                TimeSpan.FromTicks((long)runs.Average(r => r.Elapsed.Ticks)),
                (long)Math.Round(runs.Average(r => r.Blocks)),
                (long)Math.Round(runs.Average(r => r.DupBlocks)),
                TimeSpan.FromTicks((long)runs.Average(r => r.MeanBlockLatency.Ticks)),
                (long)runs.Average(r => r.AllocatedBytes),
                (int)Math.Round(runs.Average(r => r.Gen0)),
                (int)Math.Round(runs.Average(r => r.Gen1)),
                (int)Math.Round(runs.Average(r => r.Gen2)),
                TimeSpan.FromTicks((long)runs.Average(r => r.Cpu.Ticks)));
            lines.Add(Row("mean", mean));
        }

        return string.Join("\n", lines) + "\n";
    }

    private static string Row(string label, TransferMeasurement r) => FormattableString.Invariant(
        $"| {label} | {r.Bytes / (1024.0 * 1024.0):0} MiB | {r.Elapsed.TotalSeconds:0.000} | {r.Bytes / 1e6 / r.Elapsed.TotalSeconds:0.0} | {r.Cpu.TotalNanoseconds / r.Bytes:0.00} | {r.Cpu / r.Elapsed:0.00} | {r.Blocks} | {r.DupBlocks} | {r.MeanBlockLatency.TotalMilliseconds:0.0} ms | {r.AllocatedBytes / (1024.0 * 1024.0):0.0} MiB | {(double)r.AllocatedBytes / r.Bytes:0.00} | {r.Gen0}/{r.Gen1}/{r.Gen2} |");

    private static async Task<TransferMeasurement> MeasureAsync(byte[] content, Domain.Multiformats.Cid root, Block[] blocks)
    {
        await using var providerHost = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        await using var fetcherHost = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        await using var provider = BitswapNode.Create(providerHost.Self, providerHost, new MemoryBlockstore());
        await using var fetcher = BitswapNode.Create(fetcherHost.Self, fetcherHost, new MemoryBlockstore());
        await provider.NotifyNewBlocksAsync(blocks, CancellationToken.None).ConfigureAwait(false);
        await fetcherHost.DialAsync(providerHost.ListenAddresses[0]).ConfigureAwait(false);

        // The observer runs on the fetcher's loop thread and the mean is read from this one, hence the lock.
        var latency = new LatencySum();
        using var subscription = fetcher.Blocks.Subscribe(received => latency.Add(received.Latency));

        // Settle the previous run's garbage first so the GC counts belong to this fetch.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var cpuBefore = CpuTime();
        var clock = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(RunTimeout);

        // Compare as the bytes stream out instead of assembling the file, so the bench allocates nothing per byte itself.
        var sink = new ComparingSink(content);
        using (var session = fetcher.NewSession())
        {
            await UnixFsExporter.ExportAsync(
                root,
                (cid, ct) => new ValueTask<Block>(session.GetBlockAsync(cid, ct)),
                sink,
                cancellationToken: timeout.Token).ConfigureAwait(false);
        }

        clock.Stop();
        var cpu = CpuTime() - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var gcs = (GC.CollectionCount(0) - gen0, GC.CollectionCount(1) - gen1, GC.CollectionCount(2) - gen2);
        if (sink.Position != content.Length)
        {
            throw new InvalidOperationException($"fetched {sink.Position} B, not the {content.Length} B imported");
        }

        var stat = fetcher.Stat();
        return new TransferMeasurement(content.Length, clock.Elapsed, stat.BlocksReceived, stat.DupBlksReceived, latency.Mean, allocated, gcs.Item1, gcs.Item2, gcs.Item3, cpu);
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    // A write-only stream that checks every byte against the expected content at its position.
    private sealed class ComparingSink(byte[] expected) : Stream
    {
        private long _position;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _position;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_position + buffer.Length > expected.Length || !buffer.SequenceEqual(expected.AsSpan((int)_position, buffer.Length)))
            {
                throw new InvalidOperationException($"fetched bytes differ from the content at offset {_position}");
            }

            _position += buffer.Length;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }
    }

    private sealed class LatencySum
    {
        private readonly Lock _gate = new();
        private long _ticks;
        private long _count;

        public TimeSpan Mean
        {
            get
            {
                lock (_gate)
                {
                    return _count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(_ticks / _count);
                }
            }
        }

        public void Add(TimeSpan latency)
        {
            lock (_gate)
            {
                _ticks += latency.Ticks;
                _count++;
            }
        }
    }
}
