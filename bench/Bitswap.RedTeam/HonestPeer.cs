using System.Diagnostics;
using Bitswap.Domain;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.RedTeam;

/// <summary>What the well-behaved peer saw during one attack.</summary>
/// <param name="LatenciesMs">Each successful request's latency.</param>
/// <param name="Failures">Requests that failed or took longer than the request timeout.</param>
/// <param name="DialsOk">Fresh connections (socket, Noise, Yamux) that came up.</param>
/// <param name="DialsFailed">Fresh connections refused or not up within 5 s.</param>
/// <param name="Incidents">What went wrong or was slow (over a second), with seconds since the peer started: for reading a run, not for the table.</param>
public sealed record HonestReport(IReadOnlyList<double> LatenciesMs, int Failures, int DialsOk, int DialsFailed, IReadOnlyList<string> Incidents)
{
    /// <summary>The q-th quantile of the latencies (nearest rank), or NaN when there were none.</summary>
    public double Quantile(double q)
    {
        if (LatenciesMs.Count == 0)
        {
            return double.NaN;
        }

        var sorted = LatenciesMs.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    /// <summary>The slowest request.</summary>
    public double Max => LatenciesMs.Count == 0 ? double.NaN : LatenciesMs.Max();
}

/// <summary>
/// A well-behaved peer built from our own library (a <see cref="TcpHost"/> and a <see cref="BitswapNode"/> that does
/// not keep what it fetches): it fetches the probe blocks one after the other, and dials a fresh connection every two
/// seconds, for as long as it is told.
/// </summary>
public static class HonestPeer
{
    /// <summary>A request slower than this counts as a failure.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Fetches probes until <paramref name="ct"/> fires and reports what it saw.</summary>
    public static async Task<HonestReport> RunAsync(NodeUnderTest target, Corpus corpus, CancellationToken ct)
    {
        var latencies = new List<double>();
        var failures = 0;
        var incidents = new List<string>();
        var started = Stopwatch.StartNew();
        void Note(string what)
        {
            lock (incidents) incidents.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{started.Elapsed.TotalSeconds:0.0} s: {what}"));
        }

        var dials = DialLoopAsync(target, Note, ct);
        await using var host = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { Listen = [] }).ConfigureAwait(false);
        await using var node = BitswapNode.Create(host.Self, host, new MemoryBlockstore(), BitswapOptions.Default with { StoreReceivedBlocks = false, Seed = 7 });
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(RequestTimeout);
            await host.DialAsync(target.Address, connect.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            failures++;
            Note($"first dial failed: {e.GetType().Name}: {e.Message}");
        }

        var i = 0;
        while (!ct.IsCancellationRequested)
        {
            var probe = corpus.Probes[i++ % corpus.Probes.Count];
            var clock = Stopwatch.StartNew();
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(RequestTimeout);
                var block = await node.GetBlockAsync(probe.Cid, timeout.Token).ConfigureAwait(false);
                if (block.Cid != probe.Cid)
                {
                    failures++;
                }
                else
                {
                    latencies.Add(clock.Elapsed.TotalMilliseconds);
                    if (clock.Elapsed > TimeSpan.FromSeconds(1)) Note($"request took {clock.Elapsed.TotalMilliseconds:0} ms");
                }
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                failures++;
                Note($"request failed after {clock.Elapsed.TotalMilliseconds:0} ms: {e.GetType().Name}: {e.Message}");
                // A peer that lost its connection dials again, as any client would.
                if (host.ConnectedPeers.Count == 0)
                {
                    await RedialAsync(host, target, ct).ConfigureAwait(false);
                }
            }

            // About ten requests a second: a client browsing, not a benchmark.
            await Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
        }

        var (ok, failed) = await dials.ConfigureAwait(false);
        lock (incidents) return new HonestReport(latencies, failures, ok, failed, [.. incidents]);
    }

    /// <summary>One fetch of one probe on a fresh peer, for a final "is it still serving" check.</summary>
    public static async Task<bool> StillServesAsync(NodeUnderTest target, Block probe, TimeSpan patience)
    {
        try
        {
            using var timeout = new CancellationTokenSource(patience);
            await using var host = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { Listen = [] }).ConfigureAwait(false);
            await using var node = BitswapNode.Create(host.Self, host, new MemoryBlockstore(), BitswapOptions.Default with { StoreReceivedBlocks = false });
            await host.DialAsync(target.Address, timeout.Token).ConfigureAwait(false);
            var block = await node.GetBlockAsync(probe.Cid, timeout.Token).ConfigureAwait(false);
            return block.Cid == probe.Cid;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    private static async Task RedialAsync(TcpHost host, NodeUnderTest target, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await host.DialAsync(target.Address, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Counted as failures by the requests that follow.
        }
    }

    private static async Task<(int Ok, int Failed)> DialLoopAsync(NodeUnderTest target, Action<string> note, CancellationToken ct)
    {
        int ok = 0, failed = 0;
        while (!ct.IsCancellationRequested)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await using var fresh = await Hostile.ConnectAsync(target.Endpoint, timeout.Token).ConfigureAwait(false);
                ok++;
                if (clock.Elapsed > TimeSpan.FromSeconds(1)) note($"fresh dial took {clock.Elapsed.TotalMilliseconds:0} ms");
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                failed++;
                note($"fresh dial failed after {clock.Elapsed.TotalMilliseconds:0} ms: {e.GetType().Name}: {e.Message}");
            }

            await Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        }

        return (ok, failed);
    }

    /// <summary>Waits, or returns early when <paramref name="ct"/> fires (never throws).</summary>
    public static async Task Delay(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The caller checks ct.
        }
    }
}
