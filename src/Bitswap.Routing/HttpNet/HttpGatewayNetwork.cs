using System.Net;
using System.Net.Http.Headers;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using System.Threading.Channels;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Routing.HttpNet;

/// <summary>
/// HTTP retrieval beside Bitswap, as boxo's bitswap/network/httpnet does it: each trustless gateway is a peer whose
/// want-have is a <c>HEAD /ipfs/{cid}?format=raw</c> and whose want-block is a <c>GET</c> with
/// <c>Accept: application/vnd.ipld.raw</c>. Answers come back as Bitswap messages: the block (hash-verified, at most
/// 2 MiB), HAVE, or DONT_HAVE for a 404 and for anything that went wrong (a bad block, 5xx, a redirect, a timeout).
/// A gateway is probed with <c>bafkqaaa</c> before use; 429 and 503 start a cooldown from <c>Retry-After</c>.
/// </summary>
public sealed class HttpGatewayNetwork : IBitswapNetwork
{
    private const string RawMediaType = "application/vnd.ipld.raw";

    // The empty identity CID: every trustless gateway answers it without storage (trustless-gateway.md).
    private const string ProbeCid = "bafkqaaa";

    private readonly HttpNetOptions _options;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ISubject<NetworkEvent> _events;
    private readonly Subject<NetworkEvent> _subject = new();
    private readonly Channel<Work> _queue;
    private readonly Task[] _workers;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, Uri> _gateways = [];
    private readonly System.Collections.Generic.HashSet<PeerId> _connected = [];
    private readonly Dictionary<PeerId, DateTimeOffset> _cooldownUntil = [];
    // The request running for each peer and CID, and what it asks (a HEAD for want-have, a GET for want-block).
    private readonly Dictionary<(PeerId, Cid), (CancellationTokenSource Source, WantType Type)> _inFlight = [];
    private long _messagesReceived;
    private long _bytesReceived;
    private long _messagesSent;

    /// <summary>Creates the network for node <paramref name="self"/>; <paramref name="handler"/> replaces the HTTP stack.</summary>
    public HttpGatewayNetwork(PeerId self, HttpNetOptions? options = null, ILoggerFactory? loggerFactory = null, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        Self = self;
        _options = options ?? new HttpNetOptions();
        // Redirects are not followed (boxo httpnet): a gateway answers for itself.
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bitswap.HttpNet");
        _time = time ?? TimeProvider.System;
        _events = Subject.Synchronize(_subject);
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(_options.PendingRequestsMax) { FullMode = BoundedChannelFullMode.Wait });
        // A fixed pool of workers bounds the requests in flight; DisposeAsync awaits them all.
        _workers = Enumerable.Range(0, _options.RequestsInFlightMax).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    /// <inheritdoc />
    public PeerId Self { get; }

    /// <inheritdoc />
    public IObservable<NetworkEvent> Events => _subject.AsObservable();

    /// <inheritdoc />
    public IReadOnlyCollection<PeerId> ConnectedPeers
    {
        get { lock (_gate) return [.. _connected.Order()]; }
    }

    /// <summary>Request and response counters under boxo's httpnet metric names.</summary>
    public HttpNetMetrics Metrics { get; } = new();

    /// <inheritdoc />
    public NetworkStats Stats => new(Interlocked.Read(ref _messagesSent), Interlocked.Read(ref _messagesReceived), 0, Interlocked.Read(ref _bytesReceived));

    /// <summary>
    /// Remembers a gateway; without <paramref name="peer"/> it gets a peer ID of its own (the sha2-256 multihash of its
    /// URL). Throws <see cref="ArgumentException"/> for plain http to a public address. Beyond
    /// <see cref="HttpNetOptions.GatewaysMax"/> gateways a new one is not remembered (connecting to it then fails).
    /// </summary>
    public PeerId AddGateway(Uri url, PeerId? peer = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!GatewayUrls.IsAllowed(url)) throw new ArgumentException($"{url}: plain http only to loopback or private addresses; use https", nameof(url));
        var baseUrl = new Uri(url.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/");
        var id = peer ?? new PeerId(Multihash.Compute(MultihashCode.Sha2_256, Encoding.UTF8.GetBytes("httpnet:" + baseUrl)).Match(h => h, e => throw new InvalidOperationException(e.ToString())));
        lock (_gate)
        {
            if (_gateways.ContainsKey(id) || _gateways.Count < _options.GatewaysMax) _gateways[id] = baseUrl;
            else _logger.LogDebug("gateway {Url} ignored: {Max} gateways known already", baseUrl, _options.GatewaysMax);
        }

        return id;
    }

