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
//   5. a lower salted hash of the peer ID wins: ties break in an order no peer can choose (the salt is derived from the
//      engine's seed in state), instead of by ID bytes that an attacker could grind.
// The old go-peertaskqueue comparator (less active work first, ties to more pending) let a peer with many small tasks
// starve one with a single large task (boxo#1141); counting tasks and adding starvation fixes that.
// Trackers are kept until the peer is removed (a disconnect), so "never served" means "never since it connected".
//
// A pop costs O(log P), never a scan of all peers: eligible peers sit in two sorted sets ordered by rules 3-5 (Fresh and
// Starving), and peers that were served sit in a third ordered by when (ByLastServed). A pop first moves every peer whose
// last service is older than StarvationMs from Fresh to Starving (each move is paid for by the pop that served the peer),
// then takes the minimum of Starving, else of Fresh. Every tracker change goes through Put, which keeps the three sets
// in step with the trackers. The salted hash of rule 5 is computed once, when the peer's tracker is created.

using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain;

/// <summary>What a server task will send (boxo decision TaskData); a value, so a queued task carries no second object.</summary>
/// <param name="SendBlock">True to send the block itself (a want-block, or a want-have for a small block).</param>
/// <param name="SendDontHave">True when the peer asked for DONT_HAVE replies.</param>
/// <param name="BlockSize">Size of the block when held, else 0.</param>
/// <param name="HaveBlock">True when we hold the block (otherwise the task is a DONT_HAVE).</param>
/// <remarks>
/// Laid out by the runtime (the int first, then the three flags): 8 bytes instead of the 12 of declaration order, in
/// every queued task, of which a server holds one per want (a million for a thousand peers' full wantlists).
/// </remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
public readonly record struct TaskData(bool SendBlock, bool SendDontHave, int BlockSize, bool HaveBlock);

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

/// <summary>
/// Orders a peer's pending tasks for popping: higher priority first, then first in first out (task id). It compares the
/// tasks themselves, so the order index holds each task once, with no key beside it.
/// </summary>
public sealed class PopOrder : IComparer<PeerTask>
{
    /// <summary>The one instance (the order has no state).</summary>
    public static readonly PopOrder Instance = new();

    private PopOrder() { }

    /// <summary>Descending priority, then ascending id.</summary>
    public int Compare(PeerTask? x, PeerTask? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        var priority = y.Priority.CompareTo(x.Priority);
        return priority != 0 ? priority : x.Id.CompareTo(y.Id);
    }
}

/// <summary>
/// Orders tasks by CID: the pending index is a set of tasks in this order, holding each task once with no CID key beside
/// it; a lookup by CID probes with a task that carries only the CID.
/// </summary>
public sealed class ByCid : IComparer<PeerTask>
{
    /// <summary>The one instance (the order has no state).</summary>
    public static readonly ByCid Instance = new();

    private ByCid() { }

