// Which peer is served next (boxo fair scheduler, boxo#1141 → #1143; go-peertaskqueue for the per-peer queue).
//
// A peer is eligible when it has a pending task and popping its next task keeps its active work within
// Limits.OutstandingBytesPerPeerMax (a peer with no active work may always pop one task, so a block larger than the cap
// still goes out). Among eligible peers the best one is the first to differ in:
//   1. a peer with nothing pending loses: there is nothing to do for it;
//   2. a starved peer wins: one never served since it connected, or not served for over Limits.StarvationMs. This bounds
//      waiting whatever the other rules say: while P is starved every pop serves a starved peer, and a peer served stops
//      being starved for StarvationMs, so over D ms P waits at most (N−1)·(1 + ⌊D/StarvationMs⌋) pops (N = peers);
//   3. fewer active tasks wins: spreading the worker pool over peers keeps every peer busy instead of one peer deep;
//   4. more pending tasks, counted up to Limits.PendingTasksRankCap (16), wins: a peer with real demand is served before
//      one with a trickle, but a flood above 16 buys no further advantage;
//   5. a lower salted hash of the peer ID wins: ties break in an order no peer can choose (the salt comes from the seed
//      in state), instead of by ID bytes that an attacker could grind.
// The old go-peertaskqueue comparator (less active work first, ties to more pending) let a peer with many small tasks
// starve one with a single large task (boxo#1141); counting tasks and adding starvation fixes that.
// Trackers are kept until the peer is removed (a disconnect), so "never served" means "never since it connected".

using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain;

/// <summary>What a server task will send (boxo decision TaskData).</summary>
/// <param name="SendBlock">True to send the block itself (a want-block, or a want-have for a small block).</param>
/// <param name="SendDontHave">True when the peer asked for DONT_HAVE replies.</param>
/// <param name="BlockSize">Size of the block when held, else 0.</param>
/// <param name="HaveBlock">True when we hold the block (otherwise the task is a DONT_HAVE).</param>
public sealed record TaskData(bool SendBlock, bool SendDontHave, int BlockSize, bool HaveBlock);

/// <summary>A request to queue work for a peer about one CID.</summary>
/// <param name="Cid">The block the task is about (its topic).</param>
/// <param name="Priority">Higher is popped first.</param>
/// <param name="Work">Bytes this task adds to a message.</param>
/// <param name="Data">What will be sent.</param>
public sealed record TaskRequest(Cid Cid, int Priority, int Work, TaskData Data);

/// <summary>A queued task.</summary>
/// <param name="Id">Unique within the queue, increasing in push order (FIFO among equal priorities).</param>
/// <param name="Cid">The block the task is about.</param>
/// <param name="Priority">Higher is popped first.</param>
/// <param name="Work">Bytes this task adds to a message.</param>
/// <param name="Data">What will be sent.</param>
public sealed record PeerTask(long Id, Cid Cid, int Priority, int Work, TaskData Data);

/// <summary>Orders a peer's pending tasks: higher priority first, then first in first out.</summary>
/// <param name="Priority">Task priority.</param>
/// <param name="Id">Task id (push order).</param>
public readonly record struct PendingKey(int Priority, long Id) : IComparable<PendingKey>
{
    /// <summary>Descending priority, then ascending id.</summary>
    public int CompareTo(PendingKey other)
    {
        var priority = other.Priority.CompareTo(Priority);
        return priority != 0 ? priority : Id.CompareTo(other.Id);
    }
}

/// <summary>What happened to one pushed task request.</summary>
public enum PushOutcome
{
    /// <summary>A new pending task was created.</summary>
    Queued,
    /// <summary>It was merged into the pending task for the same CID.</summary>
    Merged,
    /// <summary>An active task for the CID already carries everything it would add, so nothing was queued.</summary>
    Redundant,
    /// <summary>The peer already has <see cref="Limits.PendingTasksPerPeerMax"/> pending tasks: it was dropped.</summary>
    Dropped,
}

