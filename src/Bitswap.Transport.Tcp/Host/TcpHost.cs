using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;
using Microsoft.Extensions.Logging;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;
using MultistreamException = Bitswap.Transport.Tcp.Multistream.MultistreamException;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// A minimal libp2p host over TCP and the Runtime's network port. This file keeps the connection registry, the events and
/// the sending side; listening and dialing (TcpHost.Listener.cs), the upgrade (<see cref="Upgrader"/>), identify
/// (<see cref="IdentifyService"/>), ping (<see cref="PingService"/>) and the Bitswap streams (<see cref="BitswapSender"/>,
/// TcpHost.Streams.cs with <see cref="BitswapReceiver"/>) live in their own files.
/// </summary>
public sealed partial class TcpHost : IBitswapNetwork, IPacedNetwork
{
    /// <summary>The identify protocol id.</summary>
    public const string IdentifyProtocol = IdentifyService.Protocol;
    /// <summary>The identify push protocol id.</summary>
    public const string IdentifyPushProtocol = IdentifyService.PushProtocol;
    /// <summary>The ping protocol id.</summary>
    public const string PingProtocol = PingService.Protocol;
    /// <summary>The Noise security protocol id.</summary>
    public const string NoiseProtocol = Upgrader.NoiseProtocol;
    /// <summary>The Yamux muxer protocol id.</summary>
    public const string YamuxProtocol = Upgrader.YamuxProtocol;

    private static readonly string[] InboundProtocols =
        [IdentifyProtocol, IdentifyPushProtocol, PingProtocol, .. Protocols.All];

    private readonly TcpHostOptions _options;
    private readonly PeerIdentity _identity;
    private readonly ILogger _logger;
    private readonly List<TcpListener> _listeners = [];
    private readonly List<Multiaddr> _listenAddresses = [];
    private readonly Dictionary<PeerId, List<Connection>> _connections = [];
    private readonly Dictionary<PeerId, AddressList> _addressBook = [];
    private readonly ResourceManager _resources;
    private readonly LinkedList<PendingHandshake> _pendingHandshakes = [];
    private readonly object _handshakeGate = new();
    private readonly Dictionary<PeerId, ProtocolVersion> _bitswapPeers = [];
    private readonly HashSet<PeerId> _listedByIdentify = [];
    private readonly HashSet<Task> _background = [];
    private readonly Subject<NetworkEvent> _events = new();
    private readonly object _gate = new();
    private readonly object _emitGate = new();
    // The node's inbox when it paces inbound messages (IPacedNetwork); null delivers on Events instead.
    private Func<MessageArrived, ValueTask>? _paced;
    private readonly CancellationTokenSource _shutdown = new();
    private long _messagesSent, _messagesReceived, _bytesSent, _bytesReceived;
    private bool _disposed;

    private TcpHost(TcpHostOptions options, PeerIdentity identity)
    {
        _options = options;
        _identity = identity;
        _logger = options.LoggerFactory.CreateLogger<TcpHost>();
        _resources = new ResourceManager(options);
    }

    /// <summary>Starts a host that listens on <see cref="TcpHostOptions.Listen"/>.</summary>
    public static Task<TcpHost> StartAsync(PeerIdentity identity, TcpHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
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
    public IDisposable PaceMessages(Func<MessageArrived, ValueTask> consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        if (Interlocked.CompareExchange(ref _paced, consumer, null) is not null)
            throw new InvalidOperationException("inbound messages are already paced by another consumer");
        return System.Reactive.Disposables.Disposable.Create(() => Interlocked.CompareExchange(ref _paced, null, consumer));
    }

    /// <summary>The budgets for memory, streams and connections, and what they refused.</summary>
    public ResourceManager Resources => _resources;

    /// <summary>The addresses kept for <paramref name="peer"/>, oldest first (at most <see cref="TcpHostOptions.AddressesPerPeerMax"/>).</summary>
    public IReadOnlyList<Multiaddr> AddressesOf(PeerId peer)
    {
        lock (_gate) return _addressBook.TryGetValue(peer, out var list) ? [.. list.Ordered] : [];
    }

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

    /// <summary>
    /// Remembers an address for a peer so <see cref="ConnectAsync"/> can dial it; past
    /// <see cref="TcpHostOptions.AddressesPerPeerMax"/> the oldest is forgotten.
    /// </summary>
    public void AddAddress(PeerId peer, Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            if (!_addressBook.TryGetValue(peer, out var list)) _addressBook[peer] = list = new AddressList();
            list.Add(address.WithoutPeer(), _options.AddressesPerPeerMax);
        }
    }

