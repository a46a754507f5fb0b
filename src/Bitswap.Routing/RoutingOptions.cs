namespace Bitswap.Routing;

/// <summary>Where and how the delegated routing client asks, and every bound it keeps.</summary>
public sealed record RoutingOptions
{
    /// <summary>Helia's and Kubo's default delegated router (Helia createHelia delegatedHTTPRouting, Kubo autoconf).</summary>
    public static readonly Uri DefaultEndpoint = new("https://delegated-ipfs.dev");

    /// <summary>The environment variable that lists endpoints (comma or space separated; <c>none</c> turns routing off).</summary>
    public const string EnvironmentVariable = "BITSWAP_ROUTING";

    /// <summary>The defaults: <see cref="DefaultEndpoint"/> and the bounds below.</summary>
    public static RoutingOptions Default { get; } = new();

    /// <summary>The routers asked, in order; empty means routing is off.</summary>
    public IReadOnlyList<Uri> Endpoints { get; init; } = [DefaultEndpoint];

    /// <summary>Providers kept per CID (boxo bitswap client: providerquerymanager asks for 10 providers per query).</summary>
    public int ProvidersPerCidMax { get; init; } = 10;

    /// <summary>HTTP lookups in flight at once (boxo providerquerymanager's bound on concurrent finds, 8 here as the issue asks).</summary>
    public int LookupsInFlightMax { get; init; } = 8;

    /// <summary>One whole provider lookup, /peers resolutions included (boxo providerquerymanager defaultTimeout, 10 s).</summary>
    public TimeSpan LookupTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an answer is reused (brief: the same CID is looked up again by every idle tick of a session).</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Answers kept in the cache; the oldest is dropped beyond this.</summary>
    public int CacheEntriesMax { get; init; } = 1024;

    /// <summary>Largest JSON body read; the spec limits JSON answers to 100 records, well under this.</summary>
    public int ResponseBytesMax { get; init; } = 1 << 20;

    /// <summary>Longest NDJSON line read.</summary>
    public int LineBytesMax { get; init; } = 64 * 1024;

    /// <summary>Records read from one answer before the rest is ignored (http-routing-v1.md: JSON answers SHOULD hold at most 100).</summary>
    public int RecordsPerResponseMax { get; init; } = 100;

    /// <summary>Addresses kept per record.</summary>
    public int AddressesPerRecordMax { get; init; } = 32;

    /// <summary>Records without addresses resolved through <c>/routing/v1/peers</c> per lookup.</summary>
    public int PeerResolutionsPerLookupMax { get; init; } = 10;

    /// <summary>IPIP-484 <c>filter-protocols</c>, sent and applied here: Bitswap, HTTP gateways, and records that name none.</summary>
    public IReadOnlyList<string> ProtocolFilter { get; init; } = ["transport-bitswap", "transport-ipfs-gateway-http", "unknown"];

    /// <summary>IPIP-484 <c>filter-addrs</c>, sent and applied here: TCP addresses that are not relayed.</summary>
    public IReadOnlyList<string> AddressFilter { get; init; } = ["tcp", "!p2p-circuit"];

    /// <summary>
    /// Endpoints from <c>--routing</c> values, else from <see cref="EnvironmentVariable"/>, else the default. The word
    /// <c>none</c> anywhere turns routing off. Throws <see cref="FormatException"/> for a value that is not an http(s) URL.
    /// </summary>
    public static IReadOnlyList<Uri> ParseEndpoints(IReadOnlyList<string>? arguments, string? environment)
    {
        var values = arguments is { Count: > 0 }
            ? arguments
            : (environment ?? "").Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (values.Count == 0) return [DefaultEndpoint];
        if (values.Any(v => v.Equals("none", StringComparison.OrdinalIgnoreCase))) return [];
        var endpoints = new List<Uri>();
        foreach (var value in values)
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new FormatException($"routing endpoint '{value}' is not an http or https URL (or 'none')");
            if (!endpoints.Contains(uri)) endpoints.Add(uri);
        }
        return endpoints;
    }
}
