using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>What a session asks of the client root; the root turns these into per-peer queue operations and effects.</summary>
public abstract record SessionOrder;

/// <summary>Send these wants to one session peer (boxo sessionWantSender → peerManager.SendWants).</summary>
public sealed record SendWantsOrder(PeerId Peer, Seq<Cid> WantBlocks, Seq<Cid> WantHaves) : SessionOrder;

/// <summary>Broadcast want-have for these CIDs to every connected peer (boxo broadcastWantHaves).</summary>
public sealed record BroadcastOrder(Seq<Cid> Cids, string Reason) : SessionOrder;

/// <summary>Emit an effect as is (timers, provider searches, explanations).</summary>
public sealed record EmitOrder(IClientEffect Effect) : SessionOrder;

/// <summary>Answers <see cref="SessionWantsRemoved"/>: the CIDs the session wanted and dropped, in the order given; absent when none was.</summary>
public sealed record WantsRemovedOrder(Seq<Cid> Cids) : SessionOrder;

/// <summary>What the client tells one <see cref="Session"/>, as a closed hierarchy; stepped by <see cref="Session.Handle"/>.</summary>
public abstract record SessionInput
{
    // Only this assembly's records derive from it, so Handle's switch covers every input.
    private protected SessionInput() { }
}

/// <summary>New wants (the client filtered out CIDs already wanted): sent to session peers, or broadcast if none is known yet.</summary>
public sealed record SessionWantsAdded(Seq<Cid> Cids, long Now, Limits Limits) : SessionInput;

/// <summary>
/// Blocks and presences from a peer for the session's wants (real, simulated by a DONT_HAVE timeout, or a provider found,
/// which counts as HAVE). <paramref name="FromConnected"/> says whether the peer is connected, so it may join the session.
/// </summary>
public sealed record SessionResponse(PeerId From, Seq<Cid> Blocks, Seq<Cid> Haves, Seq<Cid> DontHaves, bool FromConnected, long Now, Limits Limits) : SessionInput;

/// <summary>A peer disconnected.</summary>
public sealed record SessionPeerLeft(PeerId Peer, long Now) : SessionInput;

/// <summary>The session's idle-tick timer fired.</summary>
public sealed record SessionTick(long Now, Limits Limits) : SessionInput;

/// <summary>A block the session may want arrived locally (BlocksAdded).</summary>
public sealed record SessionLocalBlock(Cid Cid, long Now, Limits Limits) : SessionInput;

/// <summary>Drop wants (cancelled or the session closed); answered by <see cref="WantsRemovedOrder"/>. The CIDs must be distinct.</summary>
public sealed record SessionWantsRemoved(Seq<Cid> Cids) : SessionInput;

/// <summary>
/// Another session gave up wants this one still has: the peers it asked may hold them, so this session counts them as
/// asked too (the client cancels at a session's asked peers when its wants end).
/// </summary>
public sealed record SessionAskedPeersInherited(Set<PeerId> Peers) : SessionInput;

/// <summary>A block arrived for a CID this session already got.</summary>
public sealed record SessionDuplicateBlock : SessionInput
{
    /// <summary>The one instance: the input carries no data, so counting a duplicate allocates nothing.</summary>
    public static readonly SessionDuplicateBlock Instance = new();

    private SessionDuplicateBlock() { }
}

/// <summary>One wanted CID in a session.</summary>
/// <param name="Order">Position in the session's want order (earlier wants first).</param>
/// <param name="LiveSince">When it was last sent or broadcast; null while it waits in the to-fetch queue.</param>
/// <param name="WantBlockTo">The peer holding the session's one outstanding want-block for it, if any.</param>
public sealed record SessionWant(long Order, long? LiveSince, PeerId? WantBlockTo);

/// <summary>
/// A session (boxo session + sessionWantSender): its wants in order, its peers, and where each want-block went. Before any
/// peer is known it broadcasts want-have for up to <see cref="Limits.BroadcastLiveWantsMax"/> wants; afterwards it sends one
/// want-block per want to the best peer and want-have to the others, moves the want-block on a DONT_HAVE or when the peer
/// leaves, prunes peers that keep saying DONT_HAVE, broadcasts when its peers are exhausted, and ticks when idle.
/// </summary>
public sealed record Session
{
    /// <summary>The session id (from 1).</summary>
    public required long Id { get; init; }

