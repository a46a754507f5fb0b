using System.Diagnostics.Metrics;
using System.Net;
using Bitswap.Domain.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>Why the resource manager refused or reset something; the tag of the resets metric.</summary>
public enum ResetReason
{
    /// <summary>A peer's buffers would have gone over <see cref="TcpHostOptions.PeerMemoryBytesMax"/>.</summary>
    PeerMemory,

    /// <summary>All peers' buffers would have gone over <see cref="TcpHostOptions.SystemMemoryBytesMax"/>.</summary>
    SystemMemory,

    /// <summary>A peer opened more inbound streams of one protocol than its per-protocol cap.</summary>
    StreamsPerProtocol,

    /// <summary>A new connection would have gone over <see cref="TcpHostOptions.ConnectionsMax"/>.</summary>
    Connections,

    /// <summary>A new inbound connection would have gone over <see cref="TcpHostOptions.ConnectionsPerIpMax"/>.</summary>
    ConnectionsPerIp,

    /// <summary>A new connection would have given one peer more than <see cref="TcpHostOptions.ConnectionsPerPeerMax"/>.</summary>
    ConnectionsPerPeer,

    /// <summary>A new inbound connection found <see cref="TcpHostOptions.HandshakesMax"/> handshakes in progress.</summary>
    Handshakes,

    /// <summary>A new inbound connection found <see cref="TcpHostOptions.HandshakesPerIpMax"/> handshakes in progress from its IP.</summary>
    HandshakesPerIp,

    /// <summary>The slowest handshake in progress was cancelled to admit a new connection (see <see cref="TcpHostOptions.HandshakeEvictMinAge"/>).</summary>
    HandshakeEvicted,

    /// <summary>A partly received Bitswap message made no progress for <see cref="TcpHostOptions.MessageStallTimeout"/>.</summary>
    StalledMessage,

    /// <summary>A write waited on a peer that does not read for longer than its timeout.</summary>
    StalledWrite,
}

/// <summary>
/// Budgets for memory, streams and connections, at the system, peer and stream levels, like go-libp2p's resource manager
/// (p2p/host/resource-manager) with its scopes flattened into one small class. Every buffer that holds a peer's data is
/// reserved here before it is allocated and released when it is freed; a reservation that would break a budget fails, and
/// the caller resets that stream or that peer only and reports it through <see cref="Refused"/>. Thread-safe: one lock
/// guards the counters, which are touched once per buffer, stream or connection, never per byte.
/// </summary>
public sealed class ResourceManager : IDisposable
{
    /// <summary>The name of the <see cref="Meter"/> the resets counter lives in.</summary>
    public const string MeterName = "Bitswap.Transport";

    private static readonly string[] ReasonNames = Enum.GetNames<ResetReason>();

    private readonly TcpHostOptions _options;
    private readonly ILogger _logger;
    private readonly Meter _meter;
    private readonly Counter<long> _resets;
    private readonly object _gate = new();
    private readonly Dictionary<PeerId, Usage> _peers = [];
    private readonly Dictionary<IPAddress, int> _handshakesByIp = [];
    private readonly Dictionary<IPAddress, int> _connectionsByIp = [];
    private readonly long[] _resetCounts = new long[ReasonNames.Length];
    private long _memory;
    private int _handshakes;
    private int _connections;

    /// <summary>A manager enforcing the bounds in <paramref name="options"/>.</summary>
    public ResourceManager(TcpHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = options.LoggerFactory?.CreateLogger<ResourceManager>() ?? NullLogger<ResourceManager>.Instance;
        _meter = new Meter(MeterName);
        _resets = _meter.CreateCounter<long>("bitswap.transport.resets", description: "Streams, peers and connections reset or refused by the resource manager, by reason");
        _meter.CreateObservableGauge("bitswap.transport.memory", () => SystemMemory, unit: "By", description: "Bytes of peers' data held in transport buffers");
    }

    /// <summary>Bytes reserved over all peers.</summary>
    public long SystemMemory
    {
        get { lock (_gate) return _memory; }
    }

    /// <summary>Inbound connections still upgrading (Noise and Yamux negotiation).</summary>
    public int Handshakes
    {
        get { lock (_gate) return _handshakes; }
    }

    /// <summary>Open connections, both directions.</summary>
    public int Connections
    {
        get { lock (_gate) return _connections; }
    }

    /// <summary>Bytes reserved for <paramref name="peer"/>.</summary>
    public long MemoryOf(PeerId peer)
    {
        lock (_gate) return _peers.TryGetValue(peer, out var usage) ? usage.Memory : 0;
    }

    /// <summary>Inbound streams of <paramref name="protocol"/> open from <paramref name="peer"/>.</summary>
    public int StreamsOf(PeerId peer, string protocol)
    {
        lock (_gate) return _peers.TryGetValue(peer, out var usage) && usage.Streams.TryGetValue(protocol, out var n) ? n : 0;
    }

