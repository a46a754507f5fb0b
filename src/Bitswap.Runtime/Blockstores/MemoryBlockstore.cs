using System.Collections.Concurrent;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Blockstores;

/// <summary>
/// A blockstore in memory, safe for concurrent use, keyed by multihash so that the v0 and v1 CIDs of the same content
/// find the same block. Puts are hash-checked and refused above <see cref="Limits.BlockBytesMax"/>.
/// </summary>
public sealed class MemoryBlockstore : IBlockstore
{
    private readonly ConcurrentDictionary<Multihash, Block> _blocks = new();
    private readonly int _blockBytesMax;

    /// <summary>An empty store that refuses blocks larger than <paramref name="limits"/>.BlockBytesMax (default 2 MiB).</summary>
    public MemoryBlockstore(Limits? limits = null)
    {
        _blockBytesMax = (limits ?? Limits.Default).BlockBytesMax;
    }

    /// <inheritdoc />
    public bool CompletesSynchronously => true;

    /// <summary>How many blocks are held.</summary>
    public int Count => _blocks.Count;

    /// <summary>The total data bytes held.</summary>
    public long TotalBytes => _blocks.Values.Sum(b => (long)b.Size);

    /// <inheritdoc />
    public ValueTask<bool> HasAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_blocks.ContainsKey(cid.Hash));
    }

    /// <inheritdoc />
    public ValueTask<int?> GetSizeAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_blocks.TryGetValue(cid.Hash, out var block) ? block.Size : (int?)null);
    }

    /// <inheritdoc />
    public ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_blocks.TryGetValue(cid.Hash, out var stored)) return ValueTask.FromResult<Block?>(null);
        if (stored.Cid == cid) return ValueTask.FromResult<Block?>(stored);
        // Same multihash under another CID (v0 vs v1, or another codec): the block must carry the CID that was asked for.
        var verified = Block.Verified(cid, stored.Data);
        return ValueTask.FromResult(verified.IsRight ? verified.RightToSeq().Head() : null);
    }

    /// <inheritdoc />
    public ValueTask PutAsync(Block block, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        BlockAdmission.Check(block, _blockBytesMax);
        _blocks.TryAdd(block.Cid.Hash, block);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_blocks.TryRemove(cid.Hash, out _));
    }

    /// <summary>Every held block's CID as it was put, in CID byte order (a snapshot taken when enumeration starts).</summary>
    public IAsyncEnumerable<Cid> AllKeysAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _blocks.Values.Select(b => b.Cid).Order().ToArray().ToAsyncEnumerable();
    }
}