/// <summary>One peer's queue: pending tasks by CID and in pop order, active tasks, and when it was last served.</summary>
/// <param name="Pending">Pending tasks by CID (one per CID: pushes for the same CID merge).</param>
/// <param name="Order">Pending tasks in pop order.</param>
/// <param name="Active">Popped, not yet done tasks by id.</param>
/// <param name="ActiveByCid">Ids of active tasks per CID, to decide whether a new task adds information.</param>
/// <param name="PendingWork">Sum of pending work in bytes.</param>
/// <param name="ActiveWork">Sum of active work in bytes.</param>
/// <param name="LastServed">When a pop last took tasks from this peer.</param>
public sealed record PeerTracker(
    Map<Cid, PeerTask> Pending,
    Map<PendingKey, Cid> Order,
    Map<long, PeerTask> Active,
    Map<Cid, Set<long>> ActiveByCid,
    long PendingWork,
    long ActiveWork,
    Option<long> LastServed)
{
    /// <summary>A peer with no tasks, never served.</summary>
    public static readonly PeerTracker Empty = new(
        Map<Cid, PeerTask>.Empty, Map<PendingKey, Cid>.Empty, Map<long, PeerTask>.Empty, Map<Cid, Set<long>>.Empty, 0, 0, Option<long>.None);

    /// <summary>Number of pending tasks.</summary>
    public int PendingCount => Pending.Count;

    /// <summary>Number of active tasks.</summary>
    public int ActiveCount => Active.Count;

    /// <summary>The next task a pop would take.</summary>
    public Option<PeerTask> NextTask => Order.Min.Map(first => Pending[first.Value]);

    /// <summary>True when the peer has a pending task that fits under the outstanding-bytes cap (or nothing is active).</summary>
    public bool Eligible(long outstandingMax) =>
        NextTask.Case is PeerTask next && (Active.IsEmpty || outstandingMax <= 0 || ActiveWork + next.Work <= outstandingMax);

    /// <summary>True when the peer was never served, or not for longer than <paramref name="starvationMs"/>.</summary>
    public bool Starved(long now, long starvationMs) =>
        LastServed.Case is long served ? now - served > starvationMs : true;

    internal PeerTracker AddPending(PeerTask task) => this with
    {
        Pending = Pending.AddOrUpdate(task.Cid, task),
        Order = Order.AddOrUpdate(new PendingKey(task.Priority, task.Id), task.Cid),
        PendingWork = PendingWork + task.Work,
    };

    internal PeerTracker RemovePending(PeerTask task) => this with
    {
        Pending = Pending.Remove(task.Cid),
        Order = Order.Remove(new PendingKey(task.Priority, task.Id)),
        PendingWork = PendingWork - task.Work,
    };

    internal PeerTracker AddActive(PeerTask task) => this with
    {
        Active = Active.AddOrUpdate(task.Id, task),
        ActiveByCid = ActiveByCid.AddOrUpdate(task.Cid, ids => ids.Add(task.Id), Set<long>.Empty.Add(task.Id)),
        ActiveWork = ActiveWork + task.Work,
    };

    internal PeerTracker RemoveActive(PeerTask task)
    {
        var ids = ActiveByCid.Find(task.Cid).IfNone(Set<long>.Empty).Remove(task.Id);
        return this with
        {
            Active = Active.Remove(task.Id),
            ActiveByCid = ids.IsEmpty ? ActiveByCid.Remove(task.Cid) : ActiveByCid.AddOrUpdate(task.Cid, ids),
            ActiveWork = ActiveWork - task.Work,
        };
    }
}

/// <summary>Tasks taken by one <see cref="PeerTaskQueue.PopTasks"/>.</summary>
/// <param name="Peer">The peer served.</param>
/// <param name="Tasks">The tasks, in pop order; never empty.</param>
/// <param name="PendingWork">Bytes still pending for the peer after the pop.</param>
public sealed record PoppedTasks(PeerId Peer, Seq<PeerTask> Tasks, long PendingWork);

/// <summary>
/// The server's work queue across peers (go-peertaskqueue with boxo's fair scheduler; see the comment at the top of the
/// file for the order). Pure: every operation returns a new queue.
/// </summary>
/// <param name="Peers">Trackers by peer.</param>
/// <param name="Salt">Salt of the tie-breaking peer hash, derived from the engine seed.</param>
/// <param name="NextTaskId">Id given to the next queued task.</param>
/// <param name="Limits">The bounds in force.</param>
public sealed record PeerTaskQueue(Map<PeerId, PeerTracker> Peers, ulong Salt, long NextTaskId, Limits Limits)
{
    /// <summary>An empty queue whose tie-breaking hash is salted from <paramref name="seed"/>.</summary>
    public static PeerTaskQueue Create(ulong seed, Limits limits) =>
        new(Map<PeerId, PeerTracker>.Empty, Mix(seed ^ 0x9E3779B97F4A7C15UL), 1, limits);