    /// <summary>Wanted CIDs (a <see cref="SortedMap{TKey, TValue}"/>: a message's delivered blocks leave it in one batch).</summary>
    public SortedMap<Cid, SessionWant> Wants { get; init; } = SortedMap<Cid, SessionWant>.Empty;

    /// <summary>Wanted CIDs not yet live (never sent nor broadcast), by order: the head of boxo's toFetch queue.</summary>
    public SortedMap<long, Cid> ToFetch { get; init; } = SortedMap<long, Cid>.Empty;

    /// <summary>The next order number.</summary>
    public long NextOrder { get; init; }

    /// <summary>Peers in the session (they sent a block or HAVE, or were found as providers), not pruned.</summary>
    public Set<PeerId> Peers { get; init; } = Set<PeerId>.Empty;

    /// <summary>
    /// Peers this session sent wants to (or inherited from a session that gave up a want it still has), while they stay
    /// connected: a superset of the peers holding its non-broadcast wants, so the client cancels those wants at these
    /// peers instead of walking every connected peer (boxo peerWantManager keeps wantPeers for the same reason).
    /// </summary>
    public Set<PeerId> Asked { get; init; } = Set<PeerId>.Empty;

    /// <summary>True once any peer joined; afterwards new wants go to peers instead of a broadcast.</summary>
    public bool PeersDiscovered { get; init; }

    /// <summary>Consecutive DONT_HAVEs per session peer.</summary>
    public Map<PeerId, int> DontHaveStreaks { get; init; } = Map<PeerId, int>.Empty;

    /// <summary>Blocks each peer delivered first to this session (weights the best-peer choice).</summary>
    public Map<PeerId, int> FirstDeliveries { get; init; } = Map<PeerId, int>.Empty;

    /// <summary>HAVE/DONT_HAVE for the session's wants, including providers found (counted as HAVE).</summary>
    public BlockPresences Presences { get; init; } = BlockPresences.Empty;

    /// <summary>Wants already broadcast because every session peer said DONT_HAVE (once per exhaustion).</summary>
    public Set<Cid> Exhausted { get; init; } = Set<Cid>.Empty;

    /// <summary>SplitMix64 state for tie-breaking, seeded per session.</summary>
    public ulong Random { get; init; }

    /// <summary>Idle ticks since the last wanted block.</summary>
    public int ConsecutiveTicks { get; init; }

    /// <summary>When the armed idle tick fires, if armed.</summary>
    public long? TickDeadline { get; init; }

    /// <summary>
    /// The deadline the session-tick timer is armed for, if armed. A block pushes <see cref="TickDeadline"/> later without
    /// arming again; a firing before the deadline re-arms once for it. So a busy session arms about one timer per tick
    /// period, not one per message of blocks.
    /// </summary>
    public long? TickArmedFor { get; init; }

    /// <summary>Sum of want-to-block latencies of wanted blocks.</summary>
    public long LatencyTotalMs { get; init; }

    /// <summary>Number of those latencies.</summary>
    public long LatencySamples { get; init; }

    /// <summary>Blocks received for CIDs this session already got.</summary>
    public long DuplicateBlocks { get; init; }

    /// <summary>True to emit <see cref="Explain"/> orders; off, no reason is formatted.</summary>
    public bool Explains { get; init; }

    /// <summary>Wants that are live (sent or broadcast at least once).</summary>
    public int LiveCount => Wants.Count - ToFetch.Count;

    /// <summary>A session with no wants and no peers; <paramref name="seed"/> seeds its tie-breaking.</summary>
    public static Session Create(long id, ulong seed, bool explains = false) =>
        new() { Id = id, Random = SplitMix64.Finalize(seed ^ (ulong)id), Explains = explains };

    /// <summary>The wanted CIDs in want order.</summary>
    /// <remarks>
    /// Sorted from <see cref="Wants"/> on each call rather than kept in a second map: the order is needed on idle ticks,
    /// when peers join or leave and on close, while a map in step with it cost a path copy for every block delivered.
    /// </remarks>
    public Seq<Cid> WantsInOrder
    {
        get
        {
            // Two arrays sorted together by order (unique): no tuples, no lazy sequence made strict.
            var orders = new long[Wants.Count];
            var cids = new Cid[Wants.Count];
            var i = 0;
            foreach (var (cid, want) in Wants)
            {
                orders[i] = want.Order;
                cids[i++] = cid;
            }
            Array.Sort(orders, cids);
            return Prelude.toSeq(cids);
        }
    }

