using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>
/// A naive model of <see cref="PeerTaskQueue"/>: plain lists, scanned in full at every pop, with the fair comparator written
/// out as a sort key. It shares only the salted peer hash with the real queue.
/// </summary>
public sealed class NaiveTaskQueue(Limits limits, Func<PeerId, ulong> hash)
{
    private readonly SortedDictionary<PeerId, NaivePeer> _peers = [];
    private long _nextId = 1;

    /// <summary>Peers known to the model.</summary>
    public IEnumerable<PeerId> Peers => _peers.Keys;

    /// <summary>A peer's pending task ids in pop order (higher priority first, then first in first out).</summary>
    public List<long> PendingIds(PeerId peer) =>
        _peers.TryGetValue(peer, out var p) ? [.. Ordered(p).Select(t => t.Id)] : [];

    /// <summary>A peer's active task ids, ascending.</summary>
    public List<long> ActiveIds(PeerId peer) =>
        _peers.TryGetValue(peer, out var p) ? [.. p.Active.Select(t => t.Id).Order()] : [];

    /// <summary>A peer's pending work in bytes.</summary>
    public long PendingWork(PeerId peer) => _peers.TryGetValue(peer, out var p) ? p.Pending.Sum(t => (long)t.Work) : 0;

    /// <summary>Queues requests: merge into a pending task for the CID, skip what an active task already says, drop past the cap.</summary>
    public void Push(PeerId peer, IEnumerable<TaskRequest> requests)
    {
        if (!_peers.TryGetValue(peer, out var p)) _peers[peer] = p = new NaivePeer();
        foreach (var r in requests)
        {
            var i = p.Pending.FindIndex(t => t.Cid == r.Cid);
            if (i >= 0)
            {
                p.Pending[i] = Merge(p.Pending[i], r);
                continue;
            }
            var active = p.Active.Where(t => t.Cid == r.Cid).ToList();
            var addsInformation = active.Count == 0
                || (r.Data.SendBlock && !active.Any(t => t.Data.SendBlock))
                || (r.Data.HaveBlock && !active.Any(t => t.Data.HaveBlock));
            if (!addsInformation || p.Pending.Count >= limits.PendingTasksPerPeerMax) continue;
            p.Pending.Add(new PeerTask(_nextId++, r.Cid, r.Priority, r.Work, r.Data));
        }
    }

    /// <summary>Scans every peer for the best eligible one and pops its tasks up to the (backlog-grown) target.</summary>
    public (PeerId Peer, List<long> Ids)? Pop(long target, long now, long backlog)
    {
        var cap = limits.OutstandingBytesPerPeerMax;
        var best = _peers
            .Where(kv => Ordered(kv.Value).FirstOrDefault() is { } next
                && (kv.Value.Active.Count == 0 || cap <= 0 || kv.Value.Active.Sum(t => (long)t.Work) + next.Work <= cap))
            .OrderBy(kv => kv.Value.LastServed is { } served && now - served <= limits.StarvationMs ? 1 : 0)
            .ThenBy(kv => kv.Value.Active.Count)
            .ThenByDescending(kv => Math.Min(kv.Value.Pending.Count, limits.PendingTasksRankCap))
            .ThenBy(kv => hash(kv.Key))
            .ThenBy(kv => kv.Key)
            .Select(kv => (PeerId?)kv.Key)
            .FirstOrDefault();
        if (best is null) return null;
        var p = _peers[best];
        target = Math.Max(target, Math.Min(backlog, p.Pending.Sum(t => (long)t.Work)));
        var ids = new List<long>();
        long work = 0;
        while (Ordered(p).FirstOrDefault() is { } next && (ids.Count == 0 || work < target))
        {
            if (p.Active.Count != 0 && cap > 0 && p.Active.Sum(t => (long)t.Work) + next.Work > cap) break;
            p.Pending.Remove(next);
            p.Active.Add(next);
            ids.Add(next.Id);
            work += next.Work;
        }
        p.LastServed = now;
        return (best, ids);
    }

    /// <summary>Completes active tasks by id.</summary>
    public void Done(PeerId peer, IEnumerable<long> ids)
    {
        if (!_peers.TryGetValue(peer, out var p)) return;
        var set = ids.ToHashSet();
        p.Active.RemoveAll(t => set.Contains(t.Id));
    }

    /// <summary>Removes the pending task for a CID; returns its id.</summary>
    public long? Cancel(PeerId peer, Cid cid)
    {
        if (!_peers.TryGetValue(peer, out var p) || p.Pending.Find(t => t.Cid == cid) is not { } task) return null;
        p.Pending.Remove(task);
        return task.Id;
    }

    /// <summary>Forgets a peer.</summary>
    public void RemovePeer(PeerId peer) => _peers.Remove(peer);

    private static IEnumerable<PeerTask> Ordered(NaivePeer p) => p.Pending.OrderByDescending(t => t.Priority).ThenBy(t => t.Id);

