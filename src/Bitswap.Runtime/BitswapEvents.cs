using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Runtime;

/// <summary>A block that arrived from a peer (boxo traceability.Block): who sent it and how long after it was first wanted.</summary>
/// <param name="Block">
/// The block, its hash verified by the codec. Its data may be lent from the transport's pooled receive buffer: it is
/// valid while the observer runs; call <see cref="Block.Detached"/> to keep it longer.
/// </param>
/// <param name="From">The peer that sent it.</param>
/// <param name="Latency">Time from the first local want for it to its arrival; zero for an unwanted block.</param>
public sealed record ReceivedBlock(Block Block, PeerId From, TimeSpan Latency);

/// <summary>Something a node did or saw, for monitoring and tests. A closed hierarchy; every event carries the node clock in milliseconds.</summary>
/// <param name="Now">Milliseconds on the node's clock.</param>
public abstract record BitswapEvent(long Now);

/// <summary>A message from a peer was processed.</summary>
public sealed record MessageIn(long Now, PeerId Peer, Message Message) : BitswapEvent(Now);

/// <summary>A message was handed to the network.</summary>
public sealed record MessageOut(long Now, PeerId Peer, EnvelopeId Envelope, Message Message) : BitswapEvent(Now);

/// <summary>A send failed.</summary>
public sealed record MessageNotSent(long Now, PeerId Peer, EnvelopeId Envelope, string Reason) : BitswapEvent(Now);

/// <summary>A peer connected.</summary>
public sealed record PeerUpEvent(long Now, PeerId Peer, ProtocolVersion Version) : BitswapEvent(Now);

/// <summary>A peer disconnected.</summary>
public sealed record PeerDownEvent(long Now, PeerId Peer) : BitswapEvent(Now);

/// <summary>Wants (or cancels) were sent to a peer.</summary>
public sealed record WantsSent(long Now, PeerId Peer, Seq<WantlistEntry> Entries) : BitswapEvent(Now);

/// <summary>Blocks were sent to a peer.</summary>
public sealed record BlocksSent(long Now, PeerId Peer, Seq<Cid> Cids, long Bytes) : BitswapEvent(Now);

/// <summary>The reducers explained a decision (an <see cref="Explain"/> effect).</summary>
public sealed record Explained(long Now, string Subject, Cid? Cid, PeerId? Peer, string Reason) : BitswapEvent(Now);

/// <summary>Something failed in the shell: an interpreter, a blockstore call, a decode error from a peer.</summary>
public sealed record ErrorEvent(long Now, string Where, PeerId? Peer, Exception Error) : BitswapEvent(Now);

/// <summary>boxo's Stat: counters of both sides (boxo bitswap Stat).</summary>
/// <param name="Wantlist">CIDs the client wants now.</param>
/// <param name="Peers">Peers the server holds a ledger for, sorted.</param>
/// <param name="BlocksReceived">Blocks received, wanted or not.</param>
/// <param name="DataReceived">Bytes of received blocks.</param>
/// <param name="DupBlksReceived">Received blocks already held.</param>
/// <param name="DupDataReceived">Bytes of duplicate blocks.</param>
/// <param name="MessagesReceived">Messages received.</param>
/// <param name="BlocksSent">Blocks sent successfully.</param>
/// <param name="DataSent">Bytes of blocks sent successfully.</param>
/// <param name="BroadcastSkips">Peers left out of want-have broadcasts by broadcast control, once per broadcast (boxo <c>bcast_skips_total</c>).</param>
public sealed record BitswapStat(
    Seq<Cid> Wantlist,
    Seq<PeerId> Peers,
    long BlocksReceived,
    long DataReceived,
    long DupBlksReceived,
    long DupDataReceived,
    long MessagesReceived,
    long BlocksSent,
    long DataSent,
    long BroadcastSkips = 0);

/// <summary>A fetch cannot complete: the CID is undefined (boxo's ErrNotFound for an empty key).</summary>
public sealed class BlockNotFoundException(string message) : Exception(message);

/// <summary>The node refused a want (a bound was reached); the reason says which.</summary>
public sealed class WantRejectedException(Cid cid, string reason) : Exception($"want for {cid} rejected: {reason}")
{
    /// <summary>The refused CID.</summary>
    public Cid Cid { get; } = cid;
}