    /// <summary>The tracker of a peer (empty when unknown).</summary>
    public PeerTracker TrackerOf(PeerId peer) => Peers.Find(peer).IfNone(PeerTracker.Empty);

    /// <summary>Pending tasks of a peer.</summary>
    public int PendingCount(PeerId peer) => TrackerOf(peer).PendingCount;

    /// <summary>Pending work of a peer in bytes.</summary>
    public long PendingWork(PeerId peer) => TrackerOf(peer).PendingWork;

    /// <summary>Active work of a peer in bytes.</summary>
    public long ActiveWork(PeerId peer) => TrackerOf(peer).ActiveWork;

    /// <summary>Pending tasks across all peers.</summary>
    public int TotalPending => Peers.Values.Sum(t => t.PendingCount);

    /// <summary>True when some peer could be served now.</summary>
    public bool HasEligibleWork => Peers.Values.Exists(t => t.Eligible(Limits.OutstandingBytesPerPeerMax));

    /// <summary>
    /// Queues tasks for a peer. A request for a CID with a pending task merges into it: a block beats a HAVE, a known size
    /// beats a DONT_HAVE, the higher priority is kept. A request for a CID with only active tasks is queued only if it adds
    /// information (a block where only presences are active, or a size where only DONT_HAVEs are active). Beyond
    /// <see cref="Limits.PendingTasksPerPeerMax"/> pending tasks new ones are dropped, so the older ones keep their place.
    /// </summary>
    public (PeerTaskQueue Queue, Seq<(TaskRequest Request, PushOutcome Outcome)> Outcomes) Push(PeerId peer, Seq<TaskRequest> requests)
    {
        var tracker = TrackerOf(peer);
        var nextId = NextTaskId;
        var outcomes = Seq<(TaskRequest, PushOutcome)>.Empty;
        foreach (var request in requests)
        {
            PushOutcome outcome;
            if (tracker.Pending.Find(request.Cid).Case is PeerTask pending)
            {
                tracker = tracker.RemovePending(pending).AddPending(Merge(pending, request));
                outcome = PushOutcome.Merged;
            }
            else if (!AddsInformation(tracker, request))
            {
                outcome = PushOutcome.Redundant;
            }
            else if (tracker.PendingCount >= Limits.PendingTasksPerPeerMax)
            {
                outcome = PushOutcome.Dropped;
            }
            else
            {
                tracker = tracker.AddPending(new PeerTask(nextId++, request.Cid, request.Priority, request.Work, request.Data));
                outcome = PushOutcome.Queued;
            }
            outcomes = outcomes.Add((request, outcome));
        }
        return (this with { Peers = Peers.AddOrUpdate(peer, tracker), NextTaskId = nextId }, outcomes);
    }

    /// <summary>
    /// Serves the best eligible peer: pops its pending tasks in order until their work reaches <paramref name="targetBytes"/>,
    /// always at least one, never taking a further task that would push active work past the outstanding cap.
    /// None when no peer is eligible.
    /// </summary>
    public (PeerTaskQueue Queue, Option<PoppedTasks> Popped) PopTasks(long targetBytes, long now)
    {
        var best = Option<(PeerId Peer, PeerTracker Tracker)>.None;
        foreach (var (peer, tracker) in Peers)
        {
            if (!tracker.Eligible(Limits.OutstandingBytesPerPeerMax)) continue;
            if (best.Case is ValueTuple<PeerId, PeerTracker> current && !Better(peer, tracker, current.Item1, current.Item2, now)) continue;
            best = (peer, tracker);
        }
        if (best.Case is not ValueTuple<PeerId, PeerTracker> chosen) return (this, Option<PoppedTasks>.None);

        var (servedPeer, served) = chosen;
        var taken = Seq<PeerTask>.Empty;
        long work = 0;
        var cap = Limits.OutstandingBytesPerPeerMax;
        while (served.NextTask.Case is PeerTask next && (taken.IsEmpty || work < targetBytes))
        {
            var fits = served.Active.IsEmpty || cap <= 0 || served.ActiveWork + next.Work <= cap;
            if (!fits) break;
            served = served.RemovePending(next).AddActive(next);
            taken = taken.Add(next);
            work += next.Work;
        }
        served = served with { LastServed = now };
        return (this with { Peers = Peers.AddOrUpdate(servedPeer, served) }, new PoppedTasks(servedPeer, taken, served.PendingWork));
    }