    /// <summary>How many times <paramref name="reason"/> refused or reset something since the host started.</summary>
    public long Resets(ResetReason reason)
    {
        lock (_gate) return _resetCounts[(int)reason];
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/> for <paramref name="peer"/> if that keeps both the peer and the system within
    /// their memory budgets (a peer that would hold more than <see cref="TcpHostOptions.SmallPeerBytesMax"/> may not use the
    /// part kept for light peers); otherwise reserves nothing and returns the budget that would break.
    /// </summary>
    public ResetReason? TryReserve(PeerId peer, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gate)
        {
            var usage = UsageOf(peer);
            if (usage.Memory + bytes > _options.PeerMemoryBytesMax)
            {
                Forget(peer, usage);
                return ResetReason.PeerMemory;
            }

            // Peers that already hold a lot stop short of the whole system budget; the rest is kept for light peers.
            var systemMax = usage.Memory + bytes <= _options.SmallPeerBytesMax
                ? _options.SystemMemoryBytesMax
                : _options.SystemMemoryBytesMax - _options.SystemMemoryKeptForSmallPeersBytes;
            if (_memory + bytes > systemMax)
            {
                Forget(peer, usage);
                return ResetReason.SystemMemory;
            }

            usage.Memory += bytes;
            _memory += bytes;
            return null;
        }
    }

    /// <summary>Gives back bytes from <see cref="TryReserve"/>.</summary>
    public void Release(PeerId peer, long bytes)
    {
        if (bytes <= 0) return;
        long held;
        lock (_gate)
        {
            held = _peers.TryGetValue(peer, out var usage) ? usage.Memory : 0;
            // Releasing more than was reserved is a bug in a caller; it must not throw (releases run in finalizers and on
            // read loops), so the account is clamped at zero and the bug logged.
            var released = Math.Min(bytes, held);
            if (usage is not null)
            {
                usage.Memory -= released;
                _memory -= released;
                Forget(peer, usage);
            }
        }

        if (bytes > held) LogOverRelease(_logger, bytes, peer.ToString(), held, null);
    }

    /// <summary>Counts an inbound stream of <paramref name="protocol"/> from <paramref name="peer"/> if under <paramref name="max"/>.</summary>
    public bool TryOpenStream(PeerId peer, string protocol, int max)
    {
        lock (_gate)
        {
            var usage = UsageOf(peer);
            var open = usage.Streams.GetValueOrDefault(protocol);
            if (open >= max)
            {
                Forget(peer, usage);
                return false;
            }

            usage.Streams[protocol] = open + 1;
            return true;
        }
    }

    /// <summary>Uncounts a stream from <see cref="TryOpenStream"/>.</summary>
    public void CloseStream(PeerId peer, string protocol)
    {
        lock (_gate)
        {
            if (!_peers.TryGetValue(peer, out var usage) || !usage.Streams.TryGetValue(protocol, out var open)) return;
            if (open <= 1) usage.Streams.Remove(protocol);
            else usage.Streams[protocol] = open - 1;
            Forget(peer, usage);
        }
    }

