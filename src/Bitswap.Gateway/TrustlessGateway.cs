using System.Threading.RateLimiting;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using LanguageExt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Gateway;

/// <summary>
/// A trustless gateway (ipfs/specs src/http-gateways/trustless-gateway.md) over a blockstore, on Kestrel with minimal
/// APIs: <c>GET</c>/<c>HEAD /ipfs/{cid}</c> as a raw block (<c>?format=raw</c> or <c>Accept: application/vnd.ipld.raw</c>)
/// or as a CARv1 (<c>?format=car</c> or <c>Accept: application/vnd.ipld.car</c>, <c>dag-scope=block|entity|all</c>).
/// Only blocks already in the store are served: a missing one is 404, never a network fetch.
/// </summary>
public sealed class TrustlessGateway : IAsyncDisposable
{
    /// <summary>Media type of a raw block (trustless-gateway.md "Block Responses").</summary>
    public const string RawMediaType = "application/vnd.ipld.raw";

    /// <summary>Media type of a CAR (trustless-gateway.md "CAR Responses").</summary>
    public const string CarMediaType = "application/vnd.ipld.car";

    // path-gateway.md: immutable /ipfs/ responses may be cached for a year (Kubo sends max-age=29030400).
    private const string ImmutableCacheControl = "public, max-age=29030400, immutable";

    private readonly WebApplication _app;

