using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>
/// The acceptance behaviours of bitswap-reference.md §7 (items 5, 7–16) at reducer level, plus the engine's own rules.
/// Blocks by index: 1 is 100 B, 3 is 1024 B, 4 is 1025 B, 7 is 5000 B (see <see cref="ServerWorld"/>).
/// </summary>
public class EngineBehaviourTests
{
    private static readonly PeerId Alice = ServerWorld.Peers[0];
    private static readonly PeerId Bob = ServerWorld.Peers[1];
    private static readonly Block Small = ServerWorld.Blocks[1];
    private static readonly Block Edge = ServerWorld.Blocks[3];
    private static readonly Block Large = ServerWorld.Blocks[7];

    private static ServerHarness Server(Limits? limits = null, bool sendDontHaves = true, Func<PeerId, Cid, bool>? filter = null, params int[] store) =>
        new(new EngineConfig(limits ?? Limits.Default, 42, filter, sendDontHaves, Explain: true), store);

    private static Message Wants(params WantlistEntry[] entries) => Message.Empty.WithEntries(entries);

    /// <summary>Occupies the only worker with a load for Bob, so later work stays pending until <see cref="ServerHarness.Drain"/>.</summary>
    private static void OccupyTheWorker(ServerHarness server) =>
        server.Receive(Bob, Wants(WantlistEntry.WantBlock(ServerWorld.Blocks[0].Cid, 1)));

    private static List<SendMessage> To(PeerId peer, IEnumerable<SendMessage> sends) => sends.Where(s => s.Peer == peer).ToList();

    // ---- §7.5 want before have ----

