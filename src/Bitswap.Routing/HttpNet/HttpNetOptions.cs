namespace Bitswap.Routing.HttpNet;

/// <summary>Bounds of HTTP retrieval from trustless gateways (boxo bitswap/network/httpnet).</summary>
public sealed record HttpNetOptions
{
    /// <summary>Largest block accepted (boxo httpnet and Helia's trustless-gateway-client DEFAULT_MAX_SIZE: 2 MiB).</summary>
    public int BlockBytesMax { get; init; } = 2 * 1024 * 1024;

    /// <summary>Requests in flight at once over all gateways.</summary>
    public int RequestsInFlightMax { get; init; } = 16;

    /// <summary>Wants waiting for a request slot; more are answered DONT_HAVE at once.</summary>
    public int PendingRequestsMax { get; init; } = 4096;

    /// <summary>Gateways remembered at once; routing may announce more over a long run, and those beyond are ignored.</summary>
    public int GatewaysMax { get; init; } = 256;

    /// <summary>One request, headers and body.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Cooldown after a 429 or 503 without a usable Retry-After.</summary>
    public TimeSpan DefaultCooldown { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest cooldown a Retry-After may ask for.</summary>
    public TimeSpan CooldownMax { get; init; } = TimeSpan.FromMinutes(5);
}
