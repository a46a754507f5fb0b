using System.Diagnostics;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>How the decision engine behaves.</summary>
/// <param name="Limits">The bounds in force.</param>
/// <param name="Seed">Seed of the engine's only randomness: the salt of the queue's tie-breaking peer hash.</param>
/// <param name="RequestFilter">Decides whether a peer may have a CID (boxo PeerBlockRequestFilter); null allows all.</param>
/// <param name="SendDontHaves">False to never send DONT_HAVE (boxo SetSendDontHaves).</param>
/// <param name="Explain">Emit <see cref="Domain.Explain"/> effects; off, no reason is formatted.</param>
public sealed record EngineConfig(Limits Limits, ulong Seed, Func<PeerId, Cid, bool>? RequestFilter = null, bool SendDontHaves = true, bool Explain = false);

/// <summary>An outgoing server message being built (blocks loading) or sent (awaiting its fate).</summary>
/// <param name="Id">The envelope id.</param>
/// <param name="Peer">The receiver.</param>
/// <param name="Tasks">The popped tasks it completes.</param>
/// <param name="PendingWork">The receiver's pending work right after the pop, reported as pendingBytes.</param>
/// <param name="Message">The message handed to the shell, once built; None while its blocks load.</param>
public sealed record ServerEnvelope(EnvelopeId Id, PeerId Peer, Seq<PeerTask> Tasks, long PendingWork, Option<Message> Message);

/// <summary>
/// The decision engine's state: per-peer ledgers and wantlists, the reverse index CID → wanting peers, the task queue and
/// the envelopes in flight. Immutable; build with <see cref="Create"/> and advance with <see cref="Engine.Handle"/>.
/// </summary>
public sealed record EngineState
{
    /// <summary>The timer that advances the usefulness scores.</summary>
    public static readonly TimerId ScoreTimer = new(TimerKind.EngineScore);

    private EngineState(PeerId self, EngineConfig config)
    {
        Self = self;
        Config = config;
        Queue = PeerTaskQueue.Create(config.Seed, config.Limits);
    }

    /// <summary>A fresh engine for the local peer.</summary>
    public static EngineState Create(PeerId self, EngineConfig config) => new(self, config);

    /// <summary>The local peer.</summary>
    public PeerId Self { get; init; }

    /// <summary>The configuration.</summary>
    public EngineConfig Config { get; init; }

    /// <summary>Ledgers of known peers (connected, or that sent us a message).</summary>
    public Map<PeerId, PeerLedger> Ledgers { get; init; } = Map<PeerId, PeerLedger>.Empty;

    /// <summary>What each peer wants from us.</summary>
    public Map<PeerId, PeerWantlist> Wantlists { get; init; } = Map<PeerId, PeerWantlist>.Empty;

    /// <summary>
    /// The reverse index for new blocks: for each CID, peers that want it and that we did not hold the block for when the
    /// want arrived (or that found it vanished), so <see cref="BlocksAdded"/> finds them. Wants for blocks we hold are not
    /// indexed: they are answered from the queue, and indexing every want cost most of a large ingest (a path copy in a
    /// map of every wanted CID plus one in its peer set, per want). An indexed want stays indexed after its block arrives,
    /// until it is cancelled, answered or its peer leaves, so the index always lies within the wantlists.
    /// </summary>
    public Map<Cid, Set<PeerId>> Wanters { get; init; } = Map<Cid, Set<PeerId>>.Empty;

    /// <summary>The work queue.</summary>
    public PeerTaskQueue Queue { get; init; }

    /// <summary>Envelopes loading or sending, by sequence.</summary>
    public Map<long, ServerEnvelope> InFlight { get; init; } = Map<long, ServerEnvelope>.Empty;

    /// <summary>
    /// How many of <see cref="InFlight"/> are handed to the network and not yet confirmed. They no longer hold one of the
    /// TaskWorkerCount workers: a peer that does not read only holds its own outstanding bytes (issue 13), so eight stalled
    /// peers cannot stop the others being served. A count rather than a scan of <see cref="InFlight"/>, which holds up to one
    /// envelope per peer, so that each dispatch stays O(1).
    /// </summary>
    public int Sending { get; init; }