    /// <summary>By CID bytes.</summary>
    public int Compare(PeerTask? x, PeerTask? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        return x.Cid.CompareTo(y.Cid);
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
/// <param name="Pending">Pending tasks by CID (<see cref="ByCid"/>; one per CID: pushes for the same CID merge).</param>
/// <param name="Order">
/// Pending tasks in pop order (<see cref="PopOrder"/>). Both indexes are <see cref="OrderedSet{T}"/>s (B+trees of wide
/// nodes): a pop removes a message's worth of tasks in one batch, which copies each node it touches once (the popped
/// prefix of the order is a few leaves), and a task costs about 20 bytes in each index instead of a 48-byte tree node.
/// </param>
/// <param name="Active">
/// Popped, not yet done tasks, in pop order: at most the outstanding cap's worth (a few hundred), added and completed a
/// message at a time, so a flat array copied once per message costs less than a map path copied once per task.
/// </param>
/// <param name="ActiveCount">Number of active tasks.</param>
/// <param name="PendingWork">Sum of pending work in bytes.</param>
/// <param name="ActiveWork">Sum of active work in bytes.</param>
/// <param name="LastServed">When a pop last took tasks from this peer.</param>
public sealed record PeerTracker(
    OrderedSet<PeerTask> Pending,
    OrderedSet<PeerTask> Order,
    Arr<PeerTask> Active,
    int ActiveCount,
    long PendingWork,
    long ActiveWork,
    Option<long> LastServed)
{
    /// <summary>An empty pending index (declared before <see cref="Empty"/>, which is initialised from it).</summary>
    public static readonly OrderedSet<PeerTask> EmptyPending = OrderedSet<PeerTask>.Empty(ByCid.Instance);

    /// <summary>An empty order index (declared before <see cref="Empty"/>, which is initialised from it).</summary>
    public static readonly OrderedSet<PeerTask> EmptyOrder = OrderedSet<PeerTask>.Empty(PopOrder.Instance);

    /// <summary>A peer with no tasks, never served.</summary>
    public static readonly PeerTracker Empty = new(
        EmptyPending, EmptyOrder, Arr<PeerTask>.Empty, 0, 0, 0, Option<long>.None);

    /// <summary>The salted hash of the peer ID that breaks ties (rule 5), computed once when the tracker is created.</summary>
    public ulong Hash { get; init; }

    /// <summary>True while the queue counts the peer as starved (never served, or found unserved for over StarvationMs at a pop).</summary>
    public bool MarkedStarved { get; init; } = true;

    /// <summary>Number of pending tasks.</summary>
    public int PendingCount => Pending.Count;

    /// <summary>
    /// Value equality, as for the rest of the state: the indexes compare by reference, so two
    /// trackers holding the same tasks (a resent wantlist merges into equal tasks) are compared by their entries.
    /// </summary>
    public bool Equals(PeerTracker? other) =>
        other is not null && (ReferenceEquals(this, other)
            || (ActiveCount == other.ActiveCount && PendingWork == other.PendingWork && ActiveWork == other.ActiveWork
                && Hash == other.Hash && MarkedStarved == other.MarkedStarved && LastServed == other.LastServed
                && Active == other.Active && Pending.SequenceEqual(other.Pending) && Order.SequenceEqual(other.Order)));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Pending.Count, ActiveCount, PendingWork, ActiveWork, LastServed, Hash, MarkedStarved);

    /// <summary>The active tasks, oldest first (walks them all: for tests and inspection).</summary>
    public Seq<PeerTask> ActiveTasks => Active.OrderBy(t => t.Id).ToSeq();

    /// <summary>The next task a pop would take.</summary>
    public Option<PeerTask> NextTask
    {
        get
        {
            // The struct enumerator (its stack is pooled) reaches the minimum without allocating.
            foreach (var first in Order) return first;
            return Option<PeerTask>.None;
        }
    }

    /// <summary>True when the peer has a pending task that fits under the outstanding-bytes cap (or nothing is active).</summary>
    public bool Eligible(long outstandingMax) =>
        NextTask.Case is PeerTask next && (ActiveCount == 0 || outstandingMax <= 0 || ActiveWork + next.Work <= outstandingMax);

    /// <summary>True when the peer was never served, or not for longer than <paramref name="starvationMs"/>.</summary>
    public bool Starved(long now, long starvationMs) =>
        LastServed.IsNone || now - LastServed.IfNone(0) > starvationMs;

    /// <summary>
    /// The pending task for a CID: one descent of the by-CID tree with a probe task (<see cref="ByCid"/> compares only the
    /// CID). A binary search by rank cost a descent per probe (the set's indexer walks its node counts), log² n in all.
    /// </summary>
    public bool TryGetPending(Cid cid, out PeerTask task)
    {
        if (Pending.IsEmpty || !Pending.TryGetValue(new PeerTask(0, cid, 0, 0, default), out var found))
        {
            task = null!;
            return false;
        }
        task = found;
        return true;
    }

    internal PeerTracker AddPending(PeerTask task) => this with
    {
        // Callers add only a CID that is not pending (a merge removes the old task first).
        Pending = Pending.Add(task),
        Order = Order.Add(task),
        PendingWork = PendingWork + task.Work,
    };

    internal PeerTracker RemovePending(PeerTask task) => this with
    {
        Pending = Pending.Remove(task),
        Order = Order.Remove(task),
        PendingWork = PendingWork - task.Work,
    };

    internal PeerTracker AddActive(PeerTask task) => this with
    {
        Active = Active.Add(task),
        ActiveCount = ActiveCount + 1,
        ActiveWork = ActiveWork + task.Work,
    };

    /// <summary>Completes active tasks with one copy of the tracker; tasks not active (already done) change nothing.</summary>
    internal PeerTracker RemoveActive(Seq<PeerTask> done)
    {
        if (done.IsEmpty || Active.IsEmpty) return this;
        var ids = new System.Collections.Generic.HashSet<long>();
        foreach (var task in done) ids.Add(task.Id);
        var count = ActiveCount;
        var work = ActiveWork;
        foreach (var task in Active)
        {
            if (!ids.Contains(task.Id)) continue;
            count--;
            work -= task.Work;
        }
        if (count == ActiveCount) return this;
        var active = count == 0 ? Arr<PeerTask>.Empty : Active.Filter(t => !ids.Contains(t.Id));
        return this with { Active = active, ActiveCount = count, ActiveWork = work };
    }

    /// <summary>Completes an active task; one that is not active (already done) changes nothing.</summary>
    internal PeerTracker RemoveActive(PeerTask task) => RemoveActive(Prelude.Seq1(task));
}

/// <summary>Tasks taken by one <see cref="PopRequested"/>.</summary>
/// <param name="Peer">The peer served.</param>
/// <param name="Tasks">The tasks, in pop order; never empty.</param>
/// <param name="PendingWork">Bytes still pending for the peer after the pop.</param>
public sealed record PoppedTasks(PeerId Peer, Seq<PeerTask> Tasks, long PendingWork) : IPeerTaskQueueEffect;

/// <summary>An eligible peer's place among eligible peers: rules 3-5 of the order at the top of the file.</summary>
/// <param name="ActiveCount">Active tasks (fewer first).</param>
/// <param name="PendingRank">Pending tasks up to the rank cap (more first).</param>
/// <param name="Hash">The salted peer hash (lower first).</param>
/// <param name="Peer">The peer, last, so the order is total even on a hash collision.</param>
public readonly record struct PeerRank(int ActiveCount, int PendingRank, ulong Hash, PeerId Peer) : IComparable<PeerRank>
{
    /// <summary>Fewer active tasks, then more pending, then the lower hash, then the lower peer ID.</summary>
    public int CompareTo(PeerRank other)
    {
        if (ActiveCount != other.ActiveCount) return ActiveCount.CompareTo(other.ActiveCount);
        if (PendingRank != other.PendingRank) return other.PendingRank.CompareTo(PendingRank);
        if (Hash != other.Hash) return Hash.CompareTo(other.Hash);
        return Peer.CompareTo(other.Peer);
    }
}

/// <summary>When a peer not counted as starved was last served, to find the ones whose wait passes StarvationMs.</summary>
/// <param name="LastServed">The time of its last pop.</param>
/// <param name="Peer">The peer.</param>
public readonly record struct ServedMark(long LastServed, PeerId Peer) : IComparable<ServedMark>
{
    /// <summary>Earlier first, then by peer ID.</summary>
    public int CompareTo(ServedMark other)
    {
        if (LastServed != other.LastServed) return LastServed.CompareTo(other.LastServed);
        return Peer.CompareTo(other.Peer);
    }
}

/// <summary>What the engine asks of its <see cref="PeerTaskQueue"/>, as a closed hierarchy; stepped by <see cref="PeerTaskQueue.Handle"/>.</summary>
public abstract record PeerTaskQueueInput
{
    // Only this assembly's records derive from it, so Handle's switch covers every input.
    private protected PeerTaskQueueInput() { }
}

/// <summary>Queue work for a peer; with <paramref name="ReportOutcomes"/> every request's <see cref="PushResult"/> comes back (the engine asks only when it explains).</summary>
public sealed record TasksPushed(PeerId Peer, IEnumerable<TaskRequest> Requests, bool ReportOutcomes = false) : PeerTaskQueueInput;

/// <summary>Serve the best eligible peer with up to <paramref name="TargetBytes"/> of work (grown toward <paramref name="BacklogBytes"/>); answered by <see cref="PoppedTasks"/> unless no peer is eligible.</summary>
public sealed record PopRequested(long TargetBytes, long Now, long BacklogBytes = 0) : PeerTaskQueueInput;

/// <summary>Active tasks of a peer are done (sent, failed or deferred), freeing its active work.</summary>
public sealed record TasksCompleted(PeerId Peer, Seq<PeerTask> Tasks) : PeerTaskQueueInput;

/// <summary>A peer no longer wants these CIDs: their pending tasks go; active ones still complete.</summary>
public sealed record TasksCancelled(PeerId Peer, IEnumerable<Cid> Cids) : PeerTaskQueueInput;

/// <summary>A peer left: its pending and active tasks and when it was last served are forgotten.</summary>
public sealed record PeerTasksDropped(PeerId Peer) : PeerTaskQueueInput;

/// <summary>What a <see cref="PeerTaskQueue"/> step reports back to the engine: <see cref="PoppedTasks"/> or <see cref="PushResult"/>.</summary>
public interface IPeerTaskQueueEffect;

/// <summary>What happened to one request of a <see cref="TasksPushed"/> that asked for outcomes.</summary>
/// <param name="Request">The request.</param>
/// <param name="Outcome">Queued, merged, redundant or dropped.</param>
public sealed record PushResult(TaskRequest Request, PushOutcome Outcome) : IPeerTaskQueueEffect;

/// <summary>
/// The server's work queue across peers (go-peertaskqueue with boxo's fair scheduler; see the comment at the top of the
/// file for the order and its indexes). Pure: every operation returns a new queue.
/// </summary>
/// <param name="Peers">Trackers by peer.</param>
/// <param name="Salt">Salt of the tie-breaking peer hash, derived from the engine seed.</param>
/// <param name="NextTaskId">Id given to the next queued task.</param>
/// <param name="Limits">The bounds in force.</param>
public sealed record PeerTaskQueue(Map<PeerId, PeerTracker> Peers, ulong Salt, long NextTaskId, Limits Limits)
{
    /// <summary>Eligible peers not counted as starved, best first.</summary>
    public Set<PeerRank> Fresh { get; init; } = Set<PeerRank>.Empty;

