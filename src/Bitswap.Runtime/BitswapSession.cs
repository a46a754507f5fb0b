using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime;

/// <summary>
/// A long-lived fetch session (boxo's NewSession Fetcher): its wants share the peers that answered earlier ones.
/// Disposing it cancels every remaining want.
/// </summary>
public sealed class BitswapSession : IDisposable
{
    private readonly BitswapNode _node;
    private int _disposed;

    internal BitswapSession(BitswapNode node, long id)
    {
        _node = node;
        Id = id;
    }

    /// <summary>The session's number in the node (as in <see cref="Input"/>s and traces).</summary>
    public long Id { get; }

    /// <summary>Fetches one block in this session; cancelling withdraws this want only.</summary>
    public Task<Block> GetBlockAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _node.FetchOneAsync(Id, cid, temporary: false, cancellationToken);
    }

    /// <summary>Fetches blocks in this session; completes when all arrived; disposing the subscription cancels the rest.</summary>
    public IObservable<Block> GetBlocks(IEnumerable<Cid> cids)
    {
        ThrowIfDisposed();
        return _node.Fetch(() => Id, cids, temporary: false);
    }

    /// <summary>
    /// Fetches blocks in this session and calls <paramref name="onBlock"/> on the node's loop thread for each as it
    /// arrives; the block may be lent from pooled memory and is valid only during the call (see <see cref="BitswapNode.FetchAsync(IEnumerable{Cid}, Action{Block}, CancellationToken)"/>).
    /// </summary>
    public Task FetchAsync(IEnumerable<Cid> cids, Action<Block> onBlock, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _node.FetchAsync(Id, cids, onBlock, cancellationToken);
    }

    /// <summary>The blocks of <see cref="GetBlocks"/> as an async stream.</summary>
    public IAsyncEnumerable<Block> GetBlocksAsync(IEnumerable<Cid> cids, CancellationToken cancellationToken = default) =>
        BitswapNode.AsAsyncEnumerable(GetBlocks(cids), cancellationToken);

    /// <summary>Ends the session: its wants are cancelled and its waiters fail with <see cref="OperationCanceledException"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _node.CloseSession(Id);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