    /// <summary>The sequence of the last envelope created.</summary>
    public long LastEnvelope { get; init; }

    /// <summary>Blocks sent successfully.</summary>
    public long BlocksSent { get; init; }

    /// <summary>Block bytes sent successfully.</summary>
    public long DataSent { get; init; }

    /// <summary>True while an "engine-score" timer is armed.</summary>
    public bool ScoreTimerArmed { get; init; }

    /// <summary>Score periods elapsed (every tenth also steps the long-term score).</summary>
    public long ScoreTicks { get; init; }

    /// <summary>Envelopes loading or sending.</summary>
    public int EnvelopesInFlight => InFlight.Count;

    /// <summary>Known peers, sorted.</summary>
    public Seq<PeerId> Peers => Ledgers.Keys.ToSeq();

    /// <summary>What a peer wants from us, sorted by CID.</summary>
    public Seq<WantlistEntry> WantlistOf(PeerId peer) => Wantlists.Find(peer).Map(w => w.ToEntries()).IfNone(Seq<WantlistEntry>.Empty);

    /// <summary>The exchange receipt of a peer (all zeros when unknown).</summary>
    public Receipt ReceiptOf(PeerId peer) => Ledgers.Find(peer).IfNone(PeerLedger.Empty).ToReceipt(peer);

    /// <summary>The usefulness score of a peer (boxo scoreledger), 0 when unknown.</summary>
    public double ScoreOf(PeerId peer) => Ledgers.Find(peer).Map(l => l.Score).IfNone(0.0);

    /// <summary>Tasks queued and not yet popped for a peer.</summary>
    public int PendingTasks(PeerId peer) => Queue.PendingCount(peer);
}

/// <summary>
/// The decision engine (boxo bitswap/server/internal/decision): answers peers' wantlists with blocks, HAVEs and DONT_HAVEs,
/// through a fair task queue and at most <see cref="Limits.TaskWorkerCount"/> envelopes loading or being built at once.
/// </summary>
public static class Engine
{
    // Upper bounds of protobuf framing around a block (prefix + data fields, tags and lengths) and a presence,
    // and of the message's own fields (pendingBytes, wantlist header). Over-estimating keeps the 4 MiB cap safe.
    private const int BlockOverheadBytes = 24;
    private const int PresenceOverheadBytes = 8;
    private const int MessageOverheadBytes = 32;

    /// <summary>The work, in bytes, of a HAVE or DONT_HAVE for a CID: an upper bound of its encoded size.</summary>
    public static int PresenceWork(Cid cid) => cid.ByteLength + PresenceOverheadBytes;

    /// <summary>An upper bound of the encoded size of a message the engine builds.</summary>
    public static long EncodedSizeBound(Message message) =>
        MessageOverheadBytes
        + message.Blocks.Values.Sum(b => (long)b.Size + b.Cid.ByteLength + BlockOverheadBytes)
        + message.Presences.Keys.Sum(c => (long)PresenceWork(c));

    /// <summary>Advances the engine by one input.</summary>
    public static Step<EngineState, IEngineEffect> Handle(EngineState state, IEngineInput input) => input switch
    {
        MessageReceived m => OnMessageReceived(state, m),
        BlocksAdded b => OnBlocksAdded(state, b),
        PeerConnected c => OnPeerConnected(state, c),
        PeerDisconnected d => OnPeerDisconnected(state, d),
        MessageSent s => OnMessageSent(state, s),
        MessageFailed f => OnMessageFailed(state, f),
        BlocksLoaded l => OnBlocksLoaded(state, l),
        TimerFired t => OnTimerFired(state, t),
        // The interface is open to the compiler; only the root inputs above implement it.
        _ => throw new UnreachableException($"engine input {input.GetType().Name}"),
    };

    private static Step<EngineState, IEngineEffect> OnPeerConnected(EngineState state, PeerConnected input)
    {
        var known = state with { Ledgers = state.Ledgers.AddOrUpdate(input.Peer, l => l, PeerLedger.Empty) };
        var (armed, effects) = ArmScoreTimer(known, input.Now);
        return new(armed, effects);
    }

