using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>A want waiting in a peer's queue for the next message.</summary>
/// <param name="Entry">The entry to send.</param>
/// <param name="Broadcast">True for a broadcast want (sent to every peer), false for a session's peer want.</param>
public sealed record PendingWant(WantlistEntry Entry, bool Broadcast);

/// <summary>A want the peer was told about.</summary>
/// <param name="Entry">The entry as last sent.</param>
/// <param name="Broadcast">True for a broadcast want.</param>
/// <param name="SentAt">When it was last sent and still unanswered; null once the peer answered (no rebroadcast needed).</param>
public sealed record SentWant(WantlistEntry Entry, bool Broadcast, long? SentAt)
{
    /// <summary>
    /// For a peer want-block on the wire and unanswered, when its DONT_HAVE clock started; null otherwise. Kept here rather
    /// than in a map of its own, so an answered block is one update of <see cref="PeerWants.Sent"/>, not two maps.
    /// </summary>
    public long? AwaitingSince { get; init; }
}

/// <summary>The one message to a peer that the shell has not yet confirmed or failed.</summary>
/// <param name="Envelope">Its id.</param>
/// <param name="Message">What it carried, to re-queue on failure.</param>
public sealed record InFlightEnvelope(EnvelopeId Envelope, Message Message);

/// <summary>What the client asks of one peer's <see cref="PeerWants"/>, as a closed hierarchy; stepped by <see cref="PeerWants.Handle"/>.</summary>
public abstract record PeerWantsInput
{
    // Only this assembly's records derive from it, so Handle's switch covers every input.
    private protected PeerWantsInput() { }
}

/// <summary>Queue want-blocks and want-haves, for a session (<paramref name="Broadcast"/> false) or a broadcast.</summary>
public sealed record QueueWants(Seq<Cid> WantBlocks, Seq<Cid> WantHaves, bool Broadcast) : PeerWantsInput;

/// <summary>Withdraw wants: unsent ones are deleted, sent ones become pending CANCELs.</summary>
public sealed record QueueCancels(Seq<Cid> Cids) : PeerWantsInput;

/// <summary>The peer sent these blocks: its server dropped the wants, so they are forgotten without a CANCEL.</summary>
public sealed record ForgetWants(Seq<Cid> Cids) : PeerWantsInput;

/// <summary>
/// The peer answered with a message's <paramref name="Blocks"/> and <paramref name="Presences"/>. <paramref name="Wanted"/>
/// is the client's interest: a block it wants is forgotten right after (<see cref="ForgetWants"/>), so it is not re-stamped.
/// </summary>
public sealed record PeerAnswered(Map<Cid, Block> Blocks, Map<Cid, PresenceType> Presences, SortedMap<Cid, Set<long>> Wanted, long Now, Limits Limits) : PeerWantsInput;

/// <summary>Take the next message into <paramref name="Envelope"/>, answered by <see cref="SendMessage"/> when there is one to send.</summary>
public sealed record TakeNextMessage(EnvelopeId Envelope, long Now, Limits Limits) : PeerWantsInput;

/// <summary>The shell sent the envelope: the queue may send again and want-blocks start their DONT_HAVE clocks unless <paramref name="StartClocks"/> is false.</summary>
public sealed record EnvelopeConfirmed(EnvelopeId Envelope, long Now, bool StartClocks, Limits Limits) : PeerWantsInput;

/// <summary>The shell could not send the envelope: its wants go back to the queue.</summary>
public sealed record EnvelopeFailed(EnvelopeId Envelope, long Now, Limits Limits) : PeerWantsInput;

/// <summary>The rebroadcast check is due: sent wants unanswered too long are queued again.</summary>
public sealed record RebroadcastDue(long Now, Limits Limits) : PeerWantsInput;

/// <summary>Arm the send-debounce timer for <paramref name="Deadline"/>.</summary>
public sealed record ArmDebounceAt(long Deadline) : PeerWantsInput;

/// <summary>Forget the armed send debounce: it fired, or the queue sends at once so its firing must find nothing to do.</summary>
public sealed record DisarmDebounce : PeerWantsInput
{
    /// <summary>The one instance: the input carries no data.</summary>
    public static readonly DisarmDebounce Instance = new();

    private DisarmDebounce() { }
}

/// <summary>The peer connected again (the shell reports a connect for a peer already known): its version and traits are refreshed.</summary>
public sealed record PeerReconnected(ProtocolVersion Version, PeerTraits Traits) : PeerWantsInput;

/// <summary>The DONT_HAVE timer fired: want-blocks past the timeout are reported as <see cref="DontHavesSimulated"/>.</summary>
public sealed record DontHaveTimerFired(long Now, Limits Limits) : PeerWantsInput;

/// <summary>What a <see cref="PeerWants"/> step asks of the client: a root effect (a message, a timer, an explanation) or <see cref="DontHavesSimulated"/>.</summary>
public interface IPeerWantsEffect;

