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

    /// <summary>Time allowed to upgrade a raw connection (js-libp2p INBOUND_UPGRADE_TIMEOUT: 10 s).</summary>
    public long UpgradeTimeoutMs { get; init; } = 10_000;

    /// <summary>Time allowed to negotiate a stream protocol (js-libp2p PROTOCOL_NEGOTIATION_TIMEOUT: 10 s).</summary>
    public long NegotiationTimeoutMs { get; init; } = 10_000;

    /// <summary><see cref="NegotiationTimeoutMs"/> as a span.</summary>
    public TimeSpan NegotiationTimeout => TimeSpan.FromMilliseconds(NegotiationTimeoutMs);

    // ---- identify (libp2p/specs identify; js-libp2p protocol-identify) ----

    /// <summary>Largest identify message (js MAX_IDENTIFY_MESSAGE_SIZE: 8 KiB; go signedIDSize).</summary>
    public int IdentifyMessageBytesMax { get; init; } = 8 * 1024;

    /// <summary>How long to wait for the peer's identify answer (js-libp2p identify timeout: 5 s).</summary>
    public TimeSpan IdentifyTimeout { get; init; } = TimeSpan.FromSeconds(5);

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
    /// Bytes of Bitswap messages queued per peer before SendAsync waits: two 4 MiB messages (boxo and Helia's largest
    /// message), so one can be written while the next waits.
    /// </summary>
    public int SendQueueBytesMax { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// Bytes one connection may hold in partly received Bitswap messages, over all its streams (our bound: sixteen of
    /// boxo's and Helia's 4 MiB messages at once); a stream that would go over is reset.
    /// </summary>
    public long ReceiveBytesPerConnectionMax { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long a message may wait to be queued or written before the stream is reset (Helia messageSendTimeout and boxo sendMessageTimeout floor: 10 s).</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An outgoing Bitswap stream idle this long is closed and a new one opened for the next message, before the peer's
    /// idle timer (Helia messageReceiveTimeout: 10 s) resets it under a message.
    /// </summary>
    public TimeSpan OutboundStreamIdleReopen { get; init; } = TimeSpan.FromSeconds(5);
}