    private static Step<EngineState, IEngineEffect> OnPeerDisconnected(EngineState state, PeerDisconnected input)
    {
        var wanters = state.Wanters;
        if (state.Wantlists.Find(input.Peer).Case is PeerWantlist wantlist)
            foreach (var cid in wantlist.Entries.Keys) wanters = RemoveWanter(wanters, cid, input.Peer);
        var next = state with
        {
            Ledgers = state.Ledgers.Without(input.Peer),
            Wantlists = state.Wantlists.Without(input.Peer),
            Wanters = wanters,
            Queue = PeerTaskQueue.Handle(state.Queue, new PeerTasksDropped(input.Peer)).State,
        };
        return Dispatch(next, input.Now, Seq<IEngineEffect>.Empty);
    }

    private static Step<EngineState, IEngineEffect> OnMessageReceived(EngineState state, MessageReceived input)
    {
        var message = input.Message;
        if (message.IsEmpty) return Step<EngineState, IEngineEffect>.Quiet(state);
        var limits = state.Config.Limits;
        var peer = input.Peer;
        var effects = Seq<IEngineEffect>.Empty;

        var ledger = state.Ledgers.Find(peer).IfNone(PeerLedger.Empty);
        foreach (var block in message.Blocks.Values) ledger = ledger.BlockReceived(block.Size, input.Now);
        var next = state with { Ledgers = state.Ledgers.AddOrUpdate(peer, ledger) };
        (next, var timerEffects) = ArmScoreTimer(next, input.Now);
        effects = effects + timerEffects;

        var wantlist = next.Wantlists.Find(peer).IfNone(PeerWantlist.Empty);
        var wanters = next.Wanters;
        var queue = next.Queue;
        // Pending tasks the message withdraws, taken out of the queue in one step before the new tasks are pushed.
        List<Cid>? withdrawn = null;
        if (message.Full)
        {
            // A full wantlist replaces the old one: forget every old want in both indexes, and drop the pending work for
            // wants the new list does not repeat (the peer no longer asks for them).
            foreach (var cid in wantlist.Entries.Keys)
            {
                wanters = RemoveWanter(wanters, cid, peer);
                var restated = message.Wantlist.Find(cid).Case is WantlistEntry e && !e.Cancel;
                if (!restated) (withdrawn ??= []).Add(cid);
            }
            wantlist = wantlist.Clear();
        }

        // One pass over the message's entries; the tasks it asks for are pushed together at the end. The list and its
        // index are local to this step.
        // Sized for the message's wants: growing copies the arrays at every doubling.
        var requests = new List<TaskRequest?>(message.Wantlist.Count);
        var requested = new Dictionary<Cid, int>();
        var holes = 0;
        // Into an empty wantlist with room for the whole message, every want is simply added (no eviction, no refusal,
        // and the message's CIDs are distinct), so the new wants are collected and the list built in one bulk pass.
        var fresh = wantlist.Count == 0 && message.Wantlist.Count <= limits.WantlistEntriesPerPeerMax ? new List<PeerWant>(message.Wantlist.Count) : null;
        var justThisPeer = Set<PeerId>.Empty.Add(peer);
        var freshCids = new List<Cid>();
        // Wire order, so that wants of equal priority become tasks (and are served) in the order the peer listed them.
        foreach (var entry in message.WantsInWireOrder)
        {
            var cid = entry.Cid;
            if (cid.ByteLength > limits.CidBytesMax || cid.IsIdentity)
            {
                // boxo#1117: ignored, never a reason to disconnect; an oversized cancel changes nothing.
                if (state.Config.Explain) effects = effects.Add(new Explain("cid-ignored", cid, peer, cid.IsIdentity ? "identity CID" : $"CID of {cid.ByteLength} B exceeds {limits.CidBytesMax} B"));
                continue;
            }
            if (entry.Cancel)
            {
                wantlist = wantlist.Cancel(cid);
                wanters = RemoveWanter(wanters, cid, peer);
                (withdrawn ??= []).Add(cid);
                continue;
            }
            if (state.Config.RequestFilter is { } filter && !filter(peer, cid))
            {
                if (state.Config.Explain) effects = effects.Add(new Explain("want-denied", cid, peer, "request filter denied the CID"));
                if (entry.SendDontHave && state.Config.SendDontHaves)
                    requests.Add(DontHaveRequest(entry.Cid, entry.Priority));
                continue;
            }

            var size = LocalSize(input.LocalSizes, cid, limits);
            if (fresh is not null)
            {
                var want = PeerWant.Of(entry, size);
                fresh.Add(want);
                if (!want.Held) freshCids.Add(cid);
                if (TaskFor(want, state.Config) is { } freshRequest) requests.Add(freshRequest);
                continue;
            }
            var result = wantlist.Want(entry, size, limits.WantlistEntriesPerPeerMax);
            if (result.Outcome == WantOutcome.Refused)
            {
                if (state.Config.Explain) effects = effects.Add(new Explain("want-refused", cid, peer, $"wantlist holds {limits.WantlistEntriesPerPeerMax} wants of higher priority or for held blocks"));
                continue;
            }
            if (result.Evicted.IsSome)
            {
                // IfNone reads the want unboxed (Option.Case would box it).
                var victim = result.Evicted.IfNone(default(PeerWant));
                wanters = RemoveWanter(wanters, victim.Cid, peer);
                (withdrawn ??= []).Add(victim.Cid);
                if (requested.Remove(victim.Cid, out var at))
                {
                    requests[at] = null;
                    holes++;
                }
                if (state.Config.Explain) effects = effects.Add(new Explain("want-evicted", victim.Cid, peer, "wantlist full: evicted for a new want"));
            }
            wantlist = result.Wantlist;
            if (!wantlist[cid].Held) wanters = AddWanter(wanters, cid, peer, justThisPeer);
            if (TaskFor(wantlist[cid], state.Config) is { } request)
            {
                if (requested.TryGetValue(cid, out var earlier))
                {
                    requests[earlier] = null;
                    holes++;
                }
                requested[cid] = requests.Count;
                requests.Add(request);
            }
        }

        if (fresh is not null)
        {
            wantlist = PeerWantlist.Of(fresh);
            wanters = AddWanters(wanters, freshCids, peer, justThisPeer);
        }
        if (withdrawn is not null) queue = PeerTaskQueue.Handle(queue, new TasksCancelled(peer, withdrawn)).State;
        // Without holes the requests keep a count, so the queue can size its local sets up front.
        queue = PushTasks(state.Config, queue, peer, holes == 0 ? requests.Select(r => r!) : requests.OfType<TaskRequest>(), ref effects);
        next = next with { Wantlists = next.Wantlists.AddOrUpdate(peer, wantlist), Wanters = wanters, Queue = queue };
        return Dispatch(next, input.Now, effects);
    }

