using Bitswap.Domain;
using Bitswap.Transport.Tcp.Addressing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>How a <see cref="TcpHost"/> is set up.</summary>
public sealed record TcpHostOptions
{
    /// <summary>Listen on loopback with a port chosen by the OS.</summary>
    public static readonly Multiaddr LoopbackAnyPort = Multiaddr.Parse("/ip4/127.0.0.1/tcp/0").Match(a => a, e => throw new InvalidOperationException(e.ToString()));

    /// <summary>Addresses to listen on; empty for a dial-only host.</summary>
    public IReadOnlyList<Multiaddr> Listen { get; init; } = [LoopbackAnyPort];

    /// <summary>Every bound (connections, streams, message sizes, timeouts).</summary>
    public Limits Limits { get; init; } = Limits.Default;

    /// <summary>Where the host logs.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The agentVersion sent in identify.</summary>
    public string AgentVersion { get; init; } = "bitswap-dotnet/0.1.0";

    /// <summary>How long to wait for the peer's identify answer.</summary>
    public TimeSpan IdentifyTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
