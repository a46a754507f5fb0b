using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Runtime;

/// <summary>
/// go-bitswap's WantManager surface, as a thin view: every call becomes an input of the node (or, for
/// <see cref="SendBlockAsync"/>, a direct network send) and every query reads the node's state snapshot.
/// </summary>
public sealed class WantManager
{
    private readonly BitswapNode _node;

    internal WantManager(BitswapNode node) => _node = node;

    /// <summary>Adds wants for a session (session 0 is never used; pass a session's <see cref="BitswapSession.Id"/>).</summary>
    public void WantBlocks(IEnumerable<Cid> cids, long session) => _node.Post(new WantBlocks(0, session, cids.Distinct().ToSeq()));

    /// <summary>Withdraws a session's wants.</summary>
    public void CancelWants(IEnumerable<Cid> cids, long session) => _node.CancelWants(cids, session);

    /// <summary>Tells the node a peer connected.</summary>
    public void Connected(PeerId peer) => _node.PeerConnected(peer);

    /// <summary>Tells the node a peer disconnected.</summary>
    public void Disconnected(PeerId peer) => _node.PeerDisconnected(peer);

    /// <summary>The peers the client knows to be connected.</summary>
    public IReadOnlyList<PeerId> ConnectedPeers => [.. _node.State.Client.ConnectedPeers];

    /// <summary>The client's wantlist.</summary>
    public IReadOnlyList<Cid> Wantlist => _node.GetWantlist();

    /// <summary>
    /// Sends a block to a peer outside the decision engine (go-bitswap's SendBlocks). The server's ledger does not see it;
    /// use <see cref="BitswapNode.NotifyNewBlocksAsync(Block[])"/> to serve peers that asked.
    /// </summary>
    public ValueTask SendBlockAsync(PeerId peer, Block block, CancellationToken cancellationToken = default) =>
        _node.Network.SendAsync(peer, Message.Empty.WithBlock(block), cancellationToken);
}