    private static Step<EngineState, IEngineEffect> OnBlocksAdded(EngineState state, BlocksAdded input)
    {
        var limits = state.Config.Limits;
        var blocks = input.Blocks.Fold(Map<Cid, Block>.Empty, (map, b) => map.AddOrUpdate(b.Cid, b));
        var wantlists = state.Wantlists;
        var queue = state.Queue;
        var effects = Seq<IEngineEffect>.Empty;
        foreach (var block in blocks.Values)
        {
            if (block.Size == 0 || block.Size > Math.Min(limits.BlockBytesMax, StoredWant.MaxBlockSize)) continue;
            if (state.Wanters.Find(block.Cid).Case is not Set<PeerId> peers) continue;
            foreach (var peer in peers)
            {
                if (state.Config.RequestFilter is { } filter && !filter(peer, block.Cid)) continue;
                var wantlist = wantlists[peer].WithBlockSize(block.Cid, block.Size);
                wantlists = wantlists.AddOrUpdate(peer, wantlist);
                if (TaskFor(wantlist[block.Cid], state.Config) is not { } request) continue;
                queue = PushTasks(state.Config, queue, peer, [request], ref effects);
            }
        }
        return Dispatch(state with { Wantlists = wantlists, Queue = queue }, input.Now, effects);
    }

