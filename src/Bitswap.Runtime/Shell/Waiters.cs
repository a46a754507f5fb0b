using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Shell;

/// <summary>Someone waiting for one block in one session: a GetBlockAsync task or a GetBlocks subscription.</summary>
internal sealed class Waiter(long session, Cid cid, long wantedAt, Action<Block> onBlock, Action<Exception> onError)
{
    /// <summary>The session the want belongs to.</summary>
    public long Session { get; } = session;

    /// <summary>The wanted CID.</summary>
    public Cid Cid { get; } = cid;

    /// <summary>Node clock when the want was made, for the latency of <see cref="ReceivedBlock"/>.</summary>
    public long WantedAt { get; } = wantedAt;

    /// <summary>Called once with the block.</summary>
    public Action<Block> OnBlock { get; } = onBlock;

    /// <summary>Called once when the want fails.</summary>
    public Action<Exception> OnError { get; } = onError;
}

/// <summary>
/// Local waiters by session and CID. The API threads add and remove waiters, the loop completes them; a lock guards
/// the index and callbacks run outside it. Bounded by the callers' own wants (the client refuses past ClientWantsMax).
/// </summary>
internal sealed class Waiters
{
    private readonly Dictionary<long, Dictionary<Cid, List<Waiter>>> _bySession = [];
    private readonly object _gate = new();

    /// <summary>Adds a waiter.</summary>
    public void Add(Waiter waiter)
    {
        lock (_gate)
        {
            if (!_bySession.TryGetValue(waiter.Session, out var byCid))
            {
                byCid = [];
                _bySession[waiter.Session] = byCid;
            }

            if (!byCid.TryGetValue(waiter.Cid, out var list))
            {
                list = [];
                byCid[waiter.Cid] = list;
            }

            list.Add(waiter);
        }
    }

    /// <summary>Removes a waiter; false when it was already completed or removed.</summary>
    public bool Remove(Waiter waiter)
    {
        lock (_gate)
        {
            if (!_bySession.TryGetValue(waiter.Session, out var byCid) || !byCid.TryGetValue(waiter.Cid, out var list) || !list.Remove(waiter))
            {
                return false;
            }

            if (list.Count == 0)
            {
                byCid.Remove(waiter.Cid);
                if (byCid.Count == 0)
                {
                    _bySession.Remove(waiter.Session);
                }
            }

            return true;
        }
    }

    /// <summary>The earliest want time of any waiter for this CID, if one waits.</summary>
    public long? EarliestWant(Cid cid)
    {
        lock (_gate)
        {
            long? earliest = null;
            foreach (var byCid in _bySession.Values)
            {
                if (byCid.TryGetValue(cid, out var list))
                {
                    foreach (var waiter in list)
                    {
                        earliest = earliest is null ? waiter.WantedAt : Math.Min(earliest.Value, waiter.WantedAt);
                    }
                }
            }

            return earliest;
        }
    }

    /// <summary>Completes and removes every waiter of the session for the block's CID.</summary>
    public void Deliver(long session, Block block)
    {
        foreach (var waiter in Take(session, [block.Cid]))
        {
            waiter.OnBlock(block);
        }
    }

    /// <summary>Fails and removes every waiter of the session for these CIDs.</summary>
    public void Fail(long session, IEnumerable<Cid> cids, Func<Cid, Exception> error)
    {
        foreach (var waiter in Take(session, cids))
        {
            waiter.OnError(error(waiter.Cid));
        }
    }

    /// <summary>Fails and removes every waiter.</summary>
    public void FailAll(Exception error)
    {
        List<Waiter> all;
        lock (_gate)
        {
            all = [.. _bySession.Values.SelectMany(byCid => byCid.Values.SelectMany(list => list))];
            _bySession.Clear();
        }

        foreach (var waiter in all)
        {
            waiter.OnError(error);
        }
    }

    private List<Waiter> Take(long session, IEnumerable<Cid> cids)
    {
        var taken = new List<Waiter>();
        lock (_gate)
        {
            if (!_bySession.TryGetValue(session, out var byCid))
            {
                return taken;
            }

            foreach (var cid in cids)
            {
                if (byCid.Remove(cid, out var list))
                {
                    taken.AddRange(list);
                }
            }

            if (byCid.Count == 0)
            {
                _bySession.Remove(session);
            }
        }

        return taken;
    }
}