/// <summary>Want-blocks unanswered past the DONT_HAVE timeout, sorted: the client hands them to sessions as DONT_HAVEs.</summary>
public sealed record DontHavesSimulated(Seq<Cid> Cids) : IPeerWantsEffect;

/// <summary>
/// One peer's outgoing want queue (boxo peerWantManager entry plus MessageQueue): what we want from the peer, what it was
/// told, and the cancels still to send. At most one envelope is in flight; wants and cancels arriving meanwhile coalesce
/// into the next message. Pure: <see cref="Handle"/> returns a new value plus its effects.
/// </summary>
/// <param name="Peer">The peer.</param>
/// <param name="Version">Its Bitswap version; below 1.2.0 it gets no want-haves.</param>
/// <param name="Pending">Wants to put in the next message.</param>
/// <param name="PendingCancels">Cancels to put in the next message, with the want the peer still holds until the cancel leaves; only for wants the peer was sent.</param>
/// <param name="Sent">Wants the peer was told about and not cancelled (a <see cref="SortedMap{TKey, TValue}"/>: a message's answered wants leave it in one batch).</param>
/// <param name="NextPriority">Next priority to hand out; counts down from <see cref="int.MaxValue"/>, never below 1.</param>
/// <param name="InFlight">The envelope awaiting MessageSent/MessageFailed, if any.</param>
/// <param name="DebounceDeadline">When the armed send-debounce timer fires, if armed.</param>
/// <param name="RetryNotBefore">After a failed send, no new send before this time.</param>
/// <param name="DontHaveDeadline">When the armed dont-have timer fires, if armed.</param>
/// <param name="LatencyEwmaMs">Moving average of response latency, null until the first valid sample.</param>
/// <param name="LatencySamples">Valid latency samples taken.</param>
public sealed record PeerWants(
    PeerId Peer,
    ProtocolVersion Version,
    SortedMap<Cid, PendingWant> Pending,
    Map<Cid, SentWant> PendingCancels,
    SortedMap<Cid, SentWant> Sent,
    int NextPriority,
    InFlightEnvelope? InFlight,
    long? DebounceDeadline,
    long? RetryNotBefore,
    long? DontHaveDeadline,
    double? LatencyEwmaMs,
    long LatencySamples)
{
    /// <summary>Wire bytes of a message around its entries, overestimated: wantlist field tag and a 4-byte length, the full flag, slack.</summary>
    public const int MessageOverheadBytes = 16;

    /// <summary>When the last message to the peer was taken; null before the first. Within a debounce of it, sends coalesce.</summary>
    public long? LastSentAt { get; init; }

    /// <summary>True to emit <see cref="Explain"/> effects; off, no reason is formatted.</summary>
    public bool Explains { get; init; }

    /// <summary>Whether the peer is local or peered, as the shell reported at connect (broadcast control).</summary>
    public PeerTraits Traits { get; init; }

    /// <summary>The peer sent us a block or a HAVE since it connected: a broadcast target (boxo MarkBroadcastTarget).</summary>
    public bool Answered { get; init; }

    /// <summary>
    /// Wants in <see cref="Sent"/> the peer has not answered yet (a non-null <see cref="SentWant.SentAt"/>), kept as a count
    /// so <see cref="SendableAt"/> knows at once whether the peer still has work of ours.
    /// </summary>
    public int Unanswered { get; init; }

    private static int Counts(SentWant? want) => want?.SentAt is null ? 0 : 1;

    /// <summary>An empty queue for a newly connected peer.</summary>
    public static PeerWants Create(PeerId peer, ProtocolVersion version, bool explains = false) =>
        new(peer, version, SortedMap<Cid, PendingWant>.Empty, Map<Cid, SentWant>.Empty, SortedMap<Cid, SentWant>.Empty, int.MaxValue,
            null, null, null, null, null, 0) { Explains = explains };

    /// <summary>
    /// Conservative wire size of one entry, used before the codec is consulted. A protobuf entry is the CID (tag, 2-byte length,
    /// bytes), priority (tag + up to 5 varint bytes), cancel, wantType and sendDontHave (2 bytes each), wrapped in a tag and a
    /// 2-byte length: CID length + 18. We count CID length + 20.
    /// </summary>
    public static int EstimatedEntryBytes(Cid cid) => cid.ByteLength + 20;

    /// <summary>Conservative wire size of a wantlist message, as <see cref="MessageOverheadBytes"/> plus each entry's estimate.</summary>
    public static int EstimatedMessageBytes(Message message) =>
        MessageOverheadBytes + message.Wantlist.Keys.Sum(EstimatedEntryBytes);

    /// <summary>Entries waiting to be sent (wants and cancels).</summary>
    public int PendingCount => Pending.Count + PendingCancels.Count;

    /// <summary>What the peer was told we want, by CID.</summary>
    public Seq<WantlistEntry> SentEntries => Sent.Values.Select(s => s.Entry).ToSeq();

    /// <summary>Steps the queue by one input.</summary>
    public static Step<PeerWants, IPeerWantsEffect> Handle(PeerWants state, PeerWantsInput input)
    {
        switch (input)
        {
            case QueueWants wants:
            {
                var (queue, explains) = state.AddWants(wants.WantBlocks, wants.WantHaves, wants.Broadcast);
                return new(queue, explains);
            }
            case QueueCancels cancels:
            {
                var (queue, explains) = state.Cancel(cancels.Cids);
                return new(queue, explains);
            }
            case ForgetWants forget:
                return Quiet(state.ForgetAll(forget.Cids));
            case PeerAnswered answered:
                return Quiet(state.Answer(answered));
            case TakeNextMessage take:
            {
                var (queue, message) = state.TakeMessage(take.Envelope, take.Now, take.Limits);
                return message is null ? Quiet(queue) : new(queue, Seq<IPeerWantsEffect>.Empty.Add(new SendMessage(state.Peer, take.Envelope, message)));
            }
            case EnvelopeConfirmed confirmed:
            {
                var (queue, timer) = state.Confirmed(confirmed.Envelope, confirmed.Now, confirmed.StartClocks).ArmDontHave(confirmed.Now, confirmed.Limits);
                return timer is null ? Quiet(queue) : new(queue, Seq<IPeerWantsEffect>.Empty.Add(timer));
            }
            case EnvelopeFailed failed:
                return Quiet(state.Failed(failed.Envelope, failed.Now, failed.Limits));
            case RebroadcastDue due:
            {
                var (queue, explains) = state.QueueRebroadcast(due.Now, due.Limits);
                return new(queue, explains);
            }
            case ArmDebounceAt arm:
            {
                var (queue, timer) = state.ArmDebounce(arm.Deadline);
                return new(queue, Seq<IPeerWantsEffect>.Empty.Add(timer));
            }
            case DisarmDebounce:
                return Quiet(state with { DebounceDeadline = null });
            case PeerReconnected reconnected:
                return Quiet(state with { Version = reconnected.Version, Traits = reconnected.Traits });
            case DontHaveTimerFired fired:
            {
                var (queue, expired, timer) = state.ExpireDontHaves(fired.Now, fired.Limits);
                var effects = timer is null ? Seq<IPeerWantsEffect>.Empty : Seq<IPeerWantsEffect>.Empty.Add(timer);
                return new(queue, expired.IsEmpty ? effects : effects.Add(new DontHavesSimulated(expired)));
            }
            default:
                throw new System.Diagnostics.UnreachableException($"peer wants input {input.GetType().Name}");
        }
    }

    private static Step<PeerWants, IPeerWantsEffect> Quiet(PeerWants state) => Step<PeerWants, IPeerWantsEffect>.Quiet(state);

    /// <summary>
    /// A message's answers: latency sampled and clocks stopped (<see cref="Responded"/>), and a peer that sent a block or a
    /// HAVE becomes a broadcast target (boxo Client.receiveBlocksFrom).
    /// </summary>
    private PeerWants Answer(PeerAnswered answered)
    {
        // Wanted blocks are forgotten at this peer after routing (the client's ForgetWants), so their sent record goes now.
        var interest = answered.Wanted;
        var blocks = answered.Blocks;
        bool Delivered(Cid cid) => blocks.ContainsKey(cid) && interest.ContainsKey(cid);
        var presences = answered.Presences;
        bool HaveOnly(Cid cid) => presences.Find(cid).Case is PresenceType.Have;
        // Listed with a count, so Responded sizes its local sets up front.
        // Blocks alone or presences alone are distinct CIDs, passed as they are; both together are listed, counted.
        IEnumerable<Cid> answeredCids = presences.IsEmpty ? blocks.Keys : blocks.IsEmpty ? presences.Keys : [.. blocks.Keys, .. presences.Keys];
        var responded = Responded(answeredCids, answered.Now, answered.Limits, Delivered, HaveOnly, distinct: blocks.IsEmpty || presences.IsEmpty);
        if (!responded.Answered && (!blocks.IsEmpty || presences.Values.Exists(t => t == PresenceType.Have)))
            responded = responded with { Answered = true };
        return responded;
    }

    /// <summary>
    /// The DONT_HAVE timeout (boxo bitswap/client/internal/messagequeue/donthavetimeoutmgr.go): dontHaveTimeout (5 s) until
    /// a latency is known, then maxExpectedWantProcessTime (2 s) plus pingLatencyMultiplier (3) times the latency average,
    /// clamped to [MinTimeout, maxTimeout = dontHaveTimeout + maxExpectedWantProcessTime].
    /// </summary>
    /// <remarks>
    /// boxo's other formula, twice the message-latency average, is not used: our average comes from single answered wants
    /// on an idle peer, so a batch of hundreds of want-blocks to a healthy peer (Helia) timed out after about 50 ms and
    /// the peer was pruned from its session. The processing allowance covers a peer working through a large batch.
    /// </remarks>
    public long DontHaveTimeoutMs(Limits limits)
    {
        if (LatencyEwmaMs is not { } ewma) return limits.DontHaveTimeoutMs;
        var timeout = limits.WantProcessTimeMaxMs + (long)Math.Ceiling(limits.DontHaveLatencyMultiplier * ewma);
        return Math.Clamp(timeout, limits.DontHaveTimeoutMinMs, limits.DontHaveTimeoutMaxMs);
    }

    /// <summary>
    /// Queues wants. Want-haves get priorities before want-blocks (boxo AddWants: within one call want-haves rank higher).
    /// A want already sent as strongly (or stronger) is skipped, so a want-have never downgrades a want-block; a re-want drops
    /// a pending cancel. Peers below 1.2.0 get no peer want-haves, and broadcast want-haves become want-blocks for them.
    /// </summary>
    private (PeerWants Queue, Seq<IPeerWantsEffect> Explains) AddWants(Seq<Cid> wantBlocks, Seq<Cid> wantHaves, bool broadcast)
    {
        var draft = new Draft(this);
        var explains = Seq<IPeerWantsEffect>.Empty;
        var supportsHave = Version.SupportsHave();
        foreach (var cid in wantHaves)
        {
            if (!supportsHave && !broadcast)
            {
                if (Explains) explains = explains.Add(new Explain("want-skipped", cid, Peer, "peer speaks below 1.2.0: no want-have"));
                continue;
            }
            var type = supportsHave ? WantType.Have : WantType.Block;
            explains = AddOne(draft, cid, type, broadcast, explains);
        }
        foreach (var cid in wantBlocks) explains = AddOne(draft, cid, WantType.Block, broadcast, explains);
        return (draft.Apply(), explains);
    }

    /// <summary>
    /// The changes of one <see cref="AddWants"/> call over the queue it started from, local to that call: each map is
    /// updated once at the end (a bulk rebuild when many wants arrive at once) instead of once per want.
    /// </summary>
    private sealed class Draft(PeerWants origin)
    {
        // A builder over the pending map: the call's wants go straight into the tree (nodes it copied are reused).
        public readonly SortedMap<Cid, PendingWant>.Builder Pending = origin.Pending.ToBuilder();
        public bool PendingChanged;
        public readonly Dictionary<Cid, SentWant> Sent = [];
        public readonly System.Collections.Generic.HashSet<Cid> CancelsDropped = [];
        public int NextPriority = origin.NextPriority;

        public PendingWant? PendingOf(Cid cid) => Pending.TryGetValue(cid, out var p) ? p : null;

        public void SetPending(Cid cid, PendingWant want)
        {
            Pending[cid] = want;
            PendingChanged = true;
        }
        public SentWant? SentOf(Cid cid) => Sent.TryGetValue(cid, out var s) ? s : origin.Sent.Find(cid).Case as SentWant;
        public SentWant? CancelOf(Cid cid) => CancelsDropped.Contains(cid) ? null : origin.PendingCancels.Find(cid).Case as SentWant;

        public PeerWants Apply()
        {
            if (!PendingChanged && Sent.Count == 0 && CancelsDropped.Count == 0) return origin;
            var unanswered = origin.Unanswered;
            foreach (var (cid, want) in Sent) unanswered += Counts(want) - Counts(origin.Sent.Find(cid).Case as SentWant);
            return origin with
            {
                Pending = PendingChanged ? SortedMap<Cid, PendingWant>.From(Pending) : origin.Pending,
                Sent = origin.Sent.WithItems(Sent),
                PendingCancels = origin.PendingCancels.WithoutAll(CancelsDropped, CancelsDropped.Contains),
                NextPriority = NextPriority,
                Unanswered = unanswered,
            };
        }
    }

    private Seq<IPeerWantsEffect> AddOne(Draft draft, Cid cid, WantType type, bool broadcast, Seq<IPeerWantsEffect> explains)
    {
        // A re-want drops the pending cancel. The peer still holds the earlier want, so it is sent again (boxo: the want goes
        // out, the cancel does not) as at least as strong as before, and stays recorded so a later cancel still reaches the peer.
        if (draft.CancelOf(cid) is SentWant held)
        {
            var strongest = held.Entry.WantType == WantType.Block ? WantType.Block : type;
            var again = new WantlistEntry(cid, draft.NextPriority, strongest, false, !broadcast || held.Entry.SendDontHave);
            draft.Sent[cid] = held;
            draft.SetPending(cid, new PendingWant(again, broadcast && held.Broadcast));
            draft.CancelsDropped.Add(cid);
            draft.NextPriority = Math.Max(1, draft.NextPriority - 1);
            return Explains ? explains.Add(new Explain("want-queued", cid, Peer, "re-wanted before its cancel left: cancel dropped, want re-sent")) : explains;
        }
        var pending = draft.PendingOf(cid);
        var sent = draft.SentOf(cid);
        var pendingType = Prelude.Optional(pending?.Entry.WantType);
        var sentType = Prelude.Optional(sent?.Entry.WantType);
        // A session's want-block after a broadcast want-block (peers below 1.2.0) still goes out as a peer want, asking for
        // DONT_HAVE and timed for it (boxo tracks peer want-blocks apart from broadcast wants).
        var supersedesBroadcast = type == WantType.Block && !broadcast
            && (pending is null || pending.Broadcast) && (sent is null || sent.Broadcast);
        var alreadyBlock = pendingType == WantType.Block || sentType == WantType.Block;
        if ((alreadyBlock && !supersedesBroadcast) || (type == WantType.Have && (pendingType.IsSome || sentType.IsSome)))
        {
            if (!Explains) return explains;
            var reason = pendingType.IsSome ? "already queued" : "already sent";
            return explains.Add(new Explain("want-skipped", cid, Peer, $"{reason}; never downgraded"));
        }
        // Peer wants ask for DONT_HAVE so the session can move on; broadcast wants do not (boxo messagequeue).
        var sendDontHave = !broadcast;
        var entry = new WantlistEntry(cid, draft.NextPriority, type, false, sendDontHave);
        var isBroadcast = broadcast && pending is not { Broadcast: false };
        draft.SetPending(cid, new PendingWant(entry, isBroadcast));
        draft.NextPriority = Math.Max(1, draft.NextPriority - 1);
        if (!Explains) return explains;
        var why = (type, broadcast) switch
        {
            (WantType.Have, true) => "broadcast want-have",
            (WantType.Block, true) => "broadcast as want-block (peer below 1.2.0)",
            (WantType.Have, false) => "want-have to session peer",
            _ => sentType.IsSome ? "want-block upgrades a sent want-have" : "want-block to session peer",
        };
        return explains.Add(new Explain("want-queued", cid, Peer, why));
    }

    /// <summary>
    /// Withdraws wants. An unsent want is just deleted; a sent one becomes a pending CANCEL (boxo AddCancels), so CANCEL goes
    /// only to peers that were sent the want.
    /// </summary>
    private (PeerWants Queue, Seq<IPeerWantsEffect> Explains) Cancel(Seq<Cid> cids)
    {
        var pending = Pending;
        var cancels = PendingCancels;
        var sent = Sent;
        var unanswered = Unanswered;
        var explains = Seq<IPeerWantsEffect>.Empty;
        var changed = false;
        foreach (var cid in cids)
        {
            var wasPending = pending.ContainsKey(cid);
            changed |= wasPending || sent.ContainsKey(cid);
            pending = pending.Without(cid);
            if (sent.Find(cid).Case is SentWant was)
            {
                sent = sent.Without(cid);
                unanswered -= Counts(was);
                // Its DONT_HAVE clock stops: a re-want before the cancel leaves restores the want, not the clock.
                cancels = cancels.AddOrUpdate(cid, was.AwaitingSince is null ? was : was with { AwaitingSince = null });
                if (Explains) explains = explains.Add(new Explain("cancel-queued", cid, Peer, "the peer was sent this want"));
            }
            else if (wasPending && Explains)
            {
                explains = explains.Add(new Explain("cancel-unsent", cid, Peer, "want never sent: deleted, no CANCEL"));
            }
        }
        // Unchanged queues come back as they were, so the caller can skip peers the cancel did not concern.
        if (!changed) return (this, explains);
        return (this with { Pending = pending, PendingCancels = cancels, Sent = sent, Unanswered = unanswered }, explains);
    }

    /// <summary>The peer sent these blocks itself: its server dropped the wants, so we forget them without a CANCEL.</summary>
    private PeerWants ForgetAll(Seq<Cid> cids)
    {
        var unanswered = Unanswered;
        foreach (var cid in cids.Distinct()) unanswered -= Counts(Sent.Find(cid).Case as SentWant);
        return this with
        {
            Pending = Pending.RemoveRange(cids),
            Sent = Sent.RemoveRange(cids),
            Unanswered = unanswered,
        };
    }

    /// <summary>
    /// The peer answered (block, HAVE or DONT_HAVE) for these CIDs: the first answer clears the want's timestamp (no rebroadcast)
    /// and gives a latency sample; the DONT_HAVE timeout stops for them, except that a HAVE does not answer a want-block.
    /// </summary>
    /// <param name="cids">The CIDs answered.</param>
    /// <param name="now">The time of the answer.</param>
    /// <param name="limits">The bounds in force.</param>
    /// <param name="forgotten">CIDs whose block arrived and that the caller then forgets (<see cref="ForgetAll"/>): sampled, but not re-stamped first.</param>
    /// <param name="haveOnly">CIDs the peer answered with HAVE alone: a want-block's DONT_HAVE clock keeps running for them.</param>
    /// <param name="distinct">True when <paramref name="cids"/> holds no repeat (a message's blocks alone, or its presences alone): no set is needed to skip repeats.</param>
    private PeerWants Responded(IEnumerable<Cid> cids, long now, Limits limits, Func<Cid, bool>? forgotten = null, Func<Cid, bool>? haveOnly = null, bool distinct = false)
    {
        var ewma = LatencyEwmaMs;
        var samples = LatencySamples;
        // Collected, then applied to each map once (a bulk rebuild when that is cheaper).
        var expected = cids.TryGetNonEnumeratedCount(out var n) ? n : 0;
        var answered = distinct ? null : new System.Collections.Generic.HashSet<Cid>(expected);
        // Drops and stamps (each CID gets one or the other) go into a builder over the sent map.
        var sent = Sent.ToBuilder();
        var changed = false;
        var unanswered = Unanswered;
        foreach (var cid in cids)
        {
            if (answered?.Add(cid) == false || !Sent.TryGetValue(cid, out var want)) continue;
            // A peer that says HAVE to a want-block and then never sends it must still time out into a simulated DONT_HAVE,
            // or the session would wait on it forever while another peer could serve (issue 13's silent provider).
            var awaiting = want.Entry.WantType == WantType.Block && haveOnly?.Invoke(cid) == true ? want.AwaitingSince : null;
            if (want.SentAt is not { } at)
            {
                // Answered before, yet a DONT_HAVE clock may run again (the want was re-sent): any answer but a HAVE stops it.
                if (want.AwaitingSince is not null && awaiting is null)
                {
                    if (forgotten?.Invoke(cid) == true) sent.Remove(cid);
                    else sent[cid] = want with { AwaitingSince = null };
                    changed = true;
                }
                continue;
            }
            if (forgotten?.Invoke(cid) == true) sent.Remove(cid);
            else sent[cid] = want with { SentAt = null, AwaitingSince = awaiting };
            changed = true;
            unanswered--;
            var sample = now - at;
            if (sample < 0 || sample > limits.LatencySampleMaxMs) continue;
            samples++;
            // EWMA with alpha 1/n floored at 0.5 (boxo donthavetimeoutmgr): the first sample is taken as is.
            var alpha = Math.Max(1.0 / samples, 0.5);
            ewma = ewma is { } e ? alpha * sample + (1 - alpha) * e : sample;
        }
        return this with { Sent = changed ? SortedMap<Cid, SentWant>.From(sent) : Sent, LatencyEwmaMs = ewma, LatencySamples = samples, Unanswered = unanswered };
    }

    /// <summary>
    /// Takes the next message: cancels, then peer wants, then broadcast wants (each by priority), up to the byte cap by
    /// <see cref="EstimatedEntryBytes"/> and always at least one entry. Taken wants move to <see cref="Sent"/> stamped <paramref name="now"/>.
    /// Returns no message when nothing is pending or one is already in flight.
    /// </summary>
    private (PeerWants Queue, Message? Message) TakeMessage(EnvelopeId envelope, long now, Limits limits)
    {
        if (InFlight is not null || PendingCount == 0) return (this, null);
        var budget = limits.ClientMessageBytesMax - MessageOverheadBytes;
        var used = 0;
        // One local list, sized up front: cancels, then the peer wants and then the broadcast wants, each group sorted in
        // place (priority, then CID: unique, so the order is the LINQ OrderBy's), cut at the first entry over the budget.
        var taken = new List<WantlistEntry>(PendingCount);
        var full = false;
        foreach (var cid in PendingCancels.Keys)
        {
            var size = EstimatedEntryBytes(cid);
            if (taken.Count > 0 && used + size > budget)
            {
                full = true;
                break;
            }
            used += size;
            taken.Add(WantlistEntry.CancelOf(cid));
        }
        bool TakeGroup(bool broadcast)
        {
            var start = taken.Count;
            foreach (var want in Pending.Values)
                if (want.Broadcast == broadcast) taken.Add(want.Entry);
            taken.Sort(start, taken.Count - start, PriorityThenCid);
            for (var i = start; i < taken.Count; i++)
            {
                var size = EstimatedEntryBytes(taken[i].Cid);
                if (i > 0 && used + size > budget)
                {
                    taken.RemoveRange(i, taken.Count - i);
                    return false;
                }
                used += size;
            }
            return true;
        }
        // Entries from here on are broadcast wants (the groups are taken in order), so no entry looks its flag up again.
        var broadcastFrom = int.MaxValue;
        if (!full && TakeGroup(broadcast: false))
        {
            broadcastFrom = taken.Count;
            TakeGroup(broadcast: true);
        }
        var pending = Pending;
        var cancels = PendingCancels;
        var sent = Sent;
        var drained = taken.Count == PendingCount;
        // The taken wants go into a builder over the sent map (each node copied once, then changed in place).
        var sentDraft = sent.ToBuilder();
        var sentChanged = false;
        var unanswered = Unanswered;
        // Cancels and wants are for different CIDs (a re-want drops the cancel); checked, since only then can the
        // message's wantlist be built straight from the entries, without a dictionary merging repeats.
        var distinct = true;
        for (var i = 0; i < taken.Count; i++)
        {
            var entry = taken[i];
            if (entry.Cancel)
            {
                if (Pending.ContainsKey(entry.Cid)) distinct = false;
                if (!drained) cancels = cancels.Without(entry.Cid);
                continue;
            }
            var broadcast = i >= broadcastFrom;
            if (!drained) pending = pending.Without(entry.Cid);
            // A want sent again keeps its DONT_HAVE clock until the confirmation restarts it.
            SentWant? before = null;
            if (!Sent.IsEmpty) Sent.TryGetValue(entry.Cid, out before);
            var clock = before?.AwaitingSince;
            sentDraft[entry.Cid] = new SentWant(entry, broadcast, now) { AwaitingSince = clock };
            unanswered += 1 - Counts(before);
            sentChanged = true;
        }
        // A drained queue starts empty again, and a first message builds Sent in one bulk pass: far fewer allocations
        // than removing and adding entry by entry.
        if (drained)
        {
            pending = SortedMap<Cid, PendingWant>.Empty;
            cancels = Map<Cid, SentWant>.Empty;
        }
        if (sentChanged) sent = SortedMap<Cid, SentWant>.From(sentDraft);
        var message = distinct
            ? Message.Empty with { Wantlist = Map<Cid, WantlistEntry>.Empty.AddRange(taken.Select(e => (e.Cid, e))) }
            : Message.Empty.WithEntries(taken);
        return (this with { Pending = pending, PendingCancels = cancels, Sent = sent, InFlight = new InFlightEnvelope(envelope, message), LastSentAt = now, Unanswered = unanswered }, message);
    }

    /// <summary>Higher priority first, then by CID.</summary>
    private static readonly IComparer<WantlistEntry> PriorityThenCid = Comparer<WantlistEntry>.Create((a, b) =>
    {
        var byPriority = b.Priority.CompareTo(a.Priority);
        return byPriority != 0 ? byPriority : a.Cid.CompareTo(b.Cid);
    });

    /// <summary>
    /// The shell confirmed the envelope: the queue may send again, and its peer want-blocks start their DONT_HAVE clocks
    /// (boxo starts them once the message is on the wire).
    /// </summary>
    /// <param name="envelope">The envelope confirmed.</param>
    /// <param name="now">The time of the confirmation.</param>
    /// <param name="startClocks">False when the client does not simulate DONT_HAVE: no clock starts.</param>
    private PeerWants Confirmed(EnvelopeId envelope, long now, bool startClocks = true)
    {
        if (InFlight is not { } inFlight || inFlight.Envelope != envelope) return this;
        // Made at the first change (broadcast want-haves change nothing, want-blocks all do): a builder over the sent map.
        SortedMap<Cid, SentWant>.Builder? changes = null;
        foreach (var entry in inFlight.Message.Wantlist.Values)
        {
            if (entry.Cancel || entry.WantType != WantType.Block) continue;
            if (Sent.Find(entry.Cid).Case is not SentWant sent) continue;
            if (startClocks && !sent.Broadcast && sent.Entry.WantType == WantType.Block && sent.SentAt is not null)
                (changes ??= Sent.ToBuilder())[entry.Cid] = sent with { AwaitingSince = now };
            else if (!startClocks && sent.AwaitingSince is not null)
                (changes ??= Sent.ToBuilder())[entry.Cid] = sent with { AwaitingSince = null };
        }
        return this with { InFlight = null, RetryNotBefore = null, Sent = changes is null ? Sent : SortedMap<Cid, SentWant>.From(changes) };
    }

    /// <summary>
    /// The shell could not send the envelope: its wants still current and cancels not overtaken go back to the queue, and the
    /// next attempt waits <see cref="Limits.ClientSendRetryMs"/>.
    /// </summary>
    private PeerWants Failed(EnvelopeId envelope, long now, Limits limits)
    {
        if (InFlight is not { } inFlight || inFlight.Envelope != envelope) return this;
        var pending = Pending;
        var cancels = PendingCancels;
        foreach (var entry in inFlight.Message.Wantlist.Values)
        {
            if (entry.Cancel)
            {
                // The cancelled want is gone; assume a want-block so a re-want never downgrades.
                if (!Sent.ContainsKey(entry.Cid) && !pending.ContainsKey(entry.Cid))
                    cancels = cancels.AddOrUpdate(entry.Cid, new SentWant(WantlistEntry.WantBlock(entry.Cid, 1, sendDontHave: true), false, null));
            }
            else if (Sent.Find(entry.Cid).Case is SentWant current && current.Entry == entry && !pending.ContainsKey(entry.Cid))
            {
                pending = pending.SetItem(entry.Cid, new PendingWant(entry, current.Broadcast));
            }
        }
        return this with { InFlight = null, Pending = pending, PendingCancels = cancels, RetryNotBefore = now + limits.ClientSendRetryMs };
    }

    /// <summary>Re-queues sent wants unanswered for <see cref="Limits.RebroadcastIntervalMs"/> (boxo rebroadcastWantlist); they stay in <see cref="Sent"/>.</summary>
    private (PeerWants Queue, Seq<IPeerWantsEffect> Explains) QueueRebroadcast(long now, Limits limits)
    {
        var pending = Pending;
        var explains = Seq<IPeerWantsEffect>.Empty;
        foreach (var (cid, want) in Sent)
        {
            if (want.SentAt is not { } at || now - at < limits.RebroadcastIntervalMs || pending.ContainsKey(cid)) continue;
            pending = pending.SetItem(cid, new PendingWant(want.Entry, want.Broadcast));
            if (Explains) explains = explains.Add(new Explain("want-resent", cid, Peer, $"unanswered for {now - at} ms"));
        }
        return (pending.Count == Pending.Count ? this : this with { Pending = pending }, explains);
    }

    /// <summary>
    /// When the queue's pending entries may leave: null when there is nothing to send, a message is in flight, or the
    /// debounce is armed and nothing urgent is pending. Wants for an idle peer leave at once, even past an armed debounce
    /// (no idle delay). Within a debounce of the last send (a burst) they wait for it to pass so they coalesce (boxo
    /// minSendMessageDelay, 20 ms) while the peer still has wants of ours to answer; once it has answered every one, it is
    /// idle and they leave at once, as Nagle's rule sends when nothing is unacknowledged. (boxo always waits the debounce,
    /// which caps a 512-want window of 4 KiB blocks at 512 per 20 ms, 25,600 blocks/s.) After a failed send they wait for
    /// the retry time. Cancels alone are never urgent: they wait a debounce, so they usually ride along with the next wants.
    /// </summary>
    public long? SendableAt(long now, long debounceMs)
    {
        if (InFlight is not null || PendingCount == 0) return null;
        var afterBurst = LastSentAt is { } last && Unanswered > 0 ? last + debounceMs : long.MinValue;
        var at = Math.Max(afterBurst, RetryNotBefore ?? long.MinValue);
        if (Pending.IsEmpty) at = Math.Max(at, now + debounceMs);
        if (DebounceDeadline is { } armed && (at > now || armed <= at)) return null;
        return at;
    }

    /// <summary>Arms the send-debounce timer for <paramref name="deadline"/>.</summary>
    private (PeerWants Queue, ArmTimer Timer) ArmDebounce(long deadline) =>
        (this with { DebounceDeadline = deadline }, new ArmTimer(new TimerId(TimerKind.SendDebounce, 0, Peer), deadline));

    /// <summary>True when a send-debounce firing at <paramref name="now"/> is the one this queue armed.</summary>
    public bool DebounceDue(long now) => DebounceDeadline is { } d && now >= d;

    /// <summary>
    /// Expires want-blocks unanswered past the DONT_HAVE timeout (they count as a DONT_HAVE) and re-arms the timer for the
    /// next one. A firing before the armed deadline is stale and ignored.
    /// </summary>
    private (PeerWants Queue, Seq<Cid> Expired, ArmTimer? Timer) ExpireDontHaves(long now, Limits limits)
    {
        if (DontHaveDeadline is not { } d || now < d) return (this, Seq<Cid>.Empty, null);
        var timeout = DontHaveTimeoutMs(limits);
        var stopped = new Dictionary<Cid, SentWant>();
        foreach (var (cid, want) in Sent)
            if (want.AwaitingSince is { } since && now - since >= timeout) stopped[cid] = want with { AwaitingSince = null };
        var expired = stopped.Keys.Order().ToSeq().Strict();
        var queue = this with { Sent = Sent.WithItems(stopped), DontHaveDeadline = null };
        var (armed, timer) = queue.ArmDontHave(now, limits);
        return (armed, expired, timer);
    }

    /// <summary>
    /// Arms the DONT_HAVE timer for the earliest awaiting want-block unless one is armed at or before that time. A want that is
    /// already overdue (the timeout shrank when a latency sample arrived) is due now, never in the past.
    /// </summary>
    private (PeerWants Queue, ArmTimer? Timer) ArmDontHave(long now, Limits limits)
    {
        if (EarliestAwaiting() is not { } earliest) return (this, null);
        var deadline = Math.Max(now, earliest + DontHaveTimeoutMs(limits));
        if (DontHaveDeadline is { } armed && armed <= deadline) return (this, null);
        return (this with { DontHaveDeadline = deadline }, new ArmTimer(new TimerId(TimerKind.DontHave, 0, Peer), deadline));
    }

    /// <summary>When the oldest running DONT_HAVE clock started, if any runs (a walk of <see cref="Sent"/>, once per send or timeout).</summary>
    private long? EarliestAwaiting()
    {
        long? earliest = null;
        foreach (var want in Sent.Values)
            if (want.AwaitingSince is { } since && (earliest is null || since < earliest)) earliest = since;
        return earliest;
    }
}
