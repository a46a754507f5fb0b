using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime;

namespace Bitswap.Cli;

/// <summary>What a fetch moved: distinct blocks, their bytes and the wall time.</summary>
/// <param name="Blocks">Blocks fetched.</param>
/// <param name="Bytes">Bytes of those blocks.</param>
/// <param name="Elapsed">Time from the first want to the last block.</param>
public sealed record FetchTotals(int Blocks, long Bytes, TimeSpan Elapsed)
{
    /// <summary>Throughput in megabytes (10^6 bytes) per second.</summary>
    public double MegabytesPerSecond => Elapsed.TotalSeconds > 0 ? Bytes / 1e6 / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Fetches whole DAGs (dag-pb and raw) through one Bitswap session: each arrived block's links are wanted at once, with
/// at most <see cref="WantWindow"/> wants in flight, so a wide UnixFS file is fetched in parallel. Blocks land in the
/// node's blockstore (the node stores what it receives); the caller reassembles from there.
/// </summary>
public static class DagFetch
{
    /// <summary>
    /// Wants in flight at once: the session's wantlist stays under what a boxo server keeps per peer
    /// (<see cref="Limits.WantlistEntriesPerPeerMax"/>, 1024), with room left for other sessions.
    /// </summary>
    public const int WantWindow = 256;

    /// <summary>
    /// Fetches every block under <paramref name="root"/>. <paramref name="onBlock"/> and then <paramref name="place"/>
    /// (when given) see each block as it arrives, on the node's loop thread, while the block is lent from the node's
    /// receive memory: they must use it within the call and not keep it. Nothing is copied or queued per block; a
    /// placement that is slow (a disk that throttles writes) slows the node, which slows the peer: back-pressure.
    /// Fails with <see cref="CliError"/> when no block arrives for <paramref name="idleTimeout"/>, and with the error
    /// of <paramref name="onBlock"/> or <paramref name="place"/> when one throws.
    /// </summary>
    public static async Task<FetchTotals> FetchAsync(
        BitswapSession session, Cid root, TimeSpan idleTimeout, Action<Block> onBlock, Limits limits, CancellationToken cancellationToken,
        Action<Block>? place = null)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var depthOf = new Dictionary<Multihash, int> { [root.Hash] = 0 };
        var pending = new Queue<Cid>();
        pending.Enqueue(root);
        // Unbounded in form only: at most WantWindow blocks are wanted and each arrives once; an arrival is its CID,
        // size and links, never its data.
        var arrivals = Channel.CreateUnbounded<Arrival>(new UnboundedChannelOptions { SingleReader = true });
        var fetches = new List<Task>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var outstanding = 0;
        var blocks = 0;
        long bytes = 0;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        void Take(Block block)
        {
            try
            {
                onBlock(block);
                place?.Invoke(block);
                var links = DagLinks.Of(block).Match(l => l, error => throw new CliError($"cannot walk {block.Cid}: {error.Detail}"));
                arrivals.Writer.TryWrite(new Arrival(block.Cid, block.Size, links, null));
            }
            catch (Exception error)
            {
                arrivals.Writer.TryWrite(new Arrival(block.Cid, block.Size, default, error));
            }
        }

        try
        {
            while (pending.Count > 0 || outstanding > 0)
            {
                if (pending.Count > 0 && outstanding < WantWindow)
                {
                    var batch = new List<Cid>();
                    while (pending.Count > 0 && outstanding + batch.Count < WantWindow)
                    {
                        batch.Add(pending.Dequeue());
                    }

                    outstanding += batch.Count;
                    fetches.Add(FetchBatchAsync(session, batch, Take, arrivals.Writer, stop.Token));
                }

                idle.CancelAfter(idleTimeout);
                Arrival arrival;
                try
                {
                    arrival = await arrivals.Reader.ReadAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new CliError($"timed out: no block for {idleTimeout.TotalSeconds:0.#} s ({blocks} blocks fetched, {outstanding} still wanted)");
                }
                catch (ChannelClosedException closed) when (closed.InnerException is not null)
                {
                    ExceptionDispatchInfo.Capture(closed.InnerException).Throw();
                    throw;
                }

                if (arrival.Error is not null)
                {
                    ExceptionDispatchInfo.Capture(arrival.Error).Throw();
                }

                outstanding--;
                blocks++;
                bytes += arrival.Size;
                var depth = depthOf[arrival.Cid.Hash];
                foreach (var link in arrival.Links)
                {
                    if (depthOf.TryAdd(link.Hash, depth + 1))
                    {
                        if (depth + 1 > limits.DagDepthMax)
                        {
                            throw new CliError($"the DAG under {root} is deeper than {limits.DagDepthMax} levels");
                        }

                        pending.Enqueue(link);
                    }
                }
            }
        }
        finally
        {
            // Wants still open are withdrawn.
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var fetch in fetches)
            {
                try
                {
                    await fetch.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // This fetch's outcome is already known (done, cancelled above, or its error ended the loop).
                }
            }
        }

        return new FetchTotals(blocks, bytes, System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Fetches one batch, each block handed to <paramref name="take"/> on the node's loop thread; an error ends the whole fetch through the channel.</summary>
    private static async Task FetchBatchAsync(BitswapSession session, List<Cid> batch, Action<Block> take, ChannelWriter<Arrival> arrivals, CancellationToken cancellationToken)
    {
        try
        {
            await session.FetchAsync(batch, take, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            arrivals.TryComplete(error);
        }
    }

    private readonly record struct Arrival(Cid Cid, int Size, LanguageExt.Seq<Cid> Links, Exception? Error);

    /// <summary>The file size a UnixFS root announces (a raw root is its own size), when it says.</summary>
    public static long? AnnouncedFileSize(Block root)
    {
        if (root.Cid.Codec == Multicodec.Raw)
        {
            return root.Size;
        }

        return DagPb.Decode(root.Data.Span)
            .Bind(node => node.Data is { } data ? UnixFsData.Decode(data.Span) : new DecodeError(DecodeErrorKind.Empty, "no data"))
            .Match(data => data.FileSize is { } size ? (long?)size : null, _ => null);
    }

    /// <summary>A block getter over a blockstore; a missing block is a one-line error.</summary>
    public static BlockGetter From(Runtime.Blockstores.IBlockstore blockstore) => async (cid, cancellationToken) =>
        await blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false)
        ?? throw new CliError($"block {cid} is not in the blockstore");
}
