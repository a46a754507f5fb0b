using System.Diagnostics;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>How the client behaves.</summary>
/// <param name="Limits">Every bound and delay.</param>
/// <param name="Seed">Seeds the sessions' tie-breaking, so runs replay identically.</param>
/// <param name="SimulateDontHaves">Treat a want-block unanswered past the DONT_HAVE timeout as a DONT_HAVE (boxo default: on).</param>
/// <param name="Explain">Emit <see cref="Domain.Explain"/> effects; off, no reason is formatted.</param>
public sealed record ClientConfig(Limits Limits, ulong Seed, bool SimulateDontHaves = true, bool Explain = false)
{
    /// <summary>Which peers get want-have broadcasts (boxo BroadcastControl); off unless the node config turns it on.</summary>
    public BroadcastControl BroadcastControl { get; init; } = BroadcastControl.Disabled;
}

/// <summary>
/// The client's whole state (boxo bitswap/client): sessions by id, which sessions want which CID, one want queue per
/// connected peer, the broadcast wants, what peers said about blocks, and receive counters. Immutable; <see cref="Client.Handle"/> steps it.
/// </summary>
public sealed record ClientState
{
    /// <summary>Our own peer id.</summary>
    public required PeerId Self { get; init; }

    /// <summary>Configuration.</summary>
    public required ClientConfig Config { get; init; }

    /// <summary>Want queues of connected peers.</summary>
    public Map<PeerId, PeerWants> Peers { get; init; } = Map<PeerId, PeerWants>.Empty;

    /// <summary>Open sessions.</summary>
    public Map<long, Session> Sessions { get; init; } = Map<long, Session>.Empty;

    /// <summary>For every wanted CID, the sessions wanting it (a <see cref="SortedMap{TKey, TValue}"/>: delivered blocks leave it in one batch).</summary>
    public SortedMap<Cid, Set<long>> Interest { get; init; } = SortedMap<Cid, Set<long>>.Empty;

    /// <summary>
    /// For each peer, the sessions that heard from it (blocks, presences, a provider record) or count it as asked (boxo
    /// peerManager.peerSessions): a disconnect visits only these sessions, not every open one.
    /// </summary>
    public SortedMap<PeerId, Set<long>> PeerSessions { get; init; } = SortedMap<PeerId, Set<long>>.Empty;

    /// <summary>The same pairs by session, so a closed session leaves every peer's set without a walk of all peers.</summary>
    public Map<long, Set<PeerId>> SessionPeers { get; init; } = Map<long, Set<PeerId>>.Empty;

    /// <summary>CIDs broadcast as want-have to every peer (a newly connected peer gets them all).</summary>
    public Set<Cid> Broadcasts { get; init; } = Set<Cid>.Empty;

    /// <summary>What peers said about wanted CIDs (boxo BlockPresenceManager).</summary>
    public BlockPresences Presences { get; init; } = BlockPresences.Empty;

    /// <summary>Sequence number of the next client envelope.</summary>
    public long NextEnvelope { get; init; } = 1;

    /// <summary>When the armed rebroadcast check fires, if armed.</summary>
    public long? RebroadcastDeadline { get; init; }

    /// <summary>Wants over all sessions (bounded by <see cref="Limits.ClientWantsMax"/>).</summary>
    public long TotalWants { get; init; }

    /// <summary>
    /// Recently received or delivered blocks, with the sessions each was delivered to: a later copy counts as a duplicate,
    /// for the client and for each of those sessions. Bounded by <see cref="Limits.ClientRecentBlocksMax"/>.
    /// </summary>
    public required RecentSet<Cid, Set<long>> Recent { get; init; }

    /// <summary>Blocks received, wanted or not.</summary>
    public long BlocksReceived { get; init; }

    /// <summary>Bytes of blocks received.</summary>
    public long DataReceived { get; init; }

    /// <summary>Blocks received that we already held or had just received.</summary>
    public long DupBlocksReceived { get; init; }

    /// <summary>Bytes of those duplicates.</summary>
    public long DupDataReceived { get; init; }

    /// <summary>Messages received.</summary>
    public long MessagesReceived { get; init; }

    /// <summary>Broadcasts that queued new want-haves for a peer, counted once per peer and broadcast.</summary>
    public long BroadcastsSent { get; init; }

    /// <summary>Peers left out of a broadcast by broadcast control, once per peer and broadcast (boxo <c>bcast_skips_total</c>).</summary>
    public long BroadcastSkips { get; init; }

    /// <summary>SplitMix64 state drawing the random peers of broadcast control (boxo MaxRandomPeers).</summary>
    public ulong BroadcastRandom { get; init; }

    /// <summary>A client with no sessions and no peers.</summary>
    public static ClientState Create(PeerId self, ClientConfig config) =>
        new()
        {
            Self = self, Config = config, Recent = RecentSet<Cid, Set<long>>.Create(config.Limits.ClientRecentBlocksMax),
            BroadcastRandom = SplitMix64.Derive(config.Seed, 3),
        };

    /// <summary>Every CID some session wants, sorted.</summary>
    public Seq<Cid> Wantlist => Interest.Keys.OrderBy(c => c).ToSeq();

    /// <summary>The CIDs a session wants, sorted; empty for an unknown session.</summary>
    public Seq<Cid> WantsOf(long session) => Sessions.Find(session).Match(s => s.Wants.Keys.OrderBy(c => c).ToSeq(), () => Seq<Cid>.Empty);

