using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Bench;

/// <summary>
/// Plays the shell around a pure reducer the way the node loop does, without threads: it answers every LoadBlocks from
/// an in-memory store with BlocksLoaded, acknowledges every SendMessage with MessageSent, and keeps armed timers so they
/// can be fired in deadline order. It counts the inputs handled so a benchmark can report a per-input cost.
/// </summary>
/// <typeparam name="TState">The reducer's state.</typeparam>
/// <typeparam name="TEffect">The reducer's effect type: the root <see cref="Effect"/>, or a child's, whose records are root effects.</typeparam>
public sealed class ReducerDriver<TState, TEffect>(TState state, Func<TState, Input, Step<TState, TEffect>> handle, IReadOnlyDictionary<Cid, Block> store)
{
    private readonly Queue<LoadBlocks> _loads = new();
    private readonly Queue<SendMessage> _sends = new();
    private readonly List<(ArmTimer Timer, long Sequence)> _timers = [];
    private long _timerSequence;

    /// <summary>The reducer state after the last input.</summary>
    public TState State { get; private set; } = state;

    /// <summary>The clock in ms, stamped on every input.</summary>
    public long Now { get; set; }

    /// <summary>Inputs handed to the reducer so far.</summary>
    public int Inputs { get; private set; }

    /// <summary>Messages the reducer sent so far.</summary>
    public int MessagesSent { get; private set; }

    /// <summary>Blocks carried by the messages the reducer sent so far.</summary>
    public int BlocksSent { get; private set; }

    /// <summary>Blocks the reducer delivered to local sessions so far.</summary>
    public int BlocksDelivered { get; private set; }

    /// <summary>Hands one input to the reducer and queues the effects the shell must answer.</summary>
    public void Post(Input input)
    {
        var tally = ReducerTally.ByInput;
        var before = tally is null ? 0 : GC.GetAllocatedBytesForCurrentThread();
        var started = tally is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        var step = handle(State, input);
        if (tally is not null)
        {
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            var name = input.GetType().Name;
            var (count, bytes, time) = tally.GetValueOrDefault(name);
            tally[name] = (count + 1, bytes + GC.GetAllocatedBytesForCurrentThread() - before, time + elapsed);
        }

        State = step.State;
        Inputs++;
        foreach (var effect in step.Effects)
        {
            switch ((object?)effect)
            {
                case LoadBlocks load:
                    _loads.Enqueue(load);
                    break;
                case SendMessage send:
                    _sends.Enqueue(send);
                    MessagesSent++;
                    BlocksSent += send.Message.Blocks.Count;
                    break;
                case ArmTimer arm:
                    // Arming a timer again moves it, as the shell's scheduler does.
                    _timers.RemoveAll(t => t.Timer.Timer == arm.Timer);
                    _timers.Add((arm, _timerSequence++));
                    break;
                case DeliverBlock:
                    BlocksDelivered++;
                    break;
            }
        }
    }

    /// <summary>Answers loads first (as the blockstore pool would), then acknowledges sends, until nothing is outstanding.</summary>
    public void Settle()
    {
        while (_loads.Count > 0 || _sends.Count > 0)
        {
            if (_loads.TryDequeue(out var load))
            {
                // Built in one bulk pass, as a shell answering a load would, so the figures are the reducer's.
                var found = new Dictionary<Cid, Block>();
                foreach (var cid in load.Cids)
                {
                    if (store.TryGetValue(cid, out var block))
                    {
                        found[cid] = block;
                    }
                }

                Post(new BlocksLoaded(Now, load.Envelope, load.Peer, Map<Cid, Block>.Empty.AddRange(found.Select(kv => (kv.Key, kv.Value)))));
                continue;
            }

            var send = _sends.Dequeue();
            Post(new MessageSent(Now, send.Peer, send.Envelope));
        }
    }

    /// <summary>
    /// Advances the clock by <paramref name="ms"/>, firing every timer due by then (including ones armed on the way) in
    /// deadline order, settling after each, as the node's scheduler would.
    /// </summary>
    public void Advance(long ms)
    {
        var target = Now + ms;
        while (true)
        {
            var due = -1;
            for (var i = 0; i < _timers.Count; i++)
            {
                var candidate = _timers[i];
                if (candidate.Timer.Deadline > target) continue;
                if (due < 0 || (candidate.Timer.Deadline, candidate.Sequence).CompareTo((_timers[due].Timer.Deadline, _timers[due].Sequence)) < 0) due = i;
            }

            if (due < 0) break;
            var timer = _timers[due].Timer;
            _timers.RemoveAt(due);
            Now = Math.Max(Now, timer.Deadline);
            Post(new TimerFired(Now, timer.Timer));
            Settle();
        }

        Now = target;
    }
}

/// <summary>The reducers' own allocation by input type, for <c>reducers-quick --by-input</c>: where a workload's bytes go.</summary>
public static class ReducerTally
{
    /// <summary>When set, every driver adds each input's count and the bytes its reducer step allocated, by input type name.</summary>
    public static Dictionary<string, (int Count, long Bytes, TimeSpan Time)>? ByInput { get; set; }
}

/// <summary>Deterministic peers and blocks shared by the reducer benchmarks.</summary>
public static class ReducerFixtures
{
    /// <summary>A peer ID from the sha2-256 of a label, so runs are repeatable.</summary>
    public static PeerId Peer(string label) =>
        new(Multihash.FromDigest((ulong)MultihashCode.Sha2_256, SHA256.HashData(Encoding.UTF8.GetBytes(label))));

    /// <summary><paramref name="count"/> raw blocks of <paramref name="bytes"/> seeded random bytes each.</summary>
    public static Block[] Blocks(int count, int bytes, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var data = new byte[bytes];
            random.NextBytes(data);
            return Block.Raw(data);
        })];
    }

    /// <summary>The local sizes the shell looks up for a message's wants and blocks (what MessageReceived carries).</summary>
    public static Map<Cid, int> LocalSizes(IEnumerable<Cid> cids, IReadOnlyDictionary<Cid, Block> store)
    {
        var sizes = Map<Cid, int>.Empty;
        foreach (var cid in cids)
        {
            if (store.TryGetValue(cid, out var block))
            {
                sizes = sizes.AddOrUpdate(cid, block.Data.Length);
            }
        }

        return sizes;
    }
}
