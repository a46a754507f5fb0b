using System.Diagnostics.Metrics;
using System.Reactive.Linq;
using Bitswap.Runtime;

namespace Bitswap.Cli;

/// <summary>
/// A node's metrics on the <c>Bitswap</c> meter (System.Diagnostics.Metrics), named as boxo names its Prometheus
/// series: boxo bitswap/metrics/metrics.go registers <c>recv_dup_blocks_bytes</c>, <c>recv_all_blocks_bytes</c> and
/// <c>sent_all_blocks_bytes</c> histograms under the <c>ipfs_bitswap</c> scope, and the Stat counters
/// (blocks_received, data_received, dup_blocks_received, dup_data_received, messages_received, blocks_sent, data_sent);
/// boxo's wantmanager gauge is <c>wantlist_total</c>. Histograms are fed from <see cref="BitswapNode.Blocks"/> and
/// <see cref="BitswapNode.Events"/>, counters and gauges read <see cref="BitswapNode.Stat"/> when collected.
/// Every measurement carries a <c>peer</c> tag with the node's peer ID, so two nodes in one process stay apart.
/// </summary>
public sealed class BitswapMetrics : IDisposable
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Bitswap";

    private readonly Meter _meter = new(MeterName);
    private readonly IDisposable _blocks;
    private readonly IDisposable _events;
    private readonly KeyValuePair<string, object?> _peer;
    private long _dupDataSeen;
    private Action? _untrack;

    /// <summary>Registers the instruments for <paramref name="node"/> and starts feeding the histograms.</summary>
    public BitswapMetrics(BitswapNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _peer = new KeyValuePair<string, object?>("peer", node.Self.ToString());
        var receivedBytes = _meter.CreateHistogram<long>("ipfs_bitswap_recv_all_blocks_bytes", "By", "Summary of all data blocks received");
        var duplicateBytes = _meter.CreateHistogram<long>("ipfs_bitswap_recv_dup_blocks_bytes", "By", "Summary of duplicate data blocks received");
        var sentBytes = _meter.CreateHistogram<long>("ipfs_bitswap_sent_all_blocks_bytes", "By", "Histogram of blocks sent by this bitswap");
        _meter.CreateObservableGauge("ipfs_bitswap_wantlist_total", () => Measure(node.Stat().Wantlist.Count), "{cid}", "Number of items in wantlist");
        _meter.CreateObservableGauge("ipfs_bitswap_peers_total", () => Measure(node.Stat().Peers.Count), "{peer}", "Number of peers the server keeps a ledger for");
        _meter.CreateObservableCounter("ipfs_bitswap_blocks_received", () => Measure(node.Stat().BlocksReceived), "{block}", "Total number of received blocks");
        _meter.CreateObservableCounter("ipfs_bitswap_data_received", () => Measure(node.Stat().DataReceived), "By", "Total number of data bytes received");
        _meter.CreateObservableCounter("ipfs_bitswap_dup_blocks_received", () => Measure(node.Stat().DupBlksReceived), "{block}", "Total number of duplicate blocks received");
        _meter.CreateObservableCounter("ipfs_bitswap_dup_data_received", () => Measure(node.Stat().DupDataReceived), "By", "Total number of duplicate data bytes received");
        _meter.CreateObservableCounter("ipfs_bitswap_messages_received", () => Measure(node.Stat().MessagesReceived), "{message}", "Total number of messages received");
        _meter.CreateObservableCounter("ipfs_bitswap_blocks_sent", () => Measure(node.Stat().BlocksSent), "{block}", "Total number of sent blocks");
        _meter.CreateObservableCounter("ipfs_bitswap_data_sent", () => Measure(node.Stat().DataSent), "By", "Total number of data bytes sent");
        // boxo bitswap/metrics/metrics.go BroadcastSkipGauge: a gauge there, so a gauge here (it only ever rises).
        _meter.CreateObservableGauge("ipfs_bitswap_bcast_skips_total", () => Measure(node.Stat().BroadcastSkips), "{peer}", "Number of broadcasts to peers avoided.");

        _blocks = node.Blocks.Subscribe(received =>
        {
            receivedBytes.Record(received.Block.Size, _peer);
            // The reducer counts duplicates; a rise in its duplicate bytes since the last arrival is this block's.
            var dupData = node.Stat().DupDataReceived;
            var previous = Interlocked.Exchange(ref _dupDataSeen, dupData);
            if (dupData > previous)
            {
                duplicateBytes.Record(dupData - previous, _peer);
            }
        });
        _events = node.Events.OfType<MessageOut>().Subscribe(sent =>
        {
            foreach (var block in sent.Message.Blocks.Values)
            {
                sentBytes.Record(block.Size, _peer);
            }
        });
    }

    /// <summary>
    /// Adds HTTP retrieval's instruments, named as boxo bitswap/network/httpnet/metrics.go names them under the
    /// <c>exchange_httpnet</c> scope. Hosts are not tracked by default in boxo, so every status carries host="other".
    /// </summary>
    public void Track(Routing.HttpNet.HttpNetMetrics http)
    {
        ArgumentNullException.ThrowIfNull(http);
        const string Scope = "ipfs_exchange_httpnet_";
        _meter.CreateObservableGauge(Scope + "requests_in_flight", () => Measure(http.RequestsInFlight), "{request}", "Current number of in-flight requests");
        _meter.CreateObservableCounter(Scope + "requests_total", () => Measure(http.RequestsTotal), "{request}", "Total request count");
        _meter.CreateObservableCounter(Scope + "requests_failure", () => Measure(http.RequestsFailure), "{request}", "Failed (no response, dial error etc) requests count");
        _meter.CreateObservableCounter(Scope + "requests_body_failure", () => Measure(http.RequestsBodyFailure), "{request}", "Failure count when reading response body");
        _meter.CreateObservableCounter(Scope + "request_sent_bytes", () => Measure(http.RequestSentBytes), "By", "Total bytes sent on requests");
        _meter.CreateObservableCounter(Scope + "response_bytes", () => Measure(http.ResponseBytes), "By", "Total bytes of http response bodies (a histogram in boxo)");
        _meter.CreateObservableCounter(Scope + "wantlists_total", () => Measure(http.WantlistsTotal), "{wantlist}", "Total number of wantlists sent");
        _meter.CreateObservableCounter(Scope + "wantlists_items_total", () => Measure(http.WantlistsItemsTotal), "{want}", "Total number of elements in sent wantlists");
        // boxo durationHistogramBuckets: 0.05 s to 1920 s.
        var duration = _meter.CreateHistogram<double>(Scope + "request_duration_seconds", "s", "Histogram of request durations",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 240, 480, 960, 1920] });
        void Timed(TimeSpan elapsed) => duration.Record(elapsed.TotalSeconds, _peer);
        http.RequestTimed += Timed;
        _untrack += () => http.RequestTimed -= Timed;
        _meter.CreateObservableCounter(Scope + "status", () => http.StatusCounts().Select(s => new Measurement<long>(
            s.Count, _peer, new("method", s.Method), new("status", s.Status), new("host", "other"))), "{response}", "Request status count");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _untrack?.Invoke();
        _blocks.Dispose();
        _events.Dispose();
        _meter.Dispose();
    }

    private Measurement<long> Measure(long value) => new(value, _peer);
}