    /// <summary>True when <paramref name="peer"/> is a gateway of this network.</summary>
    public bool Knows(PeerId peer)
    {
        lock (_gate) return _gateways.ContainsKey(peer);
    }

    /// <summary>Probes the gateway with <c>bafkqaaa</c>; on success the peer is up (Bitswap 1.2.0 semantics).</summary>
    public async ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        Uri? url;
        lock (_gate)
        {
            if (_connected.Contains(peer)) return;
            _gateways.TryGetValue(peer, out url);
        }

        if (url is null) throw new NetworkException($"no known gateway for {peer}");
        if (CoolingDown(peer)) throw new NetworkException($"gateway {url} is cooling down");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var request = Request(HttpMethod.Get, url, ProbeCid);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK) throw new NetworkException($"gateway {url} answered the {ProbeCid} probe with {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new NetworkException($"gateway {url} unreachable: {e.Message}", e);
        }

        bool added;
        lock (_gate) added = _connected.Add(peer);
        if (added) _events.OnNext(new PeerUp(peer, ProtocolVersion.V120));
    }

    /// <summary>Turns the message's wants into HTTP requests (run in the background, bounded) and cancels cancelled ones.</summary>
    public ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        Uri? url;
        lock (_gate) url = _connected.Contains(peer) ? _gateways[peer] : null;
        if (url is null) throw new NetworkException($"not connected to gateway {peer}");
        Interlocked.Increment(ref _messagesSent);
        Metrics.WantlistSent(message.Wantlist.Values.Count(e => !e.Cancel));
        foreach (var entry in message.Wantlist.Values)
        {
            if (entry.Cancel)
            {
                lock (_gate)
                {
                    if (_inFlight.Remove((peer, entry.Cid), out var cancel)) cancel.Source.Cancel();
                }

                continue;
            }

            CancellationTokenSource source;
            lock (_gate)
            {
                if (_inFlight.TryGetValue((peer, entry.Cid), out var running))
                {
                    // A want-block upgrades a running HEAD (its answer would only be HAVE): the GET replaces it.
                    if (running.Type == WantType.Block || entry.WantType == WantType.Have) continue;
                    running.Source.Cancel();
                }

                source = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
                _inFlight[(peer, entry.Cid)] = (source, entry.WantType);
            }

            if (!_queue.Writer.TryWrite(new Work(peer, url, entry, source)))
            {
                // The queue is full (or closed): say DONT_HAVE now so the session asks someone else.
                Forget(peer, entry.Cid, source);
                Answer(peer, Message.Empty.WithPresence(entry.Cid, PresenceType.DontHave), 0);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DisconnectAsync(PeerId peer)
    {
        bool removed;
        lock (_gate) removed = _connected.Remove(peer);
        if (removed) _events.OnNext(new PeerDown(peer));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ProtocolVersion? VersionOf(PeerId peer)
    {
        lock (_gate) return _connected.Contains(peer) ? ProtocolVersion.V120 : null;
    }

    /// <summary>Cancels every request, waits for them, and completes the event stream.</summary>
    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
        while (_queue.Reader.TryRead(out var left)) left.Source.Dispose();
        _events.OnCompleted();
        _http.Dispose();
        _shutdown.Dispose();
        _subject.Dispose();
    }

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var work in _queue.Reader.ReadAllAsync(_shutdown.Token).ConfigureAwait(false))
            {
                await RequestAsync(work.Peer, work.Url, work.Entry, work.Source).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            // Shutting down: the queue's leftovers are disposed by DisposeAsync.
        }
    }

    private async Task RequestAsync(PeerId peer, Uri url, WantlistEntry entry, CancellationTokenSource source)
    {
        var cid = entry.Cid;
        (Message Message, int Bytes)? answer = null;
        try
        {
            answer = await FetchAsync(peer, url, entry, source.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (source.IsCancellationRequested)
        {
            // Cancelled by a CANCEL entry, by a want-block that replaced this HEAD, or by shutdown: nothing to answer.
        }
        catch (Exception e)
        {
            // A boundary: whatever failed, the session hears DONT_HAVE and asks someone else.
            _logger.LogDebug("gateway {Url} failed for {Cid}: {Reason}", url, cid, e.Message);
            answer = (Message.Empty.WithPresence(cid, PresenceType.DontHave), 0);
        }
        finally
        {
            Forget(peer, cid, source);
        }

        // Answered only once the request is forgotten: the client may send the want-block the instant a HAVE arrives, and
        // that want must start a request of its own rather than find this one still in flight and be dropped.
        if (answer is { } given) Answer(peer, given.Message, given.Bytes);
    }

    private void Forget(PeerId peer, Cid cid, CancellationTokenSource source)
    {
        lock (_gate)
        {
            if (_inFlight.TryGetValue((peer, cid), out var current) && current.Source == source) _inFlight.Remove((peer, cid));
        }

        source.Dispose();
    }

    private async Task<(Message Message, int Bytes)> FetchAsync(PeerId peer, Uri url, WantlistEntry entry, CancellationToken cancellationToken)
    {
        var cid = entry.Cid;
        var dontHave = (Message.Empty.WithPresence(cid, PresenceType.DontHave), 0);
        if (CoolingDown(peer)) return dontHave;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        var wantBlock = entry.WantType == WantType.Block;
        using var request = Request(wantBlock ? HttpMethod.Get : HttpMethod.Head, url, cid.ToString());
        Metrics.RequestStarted();
        var started = _time.GetTimestamp();
        HttpResponseMessage sent;
        try
        {
            sent = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            Metrics.RequestFailed();
            throw;
        }

        using var response = sent;
        Metrics.Answered(request.Method.Method, (int)response.StatusCode, RequestBytes(request), _time.GetElapsedTime(started));
        switch (response.StatusCode)
        {
            case HttpStatusCode.OK:
                break;
            case HttpStatusCode.NotFound:
                return dontHave;
            case HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable:
                StartCooldown(peer, url, response.Headers.RetryAfter);
                return dontHave;
            default:
                _logger.LogDebug("gateway {Url} answered {Status} for {Cid}", url, (int)response.StatusCode, cid);
                return dontHave;
        }

        if (!wantBlock) return (Message.Empty.WithPresence(cid, PresenceType.Have), 0);
        if (response.Content.Headers.ContentLength > _options.BlockBytesMax) return dontHave;
        byte[]? bytes;
        try
        {
            bytes = await ReadBoundedAsync(response.Content, _options.BlockBytesMax, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            Metrics.BodyFailed();
            throw;
        }

        if (bytes is not null) Metrics.BodyRead(bytes.Length);
        if (bytes is null)
        {
            _logger.LogDebug("gateway {Url} sent more than {Max} bytes for {Cid}", url, _options.BlockBytesMax, cid);
            return dontHave;
        }

        var verified = Block.Verified(cid, bytes);
        if (verified.IsLeft)
        {
            _logger.LogDebug("gateway {Url} sent a block that does not hash to {Cid}", url, cid);
            return dontHave;
        }

        return (Message.Empty.WithBlock(verified.RightToSeq().Head()), bytes.Length);
    }

    /// <summary>The request as it goes on the wire, without the body it never has: request line, Host and the other headers.</summary>
    private static long RequestBytes(HttpRequestMessage request)
    {
        var uri = request.RequestUri!;
        long bytes = request.Method.Method.Length + 1 + uri.PathAndQuery.Length + " HTTP/1.1\r\n".Length + "Host: \r\n".Length + uri.Authority.Length + 2;
        foreach (var header in request.Headers) bytes += header.Key.Length + 4 + header.Value.Sum(v => v.Length);
        return bytes;
    }

    private sealed record Work(PeerId Peer, Uri Url, WantlistEntry Entry, CancellationTokenSource Source);

    private static HttpRequestMessage Request(HttpMethod method, Uri url, string cid)
    {
        var request = new HttpRequestMessage(method, new Uri(url, $"ipfs/{cid}?format=raw"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(RawMediaType));
        return request;
    }

    private void Answer(PeerId peer, Message message, int bytes)
    {
        if (_shutdown.IsCancellationRequested) return;
        Interlocked.Increment(ref _messagesReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
        _events.OnNext(new MessageArrived(peer, ProtocolVersion.V120, message, bytes));
    }

    private bool CoolingDown(PeerId peer)
    {
        lock (_gate) return _cooldownUntil.TryGetValue(peer, out var until) && until > _time.GetUtcNow();
    }

    private void StartCooldown(PeerId peer, Uri url, RetryConditionHeaderValue? retryAfter)
    {
        var now = _time.GetUtcNow();
        var wait = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - now : _options.DefaultCooldown);
        if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
        if (wait > _options.CooldownMax) wait = _options.CooldownMax;
        lock (_gate) _cooldownUntil[peer] = now + wait;
        _logger.LogDebug("gateway {Url} asked us to wait; cooling down for {Seconds} s", url, wait.TotalSeconds);
    }

    private static async Task<byte[]?> ReadBoundedAsync(HttpContent content, int max, CancellationToken cancellationToken)
    {
        await using var body = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        while (true)
        {
            var read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0) return buffer.ToArray();
            if (buffer.Length + read > max) return null;
            buffer.Write(chunk, 0, read);
        }
    }
}
