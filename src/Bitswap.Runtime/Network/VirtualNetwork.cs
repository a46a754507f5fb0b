using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Runtime.Network;

/// <summary>Counters of a whole <see cref="VirtualNetwork"/>.</summary>
/// <param name="MessagesSent">Messages handed to the network, lost ones included.</param>
/// <param name="MessagesReceived">Messages delivered to their receiver (decoded or not).</param>
/// <param name="MessagesLost">Messages dropped by the configured loss probability.</param>
/// <param name="MessagesCutOff">Messages in flight when their connection closed, never delivered.</param>
/// <param name="BytesSent">Encoded bytes of every sent message.</param>
/// <param name="BytesReceived">Encoded bytes of every delivered message.</param>
public sealed record VirtualNetworkStats(long MessagesSent, long MessagesReceived, long MessagesLost, long MessagesCutOff, long BytesSent, long BytesReceived);

/// <summary>
/// An in-memory network for tests and simulations with boxo testnet semantics, deterministic in virtual time. Each node
/// joins with <see cref="Join"/> and gets its own <see cref="IBitswapNetwork"/> port. A sent message is encoded with the
/// version the two peers agreed on, travels its directed link (queued behind earlier messages on that link for the
/// transmission time its encoded size takes at the link's bandwidth, then the link's latency), and is decoded by the
/// receiver, which sees it as <see cref="MessageArrived"/>. Per-pair latency and bandwidth are drawn once from seeded
/// generators, and message loss from a seeded sequence, so the same options and the same calls give the same delivery
/// times. Every event is delivered by the injected scheduler, which must run one action at a time (a virtual-time
/// scheduler, or one event loop): peer events at the current time, messages when they arrive. No clock, thread pool or
/// shared random generator is used. Safe to call from several threads; determinism then depends on the callers' order.
/// </summary>
public sealed class VirtualNetwork
{
    private readonly object _gate = new();
    private readonly IScheduler _scheduler;
    private readonly Random _loss;
    private readonly SortedDictionary<PeerId, Port> _ports = new();
    private readonly Dictionary<(PeerId Low, PeerId High), Connection> _connections = new();
    private long _messagesSent;
    private long _messagesReceived;
    private long _messagesLost;
    private long _messagesCutOff;
    private long _bytesSent;
    private long _bytesReceived;

    /// <summary>An empty network that delivers on <paramref name="scheduler"/> with the given options (defaults: no latency, no limit, no loss).</summary>
    public VirtualNetwork(IScheduler scheduler, VirtualNetworkOptions? options = null)
    {
        _scheduler = scheduler;
        Options = options ?? new VirtualNetworkOptions();
        if (Options.LossProbability is < 0 or > 1 || double.IsNaN(Options.LossProbability))
            throw new ArgumentOutOfRangeException(nameof(options), "LossProbability must be within [0, 1]");
        if (Options.InFlightMessagesPerLinkMax < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "InFlightMessagesPerLinkMax must be at least 1");
        Options.Latency.Validate();
        Options.Bandwidth.Validate();
        _loss = new Random(Options.Seed);
    }

    /// <summary>The options the network was built with.</summary>
    public VirtualNetworkOptions Options { get; }

    /// <summary>The peers that have joined and not left, in peer ID order.</summary>
    public IReadOnlyList<PeerId> Peers
    {
        get
        {
            lock (_gate) return _ports.Keys.ToArray();
        }
    }

    /// <summary>Counters for the whole network.</summary>
    public VirtualNetworkStats Stats
    {
        get
        {
            lock (_gate) return new VirtualNetworkStats(_messagesSent, _messagesReceived, _messagesLost, _messagesCutOff, _bytesSent, _bytesReceived);
        }
    }

