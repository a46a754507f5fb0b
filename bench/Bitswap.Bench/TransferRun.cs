using System.Diagnostics;
using System.Globalization;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Bench;

/// <summary>One measured pass of the whole payload over TCP, in steady state.</summary>
/// <param name="Bytes">Payload bytes fetched.</param>
/// <param name="Blocks">Blocks fetched.</param>
/// <param name="Elapsed">Wall time of the pass.</param>
/// <param name="CpuTime">Process CPU time (both nodes, every thread) during the pass.</param>
/// <param name="AllocatedBytes">Bytes allocated by the whole process during the pass.</param>
/// <param name="DupBlocks">Duplicate blocks the fetcher counted during the pass.</param>
/// <param name="Gen2">Gen-2 collections during the pass.</param>
public sealed record TransferMeasurement(long Bytes, long Blocks, TimeSpan Elapsed, TimeSpan CpuTime, long AllocatedBytes, long DupBlocks, int Gen2)
{
    /// <summary>Payload megabytes (10^6 B) per second.</summary>
    public double MegabytesPerSecond => Bytes / 1e6 / Elapsed.TotalSeconds;

    /// <summary>Blocks per second.</summary>
    public double BlocksPerSecond => Blocks / Elapsed.TotalSeconds;

    /// <summary>CPU nanoseconds per payload byte, both nodes together.</summary>
    public double CpuNsPerByte => CpuTime.TotalMilliseconds * 1e6 / Bytes;

    /// <summary>Cores busy on average during the pass.</summary>
    public double Cores => CpuTime / Elapsed;

    /// <summary>Bytes allocated per payload byte.</summary>
    public double AllocatedPerByte => (double)AllocatedBytes / Bytes;
}