    private static Step<EngineState, IEngineEffect> OnBlocksLoaded(EngineState state, BlocksLoaded input)
    {
        if (state.InFlight.Find(input.Envelope.Sequence).Case is not ServerEnvelope envelope
            || envelope.Message.IsSome)
            return Step<EngineState, IEngineEffect>.Quiet(state);

        if (!state.Ledgers.ContainsKey(envelope.Peer))
        {
            // The peer left while its blocks loaded: nothing to send, the worker is free again.
            var freed = state with { InFlight = state.InFlight.Remove(envelope.Id.Sequence) };
            return Dispatch(freed, input.Now, Seq<IEngineEffect>.Empty);
        }

        var (next, message, effects) = Build(state, envelope, input.Blocks);
        return Finish(next, envelope, message, input.Now, effects);
    }

    private static Step<EngineState, IEngineEffect> OnMessageSent(EngineState state, MessageSent input)
    {
        if (state.InFlight.Find(input.Envelope.Sequence).Case is not ServerEnvelope envelope
            || envelope.Message.Case is not Message message)
            return Step<EngineState, IEngineEffect>.Quiet(state);

        var peer = envelope.Peer;
        var next = state with
        {
            InFlight = state.InFlight.Remove(envelope.Id.Sequence),
            Sending = state.Sending - 1,
            Queue = PeerTaskQueue.Handle(state.Queue, new TasksCompleted(peer, envelope.Tasks)).State,
            BlocksSent = state.BlocksSent + message.Blocks.Count,
            DataSent = state.DataSent + message.Blocks.Values.Sum(b => (long)b.Size),
        };
        if (next.Ledgers.Find(peer).Case is PeerLedger ledger)
        {
            foreach (var block in message.Blocks.Values) ledger = ledger.BlockSent(block.Size, input.Now);
            var wantlist = next.Wantlists.Find(peer).IfNone(PeerWantlist.Empty);
            var wanters = next.Wanters;
            var queue = next.Queue;
            // A sent block answers any want for it; a sent HAVE answers a want-have but never a want-block; a DONT_HAVE
            // answers nothing, so the want stays and a later BlocksAdded serves it.
            var answered = message.Blocks.Keys.ToSeq()
                + message.Presences.Filter(p => p == PresenceType.Have).Keys
                    .Filter(cid => wantlist.TryFind(cid, out var w) && w.WantType == WantType.Have).ToSeq();
            // Taken out of the wantlist and the reverse index together (a bulk rebuild when that is cheaper).
            // Sized up front: growing a set copies its arrays at every doubling.
            var done = new System.Collections.Generic.HashSet<Cid>(message.Blocks.Count + message.Presences.Count);
            foreach (var cid in answered)
            {
                if (!wantlist.Contains(cid)) continue;
                done.Add(cid);
            }
            if (done.Count > 0) queue = PeerTaskQueue.Handle(queue, new TasksCancelled(peer, done)).State;
            wantlist = wantlist.CancelAll(done);
            wanters = RemoveWanters(wanters, done, peer);
            next = next with
            {
                Ledgers = next.Ledgers.AddOrUpdate(peer, ledger),
                Wantlists = next.Wantlists.AddOrUpdate(peer, wantlist),
                Wanters = wanters,
                Queue = queue,
            };
        }
        return Dispatch(next, input.Now, Seq<IEngineEffect>.Empty);
    }

    private static Step<EngineState, IEngineEffect> OnMessageFailed(EngineState state, MessageFailed input)
    {
        if (state.InFlight.Find(input.Envelope.Sequence).Case is not ServerEnvelope envelope)
            return Step<EngineState, IEngineEffect>.Quiet(state);
        var next = state with
        {
            InFlight = state.InFlight.Remove(envelope.Id.Sequence),
            Sending = envelope.Message.IsSome ? state.Sending - 1 : state.Sending,
            Queue = PeerTaskQueue.Handle(state.Queue, new TasksCompleted(envelope.Peer, envelope.Tasks)).State,
        };
        var effects = state.Config.Explain
            ? Seq.create<IEngineEffect>(new Explain("send-failed", null, envelope.Peer, $"envelope {envelope.Id}: {input.Reason}; wants kept"))
            : Seq<IEngineEffect>.Empty;
        return Dispatch(next, input.Now, effects);
    }