    /// <summary>Steps the session by one input.</summary>
    public static Step<Session, SessionOrder> Handle(Session state, SessionInput input)
    {
        switch (input)
        {
            case SessionWantsAdded added:
                return state.Want(added.Cids, added.Now, added.Limits);
            case SessionResponse response:
                return state.Update(response.From, response.Blocks, response.Haves, response.DontHaves, response.Now, response.Limits, response.FromConnected);
            case SessionPeerLeft left:
                return state.PeerLeft(left.Peer, left.Now);
            case SessionTick tick:
                return state.Tick(tick.Now, tick.Limits);
            case SessionLocalBlock local:
                return state.LocalBlock(local.Cid, local.Now, local.Limits);
            case SessionWantsRemoved removed:
            {
                var (session, cids) = state.Unwant(removed.Cids);
                return cids.IsEmpty
                    ? Step<Session, SessionOrder>.Quiet(session)
                    : new(session, Seq<SessionOrder>.Empty.Add(new WantsRemovedOrder(cids)));
            }
            case SessionDuplicateBlock:
                return Step<Session, SessionOrder>.Quiet(state.CountDuplicate());
            case SessionAskedPeersInherited inherited:
                return Step<Session, SessionOrder>.Quiet(state with { Asked = state.Asked.Union(inherited.Peers) });
            default:
                throw new System.Diagnostics.UnreachableException($"session input {input.GetType().Name}");
        }
    }

    /// <summary>Adds new wants (the caller filtered out CIDs already wanted): sends them to session peers, or broadcasts if none is known yet.</summary>
    private Step<Session, SessionOrder> Want(Seq<Cid> cids, long now, Limits limits)
    {
        var wants = Wants;
        var toFetch = ToFetch;
        var order = NextOrder;
        if (Wants.IsEmpty)
        {
            // A session's first wants: built in one bulk pass (a node per want instead of a path per want). None is live
            // yet, so the to-fetch queue is the want order itself.
            // Builders local to this call; the wants' builder also finds repeated CIDs.
            var wantsBuilder = SortedMap<Cid, SessionWant>.CreateBuilder();
            var toFetchBuilder = SortedMap<long, Cid>.CreateBuilder();
            foreach (var cid in cids)
            {
                if (!wantsBuilder.TryAdd(cid, new SessionWant(order, null, null))) continue;
                toFetchBuilder.Add(order++, cid);
            }
            wants = SortedMap<Cid, SessionWant>.From(wantsBuilder);
            toFetch = SortedMap<long, Cid>.From(toFetchBuilder);
        }
        else
        {
            foreach (var cid in cids)
            {
                if (wants.ContainsKey(cid)) continue;
                wants = wants.SetItem(cid, new SessionWant(order, null, null));
                toFetch = toFetch.SetItem(order, cid);
                order++;
            }
        }
        var session = this with { Wants = wants, ToFetch = toFetch, NextOrder = order };
        var orders = Seq<SessionOrder>.Empty;
        if (session.PeersDiscovered) (session, orders) = session.SendNext(cids, Seq<PeerId>.Empty, now, orders);
        (session, orders) = session.BroadcastIfUndiscovered(now, limits, orders);
        if (session.TickDeadline is null && !session.Wants.IsEmpty) (session, orders) = session.ArmTick(now, limits, orders);
        return new Step<Session, SessionOrder>(session, orders);
    }

    /// <summary>Drops wants (cancelled, or satisfied elsewhere); returns the CIDs that were wanted.</summary>
    /// <param name="cids">Distinct CIDs (every caller passes a message's blocks, a distinct list or one CID), so no set is needed to skip repeats.</param>
    private (Session Session, Seq<Cid> Removed) Unwant(Seq<Cid> cids)
    {
        var removed = new List<Cid>(cids.Count);
        return (Drop(cids, removed), Persistent.SeqOf(removed));
    }

