using System.Reactive.Linq;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;

namespace Bitswap.Routing.HttpNet;

/// <summary>
/// The libp2p network and HTTP gateways as one network port (boxo's router between bsnet and httpnet): gateway peers go
/// to <see cref="HttpGatewayNetwork"/>, every other peer to the libp2p network. Disposing it disposes neither.
/// </summary>
public sealed class CompositeNetwork(IBitswapNetwork libp2p, HttpGatewayNetwork http) : IBitswapNetwork, IPacedNetwork
{
    /// <summary>Paces the libp2p side's messages when it can be paced; gateway answers keep arriving on <see cref="Events"/>.</summary>
    public IDisposable PaceMessages(Func<MessageArrived, ValueTask> consumer) =>
        libp2p is IPacedNetwork paced ? paced.PaceMessages(consumer) : System.Reactive.Disposables.Disposable.Empty;

    /// <inheritdoc />
    public PeerId Self => libp2p.Self;

    /// <inheritdoc />
    public IObservable<NetworkEvent> Events { get; } = libp2p.Events.Merge(http.Events);

    /// <inheritdoc />
    public IReadOnlyCollection<PeerId> ConnectedPeers => [.. libp2p.ConnectedPeers.Concat(http.ConnectedPeers).Distinct().Order()];

    /// <inheritdoc />
    public NetworkStats Stats
    {
        get
        {
            var a = libp2p.Stats;
            var b = http.Stats;
            return new NetworkStats(a.MessagesSent + b.MessagesSent, a.MessagesReceived + b.MessagesReceived, a.BytesSent + b.BytesSent, a.BytesReceived + b.BytesReceived);
        }
    }

    /// <inheritdoc />
    public ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default) =>
        http.Knows(peer) ? http.SendAsync(peer, message, cancellationToken) : libp2p.SendAsync(peer, message, cancellationToken);

    /// <inheritdoc />
    public ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default) =>
        http.Knows(peer) ? http.ConnectAsync(peer, cancellationToken) : libp2p.ConnectAsync(peer, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisconnectAsync(PeerId peer) => http.Knows(peer) ? http.DisconnectAsync(peer) : libp2p.DisconnectAsync(peer);

    /// <inheritdoc />
    public ProtocolVersion? VersionOf(PeerId peer) => http.Knows(peer) ? http.VersionOf(peer) : libp2p.VersionOf(peer);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