    private TrustlessGateway(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:8080/</c>.</summary>
    public Uri Url { get; }

    /// <summary>Starts listening and serving <paramref name="store"/>.</summary>
    public static async Task<TrustlessGateway> StartAsync(IBlockstore store, GatewayOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(loggerFactory ?? NullLoggerFactory.Instance);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddRoutingCore();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(_ => RateLimitPartition.GetConcurrencyLimiter("all", _ =>
                new ConcurrencyLimiterOptions { PermitLimit = options.ConcurrentRequestsMax, QueueLimit = options.QueuedRequestsMax }));
        });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = options.ConnectionsMax;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Listen(options.Endpoint);
        });
        var app = builder.Build();
        app.UseRateLimiter();
        var handler = new Handler(store, options, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bitswap.Gateway"));
        app.MapMethods("/ipfs/{cid}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string cid) => handler.ServeAsync(context, cid));
        app.MapMethods("/ipfs/{cid}/{**path}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context) =>
        {
            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            return context.Response.WriteAsync("paths under a CID are not supported by this gateway: ask for the block's CID\n");
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TrustlessGateway(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    /// <summary>Stops accepting requests and ends the ones in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(grace.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private enum Scope
    {
        Block,
        Entity,
        All,
    }

    private sealed class Handler(IBlockstore store, GatewayOptions options, ILogger logger)
    {
        public async Task ServeAsync(HttpContext context, string cidText)
        {
            var request = context.Request;
            var response = context.Response;
            var cancellationToken = context.RequestAborted;
            var parsed = Cid.Parse(cidText);
            if (parsed.IsLeft)
            {
                await PlainAsync(response, StatusCodes.Status400BadRequest, $"invalid CID '{cidText}': {parsed.LeftToSeq().Head()}").ConfigureAwait(false);
                return;
            }

            var cid = parsed.RightToSeq().Head();
            var format = FormatOf(request);
            if (format is null)
            {
                await PlainAsync(response, StatusCodes.Status406NotAcceptable,
                    $"this is a trustless gateway: ask for ?format=raw or ?format=car (or Accept: {RawMediaType} or {CarMediaType})").ConfigureAwait(false);
                return;
            }

            var root = await GetAsync(cid, cancellationToken).ConfigureAwait(false);
            if (root is null)
            {
                await PlainAsync(response, StatusCodes.Status404NotFound, $"block {cid} is not held here").ConfigureAwait(false);
                return;
            }

            if (format == RawMediaType)
            {
                await ServeRawAsync(context, root).ConfigureAwait(false);
            }
            else
            {
                await ServeCarAsync(context, root).ConfigureAwait(false);
            }
        }

        private static async Task ServeRawAsync(HttpContext context, Block block)
        {
            var response = context.Response;
            var etag = $"\"{block.Cid}.raw\"";
            CommonHeaders(response, block.Cid, etag, $"{block.Cid}.bin");
            response.ContentType = RawMediaType;
            if (NotModified(context, etag)) return;
            response.ContentLength = block.Size;
            if (HttpMethods.IsHead(context.Request.Method)) return;
            await response.Body.WriteAsync(block.Data, context.RequestAborted).ConfigureAwait(false);
        }

        private async Task ServeCarAsync(HttpContext context, Block root)
        {
            var request = context.Request;
            var response = context.Response;
            var version = request.Query["car-version"].ToString();
            if (version.Length > 0 && version != "1")
            {
                await PlainAsync(response, StatusCodes.Status400BadRequest, $"car-version {version} is not supported: only 1").ConfigureAwait(false);
                return;
            }

            var scopeText = request.Query["dag-scope"].ToString();
            Scope? scope = scopeText switch
            {
                "" or "all" => Scope.All,
                "entity" => Scope.Entity,
                "block" => Scope.Block,
                _ => null,
            };
            if (scope is null)
            {
                await PlainAsync(response, StatusCodes.Status400BadRequest, $"dag-scope '{scopeText}' is not one of block, entity, all").ConfigureAwait(false);
                return;
            }

            if (request.Query.ContainsKey("entity-bytes"))
            {
                await PlainAsync(response, StatusCodes.Status501NotImplemented, "entity-bytes is not supported").ConfigureAwait(false);
                return;
            }

            // We always answer depth-first without duplicates (IPIP-412 order=dfs; dups=n), whatever was asked for: the
            // Content-Type says what the body is.
            var etag = $"\"{root.Cid}.car.{scope.Value.ToString().ToLowerInvariant()}.dfs.n\"";
            CommonHeaders(response, root.Cid, etag, $"{root.Cid}.car");
            response.ContentType = $"{CarMediaType}; version=1; order=dfs; dups=n";
            if (NotModified(context, etag)) return;
            if (HttpMethods.IsHead(context.Request.Method)) return;

            var writer = new CarWriter(response.Body, Prelude.Seq1(root.Cid));
            long bytes = 0;
            var blocks = 0;
            try
            {
                await foreach (var block in WalkAsync(root, scope.Value, context.RequestAborted).ConfigureAwait(false))
                {
                    bytes += block.Size + block.Cid.ByteLength + 10;
                    if (++blocks > options.CarBlocksMax || bytes > options.CarBytesMax)
                    {
                        throw new DagException(new DecodeError(DecodeErrorKind.TooLarge, $"the CAR of {root.Cid} is over {options.CarBlocksMax} blocks or {options.CarBytesMax} bytes"));
                    }

                    await writer.WriteAsync(block, context.RequestAborted).ConfigureAwait(false);
                }

                await writer.WriteHeaderAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (DagException error)
            {
                // The status line is gone: ending the connection early is how a streaming gateway says "incomplete".
                logger.LogDebug("CAR of {Cid} cut short: {Reason}", root.Cid, error.Error);
                context.Abort();
            }
        }

        // Depth-first, each block once, children in link order (IPIP-412 order=dfs, dups=n). Entity scope: a UnixFS file
        // is the whole file, a directory (or anything else) is its own block; block scope is the root alone.
        private async IAsyncEnumerable<Block> WalkAsync(Block root, Scope scope, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            yield return root;
            if (scope == Scope.Block || (scope == Scope.Entity && !IsUnixFsFile(root))) yield break;
            var seen = new System.Collections.Generic.HashSet<Multihash> { root.Cid.Hash };
            var stack = new Stack<(Cid Cid, int Depth)>();
            PushChildren(stack, root, 1);
            while (stack.Count > 0)
            {
                var (cid, depth) = stack.Pop();
                if (!seen.Add(cid.Hash)) continue;
                if (depth > options.DagDepthMax) throw new DagException(new DecodeError(DecodeErrorKind.TooLarge, $"DAG under {root.Cid} is deeper than {options.DagDepthMax}"));
                var block = await GetAsync(cid, cancellationToken).ConfigureAwait(false)
                    ?? throw new DagException(new DecodeError(DecodeErrorKind.Truncated, $"block {cid} under {root.Cid} is not held here"));
                yield return block;
                PushChildren(stack, block, depth + 1);
            }
        }

        private static void PushChildren(Stack<(Cid, int)> stack, Block block, int depth)
        {
            var children = DagLinks.Of(block).Match(c => c, e => throw new DagException(e));
            foreach (var child in children.Reverse()) stack.Push((child, depth));
        }

        private static bool IsUnixFsFile(Block block) =>
            block.Cid.Codec == Multicodec.Raw
            || (block.Cid.Codec == Multicodec.DagPb
                && DagPb.Decode(block.Data.Span).Match(
                    node => node.Data is { } data && UnixFsData.Decode(data.Span).Match(u => u.Type is UnixFsType.File or UnixFsType.Raw, _ => false),
                    _ => false));

        // Identity CIDs carry their block (bafkqaaa is the empty one); everything else comes from the store only.
        private async ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken) =>
            cid.IsIdentity ? Block.FromStore(cid, cid.Hash.Digest.ToArray()) : await store.GetAsync(cid, cancellationToken).ConfigureAwait(false);

        // ?format= wins over Accept (trustless-gateway.md "Request Query Parameters"); Accept is read range by range.
        private static string? FormatOf(HttpRequest request)
        {
            var format = request.Query["format"].ToString();
            if (format == "raw") return RawMediaType;
            if (format == "car") return CarMediaType;
            if (format.Length > 0) return null;
            foreach (var value in request.Headers.Accept)
            {
                foreach (var range in (value ?? "").Split(','))
                {
                    var mediaType = range.Split(';')[0].Trim();
                    if (mediaType.Equals(RawMediaType, StringComparison.OrdinalIgnoreCase)) return RawMediaType;
                    if (mediaType.Equals(CarMediaType, StringComparison.OrdinalIgnoreCase)) return CarMediaType;
                }
            }

            return null;
        }

        private static void CommonHeaders(HttpResponse response, Cid cid, string etag, string filename)
        {
            response.Headers.ETag = etag;
            response.Headers.CacheControl = ImmutableCacheControl;
            response.Headers.ContentDisposition = $"attachment; filename=\"{filename}\"";
            response.Headers.XContentTypeOptions = "nosniff";
            response.Headers["X-Ipfs-Path"] = $"/ipfs/{cid}";
            response.Headers["X-Ipfs-Roots"] = cid.ToString();
            response.Headers.Vary = "Accept";
        }

        private static bool NotModified(HttpContext context, string etag)
        {
            var ifNoneMatch = context.Request.Headers.IfNoneMatch.ToString();
            if (ifNoneMatch.Length == 0 || !ifNoneMatch.Split(',').Any(t => t.Trim() == etag || t.Trim() == "*")) return false;
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return true;
        }

        private static Task PlainAsync(HttpResponse response, int status, string message)
        {
            response.StatusCode = status;
            response.ContentType = "text/plain; charset=utf-8";
            response.Headers.XContentTypeOptions = "nosniff";
            return response.WriteAsync(message + "\n");
        }
    }
}