    private static Step<EngineState, IEngineEffect> OnTimerFired(EngineState state, TimerFired input)
    {
        // Node routes only the score timer here; a firing after the timer was disarmed is stale.
        if (!state.ScoreTimerArmed) return Step<EngineState, IEngineEffect>.Quiet(state);
        var ticks = state.ScoreTicks + 1;
        var longStep = ticks % PeerLedger.LongTermRatio == 0;
        var ledgers = state.Ledgers.Map(l => l.ScoreTick(longStep));
        var next = state with { Ledgers = ledgers, ScoreTicks = ticks, ScoreTimerArmed = false };
        var (armed, effects) = ArmScoreTimer(next, input.Now);
        return new(armed, effects);
    }

    private static (EngineState State, Seq<IEngineEffect> Effects) ArmScoreTimer(EngineState state, long now) =>
        state.ScoreTimerArmed || state.Ledgers.IsEmpty
            ? (state, Seq<IEngineEffect>.Empty)
            : (state with { ScoreTimerArmed = true }, Seq.create<IEngineEffect>(new ArmTimer(EngineState.ScoreTimer, now + state.Config.Limits.ScorePeriodMs)));

    /// <summary>Pops work into new envelopes while fewer than TaskWorkerCount are in flight.</summary>
    private static Step<EngineState, IEngineEffect> Dispatch(EngineState state, long now, Seq<IEngineEffect> effects)
    {
        var limits = state.Config.Limits;
        while (state.InFlight.Count - state.Sending < limits.TaskWorkerCount)
        {
            var (queue, popped) = PeerTaskQueue.Handle(state.Queue, new PopRequested(limits.TargetMessageBytes, now, limits.BacklogMessageBytes));
            if (popped.IsEmpty) break;
            var work = (PoppedTasks)popped.Head;
            var id = new EnvelopeId(Side.Server, state.LastEnvelope + 1);
            var envelope = new ServerEnvelope(id, work.Peer, work.Tasks, work.PendingWork, Option<Message>.None);
            state = state with { Queue = queue, LastEnvelope = id.Sequence };
            var toLoad = work.Tasks.Filter(t => t.Data.SendBlock && t.Data.HaveBlock).Map(t => t.Cid);
            if (!toLoad.IsEmpty)
            {
                state = state with { InFlight = state.InFlight.AddOrUpdate(id.Sequence, envelope) };
                effects = effects.Add(new LoadBlocks(id, work.Peer, toLoad));
                continue;
            }
            var (built, message, buildEffects) = Build(state, envelope, Map<Cid, Block>.Empty);
            effects = effects + buildEffects;
            state = built;
            if (message.IsEmpty)
            {
                state = state with { Queue = PeerTaskQueue.Handle(state.Queue, new TasksCompleted(work.Peer, work.Tasks)).State };
                continue;
            }
            state = state with { InFlight = state.InFlight.AddOrUpdate(id.Sequence, envelope with { Message = message }), Sending = state.Sending + 1 };
            effects = effects.Add(new SendMessage(work.Peer, id, message));
        }
        return new(state, effects);
    }

    /// <summary>Sends a built message, or completes the envelope at once when there is nothing to send.</summary>
    private static Step<EngineState, IEngineEffect> Finish(EngineState state, ServerEnvelope envelope, Message message, long now, Seq<IEngineEffect> effects)
    {
        if (message.IsEmpty)
        {
            var done = state with
            {
                InFlight = state.InFlight.Remove(envelope.Id.Sequence),
                Queue = PeerTaskQueue.Handle(state.Queue, new TasksCompleted(envelope.Peer, envelope.Tasks)).State,
            };
            return Dispatch(done, now, effects);
        }
        var sending = state with { InFlight = state.InFlight.AddOrUpdate(envelope.Id.Sequence, envelope with { Message = message }), Sending = state.Sending + 1 };
        return Dispatch(sending, now, effects.Add(new SendMessage(envelope.Peer, envelope.Id, message)));
    }