    /// <summary>
    /// Adds a node that speaks <paramref name="version"/> (and every older version) and returns its network port; disposing
    /// the port leaves the network. Throws <see cref="InvalidOperationException"/> if the peer has already joined.
    /// </summary>
    public IBitswapNetwork Join(PeerId peer, ProtocolVersion version = ProtocolVersion.V120)
    {
        lock (_gate)
        {
            if (_ports.ContainsKey(peer)) throw new InvalidOperationException($"{peer} has already joined the network");
            var port = new Port(this, peer, version);
            _ports.Add(peer, port);
            return port;
        }
    }

    /// <summary>
    /// Connects two joined peers; both see <see cref="PeerUp"/> with the older of their two versions. Connecting peers that
    /// are already connected does nothing. Throws <see cref="NetworkException"/> for an unknown peer or a peer itself.
    /// </summary>
    public void Connect(PeerId a, PeerId b)
    {
        lock (_gate)
        {
            if (a == b) throw new NetworkException($"{a.Short} cannot connect to itself");
            var portA = PortOf(a);
            var portB = PortOf(b);
            var key = KeyOf(a, b);
            if (_connections.ContainsKey(key)) return;
            var version = (ProtocolVersion)Math.Min((int)portA.Version, (int)portB.Version);
            var connection = new Connection(version, NewLink(key.Low, key.High), NewLink(key.High, key.Low));
            _connections.Add(key, connection);
            _scheduler.Schedule(() =>
            {
                portA.Publish(new PeerUp(b, version, Options.PeerAddress));
                portB.Publish(new PeerUp(a, version, Options.PeerAddress));
            });
        }
    }

    /// <summary>Connects every pair of joined peers that is not connected yet, in peer ID order.</summary>
    public void ConnectAll()
    {
        var peers = Peers;
        for (var i = 0; i < peers.Count; i++)
            for (var j = i + 1; j < peers.Count; j++)
                Connect(peers[i], peers[j]);
    }

    /// <summary>Closes the connection between two peers, if any: both see <see cref="PeerDown"/> and messages in flight are never delivered.</summary>
    public void Disconnect(PeerId a, PeerId b)
    {
        lock (_gate)
        {
            if (!_connections.Remove(KeyOf(a, b))) return;
            var portA = _ports.GetValueOrDefault(a);
            var portB = _ports.GetValueOrDefault(b);
            _scheduler.Schedule(() =>
            {
                portA?.Publish(new PeerDown(b));
                portB?.Publish(new PeerDown(a));
            });
        }
    }

    /// <summary>True when the two peers are connected.</summary>
    public bool AreConnected(PeerId a, PeerId b)
    {
        lock (_gate) return _connections.ContainsKey(KeyOf(a, b));
    }

    /// <summary>The one-way latency from one peer to another; the same for the life of the network.</summary>
    public TimeSpan LatencyOf(PeerId from, PeerId to) => Options.Latency.Draw(PairRandom(from, to, PairDraw.Latency));

    /// <summary>The bandwidth from one peer to another in bytes per second, or null when unlimited; the same for the life of the network.</summary>
    public double? BandwidthOf(PeerId from, PeerId to) => Options.Bandwidth.Draw(PairRandom(from, to, PairDraw.Bandwidth));

    private Link NewLink(PeerId from, PeerId to) => new(from, to, LatencyOf(from, to), BandwidthOf(from, to));