    // A peer's addresses in arrival order, with a set beside the list so each add costs constant time, not a scan.
    private sealed class AddressList
    {
        private readonly HashSet<Multiaddr> _known = [];

        public List<Multiaddr> Ordered { get; } = [];

        public void Add(Multiaddr address, int max)
        {
            if (max <= 0 || !_known.Add(address)) return;
            Ordered.Add(address);
            if (Ordered.Count <= max) return;
            // At most max + 1 entries, so removing the head is bounded too.
            _known.Remove(Ordered[0]);
            Ordered.RemoveAt(0);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisconnectAsync(PeerId peer)
    {
        Connection[] toClose;
        lock (_gate) toClose = _connections.TryGetValue(peer, out var list) ? [.. list] : [];
        foreach (var c in toClose) await c.CloseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Queues <paramref name="message"/> on the peer's long-lived Bitswap stream and returns once it is queued (see
    /// <see cref="IBitswapNetwork.SendAsync"/>); the connection's <see cref="BitswapSender"/> encodes and writes it.
    /// </summary>
    public async ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        var sender = connection.SenderOr(() => new BitswapSender(
            connection.Session, peer, connection.Scope, _options, _logger, ListedVersionOf, (p, v) => NoteBitswapPeer(connection, v, announce: false), Track))
            ?? throw new NetworkException($"the connection to {peer} is closing");
        var version = VersionOf(peer) ?? ProtocolVersion.V120;
        var size = MessageCodec.EncodedSize(message, version);
        await sender.EnqueueAsync(message, BitswapSender.HeldBytes(message, size), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _messagesSent);
        Interlocked.Add(ref _bytesSent, size);
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

    /// <summary>
    /// Opens a stream to a connected peer and negotiates <paramref name="protocol"/> on it; the caller owns the stream. For
    /// tests of how a peer bounds streams it did not expect, and for protocols the host does not speak itself.
    /// </summary>
    public async Task<YamuxStream> OpenStreamAsync(PeerId peer, string protocol, CancellationToken cancellationToken = default)
    {
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        var stream = await connection.Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await MultistreamSelect.SelectAsync(stream, [protocol], cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            stream.Reset();
            throw;
        }

        return stream;
    }

    /// <summary>Opens a ping stream to a connected peer and measures one round trip of 32 random bytes.</summary>
    public async Task<TimeSpan> PingAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        var connection = PrimaryConnection(peer) ?? throw new NetworkException($"not connected to {peer}");
        await using var stream = await connection.Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        await MultistreamSelect.SelectAsync(stream, [PingProtocol], cancellationToken).ConfigureAwait(false);
        return await PingService.RoundTripAsync(stream, cancellationToken).ConfigureAwait(false)
            ?? throw new NetworkException($"ping to {peer} echoed different bytes");
    }

    private IReadOnlyList<string> ProposalsFor(PeerId peer)
    {
        // Helia only answers /ipfs/bitswap/1.2.0, so newest first; a version learned from identify goes first.
        var known = VersionOf(peer);
        if (known is null) return Protocols.All;
        return [known.Value.Id(), .. Protocols.All.Where(p => p != known.Value.Id())];
    }

    // The version to speak, and whether identify listed it (then the sender negotiates optimistically).
    private (ProtocolVersion? Version, bool Listed) ListedVersionOf(PeerId peer)
    {
        lock (_gate) return (_bitswapPeers.TryGetValue(peer, out var v) ? v : null, _listedByIdentify.Contains(peer));
    }

    private Connection? PrimaryConnection(PeerId peer)
    {
        lock (_gate)
            return _connections.TryGetValue(peer, out var list) ? list.FirstOrDefault(c => c.Lifecycle.IsOpen) : null;
    }

    private void Register(Connection connection)
    {
        lock (_gate)
        {
            if (!_connections.TryGetValue(connection.Remote, out var list)) _connections[connection.Remote] = list = [];
            list.Add(connection);
        }
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
        await connection.StopSenderAsync().ConfigureAwait(false);
        await connection.Channel.DisposeAsync().ConfigureAwait(false);
        _resources.CloseConnection(connection.InboundFrom);
        _resources.RemovePeerConnection(connection.Remote);
        bool last;
        lock (_gate)
        {
            if (_connections.TryGetValue(connection.Remote, out var list))
            {
                list.Remove(connection);
                if (list.Count == 0) _connections.Remove(connection.Remote);
            }
            last = !_connections.ContainsKey(connection.Remote);
            if (last)
            {
                _bitswapPeers.Remove(connection.Remote);
                _listedByIdentify.Remove(connection.Remote);
            }
        }
        if (last) Emit(new PeerDown(connection.Remote));
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
            Learn(connection, await IdentifyService.ReadAsync(stream, connection.Remote, _options.IdentifyMessageBytesMax, timeout.Token).ConfigureAwait(false));
        }
        catch (Exception e)
        {
            // Identify is a boundary: whatever went wrong, the connection stays usable.
            // A peer that cannot answer identify still gets Bitswap at our newest version; the stream negotiation corrects it.
            _logger.LogDebug("identify with {Peer} failed: {Reason}", connection.Remote, e.Message);
            if (connection.Lifecycle.IsOpen) NoteBitswapPeer(connection, ProtocolVersion.V120, announce: true);
        }
        finally
        {
            connection.Identified.TrySetResult();
        }
    }