    /// <summary>
    /// Admits an inbound connection into the handshake budget (total and per IP, see <see cref="TcpHostOptions.HandshakesMax"/>);
    /// null when admitted, else the budget that is full.
    /// </summary>
    public ResetReason? TryBeginHandshake(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            if (_handshakes >= _options.HandshakesMax) return ResetReason.Handshakes;
            var limited = IsIpLimited(address);
            var fromIp = _handshakesByIp.GetValueOrDefault(address);
            if (limited && fromIp >= _options.HandshakesPerIpMax) return ResetReason.HandshakesPerIp;
            _handshakes++;
            _handshakesByIp[address] = fromIp + 1;
            return null;
        }
    }

    /// <summary>Ends a handshake admitted by <see cref="TryBeginHandshake"/>, whether it succeeded or not.</summary>
    public void EndHandshake(IPAddress address)
    {
        lock (_gate)
        {
            _handshakes--;
            Decrement(_handshakesByIp, address);
        }
    }

    /// <summary>
    /// Takes a connection slot (see <see cref="TcpHostOptions.ConnectionsMax"/>); an inbound connection's
    /// <paramref name="inboundFrom"/> also takes one of its IP's <see cref="TcpHostOptions.ConnectionsPerIpMax"/>.
    /// Null when admitted, else the budget that is full.
    /// </summary>
    public ResetReason? TryOpenConnection(IPAddress? inboundFrom)
    {
        lock (_gate)
        {
            if (_connections >= _options.ConnectionsMax) return ResetReason.Connections;
            if (inboundFrom is not null)
            {
                var fromIp = _connectionsByIp.GetValueOrDefault(inboundFrom);
                if (IsIpLimited(inboundFrom) && fromIp >= _options.ConnectionsPerIpMax) return ResetReason.ConnectionsPerIp;
                _connectionsByIp[inboundFrom] = fromIp + 1;
            }

            _connections++;
            return null;
        }
    }

    /// <summary>Counts an upgraded connection against its authenticated peer's <see cref="TcpHostOptions.ConnectionsPerPeerMax"/>.</summary>
    public bool TryAddPeerConnection(PeerId peer)
    {
        lock (_gate)
        {
            var usage = UsageOf(peer);
            if (usage.Connections >= _options.ConnectionsPerPeerMax)
            {
                Forget(peer, usage);
                return false;
            }

            usage.Connections++;
            return true;
        }
    }

    /// <summary>Uncounts a connection from <see cref="TryAddPeerConnection"/>.</summary>
    public void RemovePeerConnection(PeerId peer)
    {
        lock (_gate)
        {
            if (!_peers.TryGetValue(peer, out var usage) || usage.Connections == 0) return;
            usage.Connections--;
            Forget(peer, usage);
        }
    }

    /// <summary>Gives back a slot from <see cref="TryOpenConnection"/>, with the same address.</summary>
    public void CloseConnection(IPAddress? inboundFrom)
    {
        lock (_gate)
        {
            _connections--;
            if (inboundFrom is not null) Decrement(_connectionsByIp, inboundFrom);
        }
    }

    /// <summary>Counts a refusal or reset in the metric and says why in a debug line; the caller does the resetting.</summary>
    public void Refused(ResetReason reason, string who, string detail)
    {
        lock (_gate) _resetCounts[(int)reason]++;
        _resets.Add(1, new KeyValuePair<string, object?>("reason", ReasonNames[(int)reason]));
        LogRefused(_logger, ReasonNames[(int)reason], who, detail, null);
    }

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => _meter.Dispose();

    // go-libp2p's connection limiter leaves loopback unlimited (DefaultNetworkPrefixLimitV4/V6); tests that need the
    // per-IP limits on 127.0.0.1 turn that off.
    private bool IsIpLimited(IPAddress address) => !(_options.IpLimitsExemptLoopback && IPAddress.IsLoopback(address));

    private Usage UsageOf(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var usage)) _peers[peer] = usage = new Usage();
        return usage;
    }

    // A peer that holds nothing is dropped, so the table is as large as the peers with something reserved.
    private void Forget(PeerId peer, Usage usage)
    {
        if (usage.Memory == 0 && usage.Streams.Count == 0 && usage.Connections == 0) _peers.Remove(peer);
    }

    private static void Decrement(Dictionary<IPAddress, int> counts, IPAddress address)
    {
        if (!counts.TryGetValue(address, out var n)) return;
        if (n <= 1) counts.Remove(address);
        else counts[address] = n - 1;
    }

    private sealed class Usage
    {
        public long Memory;
        public int Connections;
        public Dictionary<string, int> Streams { get; } = [];
    }

    private static readonly Action<ILogger, long, string, long, Exception?> LogOverRelease =
        LoggerMessage.Define<long, string, long>(LogLevel.Error, new EventId(41, "ResourceOverRelease"), "released {Bytes} bytes for {Peer}, which held {Held}: an accounting bug");

    private static readonly Action<ILogger, string, string, string, Exception?> LogRefused =
        LoggerMessage.Define<string, string, string>(LogLevel.Debug, new EventId(40, "ResourceLimit"), "resource limit {Reason}: {Who}: {Detail}");
}

/// <summary>
/// One peer's memory account, handed to the buffers that hold its data (Yamux receive buffers, partial and waiting
/// Bitswap messages, queued sends). A default scope (no manager) accounts nothing, for sessions built without a host.
/// </summary>
public sealed class PeerScope(ResourceManager? manager, PeerId peer)
{
    /// <summary>A scope that accounts nothing and never refuses.</summary>
    public static PeerScope Unlimited { get; } = new(null, default!);

    /// <summary>The peer whose data this scope holds.</summary>
    public PeerId Peer { get; } = peer;

    /// <summary>The manager, or null for <see cref="Unlimited"/>.</summary>
    public ResourceManager? Manager { get; } = manager;

    /// <summary>Reserves <paramref name="bytes"/>; null when granted, else the budget that would break.</summary>
    public ResetReason? TryReserve(long bytes) => Manager?.TryReserve(Peer, bytes);

    /// <summary>Gives back bytes from <see cref="TryReserve"/>.</summary>
    public void Release(long bytes) => Manager?.Release(Peer, bytes);

    /// <summary>Counts and logs a reset charged to this peer.</summary>
    public void Refused(ResetReason reason, string detail) => Manager?.Refused(reason, Peer.ToString(), detail);
}
