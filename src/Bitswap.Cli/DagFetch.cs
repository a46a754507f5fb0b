using System.Buffers;
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
    /// Fetches every block under <paramref name="root"/>; <paramref name="onBlock"/> sees each one as it arrives, then
    /// <paramref name="place"/> (when given) may write it out before the next one is taken.
    /// Fails with <see cref="CliError"/> when no block arrives for <paramref name="idleTimeout"/>.
    /// </summary>
    public static async Task<FetchTotals> FetchAsync(
        BitswapSession session, Cid root, TimeSpan idleTimeout, Action<Block> onBlock, Limits limits, CancellationToken cancellationToken,
        Func<Block, CancellationToken, ValueTask>? place = null)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var depthOf = new Dictionary<Multihash, int> { [root.Hash] = 0 };
        var pending = new Queue<Cid>();
        pending.Enqueue(root);
        // Unbounded in form only: at most WantWindow blocks are wanted and each arrives once. Each block is copied out of
        // the node's (possibly pooled) receive memory into a rented buffer, returned once the block is placed, so a
        // large fetch makes no garbage per block.
        var arrivals = Channel.CreateUnbounded<(Block Block, byte[] Rented)>(new UnboundedChannelOptions { SingleReader = true });
        var fetches = new List<Task>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var outstanding = 0;
        var blocks = 0;
        long bytes = 0;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
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
                    fetches.Add(FetchBatchAsync(session, batch, arrivals.Writer, stop.Token));
                }

                idle.CancelAfter(idleTimeout);
                Block block;
                byte[] rented;
                try
                {
                    (block, rented) = await arrivals.Reader.ReadAsync(idle.Token).ConfigureAwait(false);
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

                outstanding--;
                blocks++;
                bytes += block.Size;
                LanguageExt.Seq<Cid> links;
                try
                {
                    onBlock(block);
                    if (place is not null)
                    {
                        await place(block, cancellationToken).ConfigureAwait(false);
                    }

                    links = DagLinks.Of(block).Match(l => l, error => throw new CliError($"cannot walk {block.Cid}: {error.Detail}"));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }

                var depth = depthOf[block.Cid.Hash];
                foreach (var link in links)
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
            // Wants still open are withdrawn; blocks that arrived but were never taken go back to the pool.
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

            arrivals.Writer.TryComplete();
            while (arrivals.Reader.TryRead(out var leftover))
            {
                ArrayPool<byte>.Shared.Return(leftover.Rented);
            }
        }

        return new FetchTotals(blocks, bytes, System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// Fetches one batch; each block is copied, on the node's loop thread, from the node's receive memory into a rented
    /// buffer that travels with it to the consumer. An error ends the whole fetch through the channel.
    /// </summary>
    private static async Task FetchBatchAsync(BitswapSession session, List<Cid> batch, ChannelWriter<(Block, byte[])> arrivals, CancellationToken cancellationToken)
    {
        try
        {
            await session.FetchAsync(batch, block =>
            {
                var rented = ArrayPool<byte>.Shared.Rent(Math.Max(1, block.Size));
                if (!arrivals.TryWrite((block.CopiedInto(rented), rented)))
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            arrivals.TryComplete(error);
        }
    }

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