    private void Learn(Connection connection, IdentifyService.Answer answer)
    {
        // Only the newest addresses could survive the per-peer cap, so only those are added: a push of thousands costs
        // no more than one of AddressesPerPeerMax.
        var addresses = answer.ListenAddresses;
        var keep = Math.Max(0, _options.AddressesPerPeerMax);
        for (var i = Math.Max(0, addresses.Count - keep); i < addresses.Count; i++) AddAddress(connection.Remote, addresses[i]);
        var best = Protocols.All.FirstOrDefault(answer.Protocols.Contains);
        if (best is null) return;
        lock (_gate) _listedByIdentify.Add(connection.Remote);
        NoteBitswapPeer(connection, Protocols.FromId(best)!.Value, announce: true);
    }

    private void NoteBitswapPeer(Connection connection, ProtocolVersion version, bool announce)
    {
        var peer = connection.Remote;
        bool isNew;
        lock (_gate)
        {
            isNew = !_bitswapPeers.ContainsKey(peer);
            if (!isNew && !announce) return;
            if (!isNew && _bitswapPeers[peer] == version) return;
            _bitswapPeers[peer] = version;
        }
        // The remote IP lets the node tell local peers from public ones (broadcast control, boxo#937).
        if (isNew || announce) Emit(new PeerUp(peer, version, connection.RemoteAddress.TryGetTcpEndpoint(out var endpoint) ? endpoint!.Address : null));
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

    /// <summary>
    /// Closes every connection (GoAway), stops listening and waits for background work to end, all within
    /// <see cref="TcpHostOptions.ShutdownTimeout"/> however many peers are stalled.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        var deadline = Task.Delay(_options.ShutdownTimeout);
        foreach (var listener in _listeners) listener.Stop();
        Connection[] all;
        lock (_gate) all = _connections.Values.SelectMany(c => c).ToArray();
        // All connections close at once: each flushes what it has queued, and a peer that does not read costs its own
        // session's drain timeout, in parallel with the others, never one after another.
        var closing = Task.WhenAll(all.Select(CloseOneAsync));
        await Task.WhenAny(closing, deadline).ConfigureAwait(false);
        // Cancels upgrades, stream negotiations and every stream handler still waiting.
        await _shutdown.CancelAsync().ConfigureAwait(false);
        Task[] pending;
        lock (_background) pending = [.. _background];
        await Task.WhenAny(Task.WhenAll(pending), deadline).ConfigureAwait(false);
        if (!closing.IsCompleted || pending.Any(t => !t.IsCompleted))
            _logger.LogDebug("shutdown stopped waiting after {Timeout}: some connections or streams had not ended", _options.ShutdownTimeout);
        lock (_emitGate) _events.OnCompleted();
        _events.Dispose();
        _resources.Dispose();
        // A handler still running past the deadline may yet link to the token; leave the source to the GC then.
        if (pending.All(t => t.IsCompleted)) _shutdown.Dispose();

        static async Task CloseOneAsync(Connection connection)
        {
            await connection.StopSenderAsync().ConfigureAwait(false);
            await connection.CloseAsync().ConfigureAwait(false);
        }
    }
}