    /// <summary>The sessions wanting a CID, sorted.</summary>
    public Seq<long> SessionsWanting(Cid cid) => Interest.Find(cid).Match(s => s.ToSeq(), () => Seq<long>.Empty);

    /// <summary>Connected peers, sorted.</summary>
    public Seq<PeerId> ConnectedPeers => Peers.Keys.ToSeq();

    /// <summary>What a peer was told we want (sent and not cancelled), sorted by CID; empty for an unknown peer.</summary>
    public Seq<WantlistEntry> SentTo(PeerId peer) => Peers.Find(peer).Match(p => p.SentEntries, () => Seq<WantlistEntry>.Empty);

    /// <summary>Blocks a session received for CIDs it already got; 0 for an unknown session.</summary>
    public long DuplicateBlocks(long session) => Sessions.Find(session).Match(s => s.DuplicateBlocks, () => 0L);

    /// <summary>The send debounce: 125 µs per connected peer, clamped to [20 ms, 2 s] (boxo messagequeue).</summary>
    public long DebounceMs => Math.Clamp(Peers.Count * Config.Limits.SendDelayPerPeerMicros / 1000, Config.Limits.SendDelayMinMs, Config.Limits.SendDelayMaxMs);
}

/// <summary>
/// The client reducer: turns API commands, network facts and timers into want messages, block deliveries and timers.
/// Its children (each session, each peer's want queue) are stepped through their own Handle, and their effects lifted here.
/// </summary>
public static class Client
{
    /// <summary>The rebroadcast check timer (one per node).</summary>
    public static readonly TimerId RebroadcastTimer = new(TimerKind.Rebroadcast);

    /// <summary>Steps the client by one input.</summary>
    public static Step<ClientState, IClientEffect> Handle(ClientState state, IClientInput input)
    {
        var (next, effects) = Run(state, input);
        return new Step<ClientState, IClientEffect>(next, Persistent.SeqOf(effects));
    }

    /// <summary>
    /// <see cref="Handle"/> with the effects as the list they were collected in (null for none): <see cref="Node"/> lifts
    /// them into root effects from the list, with the one copy a sequence of the client's type would have cost.
    /// </summary>
    internal static (ClientState State, List<IClientEffect>? Effects) Run(ClientState state, IClientInput input)
    {
        var turn = new Turn(state);
        switch (input)
        {
            case WantBlocks want: OnWant(turn, want); break;
            case CancelWants cancel: OnCancel(turn, cancel.Session, cancel.Cids, WantEndReason.Cancelled); break;
            case CloseSession close: OnClose(turn, close); break;
            case PeerConnected connected: OnConnected(turn, connected); break;
            case PeerDisconnected disconnected: OnDisconnected(turn, disconnected); break;
            case MessageReceived received: OnReceived(turn, received); break;
            case MessageSent sent: OnSent(turn, sent); break;
            case MessageFailed failed: OnFailed(turn, failed); break;
            case BlocksAdded added: OnAdded(turn, added); break;
            case TimerFired fired: OnTimer(turn, fired); break;
            case ProvidersFound found: OnProviders(turn, found); break;
            // The interface is open to the compiler; only the root inputs above implement it.
            default: throw new UnreachableException($"client input {input.GetType().Name}");
        }
        ScheduleTouched(turn, input.Now);
        return (turn.State, turn.Effects);
    }

    /// <summary>The state and effects of one step, built up by the handlers below; local to one call of <see cref="Run"/>.</summary>
    private sealed class Turn(ClientState state)
    {
        public ClientState State = state;
        /// <summary>The step's effects in order; a list (made at the first), since each Seq.Add allocates a sequence object.</summary>
        public List<IClientEffect>? Effects;

        /// <summary>Peers whose queue changed this step, in order; only these can need a send or a debounce.</summary>
        public readonly SortedSet<PeerId> Touched = [];

        public Limits Limits => State.Config.Limits;
        public bool Explains => State.Config.Explain;
        public void Emit(IClientEffect effect) => (Effects ??= []).Add(effect);

        /// <summary>Lifts a queue's effects into the client's; for steps that cannot report <see cref="DontHavesSimulated"/>.</summary>
        public void EmitAll(Seq<IPeerWantsEffect> effects)
        {
            if (effects.IsEmpty) return;
            var list = Effects ??= [];
            foreach (var effect in effects) list.Add((IClientEffect)effect);
        }

        /// <summary>Replaces a peer's queue and marks it for scheduling at the end of the step.</summary>
        public void SetPeer(PeerId peer, PeerWants queue)
        {
            State = State with { Peers = State.Peers.AddOrUpdate(peer, queue) };
            Touched.Add(peer);
        }
    }