    /// <summary>Eligible peers counted as starved, best first; served before any fresh peer.</summary>
    public Set<PeerRank> Starving { get; init; } = Set<PeerRank>.Empty;

    /// <summary>Peers served and not counted as starved, longest unserved first.</summary>
    public Set<ServedMark> ByLastServed { get; init; } = Set<ServedMark>.Empty;

    /// <summary>An empty queue whose tie-breaking hash is salted from <paramref name="seed"/>.</summary>
    public static PeerTaskQueue Create(ulong seed, Limits limits) =>
        new(Map<PeerId, PeerTracker>.Empty, SplitMix64.Mix(seed ^ SplitMix64.Gamma), 1, limits);

    /// <summary>The tracker of a peer (empty when unknown).</summary>
    public PeerTracker TrackerOf(PeerId peer) => Peers.Find(peer).IfNone(PeerTracker.Empty);

    /// <summary>Pending tasks of a peer.</summary>
    public int PendingCount(PeerId peer) => TrackerOf(peer).PendingCount;

    /// <summary>Pending work of a peer in bytes.</summary>
    public long PendingWork(PeerId peer) => TrackerOf(peer).PendingWork;

    /// <summary>Active work of a peer in bytes.</summary>
    public long ActiveWork(PeerId peer) => TrackerOf(peer).ActiveWork;

