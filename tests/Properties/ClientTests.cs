using Bitswap.Domain;
using Bitswap.Testing;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;
using Xunit;
using static Bitswap.Tests.Properties.ClientFixtures;

namespace Bitswap.Tests.Properties;

/// <summary>The client behaviours of bitswap-reference.md §7 (items 2–4, 17–25), at reducer level.</summary>
public class ClientTests
{
    private static readonly PeerId A = Peer(0);
    private static readonly PeerId B = Peer(1);
    private static readonly PeerId C = Peer(2);

    private static NodeHarness NewDriver(Limits? limits = null, bool simulateDontHaves = true, bool autoAck = true) =>
        TestNodes.Client(new ClientConfig(limits ?? Limits.Default, 7, simulateDontHaves, Explain: true), autoAck);

    private static bool IsWant(WantlistEntry e, Cid cid, WantType type) => !e.Cancel && e.Cid == cid && e.WantType == type;

    private static bool IsCancel(WantlistEntry e, Cid cid) => e.Cancel && e.Cid == cid;

    private static List<T> Of<T>(Seq<Effect> effects) => effects.OfType<T>().ToList();

    private static int PeerCountOf(NodeHarness driver, long session) =>
        driver.State.Client.Sessions.Find(session).Map(s => s.Peers.Count).IfNone(-1);

    private static bool InSession(NodeHarness driver, long session, PeerId peer) =>
        driver.State.Client.Sessions.Find(session).Exists(s => s.Peers.Contains(peer));

    /// <summary>Session 1 wants <paramref name="cids"/>; <paramref name="peer"/> joins it by sending the block of <paramref name="joinBlock"/>, also wanted.</summary>
    private static void JoinByBlock(NodeHarness driver, PeerId peer, int joinBlock, params int[] cids)
    {
        driver.Want(1, Cids([.. cids, joinBlock]));
        driver.Advance(50);
        driver.ReceiveBlocks(peer, [BlockOf(joinBlock)]);
        driver.Advance(50);
    }

    /// <summary>Session 1 wants <paramref name="cids"/>; <paramref name="peer"/> joins it as a provider of the first one, so no latency is known yet.</summary>
    private static void JoinAsProvider(NodeHarness driver, PeerId peer, params int[] cids)
    {
        driver.Want(1, Cids(cids));
        driver.Advance(50);
        driver.Post(new ProvidersFound(driver.Now, 1, CidOf(cids[0]), new[] { peer }.ToSeq()));
        driver.Advance(50);
    }

    // ---- wants ended by the session (the API fails their waiters from WantsEnded) ----

