using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>One queue operation as recorded by <see cref="QueueRun"/>.</summary>
public sealed record QueueEvent(QueueOp Op, long Now, PeerTaskQueue Before, PeerTaskQueue After, Option<PoppedTasks> Popped, Seq<PeerTask> Removed, Seq<long> Queued);

/// <summary>Plays a generated queue script.</summary>
public static class QueueRun
{
    /// <summary>Applies every op, logging each one.</summary>
    public static List<QueueEvent> Play(QueueScript script)
    {
        var queue = PeerTaskQueue.Create(script.Seed, script.Limits);
        long now = 0;
        var log = new List<QueueEvent>();
        foreach (var op in script.Ops)
        {
            var before = queue;
            var popped = Option<PoppedTasks>.None;
            var removed = Seq<PeerTask>.Empty;
            var queued = Seq<long>.Empty;
            switch (op)
            {
                case QueuePushOp push:
                    (queue, _) = queue.Push(ServerWorld.Peers[push.Peer], push.Requests.ToSeq());
                    for (var id = before.NextTaskId; id < queue.NextTaskId; id++) queued = queued.Add(id);
                    break;
                case QueuePopOp pop:
                    (queue, popped) = queue.PopTasks(pop.TargetBytes, now);
                    break;
                case QueueDoneOp done:
                    var peer = ServerWorld.Peers[done.Peer];
                    queue = queue.TasksDone(peer, queue.TrackerOf(peer).ActiveTasks.Map(t => t.Id).Take(done.Count).ToSeq());
                    break;
                case QueueCancelOp cancel:
                    (queue, var task) = queue.Remove(ServerWorld.Peers[cancel.Peer], ServerWorld.Blocks[cancel.Cid].Cid);
                    removed = task.ToSeq();
                    break;
                case QueueRemovePeerOp remove:
                    removed = queue.TrackerOf(ServerWorld.Peers[remove.Peer]).Pending.ToSeq();
                    queue = queue.RemovePeer(ServerWorld.Peers[remove.Peer]);
                    break;
                case QueueAdvanceOp advance:
                    now += advance.Ms;
                    break;
                default:
                    throw new System.Diagnostics.UnreachableException($"unknown op {op}");
            }
            log.Add(new QueueEvent(op, now, before, queue, popped, removed, queued));
        }
        return log;
    }
}

/// <summary>Properties of the fair peer task queue.</summary>
public class PeerTaskQueueProperties
{
    /// <summary>
    /// The bound, derived from the comparator: while peer P is starved and eligible, every pop must serve a starved peer
    /// (rule 2 puts P above every non-starved peer). A peer Q served in that stretch stops being starved until
    /// StarvationMs have passed since, so over a stretch of D ms each of the N−1 other peers wins at most
    /// 1 + ⌊D / StarvationMs⌋ times. So P waits at most (N−1)·(1 + ⌊D / StarvationMs⌋) pops. Peers stay connected here:
    /// a reconnect resets "never served".
    /// </summary>
    [Property(MaxTest = 500)]
    public Property A_starved_eligible_peer_is_served_within_the_derived_number_of_pops() =>
        Prop.ForAll(Arbitraries.QueueScripts(withRemovals: false), script =>
        {
            var limits = script.Limits;
            var streaks = new Dictionary<PeerId, (long Start, int Misses)>();
            foreach (var e in QueueRun.Play(script).Where(e => e.Op is QueuePopOp))
            {
                var servedPeer = e.Popped.Map(p => p.Peer).IfNoneUnsafe((PeerId?)null);
                foreach (var (peer, tracker) in e.Before.Peers)
                {
                    var waiting = tracker.Eligible(limits.OutstandingBytesPerPeerMax) && tracker.Starved(e.Now, limits.StarvationMs);
                    if (!waiting || peer == servedPeer)
                    {
                        streaks.Remove(peer);
                        continue;
                    }
                    var (start, misses) = streaks.TryGetValue(peer, out var s) ? s : (e.Now, 0);
                    misses++;
                    var bound = (script.Peers - 1) * (1 + (e.Now - start) / limits.StarvationMs);
                    if (misses > bound) return false.Label($"{peer.Short} missed {misses} pops > bound {bound}");
                    streaks[peer] = (start, misses);
                }
            }
            return true.ToProperty();
        });