    /// <summary>
    /// Builds the message for popped tasks from the loaded blocks. A block that vanished becomes a DONT_HAVE if the peer
    /// asked for them, and the peer's want remembers we no longer hold it. The message never exceeds MessageBytesMax:
    /// work that does not fit is re-queued for a later envelope.
    /// </summary>
    private static (EngineState State, Message Message, Seq<IEngineEffect> Effects) Build(EngineState state, ServerEnvelope envelope, Map<Cid, Block> loaded)
    {
        var limits = state.Config.Limits;
        var explain = state.Config.Explain;
        var peer = envelope.Peer;
        // Collected locally and turned into one message at the end (one bulk build instead of a message per block).
        var blocks = new List<Block>();
        var presences = new List<(Cid, PresenceType)>();
        var withBlock = new System.Collections.Generic.HashSet<Cid>(envelope.Tasks.Count);
        var effects = Seq<IEngineEffect>.Empty;
        var wantlists = state.Wantlists;
        var wanters = state.Wanters;
        var deferred = Seq<PeerTask>.Empty;
        long size = MessageOverheadBytes;
        foreach (var task in envelope.Tasks)
        {
            var data = task.Data;
            if (data.SendBlock && data.HaveBlock)
            {
                if (loaded.Find(task.Cid).Case is Block block && block.Size > 0 && block.Size <= limits.BlockBytesMax)
                {
                    var blockBytes = (long)block.Size + block.Cid.ByteLength + BlockOverheadBytes;
                    if (size + blockBytes > limits.MessageBytesMax)
                    {
                        // Sizes can differ from what the shell reported when the want arrived. A block that fits an
                        // empty message waits for the next envelope; one that never fits is skipped, keeping the want.
                        if (blocks.Count == 0 && presences.Count == 0)
                        {
                            if (explain) effects = effects.Add(new Explain("block-too-large", task.Cid, peer, "block does not fit in MessageBytesMax; want kept"));
                            continue;
                        }
                        deferred = deferred.Add(task);
                        if (explain) effects = effects.Add(new Explain("block-deferred", task.Cid, peer, "message full; re-queued for the next envelope"));
                        continue;
                    }
                    blocks.Add(block);
                    withBlock.Add(block.Cid);
                    size += blockBytes;
                    continue;
                }
                if (explain) effects = effects.Add(new Explain("block-vanished", task.Cid, peer, "block no longer in the blockstore"));
                if (wantlists.Find(peer).Case is PeerWantlist wl && wl.Contains(task.Cid))
                {
                    wantlists = wantlists.AddOrUpdate(peer, wl.WithBlockSize(task.Cid, 0));
                    // No longer held: a later BlocksAdded must find this want.
                    wanters = AddWanter(wanters, task.Cid, peer, Set<PeerId>.Empty.Add(peer));
                }
                if (!(data.SendDontHave && state.Config.SendDontHaves)) continue;
                data = data with { HaveBlock = false };
            }
            if (withBlock.Contains(task.Cid)) continue;
            if (size + PresenceWork(task.Cid) > limits.MessageBytesMax)
            {
                deferred = deferred.Add(task);
                continue;
            }
            presences.Add((task.Cid, data.HaveBlock ? PresenceType.Have : PresenceType.DontHave));
            size += PresenceWork(task.Cid);
        }
        var message = blocks.Count == 0 && presences.Count == 0
            ? Message.Empty
            : Message.Of(blocks, presences, (int)Math.Min(envelope.PendingWork, int.MaxValue));
        var queue = state.Queue;
        if (!deferred.IsEmpty)
        {
            // The deferred tasks leave this envelope and go back to the queue as new pending work, unless the peer
            // cancelled the want meanwhile (a cancel only lets already-active work complete).
            var stillWanted = wantlists.Find(peer).IfNone(PeerWantlist.Empty);
            queue = PeerTaskQueue.Handle(queue, new TasksCompleted(peer, deferred)).State;
            queue = PeerTaskQueue.Handle(queue, new TasksPushed(peer, deferred.Filter(t => stillWanted.Contains(t.Cid)).Map(t => new TaskRequest(t.Cid, t.Priority, t.Work, t.Data)))).State;
        }
        return (state with { Wantlists = wantlists, Wanters = wanters, Queue = queue }, message, effects);
    }

    /// <summary>The task that answers a want, or null when there is nothing to say (absent block, no DONT_HAVE asked).</summary>
    private static TaskRequest? TaskFor(PeerWant want, EngineConfig config)
    {
        if (want.Held)
        {
            var sendBlock = want.WantType == WantType.Block || want.BlockSize <= config.Limits.WantHaveReplaceBytes;
            var work = sendBlock ? want.BlockSize : PresenceWork(want.Cid);
            return new TaskRequest(want.Cid, want.Priority, work, new TaskData(sendBlock, want.SendDontHave, want.BlockSize, true));
        }
        return want.SendDontHave && config.SendDontHaves ? DontHaveRequest(want.Cid, want.Priority) : null;
    }