    /// <summary>Pending tasks across all peers (walks every tracker: for tests and statistics, not the hot path).</summary>
    public int TotalPending => Peers.Values.Sum(t => t.PendingCount);

    /// <summary>True when some peer could be served now.</summary>
    public bool HasEligibleWork => !Fresh.IsEmpty || !Starving.IsEmpty;

    /// <summary>Steps the queue by one input.</summary>
    public static Step<PeerTaskQueue, IPeerTaskQueueEffect> Handle(PeerTaskQueue state, PeerTaskQueueInput input)
    {
        switch (input)
        {
            case TasksPushed pushed when pushed.ReportOutcomes:
            {
                var outcomes = new List<(TaskRequest Request, PushOutcome Outcome)>();
                var queue = state.PushAll(pushed.Peer, pushed.Requests, outcomes);
                var results = new List<IPeerTaskQueueEffect>(outcomes.Count);
                foreach (var (request, outcome) in outcomes) results.Add(new PushResult(request, outcome));
                return new(queue, Persistent.SeqOf(results));
            }
            case TasksPushed pushed:
                return Step<PeerTaskQueue, IPeerTaskQueueEffect>.Quiet(state.PushAll(pushed.Peer, pushed.Requests, null));
            case PopRequested pop:
            {
                var (queue, popped) = state.PopTasks(pop.TargetBytes, pop.Now, pop.BacklogBytes);
                return popped.Case is PoppedTasks work
                    ? new(queue, Seq<IPeerTaskQueueEffect>.Empty.Add(work))
                    : Step<PeerTaskQueue, IPeerTaskQueueEffect>.Quiet(queue);
            }
            case TasksCompleted completed:
                return Step<PeerTaskQueue, IPeerTaskQueueEffect>.Quiet(state.TasksDone(completed.Peer, completed.Tasks));
            case TasksCancelled cancelled:
            {
                var queue = state;
                foreach (var cid in cancelled.Cids) (queue, _) = queue.Remove(cancelled.Peer, cid);
                return Step<PeerTaskQueue, IPeerTaskQueueEffect>.Quiet(queue);
            }
            case PeerTasksDropped dropped:
                return Step<PeerTaskQueue, IPeerTaskQueueEffect>.Quiet(state.RemovePeer(dropped.Peer));
            default:
                throw new System.Diagnostics.UnreachableException($"queue input {input.GetType().Name}");
        }
    }