    /// <summary><see cref="Unwant"/> for callers that do not need the removed CIDs as a sequence: they are listed in <paramref name="removed"/> when it is given.</summary>
    private Session Drop(Seq<Cid> cids, List<Cid>? removed)
    {
        var presences = Presences;
        var exhausted = Exhausted;
        // The wants leave through a builder as they are found; the unsent ones' places are collected for one batch.
        var wants = Wants.ToBuilder();
        var dropped = 0;
        List<long>? unsent = null;
        foreach (var cid in cids)
        {
            if (!wants.TryGetValue(cid, out var want)) continue;
            if (want.LiveSince is null) (unsent ??= []).Add(want.Order);
            wants.Remove(cid);
            presences = presences.RemoveCid(cid);
            exhausted = exhausted.Without(cid);
            removed?.Add(cid);
            dropped++;
        }
        if (dropped == 0) return this;
        var session = this with
        {
            Wants = SortedMap<Cid, SessionWant>.From(wants),
            ToFetch = unsent is null ? ToFetch : unsent.Count == ToFetch.Count ? SortedMap<long, Cid>.Empty : ToFetch.WithoutAll(unsent),
            Presences = presences,
            Exhausted = exhausted,
        };
        if (session.Wants.IsEmpty) session = session with { TickDeadline = null };
        return session;
    }

    /// <summary>Replaces a want's record, keeping <see cref="ToFetch"/> in step when it goes live.</summary>
    private Session SetWant(Cid cid, SessionWant before, SessionWant after) =>
        before.LiveSince is null && after.LiveSince is not null
            ? this with { Wants = Wants.SetItem(cid, after), ToFetch = ToFetch.Without(before.Order) }
            : this with { Wants = Wants.SetItem(cid, after) };

    /// <summary>
    /// Blocks and presences from a peer for this session's wants (real, simulated by a DONT_HAVE timeout, or a provider
    /// found, which counts as HAVE). <paramref name="blocks"/> are wanted blocks now delivered to the session.
    /// </summary>
    private Step<Session, SessionOrder> Update(
        PeerId from, Seq<Cid> blocks, Seq<Cid> haves, Seq<Cid> dontHaves, long now, Limits limits, bool fromConnected)
    {
        var session = this;
        var orders = Seq<SessionOrder>.Empty;
        var candidates = Seq<Cid>.Empty;
        Seq<Cid>? inOrder = null;
        var toCheck = Seq<Cid>.Empty;
        var newPeers = Seq<PeerId>.Empty;
        var wantedBlocks = Wanted(blocks);
        var wantedHaves = Wanted(haves);
        var wantedDontHaves = Wanted(dontHaves);

        if (!wantedBlocks.IsEmpty || !wantedHaves.IsEmpty)
        {
            if (!session.Peers.Contains(from) && fromConnected)
            {
                session = session with { Peers = session.Peers.Add(from), PeersDiscovered = true, Exhausted = Set<Cid>.Empty };
                newPeers = newPeers.Add(from);
                // A new peer can take the want-block of every want without one (its presence is at least unknown).
                candidates = session.WantsInOrder;
                inOrder = candidates;
                if (Explains) orders = orders.Add(new EmitOrder(new Explain("session-peer-added", null, from, $"session {Id}: sent a block or HAVE")));
            }
            session = session with { DontHaveStreaks = session.DontHaveStreaks.Without(from) };
        }

        if (!wantedBlocks.IsEmpty)
        {
            // The message's blocks together: latencies summed, first deliveries counted, wants dropped in one pass.
            long latency = 0;
            long samples = 0;
            foreach (var cid in wantedBlocks)
            {
                if (session.Wants.Find(cid).Case is not SessionWant { LiveSince: { } since }) continue;
                latency += Math.Max(0, now - since);
                samples++;
            }
            session = session.Drop(wantedBlocks, null);
            session = session with
            {
                LatencyTotalMs = session.LatencyTotalMs + latency,
                LatencySamples = session.LatencySamples + samples,
                FirstDeliveries = session.FirstDeliveries.AddOrUpdate(from, n => n + wantedBlocks.Count, wantedBlocks.Count),
                ConsecutiveTicks = 0,
                TickDeadline = null,
            };
            if (!session.Wants.IsEmpty) (session, orders) = session.ArmTick(now, limits, orders);
        }

        foreach (var cid in wantedHaves)
        {
            session = session with { Presences = session.Presences.Record(from, cid, PresenceType.Have), Exhausted = session.Exhausted.Without(cid) };
            candidates = candidates.Add(cid);
        }

        foreach (var cid in wantedDontHaves)
        {
            var want = session.Wants.Find(cid).IfNone(() => throw new System.Diagnostics.UnreachableException("filtered above"));
            var held = want.WantBlockTo == from;
            session = session with { Presences = held ? session.Presences.Revoke(from, cid) : session.Presences.Record(from, cid, PresenceType.DontHave) };
            if (session.Peers.Contains(from))
                session = session with { DontHaveStreaks = session.DontHaveStreaks.AddOrUpdate(from, n => n + 1, 1) };
            if (held)
            {
                session = session.SetWant(cid, want, want with { WantBlockTo = null });
                if (Explains) orders = orders.Add(new EmitOrder(new Explain("want-block-released", cid, from, $"session {Id}: DONT_HAVE")));
            }
            candidates = candidates.Add(cid);
            toCheck = toCheck.Add(cid);
        }

        // boxo peerDontHaveLimit: the 17th consecutive DONT_HAVE removes the peer unless it holds a HAVE for a pending want.
        if (session.Peers.Contains(from) && session.DontHaveStreaks.Find(from).IfNone(0) > limits.PeerDontHaveLimit
            && !session.Presences.HasAnyFrom(from))
        {
            Seq<Cid> released;
            (session, released) = session.RemovePeer(from);
            if (Explains) orders = orders.Add(new EmitOrder(new Explain("session-peer-pruned", null, from,
                $"session {Id}: more than {limits.PeerDontHaveLimit} consecutive DONT_HAVEs")));
            candidates = candidates.Concat(released);
            toCheck = session.Peers.IsEmpty ? session.WantsInOrder : toCheck.Concat(released);
        }

        (session, orders) = session.SendNext(candidates, newPeers, now, orders, inOrder);
        (session, orders) = session.BroadcastExhausted(toCheck, orders);
        return new Step<Session, SessionOrder>(session, orders);
    }

