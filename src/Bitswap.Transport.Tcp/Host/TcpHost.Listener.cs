using System.Net;
using System.Net.Sockets;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;
using Microsoft.Extensions.Logging;
using MultistreamException = Bitswap.Transport.Tcp.Multistream.MultistreamException;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>Listening, dialing and bringing a connection up: the connection-slot bound, the upgrade and the session start.</summary>
public sealed partial class TcpHost
{
    /// <inheritdoc />
    public async ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        if (PrimaryConnection(peer) is not null) return;
        Multiaddr[] candidates;
        lock (_gate) candidates = _addressBook.TryGetValue(peer, out var list) ? [.. list.Ordered] : [];
        if (candidates.Length == 0) throw new NetworkException($"no known address for {peer}");
        Exception? last = null;
        foreach (var address in candidates)
        {
            try
            {
                await DialAsync(address.WithPeer(peer), cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (NetworkException e)
            {
                last = e;
            }
        }
        throw new NetworkException($"could not connect to {peer}", last);
    }

    /// <summary>
    /// Dials a multiaddr (which should end in <c>/p2p/&lt;id&gt;</c>; the Noise handshake checks that the peer holds that
    /// key) and returns the authenticated peer ID once the connection is open and identify has run.
    /// </summary>
    public async Task<PeerId> DialAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!address.TryGetTcpEndpoint(out var endpoint) || endpoint is null)
            throw new NetworkException($"cannot dial {address}: only /ip4 or /ip6 with /tcp is supported");
        var expected = address.PeerId;
        if (expected is not null && PrimaryConnection(expected) is { } existing) return existing.Remote;
        if (_resources.TryOpenConnection(inboundFrom: null) is { } refused)
        {
            _resources.Refused(refused, address.ToString(), $"dial refused: {_options.ConnectionsMax} connections open");
            throw new NetworkException($"connection limit of {_options.ConnectionsMax} reached");
        }