    /// <summary>
    /// Queues tasks for a peer. A request for a CID with a pending task merges into it: a block beats a HAVE, a known size
    /// beats a DONT_HAVE, the higher priority is kept. A request for a CID with only active tasks is queued only if it adds
    /// information (a block where only presences are active, or a size where only DONT_HAVEs are active). Beyond
    /// <see cref="Limits.PendingTasksPerPeerMax"/> pending tasks new ones are dropped, so the older ones keep their place.
    /// The outcomes are added to <paramref name="outcomes"/> only when it is given.
    /// </summary>
    private PeerTaskQueue PushAll(PeerId peer, IEnumerable<TaskRequest> requests, List<(TaskRequest, PushOutcome)>? outcomes)
    {
        var before = Peers.Find(peer).Case as PeerTracker;
        var tracker = before ?? PeerTracker.Empty with { Hash = PeerHash(peer) };
        var nextId = NextTaskId;
        if (tracker.Pending.IsEmpty && tracker.ActiveCount == 0 && FreshTasks(requests, ref nextId, outcomes) is { } fresh)
        {
            // An idle peer's tasks for distinct CIDs, within the cap: every request is queued as is, so both indexes were
            // built in one pass (a node per task instead of a path per task).
            tracker = tracker with { Pending = fresh.Pending.ToImmutable(), Order = fresh.Order.ToImmutable(), PendingWork = fresh.Work };
            return (this with { NextTaskId = nextId }).Put(peer, before, tracker);
        }
        // Active tasks do not change during a push: their summary by CID is built once.
        var actives = ActivesOf(tracker);
        foreach (var request in requests)
        {
            PushOutcome outcome;
            if (tracker.TryGetPending(request.Cid, out var pending))
            {
                tracker = tracker.RemovePending(pending).AddPending(Merge(pending, request));
                outcome = PushOutcome.Merged;
            }
            else if (!AddsInformation(actives, request))
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
            outcomes?.Add((request, outcome));
        }
        return (this with { NextTaskId = nextId }).Put(peer, before, tracker);
    }

