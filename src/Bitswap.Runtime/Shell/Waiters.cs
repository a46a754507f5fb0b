using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Shell;

/// <summary>Someone waiting for one block in one session: a GetBlockAsync task, a GetBlocks subscription or a FetchAsync sink.</summary>
/// <param name="session">The session the want belongs to.</param>
/// <param name="cid">The wanted CID.</param>
/// <param name="onBlock">Called once, on the loop thread, with the block.</param>
/// <param name="onError">Called at most once, on the loop thread, when the want ends without a block.</param>
/// <param name="borrows">True when <paramref name="onBlock"/> only reads the block during the call, so pooled memory may be lent to it.</param>
internal sealed class Waiter(long session, Cid cid, Action<Block> onBlock, Action<Exception> onError, bool borrows = false)
{
    /// <summary>The session the want belongs to.</summary>
    public long Session { get; } = session;

    /// <summary>The wanted CID.</summary>
    public Cid Cid { get; } = cid;

    /// <summary>Node clock when the loop registered the want, for the latency of <see cref="ReceivedBlock"/>.</summary>
    public long WantedAt { get; set; }

    /// <summary>Called once with the block.</summary>
    public Action<Block> OnBlock { get; } = onBlock;

    /// <summary>Called once when the want fails.</summary>
    public Action<Exception> OnError { get; } = onError;

    /// <summary>True when the callback does not keep the block past the call.</summary>
    public bool Borrows { get; } = borrows;
}

/// <summary>Shell work a letter carries to the loop, done on the loop thread in the letter's turn.</summary>
internal abstract class LoopWork;

/// <summary>Registers waiters before their <see cref="WantBlocks"/> is reduced.</summary>
internal sealed class Watch(IReadOnlyList<Waiter> waiters) : LoopWork
{
    /// <summary>The waiters to register.</summary>
    public IReadOnlyList<Waiter> Waiters { get; } = waiters;
}

/// <summary>Drops waiters whose caller gave up (cancelled or unsubscribed); they are not called again.</summary>
internal sealed class Unwatch(IReadOnlyList<Waiter> waiters) : LoopWork
{
    /// <summary>The waiters to drop.</summary>
    public IReadOnlyList<Waiter> Waiters { get; } = waiters;
}

/// <summary>A timer fired: the loop forgets it, so the same timer and deadline may be armed again.</summary>
internal sealed class Disarm(TimerId timer, long deadline) : LoopWork
{
    /// <summary>The timer that fired.</summary>
    public TimerId Timer { get; } = timer;

    /// <summary>Its deadline.</summary>
    public long Deadline { get; } = deadline;
}

/// <summary>Received blocks are stored (or could not be): hand them to their waiters, return the lease, tell the loop.</summary>
internal sealed class Handover(IReadOnlyList<DeliverBlock> deliveries, IDisposable? lease, List<Block> stored) : LoopWork
{
    /// <summary>The deliveries of the turn that received the blocks.</summary>
    public IReadOnlyList<DeliverBlock> Deliveries { get; } = deliveries;

    /// <summary>The pooled memory the blocks may live in.</summary>
    public IDisposable? Lease { get; } = lease;

    /// <summary>The blocks now held by the store.</summary>
    public List<Block> Stored { get; } = stored;
}

/// <summary>The loop's last letter: fail every waiter, then signal.</summary>
internal sealed class Stop(Exception reason) : LoopWork
{
    /// <summary>The error every remaining waiter gets.</summary>
    public Exception Reason { get; } = reason;

    /// <summary>Completes once the loop has failed every waiter.</summary>
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// Local waiters by session and CID. Only the loop thread touches this table (API calls post <see cref="Watch"/> and
/// <see cref="Unwatch"/> letters), so it needs no lock and a decision never reads a stale copy. Bounded by the callers'
/// own wants (the client refuses past ClientWantsMax).
/// </summary>
internal sealed class Waiters
{
    private readonly Dictionary<long, Dictionary<Cid, List<Waiter>>> _bySession = [];
    private readonly Dictionary<Cid, int> _sessionsByCid = [];

    /// <summary>Adds a waiter.</summary>
    public void Add(Waiter waiter)
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
            _sessionsByCid[waiter.Cid] = _sessionsByCid.GetValueOrDefault(waiter.Cid) + 1;
        }

        list.Add(waiter);
    }

    /// <summary>Removes a waiter; false when it was already completed or removed.</summary>
    public bool Remove(Waiter waiter)
    {
        if (!_bySession.TryGetValue(waiter.Session, out var byCid) || !byCid.TryGetValue(waiter.Cid, out var list) || !list.Remove(waiter))
        {
            return false;
        }

        if (list.Count == 0)
        {
            Forget(byCid, waiter.Session, waiter.Cid);
        }

        return true;
    }

    /// <summary>The earliest want time of any waiter for this CID, if one waits.</summary>
    public long? EarliestWant(Cid cid)
    {
        if (!_sessionsByCid.ContainsKey(cid))
        {
            return null;
        }

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

    /// <summary>Removes and returns every waiter of the session for the CID.</summary>
    public List<Waiter>? Take(long session, Cid cid)
    {
        if (!_bySession.TryGetValue(session, out var byCid) || !byCid.TryGetValue(cid, out var list))
        {
            return null;
        }

        Forget(byCid, session, cid);
        return list;
    }

    /// <summary>Fails and removes every waiter of the session for these CIDs.</summary>
    public void Fail(long session, IEnumerable<Cid> cids, Func<Cid, Exception> error)
    {
        foreach (var cid in cids)
        {
            if (Take(session, cid) is { } list)
            {
                foreach (var waiter in list)
                {
                    waiter.OnError(error(cid));
                }
            }
        }
    }

    /// <summary>Fails and removes every waiter of the session.</summary>
    public void FailSession(long session, Func<Cid, Exception> error)
    {
        if (_bySession.TryGetValue(session, out var byCid))
        {
            Fail(session, [.. byCid.Keys], error);
        }
    }

    /// <summary>Fails and removes every waiter.</summary>
    public void FailAll(Exception error)
    {
        var all = _bySession.Values.SelectMany(byCid => byCid.Values.SelectMany(list => list)).ToList();
        _bySession.Clear();
        _sessionsByCid.Clear();
        foreach (var waiter in all)
        {
            waiter.OnError(error);
        }
    }

    private void Forget(Dictionary<Cid, List<Waiter>> byCid, long session, Cid cid)
    {
        byCid.Remove(cid);
        if (byCid.Count == 0)
        {
            _bySession.Remove(session);
        }

        var left = _sessionsByCid.GetValueOrDefault(cid) - 1;
        if (left <= 0)
        {
            _sessionsByCid.Remove(cid);
        }
        else
        {
            _sessionsByCid[cid] = left;
        }
    }
}
