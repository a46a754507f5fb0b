using System.Diagnostics;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>How the client behaves.</summary>
/// <param name="Limits">Every bound and delay.</param>
/// <param name="Seed">Seeds the sessions' tie-breaking, so runs replay identically.</param>
/// <param name="SimulateDontHaves">Treat a want-block unanswered past the DONT_HAVE timeout as a DONT_HAVE (boxo default: on).</param>
public sealed record ClientConfig(Limits Limits, ulong Seed, bool SimulateDontHaves = true);

/// <summary>
/// The client's whole state (boxo bitswap/client): sessions by id, which sessions want which CID, one want queue per
/// connected peer, the broadcast wants, what peers said about blocks, and receive counters. Immutable; <see cref="Client.Handle"/> steps it.
/// </summary>
/// <param name="Self">Our own peer id.</param>
/// <param name="Config">Configuration.</param>
/// <param name="Peers">Want queues of connected peers.</param>
/// <param name="Sessions">Open sessions.</param>
/// <param name="Interest">For every wanted CID, the sessions wanting it.</param>
/// <param name="Broadcasts">CIDs broadcast as want-have to every peer (a newly connected peer gets them all).</param>
/// <param name="Presences">What peers said about wanted CIDs (boxo BlockPresenceManager).</param>
/// <param name="NextEnvelope">Sequence number of the next client envelope.</param>
/// <param name="RebroadcastDeadline">When the armed rebroadcast check fires, if armed.</param>
/// <param name="TotalWants">Wants over all sessions (bounded by <see cref="Limits.ClientWantsMax"/>).</param>
/// <param name="Recent">CIDs of recently received blocks, to count a second copy as a duplicate.</param>
/// <param name="RecentOrder">The same CIDs by arrival, to forget the oldest.</param>
/// <param name="NextRecent">The next arrival number.</param>
/// <param name="BlocksReceived">Blocks received, wanted or not.</param>
/// <param name="DataReceived">Bytes of blocks received.</param>
/// <param name="DupBlocksReceived">Blocks received that we already held or had just received.</param>
/// <param name="DupDataReceived">Bytes of those duplicates.</param>
/// <param name="MessagesReceived">Messages received.</param>
public sealed record ClientState(
    PeerId Self,
    ClientConfig Config,
    Map<PeerId, PeerWants> Peers,
    Map<long, Session> Sessions,
    Map<Cid, Set<long>> Interest,
    Set<Cid> Broadcasts,
    BlockPresences Presences,
    long NextEnvelope,
    long? RebroadcastDeadline,
    long TotalWants,
    Set<Cid> Recent,
    Map<long, Cid> RecentOrder,
    long NextRecent,
    long BlocksReceived,
    long DataReceived,
    long DupBlocksReceived,
    long DupDataReceived,
    long MessagesReceived)
{
    /// <summary>A client with no sessions and no peers.</summary>
    public static ClientState Create(PeerId self, ClientConfig config) =>
        new(self, config, Map<PeerId, PeerWants>.Empty, Map<long, Session>.Empty, Map<Cid, Set<long>>.Empty, Set<Cid>.Empty,
            BlockPresences.Empty, 1, null, 0, Set<Cid>.Empty, Map<long, Cid>.Empty, 0, 0, 0, 0, 0, 0);

    /// <summary>Every CID some session wants, sorted.</summary>
    public Seq<Cid> Wantlist => Interest.Keys.ToSeq();

    /// <summary>The CIDs a session wants, sorted; empty for an unknown session.</summary>
    public Seq<Cid> WantsOf(long session) => Sessions.Find(session).Match(s => s.Wants.Keys.ToSeq(), () => Seq<Cid>.Empty);

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
/// Server-only inputs are ignored.
/// </summary>
public static class Client
{
    /// <summary>The name of the rebroadcast check timer.</summary>
    public const string RebroadcastTimer = "rebroadcast";

    /// <summary>Steps the client by one input.</summary>
    public static Step<ClientState, Effect> Handle(ClientState state, Input input)
    {
        var turn = new Turn(state);
        switch (input)
        {
            case WantBlocks want: OnWant(turn, want); break;
            case CancelWants cancel: OnCancel(turn, cancel.Session, cancel.Cids, cancel.Now, "cancelled by the session"); break;
            case CloseSession close: OnClose(turn, close); break;
            case PeerConnected connected: OnConnected(turn, connected); break;
            case PeerDisconnected disconnected: OnDisconnected(turn, disconnected); break;
            case MessageReceived received: OnReceived(turn, received); break;
            case MessageSent sent: OnSent(turn, sent); break;
            case MessageFailed failed: OnFailed(turn, failed); break;
            case BlocksAdded added: OnAdded(turn, added); break;
            case TimerFired fired: OnTimer(turn, fired); break;
            case ProvidersFound found: OnProviders(turn, found); break;
            case BlocksLoaded: return Step<ClientState, Effect>.Quiet(state);
            default: throw new UnreachableException($"input {input.GetType().Name}");
        }
        ScheduleAll(turn, input.Now);
        return new Step<ClientState, Effect>(turn.State, turn.Effects);
    }

    /// <summary>The state and effects of one step, built up by the handlers below; local to one call of <see cref="Handle"/>.</summary>
    private sealed class Turn(ClientState state)
    {
        public ClientState State = state;
        public Seq<Effect> Effects = Seq<Effect>.Empty;
        public Limits Limits => State.Config.Limits;
        public void Emit(Effect effect) => Effects = Effects.Add(effect);
        public void EmitAll(Seq<Effect> effects) => Effects = Effects.Concat(effects);
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
            session = Session.Create(want.Session, turn.State.Config.Seed);
        }
        var fresh = want.Cids.Distinct().Filter(c => !session.Wants.ContainsKey(c)).ToSeq();
        var room = (int)Math.Max(0, Math.Min(int.MaxValue, limits.ClientWantsMax - turn.State.TotalWants));
        var accepted = fresh.Take(room).ToSeq();
        var refused = fresh.Skip(room).ToSeq();
        if (!refused.IsEmpty)
            turn.Emit(new RejectWants(want.Session, refused, $"the client already holds {limits.ClientWantsMax} wants"));
        var interest = accepted.Fold(turn.State.Interest, (m, c) => m.AddOrUpdate(c, s => s.Add(want.Session), Set<long>.Empty.Add(want.Session)));
        turn.State = turn.State with { Interest = interest, TotalWants = turn.State.TotalWants + accepted.Count };
        var step = session.Want(accepted, want.Now, limits);
        turn.State = turn.State with { Sessions = turn.State.Sessions.AddOrUpdate(want.Session, step.State) };
        ApplyOrders(turn, step.Effects);
    }

    private static void OnCancel(Turn turn, long sessionId, Seq<Cid> cids, long now, string why)
    {
        if (turn.State.Sessions.Find(sessionId).Case is not Session session) return;
        var (next, removed) = session.Unwant(cids.Distinct().ToSeq());
        turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(sessionId, next) };
        ReleaseInterest(turn, sessionId, removed, why);
    }

    private static void OnClose(Turn turn, CloseSession close)
    {
        if (turn.State.Sessions.Find(close.Session).Case is not Session session) return;
        OnCancel(turn, close.Session, session.WantsInOrder, close.Now, "session closed");
        turn.State = turn.State with { Sessions = turn.State.Sessions.Remove(close.Session) };
    }

    /// <summary>A session dropped these wants: CIDs no session wants any more are cancelled at peers.</summary>
    private static void ReleaseInterest(Turn turn, long sessionId, Seq<Cid> removed, string why)
    {
        var interest = turn.State.Interest;
        var orphans = Seq<Cid>.Empty;
        foreach (var cid in removed)
        {
            var rest = interest.Find(cid).IfNone(Set<long>.Empty).Remove(sessionId);
            interest = rest.IsEmpty ? interest.Remove(cid) : interest.SetItem(cid, rest);
            if (rest.IsEmpty) orphans = orphans.Add(cid);
            turn.Emit(new Explain("want-dropped", cid, null, $"session {sessionId}: {why}"));
        }
        turn.State = turn.State with { Interest = interest, TotalWants = turn.State.TotalWants - removed.Count };
        CancelAtPeers(turn, orphans, null);
    }

    /// <summary>Nobody wants these CIDs: forget them and cancel at every peer sent them, except <paramref name="answered"/>, whose block already settled it.</summary>
    private static void CancelAtPeers(Turn turn, Seq<Cid> cids, PeerId? answered)
    {
        if (cids.IsEmpty) return;
        var s = turn.State;
        var broadcasts = s.Broadcasts;
        var presences = s.Presences;
        var interest = s.Interest;
        foreach (var cid in cids)
        {
            broadcasts = broadcasts.Remove(cid);
            presences = presences.RemoveCid(cid);
            interest = interest.Remove(cid);
        }
        var peers = s.Peers;
        foreach (var (peer, queue) in s.Peers)
        {
            if (peer == answered)
            {
                peers = peers.SetItem(peer, cids.Fold(queue, (q, c) => q.Forget(c)));
                continue;
            }
            var (cancelled, explains) = queue.Cancel(cids);
            peers = peers.SetItem(peer, cancelled);
            turn.EmitAll(explains);
        }
        turn.State = s with { Broadcasts = broadcasts, Presences = presences, Interest = interest, Peers = peers };
    }

    private static void OnConnected(Turn turn, PeerConnected connected)
    {
        var s = turn.State;
        var queue = s.Peers.Find(connected.Peer).Match(q => q with { Version = connected.Version }, () => PeerWants.Create(connected.Peer, connected.Version));
        // boxo peerWantManager: a newly connected peer immediately gets every current broadcast want.
        var (withBroadcasts, explains) = queue.AddWants(Seq<Cid>.Empty, s.Broadcasts.ToSeq(), broadcast: true);
        turn.State = s with { Peers = s.Peers.AddOrUpdate(connected.Peer, withBroadcasts) };
        turn.EmitAll(explains);
        if (turn.State.RebroadcastDeadline is null)
        {
            var deadline = connected.Now + turn.Limits.RebroadcastCheckMs;
            turn.State = turn.State with { RebroadcastDeadline = deadline };
            turn.Emit(new ArmTimer(new TimerId(RebroadcastTimer), deadline));
        }
    }

    private static void OnDisconnected(Turn turn, PeerDisconnected disconnected)
    {
        var s = turn.State;
        if (!s.Peers.ContainsKey(disconnected.Peer)) return;
        turn.State = s with { Peers = s.Peers.Remove(disconnected.Peer), Presences = s.Presences.RemovePeer(disconnected.Peer) };
        foreach (var id in turn.State.Sessions.Keys)
        {
            var session = turn.State.Sessions.Find(id).IfNone(() => throw new UnreachableException("iterating keys"));
            var step = session.PeerLeft(disconnected.Peer, disconnected.Now);
            turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(id, step.State) };
            ApplyOrders(turn, step.Effects);
        }
    }

    private static void OnReceived(Turn turn, MessageReceived received)
    {
        var message = received.Message;
        var peer = received.Peer;
        CountReceived(turn, received);
        var s = turn.State;
        var answered = message.Blocks.Keys.Concat(message.Presences.Keys).ToSeq();
        if (s.Peers.Find(peer).Case is PeerWants queue)
            turn.State = s with { Peers = s.Peers.SetItem(peer, queue.Responded(answered, received.Now, turn.Limits)) };

        var haves = message.Presences.Filter(t => t == PresenceType.Have).Keys.ToSeq();
        var dontHaves = message.Presences.Filter(t => t == PresenceType.DontHave).Keys.ToSeq();
        var delivered = RouteToSessions(turn, peer, message.Blocks, haves, dontHaves, received.Now);

        // Blocks nobody wanted: still count, for each session that already got them, a duplicate.
        foreach (var cid in message.Blocks.Keys)
        {
            if (delivered.Contains(cid)) continue;
            var sessions = turn.State.Sessions.Map(session => session.CountIfDuplicate(cid));
            turn.State = turn.State with { Sessions = sessions };
        }
        CancelAtPeers(turn, delivered, peer);
    }

    /// <summary>
    /// Records presences for wanted CIDs, then hands each interested session its wanted blocks, HAVEs and DONT_HAVEs from
    /// <paramref name="peer"/>; returns the CIDs delivered (nobody wants them any more).
    /// </summary>
    private static Seq<Cid> RouteToSessions(Turn turn, PeerId peer, Map<Cid, Block> blocks, Seq<Cid> haves, Seq<Cid> dontHaves, long now)
    {
        var s = turn.State;
        var wantedBlocks = blocks.Keys.Filter(s.Interest.ContainsKey).ToSeq();
        var wantedHaves = haves.Filter(s.Interest.ContainsKey);
        var wantedDontHaves = dontHaves.Filter(s.Interest.ContainsKey);
        var presences = s.Presences;
        foreach (var cid in wantedHaves) presences = presences.Record(peer, cid, PresenceType.Have);
        foreach (var cid in wantedDontHaves) presences = presences.Record(peer, cid, PresenceType.DontHave);
        turn.State = s with { Presences = presences };

        var sessionIds = wantedBlocks.Concat(wantedHaves).Concat(wantedDontHaves)
            .Bind(c => s.Interest.Find(c).IfNone(Set<long>.Empty).ToSeq()).Distinct().OrderBy(id => id).ToSeq();
        bool IsConnected(PeerId p) => turn.State.Peers.ContainsKey(p);
        foreach (var id in sessionIds)
        {
            if (turn.State.Sessions.Find(id).Case is not Session session) continue;
            var mine = wantedBlocks.Filter(session.Wants.ContainsKey);
            var step = session.Update(peer, mine, wantedHaves, wantedDontHaves, now, turn.Limits, IsConnected);
            turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(id, step.State) };
            foreach (var cid in mine) turn.Emit(new DeliverBlock(id, blocks.Find(cid).IfNone(() => throw new UnreachableException("wanted block")), peer));
            ApplyOrders(turn, step.Effects);
        }
        foreach (var cid in wantedBlocks)
            turn.State = turn.State with { TotalWants = turn.State.TotalWants - turn.State.Interest.Find(cid).Map(x => x.Count).IfNone(0) };
        return wantedBlocks;
    }

    private static void CountReceived(Turn turn, MessageReceived received)
    {
        var s = turn.State;
        var blocks = s.BlocksReceived;
        var data = s.DataReceived;
        var dupBlocks = s.DupBlocksReceived;
        var dupData = s.DupDataReceived;
        var recent = s.Recent;
        var order = s.RecentOrder;
        var next = s.NextRecent;
        foreach (var block in received.Message.Blocks.Values)
        {
            blocks++;
            data += block.Size;
            // A duplicate is a block we already held at receipt (boxo: blockstore.Has) or a second copy we just received.
            if (received.LocalSizes.Find(block.Cid).Exists(size => size > 0) || recent.Contains(block.Cid))
            {
                dupBlocks++;
                dupData += block.Size;
            }
            if (recent.Contains(block.Cid)) continue;
            recent = recent.Add(block.Cid);
            order = order.Add(next++, block.Cid);
            while (order.Count > turn.Limits.ClientRecentBlocksMax)
            {
                var (key, oldest) = Enumerable.First(order);
                order = order.Remove(key);
                recent = recent.Remove(oldest);
            }
        }
        turn.State = s with
        {
            BlocksReceived = blocks, DataReceived = data, DupBlocksReceived = dupBlocks, DupDataReceived = dupData,
            Recent = recent, RecentOrder = order, NextRecent = next, MessagesReceived = s.MessagesReceived + 1,
        };
    }

    private static void OnSent(Turn turn, MessageSent sent)
    {
        if (sent.Envelope.Side != Side.Client || turn.State.Peers.Find(sent.Peer).Case is not PeerWants queue) return;
        var confirmed = queue.Confirmed(sent.Envelope, sent.Now);
        if (!turn.State.Config.SimulateDontHaves) confirmed = confirmed with { AwaitingBlock = Map<Cid, long>.Empty };
        var (armed, timer) = confirmed.ArmDontHave(sent.Now, turn.Limits);
        if (timer is not null) turn.Emit(timer);
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(sent.Peer, armed) };
        // boxo sendMessageCutoff: a large remainder goes out at once, a small one waits for the next debounce.
        if (armed.InFlight is null && armed.PendingCount >= turn.Limits.SendMessageCutoffEntries) SendNow(turn, sent.Peer, sent.Now);
    }

    private static void OnFailed(Turn turn, MessageFailed failed)
    {
        if (failed.Envelope.Side != Side.Client || turn.State.Peers.Find(failed.Peer).Case is not PeerWants queue) return;
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(failed.Peer, queue.Failed(failed.Envelope, failed.Now, turn.Limits)) };
        turn.Emit(new Explain("send-failed", null, failed.Peer, $"{failed.Envelope}: {failed.Reason}; retrying in {turn.Limits.ClientSendRetryMs} ms"));
    }

    private static void OnAdded(Turn turn, BlocksAdded added)
    {
        var satisfied = Seq<Cid>.Empty;
        foreach (var block in added.Blocks.DistinctBy(b => b.Cid))
        {
            if (turn.State.Interest.Find(block.Cid).Case is not Set<long> sessions) continue;
            foreach (var id in sessions)
            {
                if (turn.State.Sessions.Find(id).Case is not Session session) continue;
                var step = session.LocalBlock(block.Cid, added.Now, turn.Limits);
                turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(id, step.State), TotalWants = turn.State.TotalWants - 1 };
                turn.Emit(new DeliverBlock(id, block, null));
                ApplyOrders(turn, step.Effects);
            }
            satisfied = satisfied.Add(block.Cid);
        }
        CancelAtPeers(turn, satisfied, null);
    }

    private static void OnTimer(Turn turn, TimerFired fired)
    {
        var timer = fired.Timer;
        switch (timer.Name)
        {
            case PeerWants.DebounceTimer when timer.Peer is { } peer:
                if (turn.State.Peers.Find(peer).Case is not PeerWants queue || !queue.DebounceDue(fired.Now)) return;
                turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, queue with { DebounceDeadline = null }) };
                SendNow(turn, peer, fired.Now);
                return;
            case PeerWants.DontHaveTimer when timer.Peer is { } peer:
                OnDontHaveTimeout(turn, peer, fired.Now);
                return;
            case RebroadcastTimer:
                OnRebroadcast(turn, fired.Now);
                return;
            case Session.TickTimer:
                if (turn.State.Sessions.Find(timer.Key).Case is not Session session) return;
                var step = session.Tick(fired.Now, turn.Limits);
                turn.State = turn.State with { Sessions = turn.State.Sessions.SetItem(timer.Key, step.State) };
                ApplyOrders(turn, step.Effects);
                return;
            default:
                return;
        }
    }

    private static void OnDontHaveTimeout(Turn turn, PeerId peer, long now)
    {
        if (turn.State.Peers.Find(peer).Case is not PeerWants queue) return;
        var (next, expired, timer) = queue.ExpireDontHaves(now, turn.Limits);
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, next) };
        if (timer is not null) turn.Emit(timer);
        if (expired.IsEmpty) return;
        foreach (var cid in expired)
            turn.Emit(new Explain("dont-have-simulated", cid, peer, $"no answer to want-block within {queue.DontHaveTimeoutMs(turn.Limits)} ms"));
        RouteToSessions(turn, peer, Map<Cid, Block>.Empty, Seq<Cid>.Empty, expired, now);
    }

    private static void OnRebroadcast(Turn turn, long now)
    {
        if (turn.State.RebroadcastDeadline is not { } deadline || now < deadline) return;
        var peers = turn.State.Peers;
        foreach (var (peer, queue) in turn.State.Peers)
        {
            var (next, explains) = queue.QueueRebroadcast(now, turn.Limits);
            peers = peers.SetItem(peer, next);
            turn.EmitAll(explains);
        }
        turn.State = turn.State with { Peers = peers, RebroadcastDeadline = null };
        if (peers.IsEmpty) return;
        var again = now + turn.Limits.RebroadcastCheckMs;
        turn.State = turn.State with { RebroadcastDeadline = again };
        turn.Emit(new ArmTimer(new TimerId(RebroadcastTimer), again));
    }

    private static void OnProviders(Turn turn, ProvidersFound found)
    {
        if (turn.State.Sessions.Find(found.Session).Case is not Session session || !session.Wants.ContainsKey(found.Cid)) return;
        bool IsConnected(PeerId p) => turn.State.Peers.ContainsKey(p);
        foreach (var provider in found.Providers.Distinct().Take(turn.Limits.ProvidersPerFindMax))
        {
            if (provider == turn.State.Self) continue;
            var current = turn.State.Sessions.Find(found.Session).IfNone(() => throw new UnreachableException("found above"));
            if (!IsConnected(provider))
            {
                turn.Emit(new Explain("provider-skipped", found.Cid, provider, $"session {found.Session}: provider not connected"));
                continue;
            }
            // boxo session: a provider found counts as that peer saying HAVE, for this session only.
            var step = current.Update(provider, Seq<Cid>.Empty, Seq<Cid>.Empty.Add(found.Cid), Seq<Cid>.Empty, found.Now, turn.Limits, IsConnected);
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
                        turn.Emit(new Explain("want-skipped", null, send.Peer, "peer not connected"));
                        break;
                    }
                    var blocks = send.WantBlocks.Filter(turn.State.Interest.ContainsKey);
                    var haves = send.WantHaves.Filter(turn.State.Interest.ContainsKey);
                    var (next, explains) = queue.AddWants(blocks, haves, broadcast: false);
                    turn.State = turn.State with { Peers = turn.State.Peers.SetItem(send.Peer, next) };
                    turn.EmitAll(explains);
                    break;
                }
                case BroadcastOrder broadcast:
                {
                    var cids = broadcast.Cids.Filter(turn.State.Interest.ContainsKey);
                    if (cids.IsEmpty) break;
                    foreach (var cid in cids) turn.Emit(new Explain("broadcast", cid, null, broadcast.Reason));
                    var peers = turn.State.Peers;
                    foreach (var (peer, queue) in turn.State.Peers)
                    {
                        var (next, explains) = queue.AddWants(Seq<Cid>.Empty, cids, broadcast: true);
                        peers = peers.SetItem(peer, next);
                        turn.EmitAll(explains);
                    }
                    turn.State = turn.State with { Peers = peers, Broadcasts = cids.Fold(turn.State.Broadcasts, (b, c) => b.AddOrUpdate(c)) };
                    break;
                }
                default:
                    throw new UnreachableException($"order {order.GetType().Name}");
            }
        }
    }

    /// <summary>Takes the next message from a peer's queue and emits it, if the queue has one to give.</summary>
    private static void SendNow(Turn turn, PeerId peer, long now)
    {
        if (turn.State.Peers.Find(peer).Case is not PeerWants queue) return;
        var envelope = new EnvelopeId(Side.Client, turn.State.NextEnvelope);
        var (next, message) = queue.TakeMessage(envelope, now, turn.Limits);
        if (message is null) return;
        turn.State = turn.State with { Peers = turn.State.Peers.SetItem(peer, next), NextEnvelope = turn.State.NextEnvelope + 1 };
        turn.Emit(new SendMessage(peer, envelope, message));
    }

    /// <summary>Arms the send debounce of every peer with something pending and nothing in flight.</summary>
    private static void ScheduleAll(Turn turn, long now)
    {
        var debounce = turn.State.DebounceMs;
        var peers = turn.State.Peers;
        foreach (var (peer, queue) in turn.State.Peers)
        {
            var (next, timer) = queue.Schedule(now, debounce);
            if (timer is null) continue;
            peers = peers.SetItem(peer, next);
            turn.Emit(timer);
        }
        turn.State = turn.State with { Peers = peers };
    }
}
