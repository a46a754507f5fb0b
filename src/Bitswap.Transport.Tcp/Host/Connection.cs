using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>One upgraded connection: its peer, Yamux session, Noise channel, lifecycle and outgoing Bitswap sender.</summary>
internal sealed class Connection(PeerId remote, Multiaddr remoteAddress, YamuxSession session, SecureChannel channel, ConnectionLifecycle lifecycle, PeerScope scope, System.Net.IPAddress? inboundFrom)
{
    private readonly object _gate = new();
    private BitswapSender? _sender;

    /// <summary>The authenticated remote peer.</summary>
    public PeerId Remote { get; } = remote;

    /// <summary>The remote TCP address.</summary>
    public Multiaddr RemoteAddress { get; } = remoteAddress;

    /// <summary>The muxer.</summary>
    public YamuxSession Session { get; } = session;

    /// <summary>The Noise channel under the muxer.</summary>
    public SecureChannel Channel { get; } = channel;

    /// <summary>Where the connection is in its life.</summary>
    public ConnectionLifecycle Lifecycle { get; } = lifecycle;

    /// <summary>The peer's memory account, charged for every buffer that holds its data.</summary>
    public PeerScope Scope { get; } = scope;

    /// <summary>The remote IP an inbound connection counts against (its per-IP slot), or null for a connection we dialed.</summary>
    public System.Net.IPAddress? InboundFrom { get; } = inboundFrom;

    /// <summary>Completes once identify ran (or failed) on this connection.</summary>
    public TaskCompletionSource Identified { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The connection's outgoing Bitswap sender, made by <paramref name="create"/> on first use; null once closed.</summary>
    public BitswapSender? SenderOr(Func<BitswapSender> create)
    {
        lock (_gate)
        {
            if (_sender is null && Lifecycle.IsOpen) _sender = create();
            return _sender;
        }
    }

    /// <summary>Stops the sender, if any.</summary>
    public async ValueTask StopSenderAsync()
    {
        BitswapSender? sender;
        lock (_gate)
        {
            sender = _sender;
            _sender = null;
        }

        if (sender is not null) await sender.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Sends GoAway and closes the session.</summary>
    public async Task CloseAsync()
    {
        if (!Lifecycle.TryFire(ConnectionTrigger.Close)) return;
        try
        {
            await Session.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is YamuxException or IOException or ObjectDisposedException)
        {
            // The session is already dead; the host's watcher finishes the bookkeeping.
        }
    }
}
