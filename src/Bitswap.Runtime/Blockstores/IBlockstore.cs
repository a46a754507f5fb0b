using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Blockstores;

/// <summary>A put was refused: the data does not hash to the CID, or the block is over the size limit.</summary>
public sealed class BlockRejectedException(string message) : Exception(message);

/// <summary>
/// Block storage, safe for concurrent use. Blocks are keyed by multihash, so a v0 and a v1 CID of the same content find
/// the same data. A store never holds a block whose data does not hash to its CID, and a completed put is durable.
/// </summary>
public interface IBlockstore
{
    /// <summary>True when the block is held.</summary>
    ValueTask<bool> HasAsync(Cid cid, CancellationToken cancellationToken = default);

    /// <summary>The block's size, or null when it is not held.</summary>
    ValueTask<int?> GetSizeAsync(Cid cid, CancellationToken cancellationToken = default);

    /// <summary>The block, or null when it is not held.</summary>
    ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken = default);

    /// <summary>Stores a block after checking its hash; throws <see cref="BlockRejectedException"/> on a mismatch. Idempotent.</summary>
    ValueTask PutAsync(Block block, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores several blocks, as one batch (boxo's PutMany, one call per received message): a store may make the batch
    /// durable with fewer syncs than one put at a time. Every block is durable when the call completes.
    /// </summary>
    async ValueTask PutManyAsync(IReadOnlyList<Block> blocks, CancellationToken cancellationToken = default)
    {
        foreach (var block in blocks)
        {
            await PutAsync(block, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// True when every call completes synchronously and quickly (no disk or network I/O), so the node may call it on its
    /// loop thread instead of a blockstore worker.
    /// </summary>
    bool CompletesSynchronously => false;

    /// <summary>
    /// True when a put keeps a reference to the block's memory (an in-memory store) rather than copying it out (a disk
    /// store); the node then hands it a block that owns its memory, never one lent from a pooled receive buffer.
    /// </summary>
    bool RetainsBlockMemory => true;

    /// <summary>Removes a block; false when it was not held.</summary>
    ValueTask<bool> DeleteAsync(Cid cid, CancellationToken cancellationToken = default);

    /// <summary>Every held block's CID, as a raw CIDv1 when only the multihash is known (flatfs keys by multihash).</summary>
    IAsyncEnumerable<Cid> AllKeysAsync(CancellationToken cancellationToken = default);
}
