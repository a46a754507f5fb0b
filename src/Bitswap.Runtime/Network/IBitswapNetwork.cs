using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Runtime.Network;

/// <summary>Something that happened on the network, as seen by one node.</summary>
public abstract record NetworkEvent(PeerId Peer);

/// <summary>
/// A peer is connected and speaks this Bitswap version with us. <paramref name="RemoteAddress"/> is the IP address of the
/// connection when the transport knows it; broadcast control always broadcasts to loopback and private addresses, and treats
/// an unknown address as public.
/// </summary>
public sealed record PeerUp(PeerId Peer, ProtocolVersion Version, System.Net.IPAddress? RemoteAddress = null) : NetworkEvent(Peer);

/// <summary>A peer is gone.</summary>
public sealed record PeerDown(PeerId Peer) : NetworkEvent(Peer);

/// <summary>
/// A whole message arrived from a peer, decoded with the version spoken on its stream. When <paramref name="Lease"/> is
/// non-null, the Data of every block in <paramref name="Message"/> is a slice of pooled receive memory that stays valid
/// only until the lease is disposed: the consumer owns the lease and must dispose it exactly once, after it has stored,
/// copied or delivered the blocks (and must not touch their Data afterwards). A null lease (the virtual network) means
/// the blocks own their bytes.
/// </summary>
/// <param name="Peer">The sender.</param>
/// <param name="Version">The Bitswap version of the stream it came on.</param>
/// <param name="Message">The decoded message; each block was hashed once, by the transport, against its CID.</param>
/// <param name="WireBytes">Encoded size without the length prefix.</param>
/// <param name="Lease">Ownership of the pooled memory behind the blocks' Data, or null when there is none.</param>
public sealed record MessageArrived(PeerId Peer, ProtocolVersion Version, Message Message, int WireBytes, IDisposable? Lease = null) : NetworkEvent(Peer);

/// <summary>A peer sent something we could not decode; its stream was reset, other peers are unaffected (boxo's network ReceiveError).</summary>
public sealed record ReceiveFailed(PeerId Peer, DecodeError Error) : NetworkEvent(Peer);

/// <summary>Counters a network keeps (boxo BitSwapNetwork Stats).</summary>
/// <param name="MessagesSent">Messages handed to the wire.</param>
/// <param name="MessagesReceived">Messages decoded from the wire.</param>
/// <param name="BytesSent">Encoded bytes sent, without stream framing overhead.</param>
/// <param name="BytesReceived">Encoded bytes received.</param>
public readonly record struct NetworkStats(long MessagesSent, long MessagesReceived, long BytesSent, long BytesReceived);

/// <summary>A send that could not complete: the peer is unreachable, the stream was reset, or the message is too large.</summary>
public sealed class NetworkException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The network port of a Bitswap node (boxo BitSwapNetwork). The same node runs over <c>VirtualNetwork</c> in tests and
/// over the libp2p TCP host in production.
/// </summary>
public interface IBitswapNetwork : IAsyncDisposable
{
    /// <summary>Our own peer ID.</summary>
    PeerId Self { get; }

    /// <summary>Peer and message events. Each subscriber sees events in order; the node posts them into its mailbox.</summary>
    IObservable<NetworkEvent> Events { get; }

    /// <summary>
    /// Encodes the message for the version spoken with the peer and queues it for sending. Completes once the message is
    /// handed to the peer's send queue (boxo semantics: not when the bytes reach the socket), waiting only while that
    /// bounded queue is full; throws <see cref="NetworkException"/> when the peer is not connected, the message cannot be
    /// encoded, or the queue stayed full past the send timeout (the stream is then reset). The blocks' Data must stay
    /// unchanged until the bytes are written; blockstore memory is immutable, so that holds.
    /// </summary>
    ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default);

    /// <summary>Connects to a peer whose address is known to this network; throws <see cref="NetworkException"/> on failure.</summary>
    ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default);

    /// <summary>Closes the connection to a peer, if any.</summary>
    ValueTask DisconnectAsync(PeerId peer);

    /// <summary>The Bitswap version spoken with a connected peer, or null when not connected.</summary>
    ProtocolVersion? VersionOf(PeerId peer);

    /// <summary>The peers connected now.</summary>
    IReadOnlyCollection<PeerId> ConnectedPeers { get; }

    /// <summary>Message and byte counters.</summary>
    NetworkStats Stats { get; }
}

/// <summary>
/// A network that lets its consumer pace inbound Bitswap messages without blocking a thread: instead of publishing each
/// <see cref="MessageArrived"/> on <see cref="IBitswapNetwork.Events"/>, it hands it to the consumer and reads no more
/// from that stream until the returned task completes (a Yamux stream then stops granting window credit, so only that
/// peer's stream waits). Calls for one stream never overlap; calls for different streams may run at once. Peer events
/// and <see cref="ReceiveFailed"/> stay on <see cref="IBitswapNetwork.Events"/>. A network without this interface
/// delivers on its reader's thread, and the node blocks that thread while its inbox is full.
/// </summary>
public interface IPacedNetwork
{
    /// <summary>Routes every inbound message to <paramref name="consumer"/> until the returned registration is disposed.</summary>
    IDisposable PaceMessages(Func<MessageArrived, ValueTask> consumer);
}

/// <summary>Finds providers for a CID (boxo ProviderFinder). The default finds none.</summary>
public interface IProviderFinder
{
    /// <summary>Up to <paramref name="max"/> peers believed to hold the CID.</summary>
    IAsyncEnumerable<PeerId> FindProvidersAsync(Cid cid, int max, CancellationToken cancellationToken = default);
}