    private void Send(Port sender, PeerId to, Message message)
    {
        ProtocolVersion version;
        lock (_gate)
        {
            version = OpenConnection(sender, to).Version;
        }
        var bytes = Encode(message, version);
        if (bytes.Length > Options.Limits.MessageBytesMax)
            throw new NetworkException($"a message of {bytes.Length} bytes to {to.Short} exceeds {Options.Limits.MessageBytesMax}");
        lock (_gate)
        {
            var connection = OpenConnection(sender, to);
            // A reconnect between the two locks may have changed the version; the message would then be stale, as on a real reset.
            if (connection.Version != version) throw new NetworkException($"the connection to {to.Short} was reset while sending");
            var link = connection.From(sender.Self);
            if (link.InFlight.Count >= Options.InFlightMessagesPerLinkMax)
                throw new NetworkException($"{link.InFlight.Count} messages are already in flight to {to.Short}");

            var now = _scheduler.Now;
            var start = now > link.FreeAt ? now : link.FreeAt;
            link.FreeAt = start + TransmissionTime(bytes.Length, link.BytesPerSecond);
            var arrival = link.FreeAt + link.Latency;
            sender.Counters = sender.Counters with { MessagesSent = sender.Counters.MessagesSent + 1, BytesSent = sender.Counters.BytesSent + bytes.Length };
            _messagesSent++;
            _bytesSent += bytes.Length;
            // Drawn only when loss is on, so turning loss on does not change any other choice.
            if (Options.LossProbability > 0 && _loss.NextDouble() < Options.LossProbability)
            {
                _messagesLost++;
                return;
            }
            // Latency is fixed per link and transmissions are serialized, so arrivals on a link never go backwards: FIFO.
            link.InFlight.Enqueue(bytes);
            _scheduler.Schedule(arrival, () => Deliver(connection, link));
        }
    }

    private void Deliver(Connection connection, Link link)
    {
        Port receiver;
        byte[] bytes;
        lock (_gate)
        {
            bytes = link.InFlight.Dequeue();
            if (!_connections.TryGetValue(KeyOf(link.From, link.To), out var current) || !ReferenceEquals(current, connection)
                || !_ports.TryGetValue(link.To, out receiver!))
            {
                _messagesCutOff++;
                return;
            }
            receiver.Counters = receiver.Counters with { MessagesReceived = receiver.Counters.MessagesReceived + 1, BytesReceived = receiver.Counters.BytesReceived + bytes.Length };
            _messagesReceived++;
            _bytesReceived += bytes.Length;
        }
        var decoded = Decode(bytes, connection.Version);
        receiver.Publish(decoded.Match<NetworkEvent>(
            message => new MessageArrived(link.From, connection.Version, message, bytes.Length),
            error => new ReceiveFailed(link.From, error)));
    }

    private void Leave(Port port)
    {
        lock (_gate)
        {
            if (!_ports.TryGetValue(port.Self, out var current) || !ReferenceEquals(current, port)) return;
            foreach (var key in _connections.Keys.Where(k => k.Low == port.Self || k.High == port.Self).Order().ToArray())
                Disconnect(key.Low, key.High);
            _ports.Remove(port.Self);
            _scheduler.Schedule(port.Complete);
        }
    }

    private Connection OpenConnection(Port sender, PeerId to)
    {
        if (!_ports.TryGetValue(sender.Self, out var current) || !ReferenceEquals(current, sender))
            throw new NetworkException($"{sender.Self.Short} has left the network");
        return _connections.GetValueOrDefault(KeyOf(sender.Self, to))
            ?? throw new NetworkException($"{sender.Self.Short} is not connected to {to.Short}");
    }

    private Port PortOf(PeerId peer) =>
        _ports.GetValueOrDefault(peer) ?? throw new NetworkException($"{peer.Short} has not joined the network");

    private ProtocolVersion? VersionBetween(PeerId self, PeerId peer)
    {
        lock (_gate) return _connections.TryGetValue(KeyOf(self, peer), out var connection) ? connection.Version : null;
    }

    private IReadOnlyCollection<PeerId> PeersOf(PeerId self)
    {
        lock (_gate)
            return _connections.Keys.Where(k => k.Low == self || k.High == self).Select(k => k.Low == self ? k.High : k.Low).Order().ToArray();
    }

    private NetworkStats StatsOf(Port port)
    {
        lock (_gate) return port.Counters;
    }

    // The real codec on both sides, so every simulated message also exercises encoding and decoding.
    private static byte[] Encode(Message message, ProtocolVersion version) => MessageCodec.Encode(message, version);

    private Either<DecodeError, Message> Decode(byte[] bytes, ProtocolVersion version) => MessageCodec.Decode(bytes, version, Options.Limits);

