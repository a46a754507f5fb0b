using System.Reactive.Concurrency;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;

namespace Bitswap.Tests.Scenarios.Network;

/// <summary>Peers, messages and event recorders for virtual network tests.</summary>
internal static class NetworkTestKit
{
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static HistoricalScheduler NewScheduler() => new(Epoch);

    public static PeerId Peer(string name) =>
        new(Multihash.Compute(MultihashCode.Sha2_256, Encoding.UTF8.GetBytes(name)).Match(h => h, e => throw new InvalidOperationException(e.ToString())));

    public static Block BlockOf(int seed, int size)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return Block.Raw(data);
    }

    public static Message WantHave(int seed) => Message.Empty.WithEntry(WantlistEntry.WantHave(BlockOf(seed, 8).Cid, seed, sendDontHave: true));

    public static Message Carrying(Block block) => Message.Empty.WithBlock(block);
}

/// <summary>Everything one node's port reports, with the virtual time it was reported at.</summary>
internal sealed class EventRecorder : IDisposable
{
    private readonly IDisposable _subscription;

    public EventRecorder(IBitswapNetwork port, IScheduler scheduler)
    {
        Self = port.Self;
        _subscription = port.Events.Subscribe(e => Events.Add((scheduler.Now, e)), () => Completed = true);
    }

    public PeerId Self { get; }

    public List<(DateTimeOffset At, NetworkEvent Event)> Events { get; } = [];

    public bool Completed { get; private set; }

    public IEnumerable<(DateTimeOffset At, MessageArrived Arrival)> Arrivals =>
        Events.Where(e => e.Event is MessageArrived).Select(e => (e.At, (MessageArrived)e.Event));

    public void Dispose() => _subscription.Dispose();
}