    /// <summary>Marks active tasks as done, freeing the peer's active work; ids that are not active are ignored.</summary>
    public PeerTaskQueue TasksDone(PeerId peer, Seq<long> taskIds)
    {
        if (Peers.Find(peer).Case is not PeerTracker tracker) return this;
        foreach (var id in taskIds)
            if (tracker.Active.Find(id).Case is PeerTask task) tracker = tracker.RemoveActive(task);
        return this with { Peers = Peers.AddOrUpdate(peer, tracker) };
    }

    /// <summary>Removes the pending task for a CID (a cancel); an active task for it still completes.</summary>
    public (PeerTaskQueue Queue, Option<PeerTask> Removed) Remove(PeerId peer, Cid cid)
    {
        if (Peers.Find(peer).Case is not PeerTracker tracker || tracker.Pending.Find(cid).Case is not PeerTask task)
            return (this, Option<PeerTask>.None);
        return (this with { Peers = Peers.AddOrUpdate(peer, tracker.RemovePending(task)) }, task);
    }

    /// <summary>Forgets a peer entirely (a disconnect): its pending and active tasks and when it was last served.</summary>
    public PeerTaskQueue RemovePeer(PeerId peer) => this with { Peers = Peers.Remove(peer) };

    /// <summary>True when peer <paramref name="a"/> should be served before <paramref name="b"/>; both must be eligible.</summary>
    public bool Better(PeerId a, PeerTracker ta, PeerId b, PeerTracker tb, long now)
    {
        // 1. Nothing pending loses (eligible peers always have something, kept for completeness of the order).
        var emptyA = ta.PendingCount == 0;
        var emptyB = tb.PendingCount == 0;
        if (emptyA != emptyB) return emptyB;
        // 2. Starved first.
        var starvedA = ta.Starved(now, Limits.StarvationMs);
        var starvedB = tb.Starved(now, Limits.StarvationMs);
        if (starvedA != starvedB) return starvedA;
        // 3. Fewer active tasks first.
        if (ta.ActiveCount != tb.ActiveCount) return ta.ActiveCount < tb.ActiveCount;
        // 4. More pending (capped) first.
        var pendingA = Math.Min(ta.PendingCount, Limits.PendingTasksRankCap);
        var pendingB = Math.Min(tb.PendingCount, Limits.PendingTasksRankCap);
        if (pendingA != pendingB) return pendingA > pendingB;
        // 5. Salted hash, then the ID bytes so the order stays total even on a hash collision.
        var hashA = PeerHash(a);
        var hashB = PeerHash(b);
        return hashA != hashB ? hashA < hashB : a.CompareTo(b) < 0;
    }

    /// <summary>The salted hash that breaks ties between peers.</summary>
    public ulong PeerHash(PeerId peer)
    {
        var h = Salt;
        foreach (var b in peer.Bytes) h = Mix(h ^ b);
        return h;
    }

    private static bool AddsInformation(PeerTracker tracker, TaskRequest request)
    {
        if (tracker.ActiveByCid.Find(request.Cid).Case is not Set<long> ids) return true;
        var activeSendsBlock = false;
        var activeHasSize = false;
        foreach (var id in ids)
        {
            var data = tracker.Active[id].Data;
            activeSendsBlock |= data.SendBlock;
            activeHasSize |= data.HaveBlock;
        }
        return (request.Data.SendBlock && !activeSendsBlock) || (request.Data.HaveBlock && !activeHasSize);
    }

    private static PeerTask Merge(PeerTask existing, TaskRequest request)
    {
        var data = existing.Data;
        var work = existing.Work;
        // A known size beats a DONT_HAVE: the task learns the block is here.
        if (request.Data.HaveBlock && !data.HaveBlock)
        {
            data = data with { HaveBlock = true, BlockSize = request.Data.BlockSize, SendBlock = request.Data.SendBlock };
            work = request.Work;
        }
        // A block beats a HAVE.
        if (request.Data.SendBlock && !data.SendBlock)
        {
            data = data with { SendBlock = true, HaveBlock = true, BlockSize = request.Data.BlockSize };
            work = request.Work;
        }
        data = data with { SendDontHave = data.SendDontHave || request.Data.SendDontHave };
        return existing with { Priority = Math.Max(existing.Priority, request.Priority), Work = work, Data = data };
    }

    // SplitMix64's finalizer (Steele, Lea, Flood 2014): a cheap, well-mixed 64-bit permutation.
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