/// <summary>
/// The <c>transfer</c> mode: two <see cref="BitswapNode"/>s on the real TCP transport over loopback, in one process.
/// The provider holds raw blocks in memory; the fetcher fetches them all through one session with a sliding window of
/// wants and discards them (<see cref="BitswapSession.FetchAsync"/>, zero-copy, nothing stored). The same two nodes and
/// connection serve every pass, so after the warm-up passes the measured ones are steady state. The machine's ceiling
/// (<see cref="CeilingRun"/>) is measured in the same run and the transfer is reported as a share of it.
/// </summary>
public static class TransferRun
{
    private static readonly TimeSpan PassTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Parses <c>[--size-mib N] [--block-size N]... [--runs N] [--warmup N] [--no-ceiling] [--alloc-profile]</c>, runs, and
    /// prints the table; <c>--alloc-profile</c> also prints the types that took most of the measured passes' allocations.
    /// </summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var sizeMib = 256;
        var blockSizes = new List<int>();
        var runs = 3;
        var warmUps = 3;
        var ceiling = true;
        AllocationProfile? profile = null;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--size-mib" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var size) && size > 0:
                    sizeMib = size;
                    i++;
                    break;
                case "--block-size" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var blockSize) && blockSize is > 0 and <= 2 * 1024 * 1024:
                    blockSizes.Add(blockSize);
                    i++;
                    break;
                case "--runs" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var count) && count > 0:
                    runs = count;
                    i++;
                    break;
                case "--warmup" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var warm) && warm >= 0:
                    warmUps = warm;
                    i++;
                    break;
                case "--no-ceiling":
                    ceiling = false;
                    break;
                case "--alloc-profile":
                    profile = new AllocationProfile();
                    break;
                default:
                    await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'; usage: transfer [--size-mib N] [--block-size N]... [--runs N] [--warmup N] [--no-ceiling] [--alloc-profile]").ConfigureAwait(false);
                    return 2;
            }
        }

        if (blockSizes.Count == 0)
        {
            blockSizes.AddRange([1024 * 1024, 256 * 1024]);
        }

        Console.WriteLine(FormattableString.Invariant($"{Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {sizeMib} MiB per pass, {warmUps} warm-up and {runs} measured passes per block size"));
        var rows = new List<string>
        {
            "| block size | MB/s (median) | blocks/s | CPU ns/B | cores | allocated B/B | dup blocks | gen2 GCs | ceiling MB/s | share of ceiling |",
            "|---|---|---|---|---|---|---|---|---|---|",
        };
        foreach (var blockSize in blockSizes)
        {
            var measured = await MeasureAsync(blockSize, sizeMib * 1024L * 1024L, warmUps, runs, profile).ConfigureAwait(false);
            if (profile is not null)
            {
                Console.WriteLine($"  allocations by type, {Size(blockSize)} blocks (sampled):");
                foreach (var line in profile.Top(25))
                {
                    Console.WriteLine(line);
                }
            }

            var median = measured.OrderBy(m => m.MegabytesPerSecond).ElementAt(measured.Count / 2);
            double? limit = null;
            if (ceiling && blockSize >= 64 * 1024)
            {
                limit = await CeilingAsync(blockSize, sizeMib * 1024L * 1024L).ConfigureAwait(false);
            }

            foreach (var m in measured)
            {
                Console.WriteLine(FormattableString.Invariant($"  {Size(blockSize)}: {m.MegabytesPerSecond:0.0} MB/s, {m.BlocksPerSecond:0} blocks/s, {m.CpuNsPerByte:0.00} ns/B, {m.Cores:0.00} cores, {m.AllocatedPerByte:0.000} B/B allocated"));
            }

            rows.Add(FormattableString.Invariant(
                $"| {Size(blockSize)} | {median.MegabytesPerSecond:0.0} | {median.BlocksPerSecond:0} | {median.CpuNsPerByte:0.00} | {median.Cores:0.00} | {median.AllocatedPerByte:0.000} | {median.DupBlocks} | {median.Gen2} | {(limit is null ? "-" : limit.Value.ToString("0", CultureInfo.InvariantCulture))} | {(limit is null ? "-" : (median.MegabytesPerSecond / limit.Value).ToString("0%", CultureInfo.InvariantCulture))} |"));
        }

        Console.WriteLine();
        Console.WriteLine(string.Join("\n", rows));
        return 0;
    }

    /// <summary>The ceiling in MB/s for this block size, measured now, in this process: the median of three runs.</summary>
    private static async Task<double?> CeilingAsync(int blockSize, long totalBytes)
    {
        var rates = new List<double>();
        for (var run = 0; run < 3; run++)
        {
            var result = await CeilingRun.MeasureAsync(blockSize, totalBytes).ConfigureAwait(false);
            Console.WriteLine($"  ceiling {Size(blockSize)}: {result}");
            rates.Add(result.MegabytesPerSecond);
        }

        return rates.Order().ElementAt(1);
    }

    private static string Size(int bytes) => bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0
        ? FormattableString.Invariant($"{bytes / (1024 * 1024)} MiB")
        : bytes >= 1024 && bytes % 1024 == 0 ? FormattableString.Invariant($"{bytes / 1024} KiB") : FormattableString.Invariant($"{bytes} B");

    /// <summary>Runs the warm-up passes and then the measured ones over one pair of nodes.</summary>
    public static async Task<IReadOnlyList<TransferMeasurement>> MeasureAsync(int blockSize, long totalBytes, int warmUps, int runs, AllocationProfile? profile = null)
    {
        // Every pass fetches blocks of its own, so no pass finds its blocks in the fetcher's memory of recent ones.
        var count = (int)Math.Max(1, totalBytes / blockSize);
        var passes = warmUps + runs;
        var blocks = new Block[passes * count];
        var random = new Random(20261129);
        for (var i = 0; i < blocks.Length; i++)
        {
            var data = new byte[blockSize];
            random.NextBytes(data);
            blocks[i] = Block.Raw(data);
        }

        var limits = Limits.Default;
        await using var providerHost = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        await using var fetcherHost = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false);
        await using var provider = BitswapNode.Create(providerHost.Self, providerHost, new MemoryBlockstore());
        // The fetcher keeps nothing: every pass runs over the same warm connection and nodes.
        await using var fetcher = BitswapNode.Create(fetcherHost.Self, fetcherHost, new MemoryBlockstore(), new BitswapOptions { StoreReceivedBlocks = false });
        await provider.NotifyNewBlocksAsync(blocks, CancellationToken.None).ConfigureAwait(false);
        var all = Array.ConvertAll(blocks, b => b.Cid);
        blocks = [];
        await fetcherHost.DialAsync(providerHost.ListenAddresses[0]).ConfigureAwait(false);

        // A window of wants in flight: enough to fill the pipe, and within the server's per-peer wantlist cap.
        var window = (int)Math.Clamp(64L * 1024 * 1024 / blockSize, 16, limits.WantlistEntriesPerPeerMax / 2);
        var results = new List<TransferMeasurement>();
        for (var pass = 0; pass < passes; pass++)
        {
            var cids = all[(pass * count)..((pass + 1) * count)];
            if (pass == warmUps)
            {
                profile?.Start();
            }

            var m = await PassAsync(fetcher, cids, blockSize, window).ConfigureAwait(false);
            if (pass >= warmUps)
            {
                results.Add(m);
            }
        }

        return results;
    }

    private static async Task<TransferMeasurement> PassAsync(BitswapNode fetcher, Cid[] cids, int blockSize, int window)
    {
        using var timeout = new CancellationTokenSource(PassTimeout);
        var dupBefore = fetcher.Stat().DupBlksReceived;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var gen2Before = GC.CollectionCount(2);
        var clock = Stopwatch.StartNew();
        long received = 0;
        long bytes = 0;
        using (var session = fetcher.NewSession())
        {
            // Four chunks in flight, each a quarter of the window: the next chunk's wants leave while the last ones land.
            var chunk = Math.Max(1, window / 4);
            var inFlight = new List<Task>();
            for (var start = 0; start < cids.Length; start += chunk)
            {
                if (inFlight.Count == 4)
                {
                    var finished = await Task.WhenAny(inFlight).ConfigureAwait(false);
                    await finished.ConfigureAwait(false);
                    inFlight.Remove(finished);
                }

                var slice = new ArraySegment<Cid>(cids, start, Math.Min(chunk, cids.Length - start));
                inFlight.Add(session.FetchAsync(slice, block =>
                {
                    // Runs on the fetcher's loop thread, one at a time: the block was hashed by the decoder, so only count it.
                    received++;
                    bytes += block.Size;
                }, timeout.Token));
            }

            await Task.WhenAll(inFlight).ConfigureAwait(false);
        }

        clock.Stop();
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        if (received != cids.Length || bytes != (long)cids.Length * blockSize)
        {
            throw new InvalidOperationException($"fetched {received} blocks and {bytes} B, expected {cids.Length} and {(long)cids.Length * blockSize}");
        }

        return new TransferMeasurement(bytes, received, clock.Elapsed, cpu, allocated, fetcher.Stat().DupBlksReceived - dupBefore, GC.CollectionCount(2) - gen2Before);
    }
}