    /// <summary>
    /// The CIDs this session wants, in order: the same sequence when it wants them all (the router already kept only the
    /// session's blocks), so no filtered sequence is built and memoized per message.
    /// </summary>
    internal Seq<Cid> Wanted(Seq<Cid> cids)
    {
        foreach (var cid in cids)
            if (!Wants.ContainsKey(cid)) return cids.Filter(c => Wants.ContainsKey(c)).Strict();
        return cids;
    }

    /// <summary>A peer disconnected: it leaves the session, its want-blocks move to the next best peer, and if it was the last peer the wants are broadcast.</summary>
    private Step<Session, SessionOrder> PeerLeft(PeerId peer, long now)
    {
        // A disconnected peer's queue is gone, so it holds none of our wants any more.
        var session = this with { Presences = Presences.RemovePeer(peer), FirstDeliveries = FirstDeliveries.Without(peer), Asked = Asked.Without(peer) };
        if (!Peers.Contains(peer)) return Step<Session, SessionOrder>.Quiet(session);
        var orders = Seq<SessionOrder>.Empty;
        Seq<Cid> released;
        (session, released) = session.RemovePeer(peer);
        if (Explains) orders = orders.Add(new EmitOrder(new Explain("session-peer-left", null, peer, $"session {Id}: disconnected")));
        (session, orders) = session.SendNext(released, Seq<PeerId>.Empty, now, orders);
        (session, orders) = session.BroadcastExhausted(session.Peers.IsEmpty ? session.WantsInOrder : released, orders);
        return new Step<Session, SessionOrder>(session, orders);
    }