    private static TaskRequest DontHaveRequest(Cid cid, int priority) =>
        new(cid, priority, PresenceWork(cid), new TaskData(false, true, 0, false));

    /// <summary>Our block size from the shell's lookup; 0 (absent) for a missing, empty or over-large block.</summary>
    /// <remarks>Over-large is over BlockBytesMax, or over what a stored want records (1 GiB; no message carries that).</remarks>
    private static int LocalSize(Map<Cid, int> sizes, Cid cid, Limits limits) =>
        sizes.Find(cid).IfNone(0) is var size && size > 0 && size <= Math.Min(limits.BlockBytesMax, StoredWant.MaxBlockSize) ? size : 0;

    /// <summary>Pushes tasks for a peer; only when explaining are the outcomes collected, to explain the dropped ones.</summary>
    private static PeerTaskQueue PushTasks(EngineConfig config, PeerTaskQueue queue, PeerId peer, IEnumerable<TaskRequest> requests, ref Seq<IEngineEffect> effects)
    {
        var step = PeerTaskQueue.Handle(queue, new TasksPushed(peer, requests, ReportOutcomes: config.Explain));
        foreach (var result in step.Effects)
            if (result is PushResult { Outcome: PushOutcome.Dropped } dropped)
                effects = effects.Add(new Explain("task-dropped", dropped.Request.Cid, peer, "pending tasks at PendingTasksPerPeerMax"));
        return step.State;
    }

    /// <summary>Records that <paramref name="peer"/> wants <paramref name="cid"/>; a CID only it wants shares <paramref name="justThisPeer"/>.</summary>
    private static Map<Cid, Set<PeerId>> AddWanter(Map<Cid, Set<PeerId>> wanters, Cid cid, PeerId peer, Set<PeerId> justThisPeer) =>
        wanters.AddOrUpdate(cid, peers => peers.AddOrUpdate(peer), justThisPeer);

    /// <summary>Records that <paramref name="peer"/> wants each of <paramref name="cids"/> (distinct), in one update of the index.</summary>
    private static Map<Cid, Set<PeerId>> AddWanters(Map<Cid, Set<PeerId>> wanters, List<Cid> cids, PeerId peer, Set<PeerId> justThisPeer)
    {
        if (cids.Count == 0) return wanters;
        var changes = new Dictionary<Cid, Set<PeerId>>(cids.Count);
        foreach (var cid in cids)
        {
            if (wanters.Find(cid).Case is not Set<PeerId> peers) changes[cid] = justThisPeer;
            else if (!peers.Contains(peer)) changes[cid] = peers.Add(peer);
        }
        return wanters.WithItems(changes);
    }

    /// <summary>Forgets that <paramref name="peer"/> wants each of <paramref name="cids"/>, in one update of the index.</summary>
    private static Map<Cid, Set<PeerId>> RemoveWanters(Map<Cid, Set<PeerId>> wanters, System.Collections.Generic.HashSet<Cid> cids, PeerId peer)
    {
        if (cids.Count == 0) return wanters;
        var emptied = new System.Collections.Generic.HashSet<Cid>();
        var changes = new Dictionary<Cid, Set<PeerId>>();
        foreach (var cid in cids)
        {
            if (wanters.Find(cid).Case is not Set<PeerId> peers || !peers.Contains(peer)) continue;
            var rest = peers.Remove(peer);
            if (rest.IsEmpty) emptied.Add(cid);
            else changes[cid] = rest;
        }
        return wanters.WithoutAll(emptied, emptied.Contains).WithItems(changes);
    }

    private static Map<Cid, Set<PeerId>> RemoveWanter(Map<Cid, Set<PeerId>> wanters, Cid cid, PeerId peer)
    {
        if (wanters.Find(cid).Case is not Set<PeerId> peers) return wanters;
        var rest = peers.Remove(peer);
        return rest.IsEmpty ? wanters.Remove(cid) : wanters.AddOrUpdate(cid, rest);
    }
}
