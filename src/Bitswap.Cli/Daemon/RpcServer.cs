using System.Net;
using System.Threading.RateLimiting;
using Bitswap.Transport.Tcp.Addressing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Bitswap.Cli.Daemon;

/// <summary>How the RPC API listens and what it accepts.</summary>
public sealed record RpcOptions
{
    /// <summary>Kubo's default API address (config Addresses.API).</summary>
    public const string DefaultAddress = "/ip4/127.0.0.1/tcp/5001";

    /// <summary>Default bound of one request body: 1 GiB, enough for a large <c>add</c>; Kestrel's own default is 30 MB.</summary>
    public const long RequestBytesMaxDefault = 1L << 30;

    /// <summary>Default number of requests served at once; more wait in a queue of twice that, then get 429.</summary>
    public const int RequestsMaxDefault = 32;

    /// <summary>The address to listen on.</summary>
    public required IPEndPoint Listen { get; init; }

    /// <summary>Origins allowed besides the API's own (Kubo: API.HTTPHeaders.Access-Control-Allow-Origin); "*" allows all.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>Largest request body.</summary>
    public long RequestBytesMax { get; init; } = RequestBytesMaxDefault;

    /// <summary>Most requests served at once.</summary>
    public int RequestsMax { get; init; } = RequestsMaxDefault;

    /// <summary>Most open connections.</summary>
    public int ConnectionsMax { get; init; } = 256;
}

/// <summary>
/// Kubo's RPC API on Kestrel: <c>POST /api/v0/&lt;command&gt;</c> with Kubo's argument names and JSON shapes, its method and
/// CSRF rules (go-ipfs-cmds http/handler.go), bounded bodies and concurrency, and <c>GET /debug/metrics/prometheus</c>.
/// </summary>
public sealed class RpcServer : IAsyncDisposable
{
    /// <summary>Kubo's metrics path (core/corehttp/metrics.go MetricsCollectionOption).</summary>
    public const string MetricsPath = "/debug/metrics/prometheus";

    /// <summary>The RPC prefix.</summary>
    public const string Prefix = "/api/v0";

    private readonly WebApplication _app;

    private RpcServer(WebApplication app, IPEndPoint bound)
    {
        _app = app;
        Bound = bound;
        Address = Multiaddr.FromEndpoint(bound);
    }

    /// <summary>The address Kestrel bound (the port is the real one when 0 was asked for).</summary>
    public IPEndPoint Bound { get; }

    /// <summary>The bound address as a multiaddr, as written to the api file.</summary>
    public Multiaddr Address { get; }

    /// <summary>Starts the API for <paramref name="daemon"/>.</summary>
    public static async Task<RpcServer> StartAsync(DaemonState daemon, RpcOptions options, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        // The CLI owns SIGINT/SIGTERM (Program.cs); the default console lifetime would take them over.
        builder.Services.AddSingleton<IHostLifetime, OwnedLifetime>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.RequestBytesMax;
            kestrel.Limits.MaxConcurrentConnections = options.ConnectionsMax;
            kestrel.Limits.MaxConcurrentUpgradedConnections = 0;
            kestrel.Listen(options.Listen, listen => listen.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(_ => RateLimitPartition.GetConcurrencyLimiter(
                "rpc",
                _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = options.RequestsMax,
                    QueueLimit = options.RequestsMax * 2,
                    QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                }));
            limiter.OnRejected = (rejected, _) => new ValueTask(RpcException.WriteAsync(
                rejected.HttpContext, StatusCodes.Status429TooManyRequests, RpcErrorCode.RateLimited, "too many requests"));
        });
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(BitswapMetrics.MeterName).AddPrometheusExporter());

        var app = builder.Build();
        var guard = new RpcGuard(options);
        app.Use(guard.InvokeAsync);
        app.UseRateLimiter();
        var commands = new RpcCommands(daemon);
        foreach (var (name, handler) in commands.Table)
        {
            app.MapPost($"{Prefix}/{name}", (HttpContext context) => RpcCommands.RunAsync(context, handler));
        }

        app.MapPrometheusScrapingEndpoint(MetricsPath);
        // go-ipfs-cmds answers an unknown command with 404 "404 page not found"; we say it in the JSON error shape.
        app.MapFallback((HttpContext context) => RpcException.WriteAsync(context, StatusCodes.Status404NotFound, RpcErrorCode.Normal, "404 page not found"));

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var text = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var uri = new Uri(text);
            var bound = new IPEndPoint(options.Listen.Address, uri.Port);
            guard.SetOwnOrigins(bound);
            return new RpcServer(app, bound);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops accepting requests, lets running ones end (5 s at most), and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(grace.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A host lifetime that leaves signals alone: the daemon command decides when to stop.</summary>
    private sealed class OwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>
/// The checks go-ipfs-cmds (http/handler.go, http/config.go) makes before a command runs: only POST (and OPTIONS) under
/// /api/v0, else 405; a request whose Origin or Referer is not allowed, or a POST from a browser (User-Agent starting
/// "Mozilla") that sends neither, is refused with 403 as possible CSRF. The allowed origins are the API's own
/// (Kubo core/corehttp/commands.go adds http(s)://127.0.0.1:PORT, localhost:PORT and [::1]:PORT when none are set) and
/// those given with <c>--api-allow-origin</c>.
/// </summary>
public sealed class RpcGuard(RpcOptions options)
{
    private volatile string[] _allowed = [.. options.AllowedOrigins];

    /// <summary>Adds the API's own origins once the port is known.</summary>
    public void SetOwnOrigins(IPEndPoint bound)
    {
        var port = bound.Port;
        string[] own = [$"http://127.0.0.1:{port}", $"https://127.0.0.1:{port}", $"http://[::1]:{port}", $"https://[::1]:{port}", $"http://localhost:{port}", $"https://localhost:{port}"];
        _allowed = [.. options.AllowedOrigins, .. own];
    }

    /// <summary>The middleware.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!context.Request.Path.StartsWithSegments(RpcServer.Prefix, StringComparison.Ordinal))
        {
            return next(context);
        }

        var method = context.Request.Method;
        if (HttpMethods.IsOptions(method))
        {
            context.Response.Headers.Allow = "OPTIONS, POST";
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }

        if (!HttpMethods.IsPost(method))
        {
            context.Response.Headers.Allow = "OPTIONS, POST";
            return RpcException.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, RpcErrorCode.Client, "405 - Method Not Allowed");
        }

        if (!AllowOrigin(context.Request) || !AllowReferer(context.Request) || !AllowUserAgent(context.Request))
        {
            return RpcException.WriteAsync(context, StatusCodes.Status403Forbidden, RpcErrorCode.Forbidden, "403 - Forbidden");
        }

        return next(context);
    }

    private bool Allowed(string origin)
    {
        foreach (var allowed in _allowed)
        {
            if (allowed == "*" || string.Equals(allowed, origin, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private bool AllowOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        return origin.Length == 0 || Allowed(origin);
    }

    private bool AllowReferer(HttpRequest request)
    {
        var referer = request.Headers.Referer.ToString();
        if (referer.Length == 0)
        {
            return true;
        }

        return Uri.TryCreate(referer, UriKind.Absolute, out var uri) && Allowed($"{uri.Scheme}://{uri.Authority}");
    }

    private static bool AllowUserAgent(HttpRequest request)
    {
        if (request.Headers.Origin.Count > 0 || request.Headers.Referer.Count > 0)
        {
            return true;
        }

        var agent = request.Headers.UserAgent.ToString();
        return agent.Contains("Electron", StringComparison.Ordinal) || !agent.StartsWith("Mozilla", StringComparison.Ordinal);
    }
}
