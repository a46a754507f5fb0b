using System.Diagnostics.Tracing;
using System.Globalization;

namespace Bitswap.Bench;

/// <summary>
/// Samples allocations in this process through the runtime's GC AllocationTick events (one event per ~100 KB allocated,
/// naming the type that crossed the mark) and prints the types that took the most samples: where bytes per payload byte go.
/// </summary>
public sealed class AllocationProfile : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytesByType = [];
    private readonly Lock _gate = new();
    private bool _recording;

    /// <summary>Starts or stops counting (events before <see cref="Start"/> are ignored).</summary>
    public void Start()
    {
        lock (_gate)
        {
            _bytesByType.Clear();
            _recording = true;
        }
    }

    /// <summary>The types with the most sampled bytes, largest first, as table rows.</summary>
    public IReadOnlyList<string> Top(int count)
    {
        lock (_gate)
        {
            _recording = false;
            var total = Math.Max(1, _bytesByType.Values.Sum());
            return [.. _bytesByType.OrderByDescending(kv => kv.Value).Take(count)
                .Select(kv => string.Create(CultureInfo.InvariantCulture, $"    {kv.Value * 100.0 / total,5:0.0}%  {kv.Key}"))];
        }
    }

    /// <inheritdoc />
    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    /// <inheritdoc />
    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || eventData.Payload is null)
        {
            return;
        }

        var name = eventData.PayloadNames?.IndexOf("TypeName") is int i and >= 0 ? eventData.Payload[i] as string ?? "?" : "?";
        var amount = eventData.PayloadNames?.IndexOf("AllocationAmount64") is int j and >= 0 ? Convert.ToInt64(eventData.Payload[j], CultureInfo.InvariantCulture) : 100_000;
        lock (_gate)
        {
            if (_recording)
            {
                _bytesByType[name] = _bytesByType.GetValueOrDefault(name) + amount;
            }
        }
    }
}