    private static void OnWant(Turn turn, WantBlocks want)
    {
        var limits = turn.Limits;
        var session = turn.State.Sessions.Find(want.Session).Case as Session;
        if (session is null)
        {
            if (turn.State.Sessions.Count >= limits.ClientSessionsMax)
            {
                turn.Emit(new RejectWants(want.Session, want.Cids, $"too many sessions ({limits.ClientSessionsMax})"));
                return;
            }
            session = Session.Create(want.Session, turn.State.Config.Seed, turn.Explains);
        }
        // One pass: new CIDs up to the room left, the rest refused.
        var room = Math.Max(0, limits.ClientWantsMax - turn.State.TotalWants);
        // Sized up front: growing copies the arrays at every doubling.
        var seen = new System.Collections.Generic.HashSet<Cid>(want.Cids.Count);
        var acceptedList = new List<Cid>(want.Cids.Count);
        var refused = Seq<Cid>.Empty;
        // A builder over the interest map, local to this step: each node copied once, then changed in place.
        var interest = turn.State.Interest.ToBuilder();
        // Immutable, so every CID only this session wants shares one set.
        var justThis = Set<long>.Empty.Add(want.Session);
        foreach (var cid in want.Cids)
        {
            if (!seen.Add(cid) || session.Wants.ContainsKey(cid)) continue;
            if (acceptedList.Count >= room)
            {
                refused = refused.Add(cid);
                continue;
            }
            acceptedList.Add(cid);
            interest[cid] = interest.TryGetValue(cid, out var others) ? others.AddOrUpdate(want.Session) : justThis;
        }
        var accepted = Persistent.SeqOf(acceptedList);
        if (!refused.IsEmpty)
            turn.Emit(new RejectWants(want.Session, refused, $"the client already holds {limits.ClientWantsMax} wants"));
        turn.State = turn.State with
        {
            Interest = accepted.IsEmpty ? turn.State.Interest : SortedMap<Cid, Set<long>>.From(interest),
            TotalWants = turn.State.TotalWants + accepted.Count,
        };
        var step = Session.Handle(session, new SessionWantsAdded(accepted, want.Now, limits));
        turn.State = turn.State with { Sessions = turn.State.Sessions.AddOrUpdate(want.Session, step.State) };
        ApplyOrders(turn, step.Effects);
    }

