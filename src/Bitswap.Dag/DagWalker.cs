using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>A DAG that cannot be walked or read as a file: carries the typed decode error.</summary>
public sealed class DagException(DecodeError error) : Exception(error.ToString())
{
    /// <summary>What was wrong.</summary>
    public DecodeError Error { get; } = error;
}

/// <summary>Fetches one block by CID (from a blockstore, a CAR, or the network).</summary>
public delegate ValueTask<Block> BlockGetter(Cid cid, CancellationToken cancellationToken);

/// <summary>The links of a block that a walk follows: dag-pb links; raw blocks have none.</summary>
public static class DagLinks
{
    /// <summary>The child CIDs of a block in link order, or a typed error for a codec this library does not walk.</summary>
    public static Either<DecodeError, Seq<Cid>> Of(Block block) => block.Cid.Codec switch
    {
        Multicodec.Raw => Prelude.Right<DecodeError, Seq<Cid>>(default),
        Multicodec.DagPb => DagPb.Decode(block.Data.Span).Map(node => node.Links.Map(l => l.Hash)),
        var other => new DecodeError(DecodeErrorKind.BadField, $"{block.Cid}: cannot walk codec {Multicodec.Describe(other)}"),
    };
}

/// <summary>Walks a dag-pb/raw DAG breadth-first, fetching each layer's blocks in parallel with bounded concurrency.</summary>
public static class DagWalker
{
    /// <summary>
    /// Yields every distinct block under <paramref name="root"/> (by multihash), layer by layer, in link order within a
    /// layer. A layer is fetched in windows of <see cref="Limits.DagFetchConcurrency"/> blocks in parallel, so memory holds
    /// one window of blocks plus the next layer's CIDs. Deeper than <see cref="Limits.DagDepthMax"/> is a
    /// <see cref="DagException"/>, as is a block whose CID is not the one asked for.
    /// </summary>
    public static async IAsyncEnumerable<Block> WalkAsync(
        Cid root,
        BlockGetter getBlock,
        Limits? limits = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        limits ??= Limits.Default;
        var window = Math.Max(1, limits.DagFetchConcurrency);
        var seen = new System.Collections.Generic.HashSet<Multihash> { root.Hash };
        var layer = new List<Cid> { root };
        for (var depth = 0; layer.Count > 0; depth++)
        {
            if (depth > limits.DagDepthMax)
            {
                throw new DagException(new DecodeError(DecodeErrorKind.TooLarge, $"DAG under {root} is deeper than {limits.DagDepthMax}"));
            }

            var next = new List<Cid>();
            for (var start = 0; start < layer.Count; start += window)
            {
                var blocks = await FetchAllAsync(layer.GetRange(start, Math.Min(window, layer.Count - start)), getBlock, window, cancellationToken);
                foreach (var block in blocks)
                {
                    yield return block;
                    foreach (var child in DagLinks.Of(block).Match(c => c, e => throw new DagException(e)))
                    {
                        if (seen.Add(child.Hash))
                        {
                            next.Add(child);
                        }
                    }
                }
            }

            layer = next;
        }
    }

    /// <summary>Fetches <paramref name="cids"/> with at most <paramref name="concurrency"/> in flight; results keep the input order.</summary>
    public static async Task<Block[]> FetchAllAsync(IReadOnlyList<Cid> cids, BlockGetter getBlock, int concurrency, CancellationToken cancellationToken)
    {
        var results = new Block[cids.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, cids.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = cancellationToken },
            async (i, ct) => results[i] = await FetchCheckedAsync(cids[i], getBlock, ct));
        return results;
    }

    /// <summary>Fetches one block and checks it is the block asked for (same multihash; the getter verified the hash).</summary>
    public static async ValueTask<Block> FetchCheckedAsync(Cid cid, BlockGetter getBlock, CancellationToken cancellationToken)
    {
        var block = await getBlock(cid, cancellationToken);
        return block.Cid.Hash.Equals(cid.Hash)
            ? block
            : throw new DagException(new DecodeError(DecodeErrorKind.HashMismatch, $"asked for {cid}, got {block.Cid}"));
    }
}
