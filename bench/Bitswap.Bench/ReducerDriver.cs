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
public sealed class ReducerDriver<TState>(TState state, Func<TState, Input, Step<TState, Effect>> handle, IReadOnlyDictionary<Cid, Block> store)
{
    private readonly Queue<LoadBlocks> _loads = new();
    private readonly Queue<SendMessage> _sends = new();
    private readonly List<ArmTimer> _timers = [];

    /// <summary>The reducer state after the last input.</summary>
    public TState State { get; private set; } = state;

    /// <summary>The clock in ms, stamped on every input.</summary>
    public long Now { get; set; }

    /// <summary>Inputs handed to the reducer so far.</summary>
    public int Inputs { get; private set; }

    /// <summary>Messages the reducer sent so far.</summary>
    public int MessagesSent { get; private set; }

    /// <summary>Blocks the reducer delivered to local sessions so far.</summary>
    public int BlocksDelivered { get; private set; }

    /// <summary>Hands one input to the reducer and queues the effects the shell must answer.</summary>
    public void Post(Input input)
    {
        var step = handle(State, input);
        State = step.State;
        Inputs++;
        foreach (var effect in step.Effects)
        {
            switch (effect)
            {
                case LoadBlocks load:
                    _loads.Enqueue(load);
                    break;
                case SendMessage send:
                    _sends.Enqueue(send);
                    MessagesSent++;
                    break;
                case ArmTimer arm:
                    _timers.Add(arm);
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
                var blocks = Map<Cid, Block>.Empty;
                foreach (var cid in load.Cids)
                {
                    if (store.TryGetValue(cid, out var block))
                    {
                        blocks = blocks.AddOrUpdate(cid, block);
                    }
                }

                Post(new BlocksLoaded(Now, load.Envelope, load.Peer, blocks));
                continue;
            }

            var send = _sends.Dequeue();
            Post(new MessageSent(Now, send.Peer, send.Envelope));
        }
    }

    /// <summary>Fires the timers armed so far in deadline order (one pass; timers they arm wait for the next call), settling after each.</summary>
    public void FireTimers()
    {
        var due = _timers.OrderBy(t => t.Deadline).ToList();
        _timers.Clear();
        foreach (var timer in due)
        {
            Now = Math.Max(Now, timer.Deadline);
            Post(new TimerFired(Now, timer.Timer));
            Settle();
        }
    }
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
