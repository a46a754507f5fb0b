using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host.Pb;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;
using MultistreamException = Bitswap.Transport.Tcp.Multistream.MultistreamException;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// A minimal libp2p host over TCP: it listens and dials, upgrades each connection (multistream-select → Noise XX →
/// multistream-select → Yamux), answers identify and ping on every connection, and carries Bitswap messages. It is the
/// Runtime's network port, so a Bitswap node runs over it exactly as over the virtual network.
/// </summary>
public sealed class TcpHost : IBitswapNetwork
{
    /// <summary>The identify protocol id.</summary>
    public const string IdentifyProtocol = "/ipfs/id/1.0.0";
    /// <summary>The identify push protocol id.</summary>
    public const string IdentifyPushProtocol = "/ipfs/id/push/1.0.0";
    /// <summary>The ping protocol id.</summary>
    public const string PingProtocol = "/ipfs/ping/1.0.0";
    /// <summary>The Noise security protocol id.</summary>
    public const string NoiseProtocol = "/noise";
    /// <summary>The Yamux muxer protocol id.</summary>
    public const string YamuxProtocol = "/yamux/1.0.0";

    private static readonly string[] InboundProtocols =
        [IdentifyProtocol, IdentifyPushProtocol, PingProtocol, .. Protocols.All];

    private readonly TcpHostOptions _options;
    private readonly PeerIdentity _identity;
    private readonly ILogger _logger;
    private readonly List<TcpListener> _listeners = [];
    private readonly List<Multiaddr> _listenAddresses = [];
    private readonly Dictionary<PeerId, List<Connection>> _connections = [];
    private readonly Dictionary<PeerId, List<Multiaddr>> _addressBook = [];
    private readonly Dictionary<PeerId, ProtocolVersion> _bitswapPeers = [];
    private readonly HashSet<Task> _background = [];
    private readonly Subject<NetworkEvent> _events = new();
    private readonly object _gate = new();
    private readonly object _emitGate = new();
    private readonly CancellationTokenSource _shutdown = new();
    private long _messagesSent, _messagesReceived, _bytesSent, _bytesReceived;
    private int _connectionCount;
    private bool _disposed;

    private TcpHost(TcpHostOptions options, PeerIdentity identity)
    {
        _options = options;
        _identity = identity;
        _logger = options.LoggerFactory.CreateLogger<TcpHost>();
    }

    /// <summary>Starts a host that listens on <see cref="TcpHostOptions.Listen"/>.</summary>
    public static Task<TcpHost> StartAsync(PeerIdentity identity, TcpHostOptions options)
    {
        var host = new TcpHost(options, identity);
        foreach (var address in options.Listen)
        {
            if (!address.TryGetTcpEndpoint(out var endpoint) || endpoint is null)
                throw new ArgumentException($"cannot listen on {address}: only /ip4 or /ip6 with /tcp is supported", nameof(options));
            var listener = new TcpListener(endpoint);
            listener.Start(backlog: 128);
            host._listeners.Add(listener);
            host._listenAddresses.Add(Multiaddr.FromEndpoint((IPEndPoint)listener.LocalEndpoint));
            host.Track(host.AcceptLoopAsync(listener));
        }
        return Task.FromResult(host);
    }

    /// <inheritdoc />
    public PeerId Self => _identity.PeerId;

    /// <summary>The bound listen addresses, each ending in <c>/p2p/&lt;our id&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> ListenAddresses => _listenAddresses.Select(a => a.WithPeer(Self)).ToArray();

    /// <inheritdoc />
    public IObservable<NetworkEvent> Events => _events.AsObservable();

    /// <inheritdoc />
    public NetworkStats Stats => new(Interlocked.Read(ref _messagesSent), Interlocked.Read(ref _messagesReceived),
        Interlocked.Read(ref _bytesSent), Interlocked.Read(ref _bytesReceived));

    /// <inheritdoc />
    public IReadOnlyCollection<PeerId> ConnectedPeers
    {
        get { lock (_gate) return _connections.Where(kv => kv.Value.Any(c => c.Lifecycle.IsOpen)).Select(kv => kv.Key).OrderBy(p => p).ToArray(); }
    }

    /// <inheritdoc />
    public ProtocolVersion? VersionOf(PeerId peer)
    {
        lock (_gate) return _bitswapPeers.TryGetValue(peer, out var v) ? v : null;
    }