    private static PeerTask Merge(PeerTask existing, TaskRequest request)
    {
        var data = existing.Data;
        var work = existing.Work;
        if (request.Data.HaveBlock && !data.HaveBlock)
        {
            data = data with { HaveBlock = true, BlockSize = request.Data.BlockSize, SendBlock = request.Data.SendBlock };
            work = request.Work;
        }
        if (request.Data.SendBlock && !data.SendBlock)
        {
            data = data with { SendBlock = true, HaveBlock = true, BlockSize = request.Data.BlockSize };
            work = request.Work;
        }
        data = data with { SendDontHave = data.SendDontHave || request.Data.SendDontHave };
        return existing with { Priority = Math.Max(existing.Priority, request.Priority), Work = work, Data = data };
    }

    private sealed class NaivePeer
    {
        public List<PeerTask> Pending { get; } = [];
        public List<PeerTask> Active { get; } = [];
        public long? LastServed { get; set; }
    }
}

/// <summary>The indexed queue against the naive model, operation by operation.</summary>
public class PeerTaskQueueModelProperties
{
    [Property(MaxTest = 500)]
    public Property The_indexed_queue_behaves_like_a_naive_list_scan() =>
        Prop.ForAll(Arbitraries.QueueScripts(withRemovals: true, maxAdvanceMs: 6000), script =>
        {
            var queue = PeerTaskQueue.Create(script.Seed, script.Limits);
            var model = new NaiveTaskQueue(script.Limits, queue.PeerHash);
            long now = 0;
            var step = 0;
            foreach (var op in script.Ops)
            {
                step++;
                switch (op)
                {
                    case QueuePushOp push:
                        (queue, _) = queue.Push(ServerWorld.Peers[push.Peer], push.Requests.ToSeq());
                        model.Push(ServerWorld.Peers[push.Peer], push.Requests);
                        break;
                    case QueuePopOp pop:
                    {
                        // Every other pop lets the target grow with the backlog.
                        var backlog = step % 2 == 0 ? 256L * 1024 : 0;
                        (queue, var popped) = queue.PopTasks(pop.TargetBytes, now, backlog);
                        var expected = model.Pop(pop.TargetBytes, now, backlog);
                        (PeerId Peer, List<long> Ids)? actual = popped.Case is PoppedTasks got ? (got.Peer, got.Tasks.Map(t => t.Id).ToList()) : null;
                        if (expected is null != actual is null
                            || (expected is { } e && actual is { } a && (e.Peer != a.Peer || !e.Ids.SequenceEqual(a.Ids))))
                            return false.Label($"step {step} {op}: model popped {Show(expected)}, queue {Show(actual)}");
                        break;
                    }
                    case QueueDoneOp done:
                    {
                        var peer = ServerWorld.Peers[done.Peer];
                        var ids = queue.TrackerOf(peer).ActiveTasks.Map(t => t.Id).Take(done.Count).ToList();
                        queue = queue.TasksDone(peer, ids.ToSeq());
                        model.Done(peer, ids);
                        break;
                    }
                    case QueueCancelOp cancel:
                    {
                        var peer = ServerWorld.Peers[cancel.Peer];
                        var cid = ServerWorld.Blocks[cancel.Cid].Cid;
                        (queue, var removed) = queue.Remove(peer, cid);
                        var expected = model.Cancel(peer, cid);
                        if ((removed.Case is PeerTask gone ? gone.Id : (long?)null) != expected)
                            return false.Label($"step {step} {op}: model removed {expected}, queue {removed}");
                        break;
                    }
                    case QueueRemovePeerOp remove:
                        queue = queue.RemovePeer(ServerWorld.Peers[remove.Peer]);
                        model.RemovePeer(ServerWorld.Peers[remove.Peer]);
                        break;
                    case QueueAdvanceOp advance:
                        now += advance.Ms;
                        break;
                    default:
                        throw new System.Diagnostics.UnreachableException($"unknown op {op}");
                }

                if (!queue.Peers.Keys.SequenceEqual(model.Peers)) return false.Label($"step {step} {op}: peers differ");
                foreach (var peer in model.Peers)
                {
                    var tracker = queue.TrackerOf(peer);
                    if (!tracker.Order.Select(t => t.Id).SequenceEqual(model.PendingIds(peer)))
                        return false.Label($"step {step} {op}: pending of {peer.Short} differ");
                    if (!tracker.ActiveTasks.Map(t => t.Id).SequenceEqual(model.ActiveIds(peer)))
                        return false.Label($"step {step} {op}: active of {peer.Short} differ");
                    if (tracker.PendingWork != model.PendingWork(peer))
                        return false.Label($"step {step} {op}: pending work of {peer.Short} differs");
                }
                var eligible = model.Peers.Count(p => queue.TrackerOf(p).Eligible(script.Limits.OutstandingBytesPerPeerMax));
                if (eligible != queue.Fresh.Count + queue.Starving.Count)
                    return false.Label($"step {step} {op}: {eligible} eligible peers but {queue.Fresh.Count + queue.Starving.Count} indexed");
            }
            return true.ToProperty();
        });

    private static string Show((PeerId Peer, List<long> Ids)? popped) =>
        popped is { } p ? $"{p.Peer.Short} [{string.Join(",", p.Ids)}]" : "nothing";
}