    /// <summary>
    /// The idle tick: re-broadcast want-have for up to <see cref="Limits.BroadcastLiveWantsMax"/> live wants, search providers
    /// for the first one only on the first consecutive tick, and re-arm with a growing delay (boxo session idle tick).
    /// </summary>
    private Step<Session, SessionOrder> Tick(long now, Limits limits)
    {
        // A firing before the armed deadline is stale (a shell that does not move re-armed timers): ignore it.
        if (TickArmedFor is { } armed && now < armed) return Step<Session, SessionOrder>.Quiet(this);
        var fired = this with { TickArmedFor = null };
        if (fired.TickDeadline is not { } deadline) return Step<Session, SessionOrder>.Quiet(fired);
        if (now < deadline)
        {
            // Blocks arrived since the timer was armed and moved the deadline: wait for it.
            var rearmed = fired with { TickArmedFor = deadline };
            return new Step<Session, SessionOrder>(rearmed, Seq<SessionOrder>.Empty.Add(new EmitOrder(new ArmTimer(new TimerId(TimerKind.SessionTick, Id), deadline))));
        }
        var session = fired with { TickDeadline = null };
        var orders = Seq<SessionOrder>.Empty;
        var live = session.WantsInOrder.Filter(c => session.Wants.Find(c).Exists(w => w.LiveSince is not null))
            .Take(limits.BroadcastLiveWantsMax).ToSeq();
        if (!live.IsEmpty)
        {
            var wants = session.Wants;
            session = session with { Wants = wants.SetItems(live.Map(c => KeyValuePair.Create(c, wants[c] with { LiveSince = now }))) };
            orders = orders.Add(new BroadcastOrder(live, Explains ? $"session {Id}: idle tick {ConsecutiveTicks + 1}" : ""));
            if (session.ConsecutiveTicks == 0)
                orders = orders.Add(new EmitOrder(new FindProviders(Id, live.Head)));
        }
        session = session with { ConsecutiveTicks = session.ConsecutiveTicks + 1 };
        if (!session.Wants.IsEmpty) (session, orders) = session.ArmTick(now, limits, orders);
        return new Step<Session, SessionOrder>(session, orders);
    }

    /// <summary>A block this session wanted arrived locally (BlocksAdded): counts as a wanted block for the idle tick, then refills the broadcast.</summary>
    private Step<Session, SessionOrder> LocalBlock(Cid cid, long now, Limits limits)
    {
        if (!Wants.ContainsKey(cid)) return Step<Session, SessionOrder>.Quiet(this);
        var session = Drop(Seq1(cid), null);
        session = session with { ConsecutiveTicks = 0, TickDeadline = null };
        var orders = Seq<SessionOrder>.Empty;
        if (!session.Wants.IsEmpty) (session, orders) = session.ArmTick(now, limits, orders);
        (session, orders) = session.BroadcastIfUndiscovered(now, limits, orders);
        return new Step<Session, SessionOrder>(session, orders);
    }

    /// <summary>Counts a block that arrived for a CID this session already got.</summary>
    private Session CountDuplicate() => this with { DuplicateBlocks = DuplicateBlocks + 1 };

    /// <summary>
    /// The peer that should get the want-block for <paramref name="cid"/>: HAVE beats unknown, a DONT_HAVE peer never gets
    /// it; ties by weighted chance. The session's peers come as an array taken once by the caller: a want-block choice per
    /// candidate walked the peer set twice (a boxed enumerator each) and gathered the tied peers in a new sequence.
    /// </summary>
    private (Session Session, PeerId? Peer) BestPeer(Cid cid, PeerId[] peers)
    {
        var bestRank = 0;
        var tied = 0;
        PeerId? first = null;
        foreach (var peer in peers)
        {
            var rank = RankOf(peer, cid);
            if (rank == 0 || rank < bestRank) continue;
            if (rank > bestRank)
            {
                bestRank = rank;
                tied = 0;
                first = peer;
            }
            tied++;
        }
        if (tied <= 1) return (this, first);
        // boxo peerResponseTracker: chance proportional to (blocks first delivered + 1).
        long sum = 0;
        foreach (var peer in peers)
            if (RankOf(peer, cid) == bestRank) sum += WeightOf(peer);
        var (draw, next) = SplitMix64.Next(Random);
        var pick = (long)(draw % (ulong)sum);
        foreach (var peer in peers)
        {
            if (RankOf(peer, cid) != bestRank) continue;
            var weight = WeightOf(peer);
            if (pick < weight) return (this with { Random = next }, peer);
            pick -= weight;
        }
        throw new System.Diagnostics.UnreachableException("the draw is below the weight sum");
    }

    /// <summary>HAVE beats unknown; a DONT_HAVE peer (rank 0) never gets the want-block.</summary>
    private int RankOf(PeerId peer, Cid cid) => Presences.PresenceOf(peer, cid) switch
    {
        PresenceType.Have => 2,
        PresenceType.DontHave => 0,
        null => 1,
        _ => throw new System.Diagnostics.UnreachableException("presence"),
    };

    private long WeightOf(PeerId peer) => (long)FirstDeliveries.Find(peer).IfNone(0) + 1;