        var lifecycle = new ConnectionLifecycle(outbound: true);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.UpgradeTimeoutMs));
        Connection connection;
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            lifecycle.TryFire(ConnectionTrigger.SocketUp);
            var channel = await Upgrader.UpgradeAsync(socket, _identity, outbound: true, expected, timeout.Token).ConfigureAwait(false);
            if (!_resources.TryAddPeerConnection(channel.RemotePeer))
            {
                _resources.Refused(ResetReason.ConnectionsPerPeer, channel.RemotePeer.ToString(), $"dial refused: {_options.ConnectionsPerPeerMax} connections open");
                await channel.DisposeAsync().ConfigureAwait(false);
                throw new IOException($"{_options.ConnectionsPerPeerMax} connections to {channel.RemotePeer} already open");
            }

            connection = Open(channel, lifecycle, outbound: true, Multiaddr.FromEndpoint(endpoint), inboundFrom: null);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or NoiseException or YamuxException or MultistreamException)
        {
            _resources.CloseConnection(inboundFrom: null);
            lifecycle.TryFire(ConnectionTrigger.Terminated);
            socket.Dispose();
            throw new NetworkException($"dial {address} failed: {e.Message}", e);
        }
        AddAddress(connection.Remote, address);
        await connection.Identified.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return connection.Remote;
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            // Upgrading connections have their own budget, total and per IP, so slow handshakes never hold the slots of open
            // connections; the open-connection slot is taken only once the upgrade succeeds.
            var ip = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (AdmitHandshake(ip) is not { } handshake)
            {
                socket.Dispose();
                continue;
            }
            Track(AcceptOneAsync(socket, handshake));
        }
    }

    // Takes a handshake slot for a new inbound connection. When every slot is taken, the handshake receiving its bytes
    // slowest (see HandshakeEvictMinAge) is cancelled to make room: slow handshakes from one address (loopback, a NAT) that per-IP limits cannot tell apart from honest ones then never
    // lock out a peer that completes its handshake quickly. Ours; go-libp2p and js-libp2p refuse the newcomer.
    private PendingHandshake? AdmitHandshake(IPAddress ip)
    {
        PendingHandshake? evicted = null;
        PendingHandshake? admitted = null;
        ResetReason? refused;
        lock (_handshakeGate)
        {
            refused = _resources.TryBeginHandshake(ip);
            if (refused == ResetReason.Handshakes && EvictionCandidate() is { } victim)
            {
                _pendingHandshakes.Remove(victim.Node!);
                _resources.EndHandshake(victim.Ip);
                evicted = victim;
                refused = _resources.TryBeginHandshake(ip);
            }

            if (refused is null)
            {
                admitted = new PendingHandshake(ip);
                admitted.Node = _pendingHandshakes.AddLast(admitted);
            }
        }

        if (evicted is not null)
        {
            _resources.Refused(ResetReason.HandshakeEvicted, evicted.Ip.ToString(), "a silent or old handshake in progress was cancelled to admit a new connection");
            // Its callbacks (the upgrade's socket reads) run off the accept loop.
            Track(evicted.Evict.CancelAsync());
        }

        if (refused is { } reason) _resources.Refused(reason, ip.ToString(), "inbound connection refused while handshaking");
        return admitted;
    }

    // The handshake receiving its bytes slowest since it was accepted (ties: the oldest), if it is HandshakeEvictMinAge
    // old; else none. Scans at most HandshakesMax entries, and only when every slot is taken.
    private PendingHandshake? EvictionCandidate()
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var minAge = (long)(_options.HandshakeEvictMinAge.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        PendingHandshake? slowest = null;
        foreach (var pending in _pendingHandshakes)
        {
            var age = now - pending.Started;
            if (age < minAge) continue;
            // bytes / age < slowest's bytes / slowest's age, without dividing.
            if (slowest is null || (double)pending.Received * (now - slowest.Started) < (double)slowest.Received * age) slowest = pending;
        }

        return slowest;
    }

    private void EndHandshake(PendingHandshake handshake)
    {
        lock (_handshakeGate)
        {
            // An evicted handshake already gave its slot to the connection that evicted it.
            if (handshake.Node?.List is null) return;
            _pendingHandshakes.Remove(handshake.Node);
            _resources.EndHandshake(handshake.Ip);
        }
    }

    private sealed class PendingHandshake(IPAddress ip)
    {
        public IPAddress Ip { get; } = ip;

        public long Started { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

        private long _received;

        /// <summary>Handshake bytes received so far.</summary>
        public long Received => Interlocked.Read(ref _received);

        /// <summary>Counts handshake bytes that arrived.</summary>
        public void Arrived(int bytes) => Interlocked.Add(ref _received, bytes);

        public CancellationTokenSource Evict { get; } = new();

        public LinkedListNode<PendingHandshake>? Node { get; set; }
    }

    private async Task AcceptOneAsync(Socket socket, PendingHandshake handshake)
    {
        var ip = handshake.Ip;
        socket.NoDelay = true;
        var lifecycle = new ConnectionLifecycle(outbound: false);
        var remote = socket.RemoteEndPoint is IPEndPoint ep ? Multiaddr.FromEndpoint(ep) : TcpHostOptions.LoopbackAnyPort;
        SecureChannel channel;
        // One deadline for the whole upgrade (CancelAfter, not a per-read timeout): a peer trickling a byte at a time
        // cannot stretch it.
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token, handshake.Evict.Token))
        {
            timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.UpgradeTimeoutMs));
            try
            {
                channel = await Upgrader.UpgradeAsync(socket, _identity, outbound: false, expected: null, timeout.Token, handshake.Arrived).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The upgrade parses a stranger's bytes: whatever it throws, only this connection fails, and its socket is closed now.
                _logger.LogDebug("inbound upgrade from {Remote} failed: {Reason}", remote, e.Message);
                lifecycle.TryFire(ConnectionTrigger.Terminated);
                socket.Dispose();
                return;
            }
            finally
            {
                // Evict is not disposed: an eviction may still be cancelling it; it holds no timer or handle.
                EndHandshake(handshake);
            }
        }

        if (_resources.TryOpenConnection(ip) is { } refused)
        {
            _resources.Refused(refused, channel.RemotePeer.ToString(), $"inbound connection from {ip} refused after its handshake");
            lifecycle.TryFire(ConnectionTrigger.Terminated);
            await channel.DisposeAsync().ConfigureAwait(false);
            return;
        }

        if (!_resources.TryAddPeerConnection(channel.RemotePeer))
        {
            _resources.Refused(ResetReason.ConnectionsPerPeer, channel.RemotePeer.ToString(), $"inbound connection from {ip} refused: {_options.ConnectionsPerPeerMax} connections open");
            _resources.CloseConnection(ip);
            lifecycle.TryFire(ConnectionTrigger.Terminated);
            await channel.DisposeAsync().ConfigureAwait(false);
            return;
        }

        Open(channel, lifecycle, outbound: false, remote, ip);
    }

    private Connection Open(SecureChannel channel, ConnectionLifecycle lifecycle, bool outbound, Multiaddr remoteAddress, IPAddress? inboundFrom)
    {
        var scope = new PeerScope(_resources, channel.RemotePeer);
        var session = new YamuxSession(channel.Stream, isClient: outbound, _options, _options.LoggerFactory.CreateLogger<YamuxSession>(), scope);
        var connection = new Connection(channel.RemotePeer, remoteAddress, session, channel, lifecycle, scope, inboundFrom);
        lifecycle.TryFire(ConnectionTrigger.Upgraded);
        Register(connection);
        session.Start();
        _logger.LogInformation("connection {Direction} {Peer} at {Address} open", outbound ? "to" : "from", connection.Remote, remoteAddress);
        Track(ServeStreamsAsync(connection));
        Track(IdentifyAsync(connection));
        Track(WatchAsync(connection));
        return connection;
    }
}
