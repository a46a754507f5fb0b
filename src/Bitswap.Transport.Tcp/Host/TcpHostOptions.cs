using Bitswap.Domain;
using Bitswap.Transport.Tcp.Addressing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// How a <see cref="TcpHost"/> is set up, and every bound of the libp2p transport in one place, each with its source
/// (libp2p-reference.md). The Bitswap bounds (message and block sizes) stay in <see cref="Domain.Limits"/>.
/// </summary>
public sealed record TcpHostOptions
{
    /// <summary>Listen on loopback with a port chosen by the OS.</summary>
    public static readonly Multiaddr LoopbackAnyPort = Multiaddr.Parse("/ip4/127.0.0.1/tcp/0").Match(a => a, e => throw new InvalidOperationException(e.ToString()));

    /// <summary>The defaults below.</summary>
    public static TcpHostOptions Default { get; } = new();

    /// <summary>Addresses to listen on; empty for a dial-only host.</summary>
    public IReadOnlyList<Multiaddr> Listen { get; init; } = [LoopbackAnyPort];

    /// <summary>The Bitswap bounds: message and block sizes.</summary>
    public Limits Limits { get; init; } = Limits.Default;

    /// <summary>Where the host logs.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The agentVersion sent in identify.</summary>
    public string AgentVersion { get; init; } = "bitswap-dotnet/0.1.0";

    // ---- connections (go-libp2p, js-libp2p) ----

    /// <summary>Connections a host keeps at once (our bound; go-libp2p's connection manager high water is 192 by default, js maxConnections 300).</summary>
    public int ConnectionsMax { get; init; } = 256;

    /// <summary>Open connections to one peer, both directions (go-libp2p PeerBaseLimit Conns: 8).</summary>
    public int ConnectionsPerPeerMax { get; init; } = 8;

    /// <summary>Open inbound connections from one IP address (go-libp2p resource manager conn_limiter defaultMaxConcurrentConns: 8 per IPv4 /32).</summary>
    public int ConnectionsPerIpMax { get; init; } = 8;

    /// <summary>
    /// Inbound connections still upgrading, a budget apart from <see cref="ConnectionsMax"/> so slow handshakes cannot take
    /// the slots of open connections (ours; go-libp2p's transient scope allows 32 inbound, js maxIncomingPendingConnections
    /// 10: more here so a burst of honest dials on a busy 2-core machine is not refused).
    /// </summary>
    public int HandshakesMax { get; init; } = 128;

