using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Bitswap.Domain.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Routing;

/// <summary>
/// A client of the Delegated Routing V1 HTTP API (ipfs/specs src/routing/http-routing-v1.md, IPIP-337):
/// <c>GET /routing/v1/providers/{cid}</c> and <c>GET /routing/v1/peers/{peer-id}</c>. Asks for NDJSON and reads JSON
/// too (whichever the Content-Type says), treats 404 and empty answers as "no providers" (IPIP-513), sends and applies
/// the IPIP-484 filters, resolves records without addresses through <c>/peers</c>, and keeps answers briefly. Every
/// failure of a router (status, timeout, malformed body) is logged and counts as no answer from it: never thrown.
/// </summary>
public sealed class DelegatedRoutingClient : IDisposable
{
    private const string NdjsonMediaType = "application/x-ndjson";
    private const string JsonMediaType = "application/json";

    private readonly RoutingOptions _options;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _inFlight;
    private readonly Lock _cacheGate = new();
    private readonly Dictionary<string, (DateTimeOffset Expires, IReadOnlyList<PeerRecord> Records)> _cache = [];
    private readonly Queue<string> _cacheOrder = new();

    /// <summary>Creates a client; <paramref name="handler"/> replaces the HTTP stack (tests), <paramref name="time"/> the clock.</summary>
    public DelegatedRoutingClient(RoutingOptions options, ILoggerFactory? loggerFactory = null, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        // Redirects are not followed: a router answers itself or not at all.
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan;
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("bitswap-dotnet", "0.1"));
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bitswap.Routing");
        _time = time ?? TimeProvider.System;
        _inFlight = new SemaphoreSlim(options.LookupsInFlightMax, options.LookupsInFlightMax);
    }

    /// <summary>The options in force.</summary>
    public RoutingOptions Options => _options;

    /// <summary>
    /// Up to <see cref="RoutingOptions.ProvidersPerCidMax"/> providers of <paramref name="cid"/>, filtered, with records
    /// that came without addresses resolved through <c>/peers</c> (those that stay without addresses are dropped).
    /// Empty when routing is off, nobody has the CID, or every router failed.
    /// </summary>
    public async Task<IReadOnlyList<PeerRecord>> FindProvidersAsync(Cid cid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cid);
        if (_options.Endpoints.Count == 0) return [];
        var key = cid.ToV1().ToString();
        if (TryCached(key, out var cached)) return cached;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.LookupTimeout);
        var found = new List<PeerRecord>();
        try
        {
            foreach (var endpoint in _options.Endpoints)
            {
                var records = await GetRecordsAsync(endpoint, $"routing/v1/providers/{key}", "Providers", deadline.Token).ConfigureAwait(false);
                Merge(found, records);
                if (found.Count(r => r.Addrs.Count > 0) >= _options.ProvidersPerCidMax) break;
            }
            await ResolveAddresslessAsync(found, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogDebug("provider lookup for {Cid} timed out after {Seconds} s", key, _options.LookupTimeout.TotalSeconds);
        }
        var result = found.Where(r => r.Addrs.Count > 0).Take(_options.ProvidersPerCidMax).ToArray();
        Remember(key, result);
        return result;
    }

    /// <summary>The records routers hold for <paramref name="peer"/>, filtered (IPIP-484); empty when none is known.</summary>
    public async Task<IReadOnlyList<PeerRecord>> FindPeerAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var found = new List<PeerRecord>();
        foreach (var endpoint in _options.Endpoints)
        {
            var records = await GetRecordsAsync(endpoint, $"routing/v1/peers/{peer.ToCidString()}", "Peers", cancellationToken).ConfigureAwait(false);
            Merge(found, records.Where(r => r.Id == peer));
            if (found.Any(r => r.Addrs.Count > 0)) break;
        }
        return found;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _http.Dispose();
        _inFlight.Dispose();
    }

    private async Task ResolveAddresslessAsync(List<PeerRecord> found, CancellationToken cancellationToken)
    {
        var addressless = found.Where(r => r.Addrs.Count == 0).Take(_options.PeerResolutionsPerLookupMax).ToArray();
        if (addressless.Length == 0) return;
        var resolved = await Task.WhenAll(addressless.Select(r => FindPeerAsync(r.Id, cancellationToken))).ConfigureAwait(false);
        for (var i = 0; i < addressless.Length; i++)
        {
            var addrs = resolved[i].SelectMany(r => r.Addrs).Distinct().Take(_options.AddressesPerRecordMax).ToArray();
            var index = found.IndexOf(addressless[i]);
            if (addrs.Length > 0) found[index] = addressless[i] with { Addrs = addrs };
            else _logger.LogDebug("provider {Peer} has no known addresses", addressless[i].Id.Short);
        }
    }

    // One peer once: a later record of the same peer adds its addresses and protocols to the first.
    private void Merge(List<PeerRecord> found, IEnumerable<PeerRecord> records)
    {
        foreach (var record in records)
        {
            var index = found.FindIndex(r => r.Id == record.Id);
            if (index < 0)
            {
                if (found.Count < _options.RecordsPerResponseMax) found.Add(record);
                continue;
            }
            var first = found[index];
            found[index] = first with
            {
                Addrs = first.Addrs.Concat(record.Addrs).Distinct().Take(_options.AddressesPerRecordMax).ToArray(),
                Protocols = first.Protocols.Concat(record.Protocols).Distinct().ToArray(),
            };
        }
    }

    private async Task<IReadOnlyList<PeerRecord>> GetRecordsAsync(Uri endpoint, string path, string arrayName, CancellationToken cancellationToken)
    {
        var uri = RequestUri(endpoint, path);
        await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(NdjsonMediaType));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(JsonMediaType, 0.9));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound) return [];
            if (response.StatusCode != HttpStatusCode.OK)
            {
                _logger.LogDebug("router {Uri} answered {Status}", uri, (int)response.StatusCode);
                return [];
            }
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            if (string.Equals(mediaType, NdjsonMediaType, StringComparison.OrdinalIgnoreCase))
                return await ReadNdjsonAsync(body, uri, cancellationToken).ConfigureAwait(false);
            if (string.Equals(mediaType, JsonMediaType, StringComparison.OrdinalIgnoreCase))
                return await ReadJsonAsync(body, arrayName, uri, cancellationToken).ConfigureAwait(false);
            _logger.LogDebug("router {Uri} answered with Content-Type {Type}, neither JSON nor NDJSON", uri, mediaType ?? "(none)");
            return [];
        }
        catch (HttpRequestException e)
        {
            _logger.LogDebug("router {Uri} failed: {Reason}", uri, e.Message);
            return [];
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private Uri RequestUri(Uri endpoint, string path)
    {
        var query = $"filter-protocols={Uri.EscapeDataString(string.Join(',', _options.ProtocolFilter))}&filter-addrs={Uri.EscapeDataString(string.Join(',', _options.AddressFilter))}";
        var baseText = endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        return new Uri($"{baseText}/{path}?{query}");
    }

    private async Task<IReadOnlyList<PeerRecord>> ReadJsonAsync(Stream body, string arrayName, Uri uri, CancellationToken cancellationToken)
    {
        var bytes = await ReadBoundedAsync(body, _options.ResponseBytesMax, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            _logger.LogDebug("router {Uri} answered more than {Max} bytes; ignored", uri, _options.ResponseBytesMax);
            return [];
        }
        if (bytes.Length == 0) return [];
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty(arrayName, out var array))
                return [];
            if (array.ValueKind == JsonValueKind.Null) return [];
            if (array.ValueKind != JsonValueKind.Array)
            {
                _logger.LogDebug("router {Uri}: {Name} is not an array", uri, arrayName);
                return [];
            }
            return Accept(array.EnumerateArray().Take(_options.RecordsPerResponseMax));
        }
        catch (JsonException e)
        {
            _logger.LogDebug("router {Uri} answered malformed JSON: {Reason}", uri, e.Message);
            return [];
        }
    }

    // One record per line; a malformed line is skipped, records before and after it are kept.
    private async Task<IReadOnlyList<PeerRecord>> ReadNdjsonAsync(Stream body, Uri uri, CancellationToken cancellationToken)
    {
        var records = new List<PeerRecord>();
        var reader = new BoundedLineReader(body, _options.LineBytesMax);
        var lines = 0;
        while (lines < _options.RecordsPerResponseMax && await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.IsEmpty) continue;
            lines++;
            if (line.Length > _options.LineBytesMax)
            {
                _logger.LogDebug("router {Uri}: NDJSON line over {Max} bytes skipped", uri, _options.LineBytesMax);
                continue;
            }
            try
            {
                using var document = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 16 });
                records.AddRange(Accept([document.RootElement]));
            }
            catch (JsonException e)
            {
                _logger.LogDebug("router {Uri}: malformed NDJSON line skipped: {Reason}", uri, e.Message);
            }
            if (records.Count >= _options.ProvidersPerCidMax * 2) break;
        }
        return records;
    }

    private List<PeerRecord> Accept(IEnumerable<JsonElement> elements)
    {
        var accepted = new List<PeerRecord>();
        foreach (var element in elements)
        {
            var record = PeerRecord.FromJson(element, _options.AddressesPerRecordMax)?.Filter(_options.ProtocolFilter, _options.AddressFilter);
            if (record is not null) accepted.Add(record);
        }
        return accepted;
    }

    private static async Task<byte[]?> ReadBoundedAsync(Stream body, int max, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0) return buffer.ToArray();
            if (buffer.Length + read > max) return null;
            buffer.Write(chunk, 0, read);
        }
    }

    private bool TryCached(string key, out IReadOnlyList<PeerRecord> records)
    {
        lock (_cacheGate)
        {
            if (_cache.TryGetValue(key, out var entry) && entry.Expires > _time.GetUtcNow())
            {
                records = entry.Records;
                return true;
            }
        }
        records = [];
        return false;
    }

    // Empty answers are cached too (a miss is an answer); the oldest entry goes first when the cache is full.
    private void Remember(string key, IReadOnlyList<PeerRecord> records)
    {
        lock (_cacheGate)
        {
            if (!_cache.ContainsKey(key)) _cacheOrder.Enqueue(key);
            _cache[key] = (_time.GetUtcNow() + _options.CacheTtl, records);
            while (_cache.Count > _options.CacheEntriesMax && _cacheOrder.TryDequeue(out var oldest)) _cache.Remove(oldest);
        }
    }

    /// <summary>Reads lines of at most a bound (longer ones come back truncated past the bound, to be skipped).</summary>
    private sealed class BoundedLineReader(Stream stream, int lineBytesMax)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;
        private bool _eof;

        public async Task<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new MemoryStream();
            var overlong = false;
            while (true)
            {
                if (_start == _end)
                {
                    if (_eof) return line.Length == 0 && !overlong ? (ReadOnlyMemory<byte>?)null : Finish(line, overlong);
                    _start = 0;
                    _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                    if (_end == 0)
                    {
                        _eof = true;
                        continue;
                    }
                }
                var span = _buffer.AsSpan(_start, _end - _start);
                var newline = span.IndexOf((byte)'\n');
                var take = newline < 0 ? span.Length : newline;
                if (line.Length + take <= lineBytesMax) line.Write(span[..take]);
                else overlong = true;
                _start += newline < 0 ? take : take + 1;
                if (newline >= 0) return Finish(line, overlong);
            }
        }

        private ReadOnlyMemory<byte> Finish(MemoryStream line, bool overlong) =>
            overlong ? new byte[lineBytesMax + 1] : line.ToArray().AsMemory().TrimEnd((byte)'\r');
    }
}