    /// <summary>
    /// Serves the best eligible peer: pops its pending tasks in order until their work reaches the target, always at least
    /// one, never taking a further task that would push active work past the outstanding cap. The target is
    /// <paramref name="targetBytes"/> (boxo TargetMessageSize), grown toward <paramref name="backlogBytes"/> as far as the
    /// peer's pending work goes, so a backlog of small blocks travels in fewer, larger messages. None when no peer is eligible.
    /// </summary>
    private (PeerTaskQueue Queue, Option<PoppedTasks> Popped) PopTasks(long targetBytes, long now, long backlogBytes = 0)
    {
        var queue = MarkStarved(now);
        PeerRank best;
        // Option.Case would box the struct: IsSome and IfNone read it unboxed.
        if (queue.Starving.Min is { IsSome: true } starving) best = starving.IfNone(default(PeerRank));
        else if (queue.Fresh.Min is { IsSome: true } fresh) best = fresh.IfNone(default(PeerRank));
        else return (queue, Option<PoppedTasks>.None);

        var before = queue.Peers[best.Peer];
        var served = before;
        targetBytes = Math.Max(targetBytes, Math.Min(backlogBytes, before.PendingWork));
        // The tasks taken are a prefix of the pop order: counted first, then taken out of the indexes in one go and
        // the tracker copied once (not twice per task).
        var taken = new List<PeerTask>();
        long work = 0;
        var cap = Limits.OutstandingBytesPerPeerMax;
        var activeCount = before.ActiveCount;
        var activeWork = before.ActiveWork;
        foreach (var next in before.Order)
        {
            if (taken.Count > 0 && work >= targetBytes) break;
            var fits = activeCount == 0 || cap <= 0 || activeWork + next.Work <= cap;
            if (!fits) break;
            taken.Add(next);
            work += next.Work;
            activeCount++;
            activeWork += next.Work;
        }
        var active = served.Active.AddRange(taken);
        var drained = taken.Count == before.Order.Count;
        served = served with
        {
            Pending = drained ? PeerTracker.EmptyPending : served.Pending.Except(taken),
            Order = drained ? PeerTracker.EmptyOrder : served.Order.Except(taken),
            PendingWork = served.PendingWork - work,
            Active = active,
            ActiveCount = activeCount,
            ActiveWork = activeWork,
            LastServed = now,
            MarkedStarved = false,
        };
        return (queue.Put(best.Peer, before, served), new PoppedTasks(best.Peer, taken.ToSeq().Strict(), served.PendingWork));
    }

    /// <summary>Marks active tasks as done, freeing the peer's active work; tasks that are not active are ignored.</summary>
    private PeerTaskQueue TasksDone(PeerId peer, Seq<PeerTask> tasks)
    {
        if (Peers.Find(peer).Case is not PeerTracker before) return this;
        var tracker = before.RemoveActive(tasks);
        return ReferenceEquals(tracker, before) ? this : Put(peer, before, tracker);
    }

    /// <summary>Removes the pending task for a CID (a cancel); an active task for it still completes.</summary>
    private (PeerTaskQueue Queue, Option<PeerTask> Removed) Remove(PeerId peer, Cid cid)
    {
        if (Peers.Find(peer).Case is not PeerTracker tracker || !tracker.TryGetPending(cid, out var task))
            return (this, Option<PeerTask>.None);
        return (Put(peer, tracker, tracker.RemovePending(task)), task);
    }

    /// <summary>Forgets a peer entirely (a disconnect): its pending and active tasks and when it was last served.</summary>
    private PeerTaskQueue RemovePeer(PeerId peer) =>
        Peers.Find(peer).Case is PeerTracker tracker ? Put(peer, tracker, null) : this;

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
        // 3-5. Fewer active tasks, more pending (capped), lower salted hash, lower ID.
        return RankOf(a, ta with { Hash = PeerHash(a) }).CompareTo(RankOf(b, tb with { Hash = PeerHash(b) })) < 0;
    }

    /// <summary>The salted hash that breaks ties between peers.</summary>
    public ulong PeerHash(PeerId peer)
    {
        var h = Salt;
        foreach (var b in peer.Bytes) h = SplitMix64.Mix(h ^ b);
        return h;
    }

    /// <summary>
    /// The requests as new tasks, already in both indexes (builders local to the push, which also find a repeated CID),
    /// when their CIDs are distinct and within the pending cap; else null (ids and outcomes untouched).
    /// </summary>
    private (OrderedSet<PeerTask>.Builder Pending, OrderedSet<PeerTask>.Builder Order, long Work)?
        FreshTasks(IEnumerable<TaskRequest> requests, ref long nextId, List<(TaskRequest, PushOutcome)>? outcomes)
    {
        var pending = OrderedSet<PeerTask>.CreateBuilder(ByCid.Instance);
        var order = OrderedSet<PeerTask>.CreateBuilder(PopOrder.Instance);
        // Only when explaining: the outcomes, in request order, kept until the requests all turn out fresh.
        List<(TaskRequest, PushOutcome)>? queued = outcomes is null ? null : [];
        long work = 0;
        var id = nextId;
        foreach (var request in requests)
        {
            if (pending.Count >= Limits.PendingTasksPerPeerMax) return null;
            var task = new PeerTask(id++, request.Cid, request.Priority, request.Work, request.Data);
            // One search: a repeated CID is not added.
            if (!pending.Add(task)) return null;
            order.Add(task);
            work += task.Work;
            queued?.Add((new TaskRequest(task.Cid, task.Priority, task.Work, task.Data), PushOutcome.Queued));
        }
        if (pending.Count == 0) return null;
        if (queued is not null) outcomes!.AddRange(queued);
        nextId = id;
        return (pending, order, work);
    }