    /// <summary>
    /// Equal demand: every peer pushes the same tasks; pops take one task each (target 1 byte) and tasks stay active, as
    /// when the worker pool is saturated. Rule 3 (fewer active tasks) then serves peers round robin, so at any prefix of
    /// pops the bytes served per peer differ by at most one task, i.e. one maximum block.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property With_equal_demand_bytes_served_per_peer_differ_by_at_most_one_maximum_block() =>
        Prop.ForAll(
            (from peers in Gen.Choose(2, 6)
             from tasks in Arbitraries.ArrayBetween(Arbitraries.TaskRequests(4096), 5, 30)
             from seed in Gen.Choose(0, int.MaxValue)
             from advances in Gen.ArrayOf(Gen.Choose(0, 300), 200)
             select (peers, tasks, (ulong)seed, advances)).ToArbitrary(),
            input =>
            {
                var (peers, tasks, seed, advances) = input;
                var queue = PeerTaskQueue.Create(seed, Limits.Default);
                for (var p = 0; p < peers; p++) (queue, _) = queue.Push(ServerWorld.Peers[p], tasks.ToSeq());
                var maxBlock = tasks.Max(t => t.Work);
                var served = new long[peers];
                long now = 0;
                for (var pop = 0; ; pop++)
                {
                    now += advances[pop % advances.Length];
                    (queue, var popped) = queue.PopTasks(1, now);
                    if (popped.Case is not PoppedTasks work) break;
                    if (work.Tasks.Count != 1) return false.Label("a one-byte target popped more than one task");
                    served[Array.IndexOf(ServerWorld.Peers, work.Peer)] += work.Tasks.Sum(t => (long)t.Work);
                    if (served.Max() - served.Min() > maxBlock)
                        return false.Label($"after pop {pop}: served {string.Join(",", served)} differ by more than {maxBlock}");
                }
                return (queue.TotalPending == 0).Label("pending work left behind");
            });

    [Property(MaxTest = 500)]
    public Property Active_bytes_per_peer_never_exceed_the_cap_beyond_the_single_first_task() =>
        Prop.ForAll(Arbitraries.QueueScripts(withRemovals: true), script =>
        {
            var cap = script.Limits.OutstandingBytesPerPeerMax;
            foreach (var e in QueueRun.Play(script))
            {
                foreach (var (peer, tracker) in e.After.Peers)
                    if (cap > 0 && tracker.ActiveWork > cap && tracker.ActiveCount > 1)
                        return false.Label($"{peer.Short}: {tracker.ActiveWork} B active in {tracker.ActiveCount} tasks > cap {cap}");
                if (e.Op is QueuePopOp && e.Popped.IsNone && e.Before.HasEligibleWork)
                    return false.Label("a pop returned nothing while a peer was eligible");
                if (e.Popped.Case is PoppedTasks p && (p.Tasks.IsEmpty || p.PendingWork != e.After.PendingWork(p.Peer)))
                    return false.Label("a pop was empty or misreported the pending work");
            }
            return true.ToProperty();
        });

    [Property(MaxTest = 500)]
    public Property Every_queued_task_is_popped_once_or_removed_by_a_cancel_or_a_disconnect() =>
        Prop.ForAll(Arbitraries.QueueScripts(withRemovals: true), script =>
        {
            var queued = new System.Collections.Generic.HashSet<long>();
            var gone = new System.Collections.Generic.HashSet<long>();
            var log = QueueRun.Play(script);
            foreach (var e in log)
            {
                foreach (var id in e.Queued)
                    if (!queued.Add(id)) return false.Label($"task {id} queued twice");
                var leaving = e.Popped.Map(p => p.Tasks).IfNone(Seq<PeerTask>.Empty) + e.Removed;
                foreach (var task in leaving)
                {
                    if (!queued.Contains(task.Id)) return false.Label($"task {task.Id} left without being queued");
                    if (!gone.Add(task.Id)) return false.Label($"task {task.Id} left twice");
                }
            }
            var last = log.LastOrDefault()?.After;
            var stillPending = last is null ? [] : last.Peers.Values.SelectMany(t => t.Pending.Select(p => p.Id)).ToHashSet();
            var accounted = gone.Union(stillPending).ToHashSet();
            return accounted.SetEquals(queued).Label($"{queued.Count} queued, {gone.Count} left, {stillPending.Count} pending")
                .And(!gone.Overlaps(stillPending)).Label("a task both left and is still pending");
        });
}
