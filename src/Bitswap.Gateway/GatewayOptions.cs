using System.Net;

namespace Bitswap.Gateway;

/// <summary>Where the gateway listens and every bound it keeps.</summary>
public sealed record GatewayOptions
{
    /// <summary>The TCP endpoint to listen on (port 0 picks a free one).</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>Requests served at once; more wait in the queue (boxo gateway's default of 1024 is for a public node; a small node serves fewer).</summary>
    public int ConcurrentRequestsMax { get; init; } = 64;

    /// <summary>Requests queued beyond <see cref="ConcurrentRequestsMax"/>; any more get 429.</summary>
    public int QueuedRequestsMax { get; init; } = 128;

    /// <summary>TCP connections accepted at once.</summary>
    public long ConnectionsMax { get; init; } = 512;

    /// <summary>Largest CAR body written; a bigger DAG ends the response early (aborted, so the client sees it incomplete).</summary>
    public long CarBytesMax { get; init; } = 4L << 30;

    /// <summary>Most blocks in one CAR.</summary>
    public int CarBlocksMax { get; init; } = 1 << 20;

    /// <summary>Deepest DAG walked for a CAR (Limits.DagDepthMax's default).</summary>
    public int DagDepthMax { get; init; } = 64;
}
