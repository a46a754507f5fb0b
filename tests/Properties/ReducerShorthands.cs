using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Tests.Properties;

/// <summary>
/// The tests' shorthand for one step of a child reducer: each builds the input, calls <c>Handle</c> and reads the step
/// back in the shape the tests assert on, so the unit tests of <see cref="PeerWants"/> and <see cref="PeerTaskQueue"/>
/// go through the same entry point as the client and the engine.
/// </summary>
internal static class ReducerShorthands
{
    /// <summary>Steps <see cref="QueueWants"/>.</summary>
    public static (PeerWants Queue, Seq<IPeerWantsEffect> Explains) AddWants(this PeerWants queue, Seq<Cid> wantBlocks, Seq<Cid> wantHaves, bool broadcast)
    {
        var (next, effects) = PeerWants.Handle(queue, new QueueWants(wantBlocks, wantHaves, broadcast));
        return (next, effects);
    }

    /// <summary>Steps <see cref="QueueCancels"/>.</summary>
    public static (PeerWants Queue, Seq<IPeerWantsEffect> Explains) Cancel(this PeerWants queue, Seq<Cid> cids)
    {
        var (next, effects) = PeerWants.Handle(queue, new QueueCancels(cids));
        return (next, effects);
    }

    /// <summary>Steps <see cref="TakeNextMessage"/>; the message is null when the step sent none.</summary>
    public static (PeerWants Queue, Message? Message) TakeMessage(this PeerWants queue, EnvelopeId envelope, long now, Limits limits)
    {
        var (next, effects) = PeerWants.Handle(queue, new TakeNextMessage(envelope, now, limits));
        return (next, effects.OfType<SendMessage>().Select(s => s.Message).FirstOrDefault());
    }

    /// <summary>Steps <see cref="EnvelopeConfirmed"/> with DONT_HAVE clocks on.</summary>
    public static PeerWants Confirmed(this PeerWants queue, EnvelopeId envelope, long now) =>
        PeerWants.Handle(queue, new EnvelopeConfirmed(envelope, now, StartClocks: true, Limits.Default)).State;

    /// <summary>Steps <see cref="PeerAnswered"/> with a DONT_HAVE for each CID: an answer that neither delivers nor says HAVE.</summary>
    public static PeerWants Responded(this PeerWants queue, IEnumerable<Cid> cids, long now, Limits limits)
    {
        var presences = cids.Aggregate(Map<Cid, PresenceType>.Empty, (map, cid) => map.AddOrUpdate(cid, PresenceType.DontHave));
        return PeerWants.Handle(queue, new PeerAnswered(Map<Cid, Block>.Empty, presences, SortedMap<Cid, Set<long>>.Empty, now, limits)).State;
    }

    /// <summary>Steps <see cref="TasksPushed"/> asking for every request's outcome.</summary>
    public static (PeerTaskQueue Queue, Seq<(TaskRequest Request, PushOutcome Outcome)> Outcomes) Push(this PeerTaskQueue queue, PeerId peer, Seq<TaskRequest> requests)
    {
        var (next, effects) = PeerTaskQueue.Handle(queue, new TasksPushed(peer, requests, ReportOutcomes: true));
        return (next, effects.Map(e => e is PushResult r ? (r.Request, r.Outcome) : throw new InvalidOperationException($"unexpected {e}")).Strict());
    }

    /// <summary>Steps <see cref="PopRequested"/>; None when no peer was eligible.</summary>
    public static (PeerTaskQueue Queue, Option<PoppedTasks> Popped) PopTasks(this PeerTaskQueue queue, long targetBytes, long now, long backlogBytes = 0)
    {
        var (next, effects) = PeerTaskQueue.Handle(queue, new PopRequested(targetBytes, now, backlogBytes));
        return (next, effects.IsEmpty ? Option<PoppedTasks>.None : (PoppedTasks)effects.Head);
    }

    /// <summary>Steps <see cref="TasksCompleted"/> for the peer's active tasks with these ids.</summary>
    public static PeerTaskQueue TasksDone(this PeerTaskQueue queue, PeerId peer, Seq<long> taskIds)
    {
        var ids = taskIds.ToHashSet();
        return PeerTaskQueue.Handle(queue, new TasksCompleted(peer, queue.TrackerOf(peer).ActiveTasks.Filter(t => ids.Contains(t.Id)))).State;
    }

    /// <summary>Steps <see cref="TasksCancelled"/> for one CID; the task it removed read from the tracker first.</summary>
    public static (PeerTaskQueue Queue, Option<PeerTask> Removed) Remove(this PeerTaskQueue queue, PeerId peer, Cid cid)
    {
        var removed = queue.TrackerOf(peer).TryGetPending(cid, out var task) ? Option<PeerTask>.Some(task) : Option<PeerTask>.None;
        return (PeerTaskQueue.Handle(queue, new TasksCancelled(peer, [cid])).State, removed);
    }

    /// <summary>Steps <see cref="PeerTasksDropped"/>.</summary>
    public static PeerTaskQueue RemovePeer(this PeerTaskQueue queue, PeerId peer) =>
        PeerTaskQueue.Handle(queue, new PeerTasksDropped(peer)).State;
}