    private static TimeSpan TransmissionTime(int bytes, double? bytesPerSecond) =>
        bytesPerSecond is { } rate ? TimeSpan.FromTicks((long)Math.Ceiling(bytes * (double)TimeSpan.TicksPerSecond / rate)) : TimeSpan.Zero;

    private static (PeerId Low, PeerId High) KeyOf(PeerId a, PeerId b) => a.CompareTo(b) <= 0 ? (a, b) : (b, a);

    private enum PairDraw : byte
    {
        Latency = 1,
        Bandwidth = 2,
    }

    /// <summary>A generator seeded from the network seed and the directed pair, so a pair's draw does not depend on call order.</summary>
    private Random PairRandom(PeerId from, PeerId to, PairDraw draw)
    {
        // FNV-1a 64: stable across processes, unlike string.GetHashCode and HashCode.
        const ulong offset = 14695981039346656037UL;
        const ulong prime = 1099511628211UL;
        var hash = offset;
        void Mix(ReadOnlySpan<byte> bytes)
        {
            foreach (var b in bytes) hash = (hash ^ b) * prime;
        }
        Span<byte> header = stackalloc byte[5];
        BitConverter.TryWriteBytes(header, Options.Seed);
        header[4] = (byte)draw;
        Mix(header);
        // Peer IDs are multihashes, which carry their own length, so the concatenation is unambiguous.
        Mix(from.Bytes);
        Mix(to.Bytes);
        return new Random((int)(hash ^ (hash >> 32)));
    }

    private sealed class Connection(ProtocolVersion version, Link lowToHigh, Link highToLow)
    {
        public ProtocolVersion Version { get; } = version;

        public Link From(PeerId sender) => lowToHigh.From == sender ? lowToHigh : highToLow;
    }

    private sealed class Link(PeerId from, PeerId to, TimeSpan latency, double? bytesPerSecond)
    {
        public PeerId From { get; } = from;
        public PeerId To { get; } = to;
        public TimeSpan Latency { get; } = latency;
        public double? BytesPerSecond { get; } = bytesPerSecond;
        public DateTimeOffset FreeAt { get; set; } = DateTimeOffset.MinValue;
        public Queue<byte[]> InFlight { get; } = new();
    }

    private sealed class Port(VirtualNetwork network, PeerId self, ProtocolVersion version) : IBitswapNetwork
    {
        // Private: only the network publishes, always from a scheduler action, so OnNext is never called concurrently.
        private readonly Subject<NetworkEvent> _events = new();

        /// <summary>Guarded by the network's lock.</summary>
        public NetworkStats Counters { get; set; }

        public PeerId Self { get; } = self;

        public ProtocolVersion Version { get; } = version;

        public IObservable<NetworkEvent> Events => _events.AsObservable();

        public IReadOnlyCollection<PeerId> ConnectedPeers => network.PeersOf(Self);

        public NetworkStats Stats => network.StatsOf(this);

        public ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
        {
            if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
            try
            {
                network.Send(this, peer, message);
                return ValueTask.CompletedTask;
            }
            catch (NetworkException e)
            {
                return ValueTask.FromException(e);
            }
        }

        public ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default)
        {
            if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
            try
            {
                network.Connect(Self, peer);
                return ValueTask.CompletedTask;
            }
            catch (NetworkException e)
            {
                return ValueTask.FromException(e);
            }
        }

        public ValueTask DisconnectAsync(PeerId peer)
        {
            network.Disconnect(Self, peer);
            return ValueTask.CompletedTask;
        }

        public ProtocolVersion? VersionOf(PeerId peer) => network.VersionBetween(Self, peer);

        public void Publish(NetworkEvent networkEvent) => _events.OnNext(networkEvent);

        public void Complete() => _events.OnCompleted();

        public ValueTask DisposeAsync()
        {
            network.Leave(this);
            return ValueTask.CompletedTask;
        }
    }
}