    private static void OnCancel(Turn turn, long sessionId, Seq<Cid> cids, WantEndReason reason)
    {
        if (turn.State.Sessions.Find(sessionId).Case is not Session session) return;
        var step = Session.Handle(session, new SessionWantsRemoved(cids.Distinct().ToSeq()));
        var removed = step.Effects.IsEmpty ? Seq<Cid>.Empty : ((WantsRemovedOrder)step.Effects.Head).Cids;
        turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(sessionId, step.State) };
        if (!removed.IsEmpty) turn.Emit(new WantsEnded(sessionId, removed, reason));
        ReleaseInterest(turn, sessionId, removed, reason);
    }

    private static void OnClose(Turn turn, CloseSession close)
    {
        if (turn.State.Sessions.Find(close.Session).Case is not Session session) return;
        OnCancel(turn, close.Session, session.WantsInOrder, WantEndReason.SessionClosed);
        // The closed session leaves the sets of the peers it knew.
        var peerSessions = turn.State.PeerSessions;
        if (turn.State.SessionPeers.Find(close.Session).Case is Set<PeerId> known)
        {
            var draft = peerSessions.ToBuilder();
            foreach (var peer in known)
            {
                if (!draft.TryGetValue(peer, out var sessions)) continue;
                var rest = sessions.Without(close.Session);
                if (rest.IsEmpty) draft.Remove(peer);
                else draft[peer] = rest;
            }
            peerSessions = SortedMap<PeerId, Set<long>>.From(draft);
        }
        turn.State = turn.State with
        {
            Sessions = turn.State.Sessions.Without(close.Session),
            PeerSessions = peerSessions,
            SessionPeers = turn.State.SessionPeers.Without(close.Session),
        };
    }

    /// <summary>
    /// A session dropped these wants: CIDs no session wants any more are cancelled at peers. Sessions that still want one
    /// of the others inherit the peers the dropping session asked, which may hold it.
    /// </summary>
    private static void ReleaseInterest(Turn turn, long sessionId, Seq<Cid> removed, WantEndReason reason)
    {
        var interest = turn.State.Interest;
        var orphans = Seq<Cid>.Empty;
        SortedSet<long>? heirs = null;
        foreach (var cid in removed)
        {
            var rest = interest.Find(cid).IfNone(Set<long>.Empty).Without(sessionId);
            interest = rest.IsEmpty ? interest.Without(cid) : interest.SetItem(cid, rest);
            if (rest.IsEmpty) orphans = orphans.Add(cid);
            else AddSessions(heirs ??= [], rest);
            if (turn.Explains)
                turn.Emit(new Explain("want-dropped", cid, null, $"session {sessionId}: {(reason == WantEndReason.Cancelled ? "cancelled by the session" : "session closed")}"));
        }
        turn.State = turn.State with { Interest = interest, TotalWants = turn.State.TotalWants - removed.Count };
        if (heirs is not null && turn.State.Sessions.Find(sessionId).Case is Session { Asked.IsEmpty: false } giver)
        {
            var inherited = new SessionAskedPeersInherited(giver.Asked);
            foreach (var heir in heirs)
            {
                if (turn.State.Sessions.Find(heir).Case is not Session session) continue;
                turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(heir, Session.Handle(session, inherited).State) };
                foreach (var peer in giver.Asked) NoteSessionPeer(turn, heir, peer);
            }
        }
        CancelAtPeers(turn, orphans, null, [sessionId]);
    }

    /// <summary>
    /// Nobody wants these CIDs: forget them and cancel at every peer sent them, except <paramref name="answered"/>, whose
    /// block already settled it. A broadcast CID went to every peer, so every queue is checked (and each gets its cancel);
    /// otherwise only the peers <paramref name="sessions"/> (the sessions that wanted them) asked can hold them, so only
    /// those are, in the same peer order.
    /// </summary>
    private static void CancelAtPeers(Turn turn, Seq<Cid> cids, PeerId? answered, SortedSet<long> sessions)
    {
        if (cids.IsEmpty) return;
        var s = turn.State;
        var broadcasts = s.Broadcasts;
        var presences = s.Presences;
        var interest = s.Interest;
        var broadcast = false;
        foreach (var cid in cids)
        {
            if (!broadcasts.IsEmpty && broadcasts.Contains(cid))
            {
                broadcast = true;
                broadcasts = broadcasts.Remove(cid);
            }
            presences = presences.RemoveCid(cid);
        }
        interest = interest.RemoveRange(cids);
        turn.State = s with { Broadcasts = broadcasts, Presences = presences, Interest = interest };
        // Inputs are data, so one record serves every peer's step: no allocation per peer.
        var cancel = new QueueCancels(cids);
        void CancelAt(PeerId peer, PeerWants queue)
        {
            if (peer == answered)
            {
                turn.SetPeer(peer, PeerWants.Handle(queue, new ForgetWants(cids)).State);
                return;
            }
            var (cancelled, explains) = PeerWants.Handle(queue, cancel);
            if (ReferenceEquals(cancelled, queue)) return;
            turn.SetPeer(peer, cancelled);
            turn.EmitAll(explains);
        }
        if (broadcast)
        {
            foreach (var (peer, queue) in s.Peers) CancelAt(peer, queue);
            return;
        }
        // Usually one session asked, and the answering peer is among its peers: its set is walked as it is (a LanguageExt
        // set is in the same peer order as the queue map). Otherwise the sets are merged in order first.
        Session? only = null;
        SortedSet<PeerId>? merged = null;
        if (sessions.Count == 1)
        {
            // One session (the usual case): read without walking the set, whose enumerator allocates.
            only = s.Sessions.Find(sessions.Min).Case as Session;
        }
        else
        {
            foreach (var id in sessions)
            {
                if (s.Sessions.Find(id).Case is not Session session) continue;
                if (only is null && merged is null)
                {
                    only = session;
                    continue;
                }
                merged ??= [.. only!.Asked];
                merged.UnionWith(session.Asked);
            }
        }
        if (merged is null && (answered is null || only?.Asked.Contains(answered) == true))
        {
            if (only is null) return;
            if (only.Asked.Count == 1)
            {
                var peer = only.Asked.Min.IfNone(() => throw new UnreachableException("one asked peer"));
                if (s.Peers.Find(peer).Case is PeerWants queue) CancelAt(peer, queue);
                return;
            }
            foreach (var peer in only.Asked)
                if (s.Peers.Find(peer).Case is PeerWants queue) CancelAt(peer, queue);
            return;
        }
        merged ??= only is null ? [] : [.. only.Asked];
        if (answered is not null) merged.Add(answered);
        foreach (var peer in merged)
            if (s.Peers.Find(peer).Case is PeerWants queue) CancelAt(peer, queue);
    }

    private static void OnConnected(Turn turn, PeerConnected connected)
    {
        var s = turn.State;
        var queue = s.Peers.Find(connected.Peer).Match(
            q => PeerWants.Handle(q, new PeerReconnected(connected.Version, connected.Traits)).State,
            () => PeerWants.Create(connected.Peer, connected.Version, turn.Explains) with { Traits = connected.Traits });
        // boxo peerWantManager.addPeer: a newly connected peer immediately gets every current broadcast want, broadcast
        // control or not (only later broadcasts are reduced).
        var (withBroadcasts, explains) = PeerWants.Handle(queue, new QueueWants(Seq<Cid>.Empty, s.Broadcasts.ToSeq(), Broadcast: true));
        turn.SetPeer(connected.Peer, withBroadcasts);
        turn.EmitAll(explains);
        if (!ReferenceEquals(withBroadcasts, queue)) turn.State = turn.State with { BroadcastsSent = turn.State.BroadcastsSent + 1 };
        if (turn.State.RebroadcastDeadline is null)
        {
            var deadline = connected.Now + turn.Limits.RebroadcastCheckMs;
            turn.State = turn.State with { RebroadcastDeadline = deadline };
            turn.Emit(new ArmTimer(RebroadcastTimer, deadline));
        }
    }

    private static void OnDisconnected(Turn turn, PeerDisconnected disconnected)
    {
        var s = turn.State;
        if (!s.Peers.ContainsKey(disconnected.Peer)) return;
        turn.State = s with { Peers = s.Peers.Without(disconnected.Peer), Presences = s.Presences.RemovePeer(disconnected.Peer) };
        var left = new SessionPeerLeft(disconnected.Peer, disconnected.Now);
        // Only the sessions that know the peer can change (the others would forget nothing), in session order as before.
        if (s.PeerSessions.Find(disconnected.Peer).Case is not Set<long> knowing) return;
        var sessionPeers = turn.State.SessionPeers;
        foreach (var id in knowing)
        {
            if (sessionPeers.Find(id).Case is Set<PeerId> peers)
            {
                var rest = peers.Without(disconnected.Peer);
                sessionPeers = rest.IsEmpty ? sessionPeers.Remove(id) : sessionPeers.SetItem(id, rest);
            }
            if (turn.State.Sessions.Find(id).Case is not Session session) continue;
            var step = Session.Handle(session, left);
            turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(id, step.State) };
            ApplyOrders(turn, step.Effects);
        }
        turn.State = turn.State with { PeerSessions = turn.State.PeerSessions.Remove(disconnected.Peer), SessionPeers = sessionPeers };
    }

    /// <summary>Records that a session knows a peer (it heard from it or counts it as asked), for <see cref="ClientState.PeerSessions"/>.</summary>
    private static void NoteSessionPeer(Turn turn, long session, PeerId peer)
    {
        var s = turn.State;
        var sessions = s.PeerSessions.Find(peer).IfNone(Set<long>.Empty);
        if (sessions.Contains(session)) return;
        turn.State = s with
        {
            PeerSessions = s.PeerSessions.SetItem(peer, sessions.Add(session)),
            SessionPeers = s.SessionPeers.AddOrUpdate(session, peers => peers.AddOrUpdate(peer), Set<PeerId>.Empty.Add(peer)),
        };
    }

    private static void OnReceived(Turn turn, MessageReceived received)
    {
        var message = received.Message;
        var peer = received.Peer;
        // A delivery per block is the bulk of this step's effects: the list is sized for them.
        if (!message.Blocks.IsEmpty) turn.Effects ??= new List<IClientEffect>(message.Blocks.Count + 4);
        CountReceived(turn, received);
        var s = turn.State;
        if ((!message.Blocks.IsEmpty || !message.Presences.IsEmpty) && s.Peers.Find(peer).Case is PeerWants queue)
        {
            // Wanted blocks are forgotten at this peer after routing (CancelAtPeers); the queue is told which those are.
            var responded = PeerWants.Handle(queue, new PeerAnswered(message.Blocks, message.Presences, s.Interest, received.Now, turn.Limits)).State;
            turn.State = s with { Peers = s.Peers.SetItem(peer, responded) };
        }

        if (message.Blocks.IsEmpty && message.Presences.IsEmpty) return;
        var haves = Seq<Cid>.Empty;
        var dontHaves = Seq<Cid>.Empty;
        foreach (var (cid, type) in message.Presences)
        {
            if (type == PresenceType.Have) haves = haves.Add(cid);
            else dontHaves = dontHaves.Add(cid);
        }
        var (delivered, sessions) = RouteToSessions(turn, peer, message.Blocks, haves, dontHaves, received.Now);
        CancelAtPeers(turn, delivered, peer, sessions);
    }

    /// <summary>
    /// Records presences for wanted CIDs, then hands each interested session its wanted blocks, HAVEs and DONT_HAVEs from
    /// <paramref name="peer"/>; returns the CIDs delivered (nobody wants them any more) and the sessions that wanted any.
    /// </summary>
    private static (Seq<Cid> Delivered, SortedSet<long> Sessions) RouteToSessions(Turn turn, PeerId peer, Map<Cid, Block> blocks, Seq<Cid> haves, Seq<Cid> dontHaves, long now)
    {
        var s = turn.State;
        var interest = s.Interest;
        var wanted = new List<Cid>(blocks.Count);
        var wantedHaves = Seq<Cid>.Empty;
        var wantedDontHaves = Seq<Cid>.Empty;
        var presences = s.Presences;
        var sessionIds = new SortedSet<long>();
        foreach (var cid in blocks.Keys)
        {
            if (!interest.TryGetValue(cid, out var wanting)) continue;
            wanted.Add(cid);
            AddSessions(sessionIds, wanting);
        }
        foreach (var cid in haves)
        {
            if (!interest.TryGetValue(cid, out var wanting)) continue;
            wantedHaves = wantedHaves.Add(cid);
            presences = presences.Record(peer, cid, PresenceType.Have);
            AddSessions(sessionIds, wanting);
        }
        foreach (var cid in dontHaves)
        {
            if (!interest.TryGetValue(cid, out var wanting)) continue;
            wantedDontHaves = wantedDontHaves.Add(cid);
            presences = presences.Record(peer, cid, PresenceType.DontHave);
            AddSessions(sessionIds, wanting);
        }
        turn.State = s with { Presences = presences };
        var wantedBlocks = Persistent.SeqOf(wanted);

        foreach (var id in sessionIds)
        {
            if (turn.State.Sessions.Find(id).Case is not Session session) continue;
            NoteSessionPeer(turn, id, peer);
            var mine = session.Wanted(wantedBlocks);
            var step = Session.Handle(session, new SessionResponse(peer, mine, wantedHaves, wantedDontHaves, turn.State.Peers.ContainsKey(peer), now, turn.Limits));
            turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(id, step.State) };
            foreach (var cid in mine) turn.Emit(new DeliverBlock(id, blocks[cid], peer));
            ApplyOrders(turn, step.Effects);
        }
        var totalWants = turn.State.TotalWants;
        foreach (var cid in wantedBlocks) totalWants -= turn.State.Interest.Find(cid).Map(x => x.Count).IfNone(0);
        turn.State = turn.State with { TotalWants = totalWants };
        return (wantedBlocks, sessionIds);
    }

    /// <summary>
    /// Adds the sessions wanting a CID to <paramref name="ids"/>. Usually one session wants it: taken as the set's minimum,
    /// since walking the set (or UnionWith) boxes the set and its enumerator for every block routed.
    /// </summary>
    private static void AddSessions(SortedSet<long> ids, Set<long> wanting)
    {
        if (wanting.Count == 1)
        {
            ids.Add(wanting.Min.IfNone(0));
            return;
        }
        foreach (var id in wanting) ids.Add(id);
    }

    /// <summary>
    /// Counts the message and its blocks. A block is a duplicate when we held it at receipt (boxo: blockstore.Has) or got
    /// it recently; then each session it was delivered to counts a duplicate too.
    /// </summary>
    private static void CountReceived(Turn turn, MessageReceived received)
    {
        var s = turn.State;
        var blocks = s.BlocksReceived;
        var data = s.DataReceived;
        var dupBlocks = s.DupBlocksReceived;
        var dupData = s.DupDataReceived;
        var recent = s.Recent;
        var sessions = s.Sessions;
        // The message's new blocks are remembered together, in one update of the set.
        Cid[]? remembered = null;
        var added = 0;
        // Lookups see the set as adding each new block at once would have left it (full, a new block forgets the oldest).
        var lookup = new RecentSet<Cid, Set<long>>.BatchLookup(recent);
        foreach (var block in received.Message.Blocks.Values)
        {
            blocks++;
            data += block.Size;
            var seen = lookup.Find(block.Cid);
            if (received.LocalSizes.Find(block.Cid).Exists(size => size > 0) || seen.IsSome)
            {
                dupBlocks++;
                dupData += block.Size;
            }
            if (seen.Case is Set<long> deliveredTo)
            {
                foreach (var id in deliveredTo)
                    if (sessions.Find(id).Case is Session session) sessions = sessions.SetItem(id, Session.Handle(session, SessionDuplicateBlock.Instance).State);
                continue;
            }
            // Remembered with the sessions that want it now: routing delivers it to exactly those.
            (remembered ??= new Cid[received.Message.Blocks.Count])[added++] = block.Cid;
            lookup.Added();
        }
        if (remembered is not null)
        {
            if (added < remembered.Length) Array.Resize(ref remembered, added);
            var interest = s.Interest;
            recent = recent.AddNew(remembered, cid => interest.Find(cid).IfNone(Set<long>.Empty));
        }
        turn.State = s with
        {
            BlocksReceived = blocks, DataReceived = data, DupBlocksReceived = dupBlocks, DupDataReceived = dupData,
            Recent = recent, Sessions = sessions, MessagesReceived = s.MessagesReceived + 1,
        };
    }

    private static void OnSent(Turn turn, MessageSent sent)
    {
        if (turn.State.Peers.Find(sent.Peer).Case is not PeerWants queue) return;
        var (armed, timers) = PeerWants.Handle(queue, new EnvelopeConfirmed(sent.Envelope, sent.Now, turn.State.Config.SimulateDontHaves, turn.Limits));
        turn.EmitAll(timers);
        turn.SetPeer(sent.Peer, armed);
        // boxo sendMessageCutoff: a large remainder goes out at once, a small one waits for the next debounce.
        if (armed.InFlight is null && armed.PendingCount >= turn.Limits.SendMessageCutoffEntries) SendNow(turn, sent.Peer, sent.Now);
    }

    private static void OnFailed(Turn turn, MessageFailed failed)
    {
        if (turn.State.Peers.Find(failed.Peer).Case is not PeerWants queue) return;
        turn.SetPeer(failed.Peer, PeerWants.Handle(queue, new EnvelopeFailed(failed.Envelope, failed.Now, turn.Limits)).State);
        if (turn.Explains)
            turn.Emit(new Explain("send-failed", null, failed.Peer, $"{failed.Envelope}: {failed.Reason}; retrying in {turn.Limits.ClientSendRetryMs} ms"));
    }

    private static void OnAdded(Turn turn, BlocksAdded added)
    {
        var satisfied = Seq<Cid>.Empty;
        var seen = new System.Collections.Generic.HashSet<Cid>();
        var wanting = new SortedSet<long>();
        foreach (var block in added.Blocks)
        {
            if (!seen.Add(block.Cid) || !turn.State.Interest.TryGetValue(block.Cid, out var sessions)) continue;
            AddSessions(wanting, sessions);
            foreach (var id in sessions)
            {
                if (turn.State.Sessions.Find(id).Case is not Session session) continue;
                var step = Session.Handle(session, new SessionLocalBlock(block.Cid, added.Now, turn.Limits));
                turn.State = turn.State with
                {
                    Sessions = turn.State.Sessions.SetItem(id, step.State),
                    TotalWants = turn.State.TotalWants - 1,
                    Recent = turn.State.Recent.Add(block.Cid, Set<long>.Empty.Add(id), delivered => delivered.AddOrUpdate(id)),
                };
                turn.Emit(new DeliverBlock(id, block, null));
                ApplyOrders(turn, step.Effects);
            }
            satisfied = satisfied.Add(block.Cid);
        }
        CancelAtPeers(turn, satisfied, null, wanting);
    }

    private static void OnTimer(Turn turn, TimerFired fired)
    {
        var timer = fired.Timer;
        switch (timer.Kind)
        {
            case TimerKind.SendDebounce when timer.Peer is { } peer:
                if (turn.State.Peers.Find(peer).Case is not PeerWants queue || !queue.DebounceDue(fired.Now)) return;
                turn.SetPeer(peer, PeerWants.Handle(queue, DisarmDebounce.Instance).State);
                SendNow(turn, peer, fired.Now);
                return;
            case TimerKind.DontHave when timer.Peer is { } peer:
                OnDontHaveTimeout(turn, peer, fired.Now);
                return;
            case TimerKind.Rebroadcast:
                OnRebroadcast(turn, fired.Now);
                return;
            case TimerKind.SessionTick:
                if (turn.State.Sessions.Find(timer.Key).Case is not Session session) return;
                var step = Session.Handle(session, new SessionTick(fired.Now, turn.Limits));
                turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(timer.Key, step.State) };
                ApplyOrders(turn, step.Effects);
                return;
        }
    }

    private static void OnDontHaveTimeout(Turn turn, PeerId peer, long now)
    {
        if (turn.State.Peers.Find(peer).Case is not PeerWants queue) return;
        var step = PeerWants.Handle(queue, new DontHaveTimerFired(now, turn.Limits));
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, step.State) };
        var expired = Seq<Cid>.Empty;
        foreach (var effect in step.Effects)
        {
            if (effect is DontHavesSimulated simulated) expired = simulated.Cids;
            else turn.Emit((IClientEffect)effect);
        }
        if (expired.IsEmpty) return;
        if (turn.Explains)
            foreach (var cid in expired)
                turn.Emit(new Explain("dont-have-simulated", cid, peer, $"no answer to want-block within {queue.DontHaveTimeoutMs(turn.Limits)} ms"));
        RouteToSessions(turn, peer, Map<Cid, Block>.Empty, Seq<Cid>.Empty, expired, now);
    }

    private static void OnRebroadcast(Turn turn, long now)
    {
        if (turn.State.RebroadcastDeadline is not { } deadline || now < deadline) return;
        var due = new RebroadcastDue(now, turn.Limits);
        foreach (var (peer, queue) in turn.State.Peers)
        {
            var (next, explains) = PeerWants.Handle(queue, due);
            if (ReferenceEquals(next, queue)) continue;
            turn.SetPeer(peer, next);
            turn.EmitAll(explains);
        }
        turn.State = turn.State with { RebroadcastDeadline = null };
        if (turn.State.Peers.IsEmpty) return;
        var again = now + turn.Limits.RebroadcastCheckMs;
        turn.State = turn.State with { RebroadcastDeadline = again };
        turn.Emit(new ArmTimer(RebroadcastTimer, again));
    }

    private static void OnProviders(Turn turn, ProvidersFound found)
    {
        if (turn.State.Sessions.Find(found.Session).Case is not Session session || !session.Wants.ContainsKey(found.Cid)) return;
        foreach (var provider in found.Providers.Distinct().Take(turn.Limits.ProvidersPerFindMax))
        {
            if (provider == turn.State.Self) continue;
            var current = turn.State.Sessions.Find(found.Session).IfNone(() => throw new UnreachableException("found above"));
            if (!turn.State.Peers.ContainsKey(provider))
            {
                if (turn.Explains) turn.Emit(new Explain("provider-skipped", found.Cid, provider, $"session {found.Session}: provider not connected"));
                continue;
            }
            // boxo session: a provider found counts as that peer saying HAVE, for this session only.
            NoteSessionPeer(turn, found.Session, provider);
            var step = Session.Handle(current, new SessionResponse(provider, Seq<Cid>.Empty, Seq<Cid>.Empty.Add(found.Cid), Seq<Cid>.Empty, FromConnected: true, found.Now, turn.Limits));
            turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(found.Session, step.State) };
            ApplyOrders(turn, step.Effects);
        }
    }

    /// <summary>Turns session orders into queue operations and effects.</summary>
    private static void ApplyOrders(Turn turn, Seq<SessionOrder> orders)
    {
        foreach (var order in orders)
        {
            switch (order)
            {
                case EmitOrder emit:
                    turn.Emit(emit.Effect);
                    break;
                case SendWantsOrder send:
                {
                    if (turn.State.Peers.Find(send.Peer).Case is not PeerWants queue)
                    {
                        if (turn.Explains) turn.Emit(new Explain("want-skipped", null, send.Peer, "peer not connected"));
                        break;
                    }
                    var blocks = send.WantBlocks.Filter(turn.State.Interest.ContainsKey);
                    var haves = send.WantHaves.Filter(turn.State.Interest.ContainsKey);
                    var (next, explains) = PeerWants.Handle(queue, new QueueWants(blocks, haves, Broadcast: false));
                    turn.SetPeer(send.Peer, next);
                    turn.EmitAll(explains);
                    break;
                }
                case BroadcastOrder broadcast:
                    Broadcast(turn, broadcast);
                    break;
                default:
                    throw new UnreachableException($"order {order.GetType().Name}");
            }
        }
    }

    /// <summary>
    /// Queues want-haves for a session's broadcast (boxo peerWantManager.broadcastWantHaves). Without broadcast control every
    /// peer gets them. With it, only targets do (peers that answered, local and peered peers, peers with a message waiting
    /// when <see cref="BroadcastControl.SendToPendingPeers"/>), plus up to <see cref="BroadcastControl.MaxRandomPeers"/>
    /// others drawn with the client's SplitMix64 (boxo leans on Go's map order for this); every other peer counts a skip.
    /// </summary>
    private static void Broadcast(Turn turn, BroadcastOrder broadcast)
    {
        var cids = broadcast.Cids.Filter(turn.State.Interest.ContainsKey);
        if (cids.IsEmpty) return;
        var control = turn.State.Config.BroadcastControl;
        // boxo: MaxPeers 0 disables broadcasts altogether, before the CIDs even count as broadcast wants.
        if (control.Enable && control.MaxPeers == 0) return;
        if (turn.Explains)
            foreach (var cid in cids) turn.Emit(new Explain("broadcast", cid, null, broadcast.Reason));
        var capacity = control.Enable && control.MaxPeers > 0 ? control.MaxPeers : int.MaxValue;
        // Inputs are data, so one record serves every peer's step: no allocation per peer.
        var wants = new QueueWants(Seq<Cid>.Empty, cids, Broadcast: true);
        var sent = 0;
        var others = new List<PeerWants>();
        foreach (var (peer, queue) in turn.State.Peers)
        {
            if (sent >= capacity) break;
            if (control.Enable && !IsBroadcastTarget(queue, control))
            {
                others.Add(queue);
                continue;
            }
            if (BroadcastTo(turn, queue, wants)) sent++;
        }
        var skips = 0;
        if (control.MaxRandomPeers > 0 && others.Count > 0 && sent < capacity)
        {
            // A partial Fisher–Yates shuffle drawn from state: the same inputs pick the same peers.
            var random = turn.State.BroadcastRandom;
            var picked = 0;
            for (var i = 0; i < others.Count; i++)
            {
                if (picked >= control.MaxRandomPeers || sent >= capacity)
                {
                    skips += others.Count - i;
                    break;
                }
                var (draw, next) = SplitMix64.Next(random);
                random = next;
                var j = i + (int)(draw % (ulong)(others.Count - i));
                (others[i], others[j]) = (others[j], others[i]);
                // A peer already told every CID is no random pick (boxo: randosToSend falls only when something is sent).
                if (!BroadcastTo(turn, others[i], wants)) continue;
                picked++;
                sent++;
            }
            turn.State = turn.State with { BroadcastRandom = random };
        }
        else
        {
            skips = others.Count;
        }
        // One explanation per broadcast, not per peer: a gateway skips hundreds of peers per broadcast. The shuffle put the
        // random picks first, so the skipped peers are the tail; the first of them is named.
        if (turn.Explains && skips > 0)
            turn.Emit(new Explain("broadcast-skipped", null, others[others.Count - skips].Peer,
                $"broadcast control: {skips} peer(s) never sent a block or HAVE and are neither local nor peered"));
        turn.State = turn.State with
        {
            Broadcasts = cids.Fold(turn.State.Broadcasts, (b, c) => b.AddOrUpdate(c)),
            BroadcastSkips = turn.State.BroadcastSkips + skips,
        };
    }

    /// <summary>True when broadcast control lets a peer have every broadcast.</summary>
    private static bool IsBroadcastTarget(PeerWants queue, BroadcastControl control) =>
        queue.Answered || control.AlwaysTargets(queue.Traits) || (control.SendToPendingPeers && queue.PendingCount > 0);

    /// <summary>Queues the broadcast want-haves a peer was not yet told; true when it got any.</summary>
    private static bool BroadcastTo(Turn turn, PeerWants queue, QueueWants wants)
    {
        var (next, explains) = PeerWants.Handle(queue, wants);
        turn.SetPeer(queue.Peer, next);
        turn.EmitAll(explains);
        if (ReferenceEquals(next, queue)) return false;
        turn.State = turn.State with { BroadcastsSent = turn.State.BroadcastsSent + 1 };
        return true;
    }

    /// <summary>Takes the next message from a peer's queue and emits it, if the queue has one to give.</summary>
    private static void SendNow(Turn turn, PeerId peer, long now)
    {
        if (turn.State.Peers.Find(peer).Case is not PeerWants queue) return;
        var envelope = new EnvelopeId(Side.Client, turn.State.NextEnvelope);
        var (next, send) = PeerWants.Handle(queue, new TakeNextMessage(envelope, now, turn.Limits));
        if (send.IsEmpty) return;
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, next), NextEnvelope = turn.State.NextEnvelope + 1 };
        turn.EmitAll(send);
    }

    /// <summary>
    /// For each peer whose queue changed this step: an idle peer's pending entries leave at once (no idle delay); a peer that
    /// sent within the debounce, or must wait after a failure, gets the debounce timer so entries coalesce. Only touched
    /// peers are visited, so a step costs nothing for peers it did not concern.
    /// </summary>
    private static void ScheduleTouched(Turn turn, long now)
    {
        if (turn.Touched.Count == 0) return;
        var debounce = turn.State.DebounceMs;
        foreach (var peer in turn.Touched)
        {
            if (turn.State.Peers.Find(peer).Case is not PeerWants queue || queue.SendableAt(now, debounce) is not { } at) continue;
            if (at <= now)
            {
                // A debounce armed earlier (for cancels) is dropped: its firing finds no deadline and is ignored.
                if (queue.DebounceDeadline is not null) turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, PeerWants.Handle(queue, DisarmDebounce.Instance).State) };
                SendNow(turn, peer, now);
                continue;
            }
            var (armed, timers) = PeerWants.Handle(queue, new ArmDebounceAt(at));
            turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, armed) };
            turn.EmitAll(timers);
        }
    }
}