    [Fact]
    public void Cancel_and_close_end_every_cid_the_session_still_wanted()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1, 2, 3));
        d.Advance(50);
        d.ReceiveBlocks(A, [BlockOf(0)]);

        // CID 0 was delivered and CID 9 never wanted: neither is listed.
        var cancelled = Of<WantsEnded>(d.Cancel(1, Cids(1, 0, 9))).Single();
        Assert.Equal((1L, WantEndReason.Cancelled), (cancelled.Session, cancelled.Reason));
        Assert.Equal(Cids(1), cancelled.Cids);

        var closed = Of<WantsEnded>(d.Post(new CloseSession(d.Now, 1))).Single();
        Assert.Equal((1L, WantEndReason.SessionClosed), (closed.Session, closed.Reason));
        Assert.Equal(Cids(2, 3).OrderBy(c => c), closed.Cids.OrderBy(c => c));
        Assert.Empty(Of<WantsEnded>(d.Post(new CloseSession(d.Now, 1))));
    }

    // ---- DONT_HAVE timeout: a healthy peer working through a large batch is neither timed out nor pruned ----

    [Fact]
    public void A_large_want_block_batch_to_a_healthy_peer_is_not_timed_out_or_pruned()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 255, [.. Enumerable.Range(0, 255)]);
        // A answered its first block within 50 ms, yet 255 want-blocks take the peer time: nothing expires in 2 s.
        d.Advance(2_000);

        Assert.DoesNotContain(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated");
        Assert.True(InSession(d, 1, A));
        Assert.Equal(255, d.EntriesTo(A).Count(e => e.WantType == WantType.Block && !e.Cancel));
    }

    // ---- §7 item 2: cancel on receipt ----

    [Fact]
    public void Receiving_a_wanted_block_delivers_it_and_cancels_it_at_every_other_peer()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        d.Want(1, Cids(0));
        d.Advance(50);
        var effects = d.ReceiveBlocks(A, [BlockOf(0)]);
        d.Advance(50);

        Assert.Contains(new DeliverBlock(1, BlockOf(0), A), Of<DeliverBlock>(effects));
        Assert.Contains(d.EntriesTo(B), e => IsCancel(e, CidOf(0)));
        Assert.DoesNotContain(d.EntriesTo(A), e => e.Cancel);
        Assert.Empty(d.State.Client.Wantlist);
        Assert.Empty(d.State.Client.SentTo(A));
        Assert.Empty(d.State.Client.SentTo(B));
    }

    // ---- §7 item 3: timeout cleanup ----

    [Fact]
    public void Cancelling_one_of_two_requests_leaves_only_the_other_wants()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Want(2, Cids(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
        d.Advance(50);
        Assert.Equal(11, d.EntriesTo(A).Count(e => !e.Cancel && e.WantType == WantType.Have));

        d.Post(new CloseSession(d.Now, 2));
        d.Advance(50);

        Assert.Equal(Cids(0).ToList(), d.State.Client.Wantlist.ToList());
        Assert.Equal(10, d.EntriesTo(A).Count(e => e.Cancel));
        Assert.Equal([CidOf(0)], d.State.Client.SentTo(A).Select(e => e.Cid).ToList());
    }

    [Fact]
    public void Closing_the_session_empties_the_wantlist()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1, 2));
        d.Advance(50);
        d.Post(new CloseSession(d.Now, 1));
        d.Advance(50);

        Assert.Empty(d.State.Client.Wantlist);
        Assert.Empty(d.State.Client.SentTo(A));
        Assert.Empty(d.State.Client.WantsOf(1));
        Assert.Equal(3, d.EntriesTo(A).Count(e => e.Cancel));
    }

    // ---- §7 item 4: independent requests ----

    [Fact]
    public void Two_sessions_want_one_cid_and_the_one_that_did_not_cancel_still_gets_it()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Want(2, Cids(0));
        d.Advance(50);
        d.Cancel(1, Cids(0));
        d.Advance(50);
        Assert.DoesNotContain(d.EntriesTo(A), e => e.Cancel);
        Assert.Equal([2L], d.State.Client.SessionsWanting(CidOf(0)).ToList());

        var effects = d.ReceiveBlocks(A, [BlockOf(0)]);

        Assert.Equal([new DeliverBlock(2, BlockOf(0), A)], Of<DeliverBlock>(effects));
    }

    // ---- §7 item 17: cancel and want interplay ----

    [Fact]
    public void Cancelling_an_unsent_want_sends_nothing()
    {
        var d = NewDriver(autoAck: false);
        d.Connect(A);
        d.Want(1, Cids(0));
        // The first want left at once; the second waits behind the envelope in flight and is cancelled before it leaves.
        d.Want(1, Cids(1));
        d.Cancel(1, Cids(1));
        d.AckOldest(failed: false);
        d.Advance(1_000);

        Assert.DoesNotContain(d.EntriesTo(A), e => e.Cid == CidOf(1));
        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "cancel-unsent" && e.Cid == CidOf(1));
    }

    [Fact]
    public void Cancelling_a_sent_want_sends_cancel()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Advance(50);
        d.Cancel(1, Cids(0));
        d.Advance(50);

        var messages = d.SentTo(A);
        Assert.Equal(2, messages.Count);
        Assert.True(IsWant(messages[0].Wantlist.Values.Single(), CidOf(0), WantType.Have));
        Assert.True(IsCancel(messages[1].Wantlist.Values.Single(), CidOf(0)));
    }

    [Fact]
    public void Re_wanting_a_cid_with_a_pending_cancel_sends_the_want_and_no_cancel()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Advance(50);
        // A send now makes the cancel below wait for the debounce, so the re-want finds it pending.
        d.Want(1, Cids(1));
        d.Cancel(1, Cids(0));
        d.Want(1, Cids(0));
        d.Advance(50);

        var last = d.SentTo(A)[^1];
        Assert.True(IsWant(last.Wantlist.Values.Single(), CidOf(0), WantType.Have));
        Assert.DoesNotContain(d.EntriesTo(A), e => e.Cancel);
    }

    // ---- §7 item 18: priorities ----

    [Fact]
    public void Earlier_wants_rank_higher_and_want_haves_rank_above_want_blocks_in_one_call()
    {
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        (queue, _) = queue.AddWants(Cids(0, 1), Cids(2, 3), broadcast: false);
        (queue, _) = queue.AddWants(Cids(4), Seq<Cid>.Empty, broadcast: false);
        var (_, message) = queue.TakeMessage(new EnvelopeId(Side.Client, 1), 0, Limits.Default);

        var byPriority = message!.Wantlist.Values.OrderByDescending(e => e.Priority).Select(e => e.Cid).ToList();
        Assert.Equal([CidOf(2), CidOf(3), CidOf(0), CidOf(1), CidOf(4)], byPriority);
        Assert.Equal(int.MaxValue, message.Wantlist.Values.Max(e => e.Priority));
    }

    // ---- §7 item 19: splitting ----

    [Fact]
    public void Ten_want_blocks_with_a_three_entry_cap_go_out_in_four_messages_each_entry_once()
    {
        var cap = PeerWants.MessageOverheadBytes + 3 * PeerWants.EstimatedEntryBytes(CidOf(0));
        var limits = Limits.Default with { ClientMessageBytesMax = cap };
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        (queue, _) = queue.AddWants(Cids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), Seq<Cid>.Empty, broadcast: false);
        var messages = new List<Message>();
        for (var i = 1; i <= 5; i++)
        {
            var envelope = new EnvelopeId(Side.Client, i);
            (queue, var message) = queue.TakeMessage(envelope, i, limits);
            if (message is null) break;
            messages.Add(message);
            queue = queue.Confirmed(envelope, i);
        }

        Assert.Equal([3, 3, 3, 1], messages.Select(m => m.Wantlist.Count));
        Assert.Equal(Cids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9).OrderBy(c => c), messages.SelectMany(m => m.Wantlist.Keys).OrderBy(c => c));
        Assert.All(messages, m => Assert.True(PeerWants.EstimatedMessageBytes(m) <= cap));
    }

    [Fact]
    public void Split_messages_carry_cancels_then_peer_wants_then_broadcast_wants()
    {
        var cap = PeerWants.MessageOverheadBytes + 2 * PeerWants.EstimatedEntryBytes(CidOf(0));
        var limits = Limits.Default with { ClientMessageBytesMax = cap };
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        (queue, _) = queue.AddWants(Seq<Cid>.Empty, Cids(5), broadcast: false);
        var (sentOnce, _) = queue.TakeMessage(new EnvelopeId(Side.Client, 1), 0, limits);
        queue = sentOnce.Confirmed(new EnvelopeId(Side.Client, 1), 0);
        (queue, _) = queue.AddWants(Seq<Cid>.Empty, Cids(1), broadcast: true);
        (queue, _) = queue.AddWants(Cids(2), Seq<Cid>.Empty, broadcast: false);
        (queue, _) = queue.Cancel(Cids(5));

        var (next, first) = queue.TakeMessage(new EnvelopeId(Side.Client, 2), 1, limits);
        var (_, second) = next.Confirmed(new EnvelopeId(Side.Client, 2), 1).TakeMessage(new EnvelopeId(Side.Client, 3), 2, limits);

        Assert.True(first!.Wantlist.Find(CidOf(5)).Exists(e => e.Cancel));
        Assert.True(first.Wantlist.Find(CidOf(2)).Exists(e => e.WantType == WantType.Block));
        Assert.True(second!.Wantlist.Find(CidOf(1)).Exists(e => e.WantType == WantType.Have && !e.SendDontHave));
    }

    [Fact]
    public void Overflow_below_the_cutoff_waits_for_the_next_debounce()
    {
        var cap = PeerWants.MessageOverheadBytes + 3 * PeerWants.EstimatedEntryBytes(CidOf(0));
        var d = NewDriver(Limits.Default with { ClientMessageBytesMax = cap });
        d.Connect(A);
        d.Want(1, Cids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        d.Advance(1_000);

        Assert.Equal([3, 3, 3, 1], d.SentTo(A).Select(m => m.Wantlist.Count));
        // The first message leaves at once (the peer was idle); every later one from a debounce timer, none straight from a confirmation.
        var sendingInputs = d.Trace.Where(t => t.Effects.OfType<SendMessage>().Any()).Select(t => t.Input.GetType().Name).ToList();
        Assert.Equal(["WantBlocks", "TimerFired", "TimerFired", "TimerFired"], sendingInputs);
    }

    [Fact]
    public void Overflow_of_at_least_the_cutoff_is_sent_at_once()
    {
        var cap = PeerWants.MessageOverheadBytes + 3 * PeerWants.EstimatedEntryBytes(CidOf(0));
        var d = NewDriver(Limits.Default with { ClientMessageBytesMax = cap, SendMessageCutoffEntries = 4 });
        d.Connect(A);
        d.Want(1, Cids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        d.Advance(1_000);

        Assert.Equal([3, 3, 3, 1], d.SentTo(A).Select(m => m.Wantlist.Count));
        var sendingInputs = d.Trace.Where(t => t.Effects.OfType<SendMessage>().Any()).Select(t => t.Input.GetType().Name).ToList();
        // The first leaves at once (idle peer); 10 left 7 and then 4 (≥ 4: at once), then 1 waits for the debounce.
        Assert.Equal(["WantBlocks", "MessageSent", "MessageSent", "TimerFired"], sendingInputs);
    }

    [Fact]
    public void A_two_mebibyte_wantlist_is_split_under_the_default_cap()
    {
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        var cids = Enumerable.Range(0, 40_000)
            .Select(i => Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Sha2_256, System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))))
            .ToSeq();
        (queue, _) = queue.AddWants(cids, Seq<Cid>.Empty, broadcast: false);
        var (rest, first) = queue.TakeMessage(new EnvelopeId(Side.Client, 1), 0, Limits.Default);

        Assert.True(PeerWants.EstimatedMessageBytes(first!) <= Limits.Default.ClientMessageBytesMax);
        Assert.True(MessageCodec.EncodedSize(first!, ProtocolVersion.V120) <= PeerWants.EstimatedMessageBytes(first!));
        Assert.True(first!.Wantlist.Count > 30_000);
        Assert.True(rest.PendingCount > 0);
        Assert.Equal(40_000, first!.Wantlist.Count + rest.PendingCount);
    }

    // ---- coalescing and debounce ----

    [Fact]
    public void Wants_added_while_a_message_is_in_flight_go_out_together_after_it_is_confirmed()
    {
        var d = NewDriver(autoAck: false);
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Advance(50);
        Assert.Single(d.InFlight);
        d.Want(2, Cids(1));
        d.Want(3, Cids(2));
        d.Advance(1_000);
        Assert.Single(d.SentTo(A));

        d.AckOldest(failed: false);
        d.Advance(50);

        var second = d.SentTo(A)[1];
        Assert.Equal(Cids(1, 2).OrderBy(c => c), second.Wantlist.Keys.OrderBy(c => c));
        Assert.False(second.Full);
    }

    [Fact]
    public void Send_debounce_is_125_microseconds_per_peer_clamped_to_20_ms_and_only_coalesces_a_burst()
    {
        var d = NewDriver();
        d.Connect(A);
        // An idle peer gets the want at once; a second want within the debounce of that send waits for it.
        Assert.Single(Of<SendMessage>(d.Want(1, Cids(0))));
        var effects = d.Want(1, Cids(1));
        Assert.Empty(Of<SendMessage>(effects));
        Assert.Contains(new ArmTimer(new TimerId(TimerKind.SendDebounce, 0, A), d.Now + 20), Of<ArmTimer>(effects));

        var many = NewDriver();
        for (var i = 0; i < 32; i++) many.Connect(Peer(i));
        var limits = Limits.Default with { SendDelayPerPeerMicros = 1_000 };
        var crowded = TestNodes.Client(new ClientConfig(limits, 7));
        for (var i = 0; i < 32; i++) crowded.Connect(Peer(i));
        Assert.Equal(20, many.State.Client.DebounceMs);
        Assert.Equal(32, crowded.State.Client.DebounceMs);
        Assert.Equal(2_000, (crowded.State.Client with { Config = new ClientConfig(limits with { SendDelayPerPeerMicros = 1_000_000 }, 7) }).DebounceMs);
    }

    [Fact]
    public void A_peer_that_answered_every_want_gets_the_next_ones_at_once_and_a_busy_peer_after_the_debounce()
    {
        var limits = Limits.Default;
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        (queue, _) = queue.AddWants(Cids(0, 1), Seq<Cid>.Empty, broadcast: false);
        (queue, _) = queue.TakeMessage(new EnvelopeId(Side.Client, 1), 100, limits);
        queue = queue.Confirmed(new EnvelopeId(Side.Client, 1), 100);
        (queue, _) = queue.AddWants(Cids(2), Seq<Cid>.Empty, broadcast: false);

        // Two wants out and unanswered: the third waits out the 20 ms debounce after the send at 100, so wants coalesce.
        Assert.Equal(2, queue.Unanswered);
        Assert.Equal(120, queue.SendableAt(103, 20));
        // One answered: still busy.
        queue = queue.Responded(Cids(0), 103, limits);
        Assert.Equal(120, queue.SendableAt(103, 20));
        // Both answered: the peer has nothing of ours left, so the want leaves at once (Nagle's rule).
        queue = queue.Responded(Cids(1), 104, limits);
        Assert.Equal(0, queue.Unanswered);
        Assert.True(queue.SendableAt(104, 20) <= 104);
    }

    [Fact]
    public void A_failed_send_puts_its_wants_back_and_retries_later()
    {
        var d = NewDriver(autoAck: false);
        d.Connect(A);
        d.Want(1, Cids(0, 1));
        d.Advance(50);
        d.AckOldest(failed: true);
        d.Advance(1_000);
        Assert.Single(d.SentTo(A));

        d.Advance(1_100);

        var messages = d.SentTo(A);
        Assert.Equal(2, messages.Count);
        Assert.Equal(messages[0].Wantlist, messages[1].Wantlist);
    }

    // ---- wants on the wire ----

    [Fact]
    public void Peer_wants_ask_for_dont_have_and_broadcast_wants_do_not()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 9, 0);

        var entries = d.EntriesTo(A);
        Assert.Contains(entries, e => IsWant(e, CidOf(0), WantType.Have) && !e.SendDontHave);
        Assert.Contains(entries, e => IsWant(e, CidOf(0), WantType.Block) && e.SendDontHave);
    }

    [Fact]
    public void A_newly_connected_peer_gets_every_broadcast_want()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1, 2));
        d.Advance(50);
        d.Connect(B);
        d.Advance(50);

        Assert.Equal(Cids(0, 1, 2).OrderBy(c => c), d.EntriesTo(B).Where(e => e.WantType == WantType.Have).Select(e => e.Cid).OrderBy(c => c));
    }

    [Fact]
    public void Wants_beyond_the_client_limit_are_rejected()
    {
        var d = NewDriver(Limits.Default with { ClientWantsMax = 3 });
        var effects = d.Want(1, Cids(0, 1, 2, 3, 4));

        var reject = Assert.Single(Of<RejectWants>(effects));
        Assert.Equal(Cids(3, 4), reject.Cids);
        Assert.Equal(Cids(0, 1, 2).OrderBy(c => c), d.State.Client.Wantlist);
    }

    [Fact]
    public void Every_sent_want_is_explained()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1));
        d.Advance(50);

        foreach (var entry in d.EntriesTo(A))
            Assert.Contains(d.Effects.OfType<Explain>(), e => e.Cid == entry.Cid && e.Peer == A && e.Subject == "want-queued");
    }

    // ---- §7 item 20: old peers ----

    [Fact]
    public void Broadcasts_to_a_1_1_0_peer_become_want_blocks()
    {
        var d = NewDriver();
        d.Connect(A, ProtocolVersion.V110);
        d.Connect(B);
        d.Want(1, Cids(0, 1));
        d.Advance(50);

        Assert.All(d.EntriesTo(A), e => Assert.Equal(WantType.Block, e.WantType));
        Assert.Equal(2, d.EntriesTo(A).Count);
        Assert.All(d.EntriesTo(B), e => Assert.Equal(WantType.Have, e.WantType));
    }

    [Fact]
    public void No_want_haves_are_sent_to_a_1_1_0_peer()
    {
        var d = NewDriver();
        d.Connect(A, ProtocolVersion.V110);
        d.Connect(B);
        d.Want(1, Cids(0, 1, 2, 3, 9));
        d.Advance(50);
        d.ReceiveBlocks(A, [BlockOf(9)]);
        d.ReceivePresences(B, (CidOf(0), PresenceType.Have), (CidOf(1), PresenceType.Have));
        d.Want(1, Cids(4, 5, 6));
        d.Advance(50);

        Assert.True(InSession(d, 1, A));
        Assert.DoesNotContain(d.EntriesTo(A), e => !e.Cancel && e.WantType == WantType.Have);
        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "want-skipped" && e.Peer == A && e.Reason.Contains("1.2.0"));
    }

    [Fact]
    public void Want_blocks_to_a_1_1_0_peer_are_timed_for_dont_have()
    {
        var d = NewDriver();
        d.Connect(A, ProtocolVersion.V110);
        JoinByBlock(d, A, 9, 0);
        Assert.Contains(d.EntriesTo(A), e => IsWant(e, CidOf(0), WantType.Block) && e.SendDontHave);

        d.Advance(5_100);

        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated" && e.Cid == CidOf(0) && e.Peer == A);
    }

    // ---- §7 item 21: rebroadcast ----

    [Fact]
    public void Unanswered_wants_are_re_sent_after_30_seconds_but_cancelled_ones_are_not()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1));
        d.Advance(50);
        d.Cancel(1, Cids(1));
        d.Advance(29_000);
        Assert.Equal(1, d.EntriesTo(A).Count(e => IsWant(e, CidOf(0), WantType.Have)));

        d.Advance(17_000);

        Assert.Equal(2, d.EntriesTo(A).Count(e => IsWant(e, CidOf(0), WantType.Have)));
        Assert.Equal(1, d.EntriesTo(A).Count(e => IsWant(e, CidOf(1), WantType.Have)));
        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "want-resent" && e.Cid == CidOf(0));
    }

    [Fact]
    public void Answered_wants_are_not_re_sent()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Advance(50);
        d.ReceivePresences(A, (CidOf(0), PresenceType.DontHave));
        d.Advance(60_000);

        Assert.Equal(1, d.EntriesTo(A).Count(e => IsWant(e, CidOf(0), WantType.Have)));
    }

    // ---- §7 item 22: DONT_HAVE timeout ----

    [Fact]
    public void An_unanswered_want_block_gets_a_simulated_dont_have_after_the_timeout()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        JoinAsProvider(d, A, 0);
        Assert.Contains(d.EntriesTo(A), e => IsWant(e, CidOf(0), WantType.Block));
        d.Advance(4_800);
        Assert.DoesNotContain(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated");

        d.Advance(300);

        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated" && e.Cid == CidOf(0) && e.Peer == A);
        Assert.True(d.State.Client.Presences.PeerLacks(A, CidOf(0)));
    }

    [Fact]
    public void A_dont_have_before_the_timeout_prevents_the_simulated_dont_have()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinAsProvider(d, A, 0);
        d.Advance(1_000);
        d.ReceivePresences(A, (CidOf(0), PresenceType.DontHave));
        d.Advance(20_000);

        Assert.DoesNotContain(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated");
    }

    // Issue 13: a HAVE is not the block; a peer that answers a want-block with HAVE and never sends it still times out.
    [Fact]
    public void A_have_in_answer_to_a_want_block_still_times_out_into_a_simulated_dont_have()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinAsProvider(d, A, 0);
        d.Advance(1_000);
        d.ReceivePresences(A, (CidOf(0), PresenceType.Have));
        d.Advance(20_000);

        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated" && e.Cid == CidOf(0));
    }

    [Fact]
    public void A_cancel_before_the_timeout_prevents_the_simulated_dont_have()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinAsProvider(d, A, 0);
        d.Cancel(1, Cids(0));
        d.Advance(20_000);

        Assert.DoesNotContain(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated");
    }

    [Fact]
    public void Without_simulation_no_dont_have_is_made_up()
    {
        var d = NewDriver(simulateDontHaves: false);
        d.Connect(A);
        JoinAsProvider(d, A, 0);
        d.Advance(20_000);

        Assert.DoesNotContain(d.Effects.OfType<Explain>(), e => e.Subject == "dont-have-simulated");
    }

    [Theory]
    [InlineData(new long[0], 5_000)]
    [InlineData(new long[] { 100 }, 2_300)]
    [InlineData(new long[] { 10 }, 2_030)]
    [InlineData(new long[] { 5_000 }, 7_000)]
    [InlineData(new long[] { 31_000 }, 5_000)]
    [InlineData(new long[] { 100, 300 }, 2_600)]
    [InlineData(new long[] { 100, 300, 300 }, 2_750)]
    public void Dont_have_timeout_follows_processing_time_plus_three_latencies_clamped(long[] latencies, long expected)
    {
        var queue = PeerWants.Create(A, ProtocolVersion.V120);
        var now = 0L;
        for (var i = 0; i < latencies.Length; i++)
        {
            var envelope = new EnvelopeId(Side.Client, i + 1);
            (queue, _) = queue.AddWants(Cids(i), Seq<Cid>.Empty, broadcast: false);
            (queue, _) = queue.TakeMessage(envelope, now, Limits.Default);
            queue = queue.Confirmed(envelope, now).Responded([CidOf(i)], now + latencies[i], Limits.Default);
            now += latencies[i];
        }

        Assert.Equal(expected, queue.DontHaveTimeoutMs(Limits.Default));
    }

    // ---- §7 item 23: one want-block ----

    [Fact]
    public void Sends_want_block_to_one_peer_only()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        d.Want(1, Cids(0));
        d.Advance(50);
        d.ReceivePresences(A, (CidOf(0), PresenceType.Have));
        d.Advance(50);
        d.ReceivePresences(B, (CidOf(0), PresenceType.Have));
        d.Advance(50);

        Assert.Contains(d.EntriesTo(A), e => IsWant(e, CidOf(0), WantType.Block));
        Assert.DoesNotContain(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));
        Assert.True(InSession(d, 1, B));
    }

    [Fact]
    public void The_want_block_moves_to_the_next_peer_when_the_first_disconnects()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        d.Want(1, Cids(0));
        d.Advance(50);
        d.ReceivePresences(A, (CidOf(0), PresenceType.Have));
        d.ReceivePresences(B, (CidOf(0), PresenceType.Have));
        d.Advance(50);
        Assert.DoesNotContain(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));

        d.Disconnect(A);
        d.Advance(50);

        Assert.Contains(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));
    }

    [Fact]
    public void The_want_block_moves_to_the_next_peer_when_the_first_says_dont_have()
    {
        // Without simulated DONT_HAVEs, so only A's explicit answer releases its want-block.
        var d = NewDriver(simulateDontHaves: false);
        d.Connect(A);
        d.Connect(B);
        JoinByBlock(d, A, 9, 0);
        Assert.Contains(d.EntriesTo(A), e => IsWant(e, CidOf(0), WantType.Block));
        d.ReceivePresences(B, (CidOf(0), PresenceType.Have));
        d.Advance(50);
        Assert.DoesNotContain(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));

        d.ReceivePresences(A, (CidOf(0), PresenceType.DontHave));
        d.Advance(50);

        Assert.Contains(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));
    }

    [Fact]
    public void Ties_between_peers_are_broken_by_the_seed_and_replay_identically()
    {
        string Run(ulong seed)
        {
            var d = TestNodes.Client(new ClientConfig(Limits.Default, seed, Explain: true));
            for (var i = 0; i < 6; i++) d.Connect(Peer(i));
            d.Want(1, Cids(Enumerable.Range(100, 6).ToArray()));
            d.Advance(50);
            for (var i = 0; i < 6; i++) d.ReceiveBlocks(Peer(i), [BlockOf(100 + i)]);
            // Six session peers with unknown presence and one first delivery each: every new want is a weighted coin toss.
            d.Want(1, Cids(Enumerable.Range(0, 60).ToArray()));
            d.Advance(50);
            // Only the 60 later wants: the first six leave at once and their want-blocks depend on arrival order, not the seed.
            var later = Cids(Enumerable.Range(0, 60).ToArray()).ToHashSet();
            return string.Join(",", Enumerable.Range(0, 6).Select(i => d.EntriesTo(Peer(i)).Count(e => e.WantType == WantType.Block && !e.Cancel && later.Contains(e.Cid))));
        }

        Assert.Equal(Run(1), Run(1));
        var spreads = Enumerable.Range(1, 8).Select(s => Run((ulong)s)).Distinct().Count();
        Assert.True(spreads > 1, "different seeds should spread want-blocks differently");
        var counts = Run(3).Split(',').Select(int.Parse).ToList();
        Assert.Equal(60, counts.Sum());
        Assert.True(counts.Count(n => n > 0) > 1, $"want-blocks went to one peer only: {string.Join(",", counts)}");
    }

    // ---- §7 item 24: pruning ----

    [Fact]
    public void Peer_is_pruned_after_16_consecutive_dont_haves()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 99, Enumerable.Range(0, 20).ToArray());
        for (var i = 0; i < 16; i++) d.ReceivePresences(A, (CidOf(i), PresenceType.DontHave));
        Assert.True(InSession(d, 1, A));

        d.ReceivePresences(A, (CidOf(16), PresenceType.DontHave));

        Assert.False(InSession(d, 1, A));
        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "session-peer-pruned" && e.Peer == A);
    }

    [Fact]
    public void A_peer_holding_a_have_for_a_pending_want_is_not_pruned()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 99, Enumerable.Range(0, 20).ToArray());
        d.ReceivePresences(A, (CidOf(19), PresenceType.Have));
        for (var i = 0; i < 18; i++) d.ReceivePresences(A, (CidOf(i), PresenceType.DontHave));

        Assert.True(InSession(d, 1, A));
    }

    [Fact]
    public void A_later_have_reinstates_a_pruned_peer()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 99, Enumerable.Range(0, 20).ToArray());
        for (var i = 0; i < 17; i++) d.ReceivePresences(A, (CidOf(i), PresenceType.DontHave));
        Assert.False(InSession(d, 1, A));

        d.ReceivePresences(A, (CidOf(18), PresenceType.Have));

        Assert.True(InSession(d, 1, A));
    }

    // ---- §7 item 25: sessions ----

    [Fact]
    public void The_first_broadcast_is_limited_to_64_cids()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(Enumerable.Range(0, 100).ToArray()));
        d.Advance(50);

        var entries = d.EntriesTo(A);
        Assert.Equal(64, entries.Count);
        Assert.All(entries, e => Assert.True(e.WantType == WantType.Have && !e.SendDontHave));
        Assert.Equal(Cids(Enumerable.Range(0, 64).ToArray()).OrderBy(c => c), entries.Select(e => e.Cid).OrderBy(c => c));
    }

    [Fact]
    public void The_idle_tick_searches_providers_on_the_first_tick_only()
    {
        var d = NewDriver();
        d.Want(1, Cids(0, 1));
        d.Advance(999);
        Assert.Empty(d.Effects.OfType<FindProviders>());

        d.Advance(20_000);

        Assert.Equal([new FindProviders(1, CidOf(0))], d.Effects.OfType<FindProviders>());
        var ticks = d.Effects.OfType<Explain>().Count(e => e.Subject == "broadcast" && e.Reason.Contains("idle tick") && e.Cid == CidOf(0));
        Assert.True(ticks >= 3, $"ticks: {ticks}");
    }

    [Fact]
    public void Idle_tick_delays_grow_with_consecutive_ticks()
    {
        var d = NewDriver();
        d.Want(1, Cids(0));
        d.Advance(20_000);

        var deadlines = d.Effects.OfType<ArmTimer>().Where(a => a.Timer.Kind == TimerKind.SessionTick).Select(a => a.Deadline).ToList();
        // No latency known: provider-search delay 1 s, then 1 s × (1 + ticks).
        Assert.Equal([1_000L, 3_000, 6_000, 10_000, 15_000, 21_000], deadlines);
    }

    [Fact]
    public void Idle_tick_rebroadcast_omits_received_cids()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1));
        d.Advance(50);
        d.ReceiveBlocks(A, [BlockOf(0)]);
        var from = d.Trace.Count;
        d.Advance(5_000);

        var rebroadcast = d.Trace.Skip(from).SelectMany(t => t.Effects).OfType<Explain>().Where(e => e.Subject == "broadcast").ToList();
        Assert.NotEmpty(rebroadcast);
        Assert.DoesNotContain(rebroadcast, e => e.Cid == CidOf(0));
    }

    [Fact]
    public void A_wanted_block_resets_the_idle_tick()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0, 1));
        d.Advance(1_500);
        d.ReceiveBlocks(A, [BlockOf(0)]);
        d.Advance(3_000);

        Assert.Equal(2, d.Effects.OfType<FindProviders>().Count());
    }

    [Fact]
    public void Providers_found_join_the_session_as_if_they_said_have()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(C);
        d.Want(1, Cids(0));
        d.Advance(50);
        d.Post(new ProvidersFound(d.Now, 1, CidOf(0), new[] { C }.ToSeq()));
        d.Advance(50);

        Assert.True(InSession(d, 1, C));
        Assert.Contains(d.EntriesTo(C), e => IsWant(e, CidOf(0), WantType.Block) && e.SendDontHave);
        Assert.False(d.State.Client.Presences.PeerHas(C, CidOf(0)));
    }

    [Fact]
    public void A_block_for_a_queued_want_is_delivered()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(Enumerable.Range(0, 100).ToArray()));
        d.Advance(50);
        Assert.DoesNotContain(d.EntriesTo(A), e => e.Cid == CidOf(80));

        var effects = d.ReceiveBlocks(A, [BlockOf(80)]);

        Assert.Equal([new DeliverBlock(1, BlockOf(80), A)], Of<DeliverBlock>(effects));
    }

    [Fact]
    public void A_newly_added_session_peer_gets_want_have_for_every_want()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(Enumerable.Range(0, 70).ToArray()));
        d.Advance(50);
        d.ReceivePresences(A, (CidOf(0), PresenceType.Have));
        d.Advance(500);

        var wanted = d.State.Client.SentTo(A).Select(e => e.Cid).ToHashSet();
        Assert.Equal(70, wanted.Count);
    }

    [Fact]
    public void Exhausted_session_broadcasts_want_haves_once()
    {
        var d = NewDriver();
        d.Connect(A);
        JoinByBlock(d, A, 9, 0);
        d.Connect(B);
        d.ReceivePresences(A, (CidOf(0), PresenceType.DontHave));
        d.ReceivePresences(A, (CidOf(0), PresenceType.DontHave));
        d.Advance(50);

        var exhausted = d.Effects.OfType<Explain>().Where(e => e.Subject == "broadcast" && e.Reason.Contains("exhausted")).ToList();
        Assert.Single(exhausted);
        Assert.Equal(CidOf(0), exhausted[0].Cid);
    }

    [Fact]
    public void The_last_session_peer_leaving_broadcasts_its_wants()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        JoinByBlock(d, A, 9, 0, 1);
        d.Disconnect(A);

        var exhausted = d.Effects.OfType<Explain>().Where(e => e.Subject == "broadcast" && e.Reason.Contains("exhausted")).Select(e => e.Cid).ToList();
        Assert.Equal(Cids(0, 1).OrderBy(c => c), exhausted.OrderBy(c => c));
        Assert.Equal(0, PeerCountOf(d, 1));
    }

    // ---- received blocks ----

    [Fact]
    public void Duplicate_blocks_are_counted_when_held_or_received_twice()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        d.Want(1, Cids(1));
        d.Advance(50);
        d.ReceiveBlocks(A, [BlockOf(0)], held: [CidOf(0)]);
        d.ReceiveBlocks(A, [BlockOf(1)]);
        d.ReceiveBlocks(B, [BlockOf(1)]);

        Assert.Equal(3, d.State.Client.BlocksReceived);
        Assert.Equal(3, d.State.Client.MessagesReceived);
        Assert.Equal(2, d.State.Client.DupBlocksReceived);
        Assert.Equal(BlockOf(0).Size + BlockOf(1).Size, d.State.Client.DupDataReceived);
        Assert.Equal(BlockOf(0).Size + 2 * BlockOf(1).Size, d.State.Client.DataReceived);
        Assert.Equal(1, d.State.Client.DuplicateBlocks(1));
        Assert.Single(d.Effects.OfType<DeliverBlock>());
    }

    /// <summary>
    /// A want two sessions share, each asking its own peer: when the first session closes, the second counts the peers the
    /// first asked, so the block's arrival from the second's peer cancels the want at the first's peer too.
    /// </summary>
    [Fact]
    public void A_shared_want_is_cancelled_at_the_peer_a_closed_session_asked()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Connect(B);
        // Each session first finds its own peer by a block, so the shared want goes to that peer alone, not as a broadcast.
        d.Want(1, Cids(1));
        d.Advance(50);
        d.ReceiveBlocks(A, [BlockOf(1)]);
        d.Want(2, Cids(2));
        d.Advance(50);
        d.ReceiveBlocks(B, [BlockOf(2)]);
        d.Advance(50);
        d.Want(1, Cids(0));
        d.Want(2, Cids(0));
        d.Advance(50);
        Assert.Contains(d.EntriesTo(A), e => IsWant(e, CidOf(0), WantType.Block));
        Assert.Contains(d.EntriesTo(B), e => IsWant(e, CidOf(0), WantType.Block));

        d.Post(new CloseSession(d.Now, 1));
        d.Advance(50);
        Assert.DoesNotContain(d.EntriesTo(A), e => IsCancel(e, CidOf(0)));
        d.ReceiveBlocks(B, [BlockOf(0)]);
        d.Advance(50);

        Assert.Contains(d.EntriesTo(A), e => IsCancel(e, CidOf(0)));
        Assert.False(d.State.Client.Peers[A].Sent.ContainsKey(CidOf(0)));
    }

    [Fact]
    public void A_locally_added_block_is_delivered_and_cancelled_at_peers()
    {
        var d = NewDriver();
        d.Connect(A);
        d.Want(1, Cids(0));
        d.Want(2, Cids(0));
        d.Advance(50);
        var effects = d.Post(new BlocksAdded(d.Now, new[] { BlockOf(0) }.ToSeq()));
        d.Advance(50);

        Assert.Equal([new DeliverBlock(1, BlockOf(0), null), new DeliverBlock(2, BlockOf(0), null)], Of<DeliverBlock>(effects));
        Assert.Contains(d.EntriesTo(A), e => IsCancel(e, CidOf(0)));
        Assert.Empty(d.State.Client.Wantlist);
    }

    [Fact]
    public void Server_inputs_and_server_envelopes_are_ignored()
    {
        var d = NewDriver();
        d.Connect(A);
        var before = d.State;
        var loaded = d.Post(new BlocksLoaded(d.Now, new EnvelopeId(Side.Server, 1), A, Map<Cid, Block>.Empty));
        var sent = d.Post(new MessageSent(d.Now, A, new EnvelopeId(Side.Server, 1)));

        Assert.True(loaded.IsEmpty);
        Assert.True(sent.IsEmpty);
        Assert.Equal(before, d.State);
    }
}