    [Fact]
    public void A_want_is_kept_after_DONT_HAVE_and_the_block_is_sent_when_it_arrives()
    {
        var server = Server();
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1, sendDontHave: true)));
        var first = server.Drain().Single();
        Assert.Equal(PresenceType.DontHave, first.Message.Presences[Large.Cid]);
        Assert.Single(server.State.WantlistOf(Alice));

        server.Add(Large);
        var second = server.Drain().Single();
        Assert.Equal(Large, second.Message.Blocks[Large.Cid]);
        Assert.Empty(server.State.WantlistOf(Alice));
    }

    [Fact]
    public void A_want_have_for_a_large_block_added_later_gets_HAVE()
    {
        var server = Server();
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Large.Cid, 1)));
        Assert.Empty(server.Drain());
        server.Add(Large);
        var sent = server.Drain().Single();
        Assert.Equal(PresenceType.Have, sent.Message.Presences[Large.Cid]);
        Assert.True(sent.Message.Blocks.IsEmpty);
    }

    // ---- §7.7 ledger ----

    [Fact]
    public void One_way_exchange_gives_the_sender_sent_bytes_and_the_receiver_the_mirror()
    {
        var seed = Server(store: 7);
        seed.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1)));
        var sent = seed.Drain().Single();

        var leech = new ServerHarness(new EngineConfig(Limits.Default, 1, Explain: true), []);
        leech.Receive(seed.State.Self, sent.Message);

        Assert.Equal(new Receipt(Alice, Large.Size, Large.Size, 0, 1), seed.State.ReceiptOf(Alice));
        Assert.Equal(new Receipt(seed.State.Self, 0, 0, Large.Size, 1), leech.State.ReceiptOf(seed.State.Self));
        Assert.Equal(1, seed.State.BlocksSent);
        Assert.Equal(Large.Size, seed.State.DataSent);
    }

    [Fact]
    public void Two_way_exchange_gives_both_sides_equal_receipts()
    {
        var server = Server(store: 7);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1)).WithBlock(ServerWorld.Blocks[8]));
        server.Drain();
        var receipt = server.State.ReceiptOf(Alice);
        Assert.Equal(Large.Size, receipt.Sent);
        Assert.Equal(ServerWorld.Blocks[8].Size, receipt.Recv);
        Assert.Equal(2, receipt.Exchanged);
        Assert.Equal(Large.Size / (ServerWorld.Blocks[8].Size + 1.0), receipt.Value);
    }

    // ---- §7.8 response table (replace size 0) ----

    [Theory]
    [InlineData(WantType.Block, true, false, "block")]
    [InlineData(WantType.Block, false, true, "DONT_HAVE")]
    [InlineData(WantType.Block, false, false, "nothing")]
    [InlineData(WantType.Have, true, false, "HAVE")]
    [InlineData(WantType.Have, false, true, "DONT_HAVE")]
    [InlineData(WantType.Have, false, false, "nothing")]
    public void Response_table_with_replace_size_zero(WantType type, bool present, bool sendDontHave, string expected)
    {
        var server = present
            ? Server(Limits.Default with { WantHaveReplaceBytes = 0 }, store: 1)
            : Server(Limits.Default with { WantHaveReplaceBytes = 0 });
        server.Receive(Alice, Wants(new WantlistEntry(Small.Cid, 1, type, false, sendDontHave)));
        var sent = server.Drain();
        var answer = sent.Count == 0 ? "nothing"
            : sent.Single().Message.Blocks.ContainsKey(Small.Cid) ? "block"
            : sent.Single().Message.Presences[Small.Cid] == PresenceType.Have ? "HAVE" : "DONT_HAVE";
        Assert.Equal(expected, answer);
    }

    [Theory]
    [InlineData(WantType.Block, WantType.Have)]
    [InlineData(WantType.Have, WantType.Block)]
    public void Block_and_have_for_one_cid_before_service_send_only_the_block(WantType first, WantType second)
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1, WantHaveReplaceBytes = 0 }, store: [0, 1]);
        OccupyTheWorker(server);
        server.Receive(Alice, Wants(new WantlistEntry(Small.Cid, 1, first, false, true)));
        server.Receive(Alice, Wants(new WantlistEntry(Small.Cid, 1, second, false, true)));
        var toAlice = To(Alice, server.Drain()).Single();
        Assert.True(toAlice.Message.Blocks.ContainsKey(Small.Cid));
        Assert.True(toAlice.Message.Presences.IsEmpty);
    }

    [Fact]
    public void A_duplicate_want_gets_one_reply()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1 }, store: [0, 1]);
        OccupyTheWorker(server);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1)));
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1)));
        Assert.Single(To(Alice, server.Drain()));
    }

    // ---- §7.9 small-block replace ----

    [Fact]
    public void A_want_have_for_a_block_of_at_most_1024_bytes_gets_the_block_and_a_larger_one_gets_HAVE()
    {
        var server = Server(store: [3, 4]);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Edge.Cid, 1), WantlistEntry.WantHave(ServerWorld.Blocks[4].Cid, 1)));
        var sent = server.Drain();
        Assert.Contains(sent, s => s.Message.Blocks.ContainsKey(Edge.Cid));
        Assert.Contains(sent, s => s.Message.Presences.Find(ServerWorld.Blocks[4].Cid) == PresenceType.Have);
        Assert.DoesNotContain(sent, s => s.Message.Blocks.ContainsKey(ServerWorld.Blocks[4].Cid));
    }

    // ---- §7.10 cancel before service ----

    [Fact]
    public void Cancelling_before_service_sends_only_the_rest_in_priority_order()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1, TargetMessageBytes = 1, BacklogMessageBytes = 0 }, store: [0, 1, 2, 5, 6, 7, 8]);
        OccupyTheWorker(server);
        int[] wanted = [1, 2, 5, 6, 7, 8];
        server.Receive(Alice, Wants(wanted.Select((b, i) => WantlistEntry.WantBlock(ServerWorld.Blocks[b].Cid, 10 + i)).ToArray()));
        server.Receive(Alice, Wants(WantlistEntry.CancelOf(ServerWorld.Blocks[2].Cid), WantlistEntry.CancelOf(ServerWorld.Blocks[7].Cid)));
        var order = To(Alice, server.Drain()).SelectMany(s => s.Message.Blocks.Keys).ToList();
        // Highest priority first: blocks 8 (15), 6 (13), 5 (12), 1 (10).
        Assert.Equal(new[] { 8, 6, 5, 1 }.Select(i => ServerWorld.Blocks[i].Cid), order);
    }

    // ---- §7.11, §7.12 wantlist cap and overflow ----

    [Fact]
    public void Wantlist_does_not_grow_past_limit()
    {
        var server = Server(Limits.Default with { WantlistEntriesPerPeerMax = 32 });
        server.Receive(Alice, Wants(Enumerable.Range(0, 24).Select(i => WantlistEntry.WantBlock(ServerWorld.SyntheticCid(i), 1)).ToArray()));
        server.Receive(Alice, Wants(Enumerable.Range(24, 24).Select(i => WantlistEntry.WantBlock(ServerWorld.SyntheticCid(i), 1)).ToArray()));
        Assert.Equal(32, server.State.WantlistOf(Alice).Count);
    }

    [Fact]
    public void Overflow_evicts_wants_for_absent_blocks_first_lowest_priority_first()
    {
        var server = Server(Limits.Default with { WantlistEntriesPerPeerMax = 3 }, store: [1, 2]);
        server.Receive(Alice, Wants(
            WantlistEntry.WantHave(ServerWorld.Blocks[1].Cid, 1),
            WantlistEntry.WantHave(ServerWorld.Blocks[2].Cid, 1),
            WantlistEntry.WantHave(ServerWorld.Blocks[9].Cid, 5)));
        var effects = server.Receive(Alice, Wants(WantlistEntry.WantHave(ServerWorld.Blocks[10].Cid, 0)));
        var left = server.State.WantlistOf(Alice).Select(e => e.Cid).ToHashSet();
        Assert.DoesNotContain(ServerWorld.Blocks[9].Cid, left);
        Assert.Contains(ServerWorld.Blocks[10].Cid, left);
        Assert.Contains(effects, e => e is Explain { Subject: "want-evicted" } x && x.Cid == ServerWorld.Blocks[9].Cid);
    }

    [Fact]
    public void Overflow_replaces_a_lower_priority_want_with_an_equal_or_higher_one()
    {
        var server = Server(Limits.Default with { WantlistEntriesPerPeerMax = 2 }, store: [1, 2, 5]);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(ServerWorld.Blocks[1].Cid, 3), WantlistEntry.WantHave(ServerWorld.Blocks[2].Cid, 7)));
        server.Receive(Alice, Wants(WantlistEntry.WantHave(ServerWorld.Blocks[5].Cid, 3)));
        var left = server.State.WantlistOf(Alice).Select(e => e.Cid).ToList();
        Assert.Equal(new[] { ServerWorld.Blocks[2].Cid, ServerWorld.Blocks[5].Cid }.Order(), left.Order());
    }

    [Fact]
    public void Overflow_refuses_a_low_priority_want_when_nothing_can_be_evicted()
    {
        var server = Server(Limits.Default with { WantlistEntriesPerPeerMax = 2 }, store: [1, 2, 5]);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(ServerWorld.Blocks[1].Cid, 3), WantlistEntry.WantHave(ServerWorld.Blocks[2].Cid, 7)));
        var effects = server.Receive(Alice, Wants(WantlistEntry.WantHave(ServerWorld.Blocks[5].Cid, 2)));
        Assert.DoesNotContain(ServerWorld.Blocks[5].Cid, server.State.WantlistOf(Alice).Select(e => e.Cid));
        Assert.Equal(2, server.State.WantlistOf(Alice).Count);
        Assert.Contains(effects, e => e is Explain { Subject: "want-refused" });
    }

    // ---- §7.13 hostile CIDs ----

    [Fact]
    public void Identity_and_oversized_cids_are_ignored_while_other_entries_are_processed()
    {
        var server = Server(store: 1);
        var effects = server.Receive(Alice, Wants(
            WantlistEntry.WantBlock(ServerWorld.IdentityCid, 1, true),
            WantlistEntry.WantBlock(ServerWorld.OversizedCid, 1, true),
            WantlistEntry.WantBlock(Small.Cid, 1)));
        Assert.Equal(new[] { Small.Cid }, server.State.WantlistOf(Alice).Select(e => e.Cid));
        Assert.Equal(2, effects.Count(e => e is Explain { Subject: "cid-ignored" }));
        var sent = server.Drain().Single();
        Assert.True(sent.Message.Blocks.ContainsKey(Small.Cid));
        Assert.Equal(1, sent.Message.Blocks.Count + sent.Message.Presences.Count);
    }

    [Fact]
    public void An_oversized_cancel_changes_nothing()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1 }, store: [0, 1]);
        OccupyTheWorker(server);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1)));
        var before = server.State;
        server.Receive(Alice, Wants(WantlistEntry.CancelOf(ServerWorld.OversizedCid)));
        Assert.Equal(before.WantlistOf(Alice), server.State.WantlistOf(Alice));
        Assert.Equal(before.Queue, server.State.Queue);
    }

    // ---- §7.14 request filter ----

    [Fact]
    public void A_denied_cid_is_never_sent_and_gets_DONT_HAVE_only_if_asked()
    {
        var server = Server(filter: (_, cid) => cid != Small.Cid && cid != Edge.Cid, store: [1, 3]);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1, sendDontHave: true), WantlistEntry.WantBlock(Edge.Cid, 1)));
        var sent = server.Drain();
        server.Add(Small, Edge);
        sent.AddRange(server.Drain());
        Assert.DoesNotContain(sent, s => !s.Message.Blocks.IsEmpty);
        Assert.Equal(PresenceType.DontHave, sent.Single().Message.Presences[Small.Cid]);
        Assert.False(sent.Single().Message.Presences.ContainsKey(Edge.Cid));
    }

    // ---- §7.15 queue fairness ----

    [Fact]
    public void A_pop_returns_at_least_one_task_even_above_the_target()
    {
        var queue = PeerTaskQueue.Create(1, Limits.Default);
        (queue, _) = queue.Push(Alice, Seq.create(new TaskRequest(Large.Cid, 1, 50_000, new TaskData(true, false, 50_000, true))));
        var (_, popped) = queue.PopTasks(10, 0);
        Assert.Equal(50_000, popped.Map(p => p.Tasks.Sum(t => t.Work)).IfNone(0));
    }

    [Fact]
    public void The_peer_with_fewer_active_tasks_is_served_first_and_ties_go_to_more_pending()
    {
        var queue = PeerTaskQueue.Create(1, Limits.Default);
        var carol = ServerWorld.Peers[2];
        (queue, _) = queue.Push(Alice, Tasks(0, 3));
        (queue, _) = queue.Push(Bob, Tasks(0, 3));
        (queue, _) = queue.Push(carol, Tasks(0, 5));
        var served = new List<PeerId>();
        PeerId Pop(long now)
        {
            (queue, var popped) = queue.PopTasks(1, now);
            var peer = popped.Map(p => p.Peer).IfNoneUnsafe((PeerId?)null) ?? throw new Xunit.Sdk.XunitException("nothing popped");
            served.Add(peer);
            return peer;
        }
        // Never served, all starved, none active: Carol's five pending beat three.
        Assert.Equal(carol, Pop(0));
        Pop(0);
        Pop(0);
        // Everyone has one active task. Alice finishes hers: zero active beats one.
        queue = queue.TasksDone(Alice, queue.TrackerOf(Alice).ActiveTasks.Map(t => t.Id));
        Assert.Equal(Alice, Pop(1));
        // One active each; pending Alice 1, Bob 2, Carol 4: more pending wins, then the next.
        Assert.Equal(carol, Pop(2));
        Assert.Equal(Bob, Pop(3));
    }

    [Fact]
    public void The_outstanding_cap_blocks_pops_until_tasks_are_done_and_pending_work_is_reported()
    {
        var queue = PeerTaskQueue.Create(1, Limits.Default with { OutstandingBytesPerPeerMax = 1000 });
        (queue, _) = queue.Push(Alice, Seq.create(
            new TaskRequest(Small.Cid, 5, 800, new TaskData(true, false, 800, true)),
            new TaskRequest(Edge.Cid, 4, 800, new TaskData(true, false, 800, true))));
        var (capped, first) = queue.PopTasks(16 * 1024, 0);
        Assert.Equal(1, first.Map(p => p.Tasks.Count).IfNone(0));
        Assert.Equal(800, first.Map(p => p.PendingWork).IfNone(0));
        Assert.True(capped.PopTasks(16 * 1024, 0).Popped.IsNone);
        var freed = capped.TasksDone(Alice, first.Map(p => p.Tasks.Map(t => t.Id)).IfNone(Seq<long>.Empty));
        var (_, second) = freed.PopTasks(16 * 1024, 0);
        Assert.Equal(Edge.Cid, second.Map(p => p.Tasks.Head().Cid).IfNoneUnsafe((Cid?)null));
        Assert.Equal(0, second.Map(p => p.PendingWork).IfNone(-1));
    }

    [Fact]
    public void A_block_beats_a_HAVE_and_a_known_size_beats_a_DONT_HAVE_when_tasks_merge()
    {
        var queue = PeerTaskQueue.Create(1, Limits.Default);
        (queue, _) = queue.Push(Alice, Seq.create(
            new TaskRequest(Small.Cid, 9, 40, new TaskData(false, true, 0, false)),
            new TaskRequest(Small.Cid, 2, 40, new TaskData(false, false, 100, true)),
            new TaskRequest(Small.Cid, 1, 100, new TaskData(true, false, 100, true))));
        Assert.True(queue.TrackerOf(Alice).TryGetPending(Small.Cid, out var task));
        Assert.Equal(new TaskData(true, true, 100, true), task.Data);
        Assert.Equal(9, task.Priority);
        Assert.Equal(100, task.Work);
        Assert.Equal(1, queue.PendingCount(Alice));
    }

    [Fact]
    public void Pending_tasks_per_peer_are_bounded_and_the_older_ones_kept()
    {
        var queue = PeerTaskQueue.Create(1, Limits.Default with { PendingTasksPerPeerMax = 2 });
        var (bounded, outcomes) = queue.Push(Alice, Tasks(0, 4));
        Assert.Equal(new[] { PushOutcome.Queued, PushOutcome.Queued, PushOutcome.Dropped, PushOutcome.Dropped }, outcomes.Map(o => o.Outcome));
        Assert.Equal(new[] { ServerWorld.Blocks[0].Cid, ServerWorld.Blocks[1].Cid }.Order(), bounded.TrackerOf(Alice).Pending.Select(t => t.Cid).Order());
    }

    // ---- §7.16 no starvation ----

    [Fact]
    public void Low_pending_peer_is_served_within_12_envelopes()
    {
        var server = Server(store: Enumerable.Range(0, ServerWorld.Blocks.Length).ToArray());
        var busy = Enumerable.Range(0, 10).Select(i => ServerWorld.PeerAt(100 + i)).ToList();
        foreach (var peer in busy)
            server.Receive(peer, Wants(Enumerable.Range(0, 50).Select(i => WantlistEntry.WantHave(ServerWorld.SyntheticCid(i), 1, sendDontHave: true)).ToArray()));
        server.Now = 100;
        var newcomer = ServerWorld.PeerAt(200);
        var mark = server.State.LastEnvelope;
        server.Receive(newcomer, Wants(WantlistEntry.WantBlock(Small.Cid, 1)));
        while (!server.Log.SelectMany(s => s.Effects).Any(e => e is LoadBlocks l && l.Peer == newcomer) && (server.Loads.Count > 0 || server.Sends.Count > 0))
        {
            if (server.Loads.Count > 0) server.AnswerLoad();
            else server.CompleteSend();
        }
        var envelope = server.Log.SelectMany(s => s.Effects).OfType<LoadBlocks>().First(l => l.Peer == newcomer).Envelope;
        Assert.InRange(envelope.Sequence - mark, 1, 12);
    }

    // ---- the engine's own rules ----

    [Fact]
    public void Cancel_then_want_gives_the_want_and_want_then_cancel_gives_nothing()
    {
        var server = Server();
        server.Receive(Alice, Wants(WantlistEntry.CancelOf(Small.Cid)));
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1)));
        Assert.Equal(new[] { Small.Cid }, server.State.WantlistOf(Alice).Select(e => e.Cid));
        server.Receive(Alice, Wants(WantlistEntry.CancelOf(Small.Cid)));
        Assert.Empty(server.State.WantlistOf(Alice));
    }

    [Fact]
    public void A_full_wantlist_replaces_the_old_one_and_clears_both_indexes()
    {
        var server = Server();
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1), WantlistEntry.WantBlock(Edge.Cid, 1)));
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Large.Cid, 1)).WithFull(true));
        Assert.Equal(new[] { Large.Cid }, server.State.WantlistOf(Alice).Select(e => e.Cid));
        Assert.Equal(new[] { Large.Cid }, server.State.Wanters.Keys);
        Assert.True(server.State.Wantlists[Alice].IndexesAgree);
        Assert.True(server.State.Wantlists[Alice].Eviction.Count <= 1);
    }

    [Fact]
    public void A_sent_HAVE_removes_a_want_have_but_a_DONT_HAVE_keeps_the_want()
    {
        var server = Server(store: 7);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Large.Cid, 1), WantlistEntry.WantHave(Small.Cid, 1, sendDontHave: true)));
        server.Drain();
        Assert.Equal(new[] { Small.Cid }, server.State.WantlistOf(Alice).Select(e => e.Cid));
    }

    [Fact]
    public void A_sent_HAVE_never_removes_a_want_block()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1 }, store: [0, 7]);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Large.Cid, 1)));
        // The HAVE is in flight; the peer upgrades to a want-block before the send completes.
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1)));
        server.CompleteSend();
        Assert.Equal(WantType.Block, server.State.WantlistOf(Alice).Single().WantType);
        var rest = server.Drain();
        Assert.True(rest.Single().Message.Blocks.ContainsKey(Large.Cid));
    }

    [Fact]
    public void A_block_that_vanished_before_loading_becomes_DONT_HAVE_when_asked()
    {
        var server = Server(store: 7);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1, sendDontHave: true)));
        server.Delete(Large.Cid);
        var effects = server.AnswerLoad();
        var sent = effects.OfType<SendMessage>().Single();
        Assert.Equal(PresenceType.DontHave, sent.Message.Presences[Large.Cid]);
        Assert.False(server.State.Wantlists[Alice].Find(Large.Cid).Map(w => w.Held).IfNone(true));
    }

    [Fact]
    public void A_disconnect_clears_the_ledger_the_wantlist_and_the_queue()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1 }, store: [0, 1, 7]);
        OccupyTheWorker(server);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Small.Cid, 1), WantlistEntry.WantBlock(Large.Cid, 1)).WithBlock(Edge));
        Assert.Equal(2, server.State.PendingTasks(Alice));
        server.Post(new PeerDisconnected(1, Alice));
        Assert.Empty(server.State.WantlistOf(Alice));
        Assert.Equal(0, server.State.PendingTasks(Alice));
        Assert.Equal(new Receipt(Alice, 0, 0, 0, 0), server.State.ReceiptOf(Alice));
        Assert.DoesNotContain(Alice, server.State.Peers);
        Assert.True(server.State.Wanters.Keys.All(cid => cid == ServerWorld.Blocks[0].Cid));
        Assert.Empty(To(Alice, server.Drain()));
    }

    [Fact]
    public void Empty_messages_are_ignored_and_an_unknown_peer_gets_a_ledger_from_its_first_message()
    {
        var server = Server();
        var effects = server.Receive(Alice, Message.Empty);
        Assert.True(effects.IsEmpty);
        Assert.Empty(server.State.Peers);
        server.Receive(Alice, Wants(WantlistEntry.WantHave(Small.Cid, 1)));
        Assert.Equal(new[] { Alice }, server.State.Peers);
    }

    [Fact]
    public void At_most_TaskWorkerCount_envelopes_load_at_once_and_a_send_handed_to_the_network_frees_its_worker()
    {
        var server = Server(Limits.Default with { TargetMessageBytes = 1, BacklogMessageBytes = 0 }, store: Enumerable.Range(0, 12).ToArray());
        server.Receive(Alice, Wants(Enumerable.Range(0, 12).Select(i => WantlistEntry.WantBlock(ServerWorld.Blocks[i].Cid, 1)).ToArray()));
        Assert.Equal(8, server.State.EnvelopesInFlight);
        Assert.Equal(8, server.Loads.Count);
        // Issue 13: a message waiting on a peer that does not read must not hold one of the shared workers.
        var effects = server.AnswerLoad();
        Assert.Single(effects.OfType<SendMessage>());
        Assert.Single(effects.OfType<LoadBlocks>());
        Assert.Equal(1, server.State.Sending);
        Assert.Equal(9, server.State.EnvelopesInFlight);
        server.CompleteSend();
        Assert.Equal(0, server.State.Sending);
        Assert.Equal(8, server.State.EnvelopesInFlight);
    }

    // boxo serves wants of equal priority in arrival order; Helia asks for a file's chunks at priority 1, in file order.
    [Fact]
    public void Wants_of_equal_priority_are_served_in_the_order_they_came_off_the_wire()
    {
        var server = Server(Limits.Default with { TaskWorkerCount = 1, TargetMessageBytes = 1, BacklogMessageBytes = 0 }, store: [0, 1, 2, 3]);
        var wire = new[] { 3, 0, 2, 1 }.Select(i => ServerWorld.Blocks[i].Cid).ToArray();
        var message = Wants(wire.Select(cid => WantlistEntry.WantBlock(cid, 1)).ToArray()) with { WireOrder = wire.ToSeq() };

        server.Receive(Alice, message);
        var sent = server.Drain();

        Assert.Equal(wire, sent.SelectMany(s => s.Message.Blocks.Keys));
    }

    [Fact]
    public void Work_that_does_not_fit_one_message_is_sent_in_the_next()
    {
        var server = Server(Limits.Default with { MessageBytesMax = 9000 }, store: [7, 8]);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 2), WantlistEntry.WantBlock(ServerWorld.Blocks[8].Cid, 1)));
        var effects = server.AnswerLoad();
        Assert.Contains(effects, e => e is Explain { Subject: "block-deferred" });
        var sent = server.Drain();
        Assert.Equal(new[] { Large.Cid, ServerWorld.Blocks[8].Cid }, sent.SelectMany(s => s.Message.Blocks.Keys));
        Assert.All(sent, s => Assert.InRange(MessageCodec.EncodedSize(s.Message, ProtocolVersion.V120), 1, 9000));
        Assert.Empty(server.State.WantlistOf(Alice));
    }

    [Fact]
    public void A_failed_send_frees_the_worker_and_keeps_the_want()
    {
        var server = Server(store: 7);
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1)));
        server.AnswerLoad();
        var effects = server.CompleteSend(success: false);
        Assert.Contains(effects, e => e is Explain { Subject: "send-failed" });
        Assert.Equal(0, server.State.EnvelopesInFlight);
        Assert.Single(server.State.WantlistOf(Alice));
        Assert.Equal(0, server.State.BlocksSent);
    }

    [Fact]
    public void The_score_rises_for_a_peer_that_exchanges_and_decays_when_it_goes_quiet()
    {
        var server = Server(store: 7);
        var armed = server.Post(new PeerConnected(0, Alice, ProtocolVersion.V120));
        Assert.Equal(new ArmTimer(EngineState.ScoreTimer, Limits.Default.ScorePeriodMs), armed.Single());
        server.Receive(Alice, Wants(WantlistEntry.WantBlock(Large.Cid, 1)).WithBlock(Small));
        server.Drain();
        server.Post(new TimerFired(10_000, EngineState.ScoreTimer));
        var active = server.State.ScoreOf(Alice);
        Assert.True(active > 0);
        server.Post(new TimerFired(20_000, EngineState.ScoreTimer));
        Assert.True(server.State.ScoreOf(Alice) < active);
    }

    private static Seq<TaskRequest> Tasks(int from, int count) =>
        Enumerable.Range(from, count)
            .Select(i => new TaskRequest(ServerWorld.Blocks[i].Cid, 1, 100, new TaskData(true, false, 100, true)))
            .ToSeq();
}
