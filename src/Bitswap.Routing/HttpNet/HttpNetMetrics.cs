namespace Bitswap.Routing.HttpNet;

/// <summary>
/// Counters of HTTP retrieval, named after boxo bitswap/network/httpnet/metrics.go (scope <c>exchange_httpnet</c>):
/// requests_in_flight, requests_total, requests_failure, requests_body_failure, request_sent_bytes, response_bytes,
/// wantlists_total, wantlists_items_total and status{method, status, host}, and each request's duration for
/// request_duration_seconds. Thread-safe; the CLI exports them.
/// </summary>
public sealed class HttpNetMetrics
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Method, string Status), long> _status = [];
    private long _inFlight;
    private long _requests;
    private long _failures;
    private long _bodyFailures;
    private long _sentBytes;
    private long _responseBytes;
    private long _wantlists;
    private long _wantlistItems;

    /// <summary>Raised with the time from sending a request to its status line (boxo request_duration_seconds), on the request's thread.</summary>
    public event Action<TimeSpan>? RequestTimed;

    /// <summary>Requests sent and not yet answered (boxo requests_in_flight).</summary>
    public long RequestsInFlight => Interlocked.Read(ref _inFlight);

    /// <summary>Requests that got a status back (boxo requests_total).</summary>
    public long RequestsTotal => Interlocked.Read(ref _requests);

    /// <summary>Requests that got no response: dial error, timeout, reset (boxo requests_failure).</summary>
    public long RequestsFailure => Interlocked.Read(ref _failures);

    /// <summary>Responses whose body could not be read (boxo requests_body_failure).</summary>
    public long RequestsBodyFailure => Interlocked.Read(ref _bodyFailures);

    /// <summary>Bytes of the requests sent, request line and headers (boxo request_sent_bytes).</summary>
    public long RequestSentBytes => Interlocked.Read(ref _sentBytes);

    /// <summary>Bytes of response bodies read (boxo response_bytes, a histogram there; a running total here).</summary>
    public long ResponseBytes => Interlocked.Read(ref _responseBytes);

    /// <summary>Wantlists handed to the HTTP network (boxo wantlists_total).</summary>
    public long WantlistsTotal => Interlocked.Read(ref _wantlists);

    /// <summary>Wants in those wantlists (boxo wantlists_items_total).</summary>
    public long WantlistsItemsTotal => Interlocked.Read(ref _wantlistItems);

    /// <summary>Responses by method and status, the status bucketed as boxo's updateStatusCounter does (other codes are "other").</summary>
    public IReadOnlyList<(string Method, string Status, long Count)> StatusCounts()
    {
        lock (_gate) return [.. _status.OrderBy(s => s.Key.Method, StringComparer.Ordinal).ThenBy(s => s.Key.Status, StringComparer.Ordinal).Select(s => (s.Key.Method, s.Key.Status, s.Value))];
    }

    internal void WantlistSent(int items)
    {
        Interlocked.Increment(ref _wantlists);
        Interlocked.Add(ref _wantlistItems, items);
    }

    internal void RequestStarted() => Interlocked.Increment(ref _inFlight);

    internal void RequestFailed()
    {
        Interlocked.Increment(ref _failures);
        Interlocked.Decrement(ref _inFlight);
    }

    internal void BodyFailed() => Interlocked.Increment(ref _bodyFailures);

    internal void Answered(string method, int status, long requestBytes, TimeSpan duration)
    {
        RequestTimed?.Invoke(duration);
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _sentBytes, requestBytes);
        // boxo metrics.go keeps these codes apart and folds the rest into "other".
        var bucket = status is 200 or 400 or 403 or 404 or 410 or 429 or 451 or 500 or 502 or 504 ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : "other";
        lock (_gate) _status[(method, bucket)] = _status.GetValueOrDefault((method, bucket)) + 1;
    }

    internal void BodyRead(long bytes) => Interlocked.Add(ref _responseBytes, bytes);
}