    private (Session, Seq<Cid> Released) RemovePeer(PeerId peer)
    {
        var released = WantsInOrder.Filter(c => Wants.Find(c).Exists(w => w.WantBlockTo == peer)).ToSeq();
        var wants = Wants.SetItems(released.Map(c => KeyValuePair.Create(c, Wants[c] with { WantBlockTo = null })));
        return (this with { Peers = Peers.Without(peer), DontHaveStreaks = DontHaveStreaks.Without(peer), Wants = wants }, released);
    }

    /// <summary>
    /// The sessionWantSender step: each candidate want without an outstanding want-block goes as want-block to the best peer
    /// and as want-have to every other session peer; newly added peers get want-have for every want.
    /// </summary>
    /// <param name="candidates">Wants that may need a want-block now.</param>
    /// <param name="newPeers">Peers that just joined: they get want-have for every want.</param>
    /// <param name="now">The time of the step.</param>
    /// <param name="orders">Orders so far, to append to.</param>
    /// <param name="inOrder">The session's wants in order if the caller already sorted them (a new peer's step sorts once, not twice).</param>
    private (Session, Seq<SessionOrder>) SendNext(Seq<Cid> candidates, Seq<PeerId> newPeers, long now, Seq<SessionOrder> orders, Seq<Cid>? inOrder = null)
    {
        var session = this;
        // Local to this call: the per-peer lists, and the want records changed in a builder over the wants (each node
        // copied once, then changed in place). A repeated candidate needs no set to skip it: once given a want-block it is
        // skipped as held, and a candidate with no peer to ask finds none again, drawing nothing.
        var blocks = new SortedDictionary<PeerId, List<Cid>>();
        var haves = new SortedDictionary<PeerId, List<Cid>>();
        var wants = Wants.ToBuilder();
        var changed = false;
        var goneLive = new List<long>();
        // The peers do not change during the call: taken once, not walked through the set's boxed enumerator per candidate.
        PeerId[] peers = [.. session.Peers];
        SessionWant? WantOf(Cid cid) => wants.TryGetValue(cid, out var w) ? w : null;
        void Set(Cid cid, SessionWant before, SessionWant after)
        {
            if (before.LiveSince is null && after.LiveSince is not null) goneLive.Add(before.Order);
            wants[cid] = after;
            changed = true;
        }
        // With one peer every candidate lands in its list: sized for them (growing copies the array at every doubling).
        var capacity = peers.Length == 1 ? candidates.Count : 0;
        void Append(SortedDictionary<PeerId, List<Cid>> lists, PeerId peer, Cid cid)
        {
            if (!lists.TryGetValue(peer, out var list)) lists[peer] = list = new List<Cid>(capacity);
            list.Add(cid);
        }
        foreach (var cid in candidates)
        {
            if (WantOf(cid) is not SessionWant want || want.WantBlockTo is not null) continue;
            PeerId? best;
            (session, best) = session.BestPeer(cid, peers);
            if (best is null) continue;
            Set(cid, want, want with { WantBlockTo = best, LiveSince = now });
            Append(blocks, best, cid);
            if (Explains)
            {
                var hasHave = session.Presences.PeerHas(best, cid);
                orders = orders.Add(new EmitOrder(new Explain("want-block", cid, best,
                    $"session {Id}: best of {session.Peers.Count} peer(s), {(hasHave ? "said HAVE" : "presence unknown")}")));
            }
            foreach (var other in peers)
                if (other != best) Append(haves, other, cid);
        }
        foreach (var peer in newPeers)
        {
            if (!session.Peers.Contains(peer)) continue;
            // An order sorted earlier in the step may name wants delivered since: they are skipped.
            foreach (var cid in inOrder ?? session.WantsInOrder)
            {
                if (WantOf(cid) is not SessionWant want) continue;
                if (want.WantBlockTo == peer) continue;
                Append(haves, peer, cid);
                if (want.LiveSince is null) Set(cid, want, want with { LiveSince = now });
            }
        }
        if (changed)
        {
            var toFetch = session.ToFetch;
            toFetch = goneLive.Count == toFetch.Count ? SortedMap<long, Cid>.Empty : toFetch.WithoutAll(goneLive);
            session = session with { Wants = SortedMap<Cid, SessionWant>.From(wants), ToFetch = toFetch };
        }
        var asked = session.Asked;
        var newlyAsked = false;
        foreach (var peer in blocks.Keys.Union(haves.Keys).Order())
        {
            if (!asked.Contains(peer))
            {
                asked = asked.Add(peer);
                newlyAsked = true;
            }
            var wantBlocks = blocks.TryGetValue(peer, out var b) ? b.ToSeq().Strict() : Seq<Cid>.Empty;
            Seq<Cid> wantHaves;
            if (!haves.TryGetValue(peer, out var h)) wantHaves = Seq<Cid>.Empty;
            else if (b is null) wantHaves = h.ToSeq().Strict();
            else
            {
                var asBlocks = b.ToHashSet();
                wantHaves = h.Where(c => !asBlocks.Contains(c)).ToSeq().Strict();
            }
            orders = orders.Add(new SendWantsOrder(peer, wantBlocks, wantHaves));
        }
        return (newlyAsked ? session with { Asked = asked } : session, orders);
    }