    /// <summary>
    /// When every handshake slot is taken, the handshake that has received its bytes slowest (bytes per second since it was
    /// accepted) is cancelled for a new connection, once it is this old (ours: an honest dialer sends its first ~60 bytes at
    /// once and its ~300 within a few round trips, a trickling one a byte every few seconds), so slow handshakes from an
    /// address the per-IP limits do not cover (loopback, a NAT) cannot lock honest peers out; go-libp2p and js-libp2p refuse
    /// the newcomer instead.
    /// </summary>
    public TimeSpan HandshakeEvictMinAge { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Inbound connections upgrading at once from one IP address (go-libp2p conn_limiter: 8 connections per IPv4 /32, upgrading ones included).</summary>
    public int HandshakesPerIpMax { get; init; } = 8;

    /// <summary>Whether loopback addresses skip the per-IP limits (go-libp2p DefaultNetworkPrefixLimitV4/V6 leave 127.0.0.0/8 and ::1 unlimited); tests of those limits turn it off.</summary>
    public bool IpLimitsExemptLoopback { get; init; } = true;

    /// <summary>Time allowed to upgrade a raw connection, as one deadline over the whole upgrade, not per read (js-libp2p INBOUND_UPGRADE_TIMEOUT: 10 s).</summary>
    public long UpgradeTimeoutMs { get; init; } = 10_000;

    /// <summary>How long disposing the host may take before it stops waiting for connections and streams to end (ours).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    // ---- resource manager (go-libp2p p2p/host/resource-manager limit_defaults.go) ----

    /// <summary>
    /// Bytes of peers' data all transport buffers may hold at once: go-libp2p's SystemBaseLimit memory, 128 MiB (it adds
    /// 1 GiB per GiB of RAM; we do not, so a node stays under the 300 MB resident target with the runtime's own ~90 MB).
    /// </summary>
    public long SystemMemoryBytesMax { get; init; } = 128L * 1024 * 1024;

    /// <summary>
    /// Bytes of one peer's data the transport may hold: Yamux receive buffers, partial and waiting Bitswap messages, queued
    /// sends (go-libp2p PeerBaseLimit Memory: 64 MiB). Going over resets the stream that asked.
    /// </summary>
    public long PeerMemoryBytesMax { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Of <see cref="SystemMemoryBytesMax"/>, the part only peers holding less than <see cref="SmallPeerBytesMax"/> may use:
    /// a quarter, so that peers filling their budgets cannot lock a light peer out (go-libp2p's reservation priorities
    /// play this part: a low-priority reservation fails once the scope is 40% used, the highest only at 100%).
    /// </summary>
    public long SystemMemoryKeptForSmallPeersBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>A peer holding less than this may use the part of the system budget kept for light peers: 4 MiB, a few messages.</summary>
    public long SmallPeerBytesMax { get; init; } = 4L * 1024 * 1024;

    /// <summary>Inbound Bitswap streams one peer may hold open, all versions together (go-libp2p PeerBaseLimit StreamsInbound: 256).</summary>
    public int BitswapStreamsPerPeerMax { get; init; } = 256;

    /// <summary>Inbound ping streams one peer may hold open (go-libp2p limits.go, ping service peer limit: 2 inbound).</summary>
    public int PingStreamsPerPeerMax { get; init; } = 2;

    /// <summary>Inbound identify and identify push streams one peer may hold open, each (go-libp2p limits.go, identify peer limit: 16 inbound).</summary>
    public int IdentifyStreamsPerPeerMax { get; init; } = 16;

    /// <summary>How long an inbound ping stream may live (go-libp2p ping pingDuration: 30 s).</summary>
    public TimeSpan PingStreamDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed to negotiate a stream protocol (js-libp2p PROTOCOL_NEGOTIATION_TIMEOUT: 10 s).</summary>
    public long NegotiationTimeoutMs { get; init; } = 10_000;

    /// <summary><see cref="NegotiationTimeoutMs"/> as a span.</summary>
    public TimeSpan NegotiationTimeout => TimeSpan.FromMilliseconds(NegotiationTimeoutMs);

    // ---- identify (libp2p/specs identify; js-libp2p protocol-identify) ----

    /// <summary>Largest identify message (js MAX_IDENTIFY_MESSAGE_SIZE: 8 KiB; go signedIDSize).</summary>
    public int IdentifyMessageBytesMax { get; init; } = 8 * 1024;

    /// <summary>How long to wait for the peer's identify answer (js-libp2p identify timeout: 5 s).</summary>
    public TimeSpan IdentifyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Addresses kept per peer; the oldest go first (ours: go-libp2p identify keeps 500 for a connected peer and 20 for a
    /// recently connected one, connectedPeerMaxAddrs / recentlyConnectedPeerMaxAddrs; one peer rarely listens on more than a dozen).
    /// </summary>
    public int AddressesPerPeerMax { get; init; } = 64;

    // ---- yamux (libp2p/specs yamux; go-yamux; js-libp2p-yamux) ----

    /// <summary>Inbound streams per connection (js-libp2p-yamux maxInboundStreams: 1000).</summary>
    public int InboundStreamsPerConnectionMax { get; init; } = 1000;

    /// <summary>Outbound streams per connection (Helia bitswap maxOutboundStreams: 1024).</summary>
    public int OutboundStreamsPerConnectionMax { get; init; } = 1024;

    /// <summary>Initial yamux stream window (yamux spec: 256 KiB).</summary>
    public int YamuxInitialWindowBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// Largest yamux receive window (go-libp2p p2p/muxer/yamux MaxStreamWindowSize and js MAX_STREAM_WINDOW: 16 MiB). Streams
    /// grow to it by auto-tuning; an inbound Bitswap stream, whose bytes are consumed as they arrive, gets it at once.
    /// </summary>
    public int YamuxWindowBytesMax { get; init; } = 16 * 1024 * 1024;

    /// <summary>Interval between yamux keepalive pings (js-libp2p-yamux and go-yamux KeepAliveInterval: 30 s); 0 disables keepalive.</summary>
    public long YamuxKeepAliveIntervalMs { get; init; } = 30_000;

    /// <summary>Time a yamux keepalive ping may go unanswered before the session is dropped (go-yamux ConnectionWriteTimeout: 10 s).</summary>
    public long YamuxPingTimeoutMs { get; init; } = 10_000;

    // ---- bitswap streams (boxo bitswap/network, Helia bitswap) ----

    /// <summary>
    /// Bytes of Bitswap messages queued per peer before SendAsync waits, counted as the memory they hold (encoding plus
    /// objects per entry): two 4 MiB messages (boxo and Helia's largest message), so one can be written while the next waits.
    /// </summary>
    public int SendQueueBytesMax { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// How long a partly received Bitswap message may make no progress before its stream is reset (boxo and Helia
    /// messageReceiveTimeout: 10 s).
    /// </summary>
    public TimeSpan MessageStallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a message may wait to be queued or written before the stream is reset (Helia messageSendTimeout and boxo sendMessageTimeout floor: 10 s).</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An outgoing Bitswap stream idle this long is closed and a new one opened for the next message, before the peer's
    /// idle timer (Helia messageReceiveTimeout: 10 s) resets it under a message.
    /// </summary>
    public TimeSpan OutboundStreamIdleReopen { get; init; } = TimeSpan.FromSeconds(5);
}