    /// <summary>Remembers an address for a peer so <see cref="ConnectAsync"/> can dial it.</summary>
    public void AddAddress(PeerId peer, Multiaddr address)
    {
        lock (_gate)
        {
            if (!_addressBook.TryGetValue(peer, out var list)) _addressBook[peer] = list = [];
            var bare = address.WithoutPeer();
            if (!list.Contains(bare)) list.Add(bare);
        }
    }

    /// <inheritdoc />
    public async ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        if (PrimaryConnection(peer) is not null) return;
        Multiaddr[] candidates;
        lock (_gate) candidates = _addressBook.TryGetValue(peer, out var list) ? [.. list] : [];
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!address.TryGetTcpEndpoint(out var endpoint) || endpoint is null)
            throw new NetworkException($"cannot dial {address}: only /ip4 or /ip6 with /tcp is supported");
        var expected = address.PeerId;
        if (expected is not null && PrimaryConnection(expected) is { } existing) return existing.Remote;
        if (!TryReserveConnectionSlot()) throw new NetworkException($"connection limit of {_options.Limits.ConnectionsMax} reached");
        var lifecycle = new ConnectionLifecycle(outbound: true);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.Limits.UpgradeTimeoutMs));
        Connection connection;
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            lifecycle.TryFire(ConnectionTrigger.SocketUp);
            connection = await UpgradeAsync(socket, lifecycle, outbound: true, expected, Multiaddr.FromEndpoint(endpoint), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or NoiseException or YamuxException or MultistreamException)
        {
            ReleaseConnectionSlot();
            lifecycle.TryFire(ConnectionTrigger.Terminated);
            socket.Dispose();
            throw new NetworkException($"dial {address} failed: {e.Message}", e);
        }
        AddAddress(connection.Remote, address);
        await connection.Identified.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return connection.Remote;
    }

    /// <inheritdoc />
    public async ValueTask DisconnectAsync(PeerId peer)
    {
        Connection[] toClose;
        lock (_gate) toClose = _connections.TryGetValue(peer, out var list) ? [.. list] : [];
        foreach (var c in toClose) await c.CloseAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
    {
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        YamuxStream? stream = null;
        try
        {
            using var negotiation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
            negotiation.CancelAfter(TimeSpan.FromMilliseconds(_options.Limits.NegotiationTimeoutMs));
            stream = await connection.Session.OpenStreamAsync(negotiation.Token).ConfigureAwait(false);
            stream.MarkNegotiating();
            var chosen = await MultistreamSelect.SelectAsync(stream, ProposalsFor(peer), negotiation.Token).ConfigureAwait(false);
            stream.MarkOpen();
            var version = Protocols.FromId(chosen) ?? ProtocolVersion.V120;
            NoteBitswapPeer(peer, version, announce: false);
            foreach (var part in MessageCodec.Split(message, version, _options.Limits.MessageBytesMax))
            {
                // Encode straight behind the length prefix: one buffer, one copy of each block.
                var frame = new ArrayBufferWriter<byte>(MessageCodec.EncodedSize(part, version) + Varint.MaxBytes);
                var written = Framing.WriteMessage(frame, part, version, _options.Limits.MessageBytesMax);
                if (written.IsLeft) throw new NetworkException($"send to {peer} failed: {written.LeftToSeq().Head()}");
                await stream.WriteAsync(frame.WrittenMemory, cancellationToken).ConfigureAwait(false);
                Varint.TryRead(frame.WrittenSpan, out var payloadBytes, out _);
                Interlocked.Increment(ref _messagesSent);
                Interlocked.Add(ref _bytesSent, (long)payloadBytes);
            }
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            await stream.CloseWriteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or YamuxException or MultistreamException or ObjectDisposedException)
        {
            stream?.Reset();
            throw new NetworkException($"send to {peer} failed: {e.Message}", e);
        }
        finally
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends bytes exactly as given on a new Bitswap stream, then closes it: for conformance and fuzz tests of how a peer
    /// treats malformed input. Normal code uses <see cref="SendAsync"/>.
    /// </summary>
    public async Task SendRawBitswapAsync(PeerId peer, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        await using var stream = await connection.Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        await MultistreamSelect.SelectAsync(stream, ProposalsFor(peer), cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await stream.CloseWriteAsync().ConfigureAwait(false);
    }

    /// <summary>Opens a ping stream to a connected peer and measures one round trip of 32 random bytes.</summary>
    public async Task<TimeSpan> PingAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        await using var stream = await connection.Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        await MultistreamSelect.SelectAsync(stream, [PingProtocol], cancellationToken).ConfigureAwait(false);
        var payload = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(payload);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        var echo = new byte[32];
        await stream.ReadExactlyAsync(echo, cancellationToken).ConfigureAwait(false);
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        if (!echo.AsSpan().SequenceEqual(payload)) throw new NetworkException($"ping to {peer} echoed different bytes");
        await stream.CloseWriteAsync().ConfigureAwait(false);
        return elapsed;
    }

    private IReadOnlyList<string> ProposalsFor(PeerId peer)
    {
        // Helia only answers /ipfs/bitswap/1.2.0, so newest first; a version learned from identify goes first.
        var known = VersionOf(peer);
        if (known is null) return Protocols.All;
        return [known.Value.Id(), .. Protocols.All.Where(p => p != known.Value.Id())];
    }

    private Connection? PrimaryConnection(PeerId peer)
    {
        lock (_gate)
            return _connections.TryGetValue(peer, out var list) ? list.FirstOrDefault(c => c.Lifecycle.IsOpen) : null;
    }

    private bool TryReserveConnectionSlot()
    {
        if (Interlocked.Increment(ref _connectionCount) <= _options.Limits.ConnectionsMax) return true;
        Interlocked.Decrement(ref _connectionCount);
        return false;
    }

    private void ReleaseConnectionSlot() => Interlocked.Decrement(ref _connectionCount);

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
            if (!TryReserveConnectionSlot())
            {
                _logger.LogWarning("refused inbound connection from {Remote}: limit of {Max} connections", socket.RemoteEndPoint, _options.Limits.ConnectionsMax);
                socket.Dispose();
                continue;
            }
            Track(AcceptOneAsync(socket));
        }
    }

    private async Task AcceptOneAsync(Socket socket)
    {
        socket.NoDelay = true;
        var lifecycle = new ConnectionLifecycle(outbound: false);
        var remote = socket.RemoteEndPoint is IPEndPoint ep ? Multiaddr.FromEndpoint(ep) : TcpHostOptions.LoopbackAnyPort;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.Limits.UpgradeTimeoutMs));
        try
        {
            await UpgradeAsync(socket, lifecycle, outbound: false, expected: null, remote, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or NoiseException or YamuxException or MultistreamException)
        {
            _logger.LogDebug("inbound upgrade from {Remote} failed: {Reason}", remote, e.Message);
            ReleaseConnectionSlot();
            lifecycle.TryFire(ConnectionTrigger.Terminated);
            socket.Dispose();
        }
    }

    private async Task<Connection> UpgradeAsync(Socket socket, ConnectionLifecycle lifecycle, bool outbound, PeerId? expected, Multiaddr remoteAddress, CancellationToken cancellationToken)
    {
        var raw = new NetworkStream(socket, ownsSocket: true);
        SecureChannel channel;
        if (outbound)
        {
            await MultistreamSelect.SelectAsync(raw, [NoiseProtocol], cancellationToken).ConfigureAwait(false);
            channel = await NoiseHandshake.InitiatorAsync(raw, _identity, expected, cancellationToken).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(channel.Stream, [YamuxProtocol], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            if (await MultistreamSelect.HandleAsync(raw, p => p == NoiseProtocol, cancellationToken).ConfigureAwait(false) is null)
                throw new IOException("peer closed during security negotiation");
            channel = await NoiseHandshake.ResponderAsync(raw, _identity, cancellationToken).ConfigureAwait(false);
            if (await MultistreamSelect.HandleAsync(channel.Stream, p => p == YamuxProtocol, cancellationToken).ConfigureAwait(false) is null)
                throw new IOException("peer closed during muxer negotiation");
        }
        var session = new YamuxSession(channel.Stream, isClient: outbound, _options.Limits, _options.LoggerFactory.CreateLogger<YamuxSession>());
        var connection = new Connection(channel.RemotePeer, remoteAddress, session, channel, lifecycle);
        lifecycle.TryFire(ConnectionTrigger.Upgraded);
        lock (_gate)
        {
            if (!_connections.TryGetValue(connection.Remote, out var list)) _connections[connection.Remote] = list = [];
            list.Add(connection);
        }
        session.Start();
        _logger.LogInformation("connection {Direction} {Peer} at {Address} open", outbound ? "to" : "from", connection.Remote, remoteAddress);
        Track(ServeStreamsAsync(connection));
        Track(IdentifyAsync(connection));
        Track(WatchAsync(connection));
        return connection;
    }

    private async Task WatchAsync(Connection connection)
    {
        try
        {
            await connection.Session.Completion.ConfigureAwait(false);
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("connection to {Peer} ended: {Reason}", connection.Remote, e.Message);
        }
        connection.Lifecycle.TryFire(ConnectionTrigger.Terminated);
        connection.Identified.TrySetResult();
        await connection.Channel.DisposeAsync().ConfigureAwait(false);
        ReleaseConnectionSlot();
        bool last;
        lock (_gate)
        {
            if (_connections.TryGetValue(connection.Remote, out var list))
            {
                list.Remove(connection);
                if (list.Count == 0) _connections.Remove(connection.Remote);
            }
            last = !_connections.ContainsKey(connection.Remote);
            if (last) _bitswapPeers.Remove(connection.Remote);
        }
        if (last) Emit(new PeerDown(connection.Remote));
    }

    private async Task ServeStreamsAsync(Connection connection)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            YamuxStream stream;
            try
            {
                stream = await connection.Session.AcceptStreamAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            Track(ServeStreamAsync(connection, stream));
        }
    }

    private async Task ServeStreamAsync(Connection connection, YamuxStream stream)
    {
        await using var _ = stream.ConfigureAwait(false);
        try
        {
            string? protocol;
            using (var negotiation = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token))
            {
                negotiation.CancelAfter(TimeSpan.FromMilliseconds(_options.Limits.NegotiationTimeoutMs));
                stream.MarkNegotiating();
                protocol = await MultistreamSelect.HandleAsync(stream, p => InboundProtocols.Contains(p), negotiation.Token).ConfigureAwait(false);
            }
            if (protocol is null) return;
            stream.MarkOpen();
            switch (protocol)
            {
                case IdentifyProtocol:
                    await stream.WriteAsync(Framing.Frame(BuildIdentify(connection).ToByteArray()), _shutdown.Token).ConfigureAwait(false);
                    await stream.CloseWriteAsync().ConfigureAwait(false);
                    break;
                case IdentifyPushProtocol:
                    await ReadIdentifyAsync(connection, stream, _shutdown.Token).ConfigureAwait(false);
                    break;
                case PingProtocol:
                    await EchoPingsAsync(stream).ConfigureAwait(false);
                    break;
                default:
                    await ReceiveBitswapAsync(connection, stream, Protocols.FromId(protocol) ?? ProtocolVersion.V100).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or MultistreamException or ObjectDisposedException or InvalidProtocolBufferException)
        {
            _logger.LogDebug("stream {Id} from {Peer} ended: {Reason}", stream.Id, connection.Remote, e.Message);
            stream.Reset();
        }
    }

    private async Task EchoPingsAsync(YamuxStream stream)
    {
        var buffer = new byte[32];
        while (true)
        {
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), _shutdown.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    await stream.CloseWriteAsync().ConfigureAwait(false);
                    return;
                }
                read += n;
            }
            await stream.WriteAsync(buffer, _shutdown.Token).ConfigureAwait(false);
            await stream.FlushAsync(_shutdown.Token).ConfigureAwait(false);
        }
    }

    private async Task ReceiveBitswapAsync(Connection connection, YamuxStream stream, ProtocolVersion version)
    {
        NoteBitswapPeer(connection.Remote, version, announce: true);
        while (true)
        {
            var frame = await LengthPrefixed.ReadAsync(stream, _options.Limits.MessageBytesMax, _shutdown.Token).ConfigureAwait(false);
            if (frame.Error is { } error)
            {
                RejectStream(connection, stream, error);
                return;
            }
            if (frame.Message is not { } bytes) return;
            Interlocked.Increment(ref _messagesReceived);
            Interlocked.Add(ref _bytesReceived, bytes.Length);
            var decoded = MessageCodec.Decode(bytes, version, _options.Limits);
            if (decoded.IsLeft)
            {
                RejectStream(connection, stream, decoded.LeftToSeq().Head());
                return;
            }
            Emit(new MessageArrived(connection.Remote, version, decoded.RightToSeq().Head(), bytes.Length));
        }
    }

    private void RejectStream(Connection connection, YamuxStream stream, DecodeError error)
    {
        _logger.LogWarning("bad bitswap message from {Peer}: {Error}; stream reset", connection.Remote, error);
        stream.Reset();
        Emit(new ReceiveFailed(connection.Remote, error));
    }

    private async Task IdentifyAsync(Connection connection)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_options.IdentifyTimeout);
            await using var stream = await connection.Session.OpenStreamAsync(timeout.Token).ConfigureAwait(false);
            stream.MarkNegotiating();
            await MultistreamSelect.SelectAsync(stream, [IdentifyProtocol], timeout.Token).ConfigureAwait(false);
            stream.MarkOpen();
            await stream.CloseWriteAsync().ConfigureAwait(false);
            await ReadIdentifyAsync(connection, stream, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Identify is a boundary: whatever went wrong, the connection stays usable.
            // A peer that cannot answer identify still gets Bitswap at our newest version; the stream negotiation corrects it.
            _logger.LogDebug("identify with {Peer} failed: {Reason}", connection.Remote, e.Message);
            if (connection.Lifecycle.IsOpen) NoteBitswapPeer(connection.Remote, ProtocolVersion.V120, announce: true);
        }
        finally
        {
            connection.Identified.TrySetResult();
        }
    }

    private async Task ReadIdentifyAsync(Connection connection, YamuxStream stream, CancellationToken cancellationToken)
    {
        var protocols = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var frame = await LengthPrefixed.ReadAsync(stream, _options.Limits.IdentifyMessageBytesMax, cancellationToken).ConfigureAwait(false);
            if (frame.Error is { } error) throw new IOException($"identify: {error}");
            if (frame.Message is not { } bytes) break;
            var message = Identify.Parser.ParseFrom(bytes);
            if (message.HasPublicKey)
            {
                var claimed = PeerIdentity.PeerIdFromPublicKey(message.PublicKey.Span);
                if (claimed.IsLeft || !claimed.RightToSeq().Head().Equals(connection.Remote))
                    throw new IOException("identify public key does not match the connection's peer");
            }
            protocols.AddRange(message.Protocols);
            foreach (var raw in message.ListenAddrs)
                Multiaddr.FromBytes(raw.Span).IfRight(a => AddAddress(connection.Remote, a));
        }
        var best = Protocols.All.FirstOrDefault(protocols.Contains);
        if (best is not null) NoteBitswapPeer(connection.Remote, Protocols.FromId(best)!.Value, announce: true);
    }

    private Identify BuildIdentify(Connection connection)
    {
        var identify = new Identify
        {
            ProtocolVersion = "ipfs/0.1.0",
            AgentVersion = _options.AgentVersion,
            PublicKey = ByteString.CopyFrom(_identity.PublicKeyProtobuf),
            ObservedAddr = ByteString.CopyFrom(connection.RemoteAddress.ToBytes()),
        };
        identify.Protocols.Add(InboundProtocols);
        foreach (var address in _listenAddresses) identify.ListenAddrs.Add(ByteString.CopyFrom(address.ToBytes()));
        return identify;
    }

    private void NoteBitswapPeer(PeerId peer, ProtocolVersion version, bool announce)
    {
        bool isNew;
        lock (_gate)
        {
            isNew = !_bitswapPeers.ContainsKey(peer);
            if (!isNew && !announce) return;
            if (!isNew && _bitswapPeers[peer] == version) return;
            _bitswapPeers[peer] = version;
        }
        if (isNew || announce) Emit(new PeerUp(peer, version));
    }

    private void Emit(NetworkEvent e)
    {
        // Rx requires OnNext calls to be serialized; events come from many connection tasks.
        lock (_emitGate) _events.OnNext(e);
    }

    private void Track(Task task)
    {
        lock (_background) _background.Add(task);
        task.ContinueWith(t =>
        {
            lock (_background) _background.Remove(t);
            if (t.Exception is { } e) _logger.LogError(e, "background task failed");
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Closes every connection (GoAway), stops listening and waits for background work to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var listener in _listeners) listener.Stop();
        Connection[] all;
        lock (_gate) all = _connections.Values.SelectMany(c => c).ToArray();
        foreach (var c in all) await c.CloseAsync().ConfigureAwait(false);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        Task[] pending;
        lock (_background) pending = [.. _background];
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        lock (_emitGate) _events.OnCompleted();
        _events.Dispose();
        _shutdown.Dispose();
    }

    private sealed class Connection(PeerId remote, Multiaddr remoteAddress, YamuxSession session, SecureChannel channel, ConnectionLifecycle lifecycle)
    {
        public PeerId Remote { get; } = remote;
        public Multiaddr RemoteAddress { get; } = remoteAddress;
        public YamuxSession Session { get; } = session;
        public SecureChannel Channel { get; } = channel;
        public ConnectionLifecycle Lifecycle { get; } = lifecycle;
        public TaskCompletionSource Identified { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task CloseAsync()
        {
            if (!Lifecycle.TryFire(ConnectionTrigger.Close)) return;
            try
            {
                await Session.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is YamuxException or IOException or ObjectDisposedException)
            {
                // The session is already dead; WatchAsync finishes the bookkeeping.
            }
        }
    }
}