    /// <summary>Before any peer is known, move wants to live up to the broadcast limit and broadcast want-have for them (boxo GetNextWants).</summary>
    private (Session, Seq<SessionOrder>) BroadcastIfUndiscovered(long now, Limits limits, Seq<SessionOrder> orders)
    {
        if (PeersDiscovered) return (this, orders);
        var room = limits.BroadcastLiveWantsMax - LiveCount;
        if (room <= 0 || ToFetch.IsEmpty) return (this, orders);
        // The head of the queue goes live in one batch per map.
        var next = new List<Cid>(Math.Min(room, ToFetch.Count));
        var live = new List<KeyValuePair<Cid, SessionWant>>(next.Capacity);
        var taken = new List<long>(next.Capacity);
        foreach (var (order, cid) in ToFetch)
        {
            if (next.Count >= room) break;
            next.Add(cid);
            live.Add(KeyValuePair.Create(cid, Wants[cid] with { LiveSince = now }));
            taken.Add(order);
        }
        var toFetch = taken.Count == ToFetch.Count ? SortedMap<long, Cid>.Empty : ToFetch.RemoveRange(taken);
        return (this with { Wants = Wants.SetItems(live), ToFetch = toFetch },
            orders.Add(new BroadcastOrder(Persistent.SeqOf(next), Explains ? $"session {Id}: no peer known yet" : "")));
    }

    /// <summary>Broadcasts want-have, once per exhaustion, for checked wants no session peer can be asked for (all said DONT_HAVE, or none is left).</summary>
    private (Session, Seq<SessionOrder>) BroadcastExhausted(Seq<Cid> toCheck, Seq<SessionOrder> orders)
    {
        var exhausted = Seq<Cid>.Empty;
        var marked = Exhausted;
        foreach (var cid in toCheck.Distinct())
        {
            if (Wants.Find(cid).Case is not SessionWant { WantBlockTo: null } || marked.Contains(cid)) continue;
            if (Peers.Any(p => !Presences.PeerLacks(p, cid))) continue;
            marked = marked.Add(cid);
            exhausted = exhausted.Add(cid);
        }
        if (exhausted.IsEmpty) return (this, orders);
        return (this with { Exhausted = marked }, orders.Add(new BroadcastOrder(exhausted, Explains ? $"session {Id}: peers exhausted" : "")));
    }

    private (Session, Seq<SessionOrder>) ArmTick(long now, Limits limits, Seq<SessionOrder> orders)
    {
        // boxo resetIdleTick: the provider-search delay until latency is known, then 500 ms + 3 × average latency; × (1 + ticks).
        var baseDelay = LatencySamples == 0 ? limits.ProviderSearchDelayMs : limits.BaseTickDelayMs + 3 * (LatencyTotalMs / LatencySamples);
        var deadline = now + baseDelay * (1 + ConsecutiveTicks);
        // An armed timer that fires no later than the new deadline will re-arm itself for it (see Tick).
        if (TickArmedFor is { } armed && armed <= deadline) return (this with { TickDeadline = deadline }, orders);
        return (this with { TickDeadline = deadline, TickArmedFor = deadline }, orders.Add(new EmitOrder(new ArmTimer(new TimerId(TimerKind.SessionTick, Id), deadline))));
    }

    private static Seq<Cid> Seq1(Cid cid) => Seq<Cid>.Empty.Add(cid);
}