    /// <summary>Moves every peer unserved for over StarvationMs from Fresh to Starving (rule 2 at time <paramref name="now"/>).</summary>
    private PeerTaskQueue MarkStarved(long now)
    {
        var queue = this;
        // Option.Case would box the mark on every pop: IsSome and IfNone read it unboxed.
        while (queue.ByLastServed.Min is { IsSome: true } first && first.IfNone(default(ServedMark)) is var oldest
            && now - oldest.LastServed > Limits.StarvationMs)
        {
            var tracker = queue.Peers[oldest.Peer];
            queue = queue.Put(oldest.Peer, tracker, tracker with { MarkedStarved = true });
        }
        return queue;
    }

    /// <summary>Replaces a peer's tracker (null removes it) and moves the peer between the scheduling sets to match.</summary>
    private PeerTaskQueue Put(PeerId peer, PeerTracker? before, PeerTracker? after)
    {
        var fresh = Fresh;
        var starving = Starving;
        var byLastServed = ByLastServed;
        var cap = Limits.OutstandingBytesPerPeerMax;
        if (before is not null)
        {
            if (before.Eligible(cap))
            {
                if (before.MarkedStarved) starving = starving.Remove(RankOf(peer, before));
                else fresh = fresh.Remove(RankOf(peer, before));
            }
            if (!before.MarkedStarved && before.LastServed.IsSome) byLastServed = byLastServed.Remove(new ServedMark(before.LastServed.IfNone(0), peer));
        }
        if (after is not null)
        {
            if (after.Eligible(cap))
            {
                if (after.MarkedStarved) starving = starving.Add(RankOf(peer, after));
                else fresh = fresh.Add(RankOf(peer, after));
            }
            if (!after.MarkedStarved && after.LastServed.IsSome) byLastServed = byLastServed.Add(new ServedMark(after.LastServed.IfNone(0), peer));
        }
        return this with
        {
            Peers = after is null ? Peers.Remove(peer) : Peers.AddOrUpdate(peer, after),
            Fresh = fresh,
            Starving = starving,
            ByLastServed = byLastServed,
        };
    }

    private PeerRank RankOf(PeerId peer, PeerTracker tracker) =>
        new(tracker.ActiveCount, Math.Min(tracker.PendingCount, Limits.PendingTasksRankCap), tracker.Hash, peer);

    /// <summary>
    /// True when a request for a CID with active tasks would add to them (a block where only presences are active, a size
    /// where only DONT_HAVEs are). <paramref name="actives"/> is the tracker's active tasks by CID, built once per push.
    /// </summary>
    private static bool AddsInformation(Dictionary<Cid, (bool SendsBlock, bool HasSize)>? actives, TaskRequest request)
    {
        if (actives is null || !actives.TryGetValue(request.Cid, out var active)) return true;
        return (request.Data.SendBlock && !active.SendsBlock) || (request.Data.HaveBlock && !active.HasSize);
    }

    /// <summary>What the active tasks of a tracker already carry, by CID (null when none is active): local to one push.</summary>
    private static Dictionary<Cid, (bool SendsBlock, bool HasSize)>? ActivesOf(PeerTracker tracker)
    {
        if (tracker.Active.IsEmpty) return null;
        var actives = new Dictionary<Cid, (bool SendsBlock, bool HasSize)>(tracker.Active.Count);
        foreach (var task in tracker.Active)
        {
            var (sendsBlock, hasSize) = actives.GetValueOrDefault(task.Cid);
            actives[task.Cid] = (sendsBlock || task.Data.SendBlock, hasSize || task.Data.HaveBlock);
        }
        return actives;
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
}
