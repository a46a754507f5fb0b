using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Network;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>
/// Acceptance scenarios of bitswap-reference.md §7 that need a scripted peer: a bare port on the virtual network that
/// sends hand-made messages to a real node and records what comes back.
/// </summary>
public sealed class RawPeerTests(ITestOutputHelper output)
{
    // §7.8 TestPartnerWantHaveWantBlockNonActive (the response table)
    [Fact]
    public async Task The_server_answers_by_the_response_table()
    {
        await using var world = new World(41, output, options: _ => BitswapOptions.Default with { Limits = Limits.Default with { WantHaveReplaceBytes = 0 } });
        var node = world.Instances(1)[0];
        var raw = new RawPeer(world, 1);
        raw.ConnectTo(node);
        var present = world.BlockOfSize(2000, salt: 1);
        var absent = world.BlockOfSize(2000, salt: 2).Cid;
        var absentQuiet = world.BlockOfSize(2000, salt: 3).Cid;
        await world.Add(node, present);

        raw.Send(node, Message.Empty.WithEntries([
            WantlistEntry.WantHave(present.Cid, 10, sendDontHave: true),
            WantlistEntry.WantBlock(absent, 9, sendDontHave: true),
            WantlistEntry.WantHave(absentQuiet, 8, sendDontHave: false),
        ]));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal(PresenceType.Have, raw.PresenceFor(present.Cid));
        Assert.Equal(PresenceType.DontHave, raw.PresenceFor(absent));
        Assert.Null(raw.PresenceFor(absentQuiet));
        Assert.Empty(raw.Blocks);

        raw.Send(node, Message.Empty.WithEntry(WantlistEntry.WantBlock(present.Cid, 10, sendDontHave: true)));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.Equal([present.Cid], raw.Blocks.Select(b => b.Cid));
    }

    // §7.11 TestWantlistDoesNotGrowPastLimit
    [Fact]
    public async Task A_peer_wantlist_stops_at_its_limit()
    {
        await using var world = new World(42, output, options: _ => BitswapOptions.Default with { Limits = Limits.Default with { WantlistEntriesPerPeerMax = 32 } });
        var node = world.Instances(1)[0];
        var raw = new RawPeer(world, 1);
        raw.ConnectTo(node);
        var cids = world.Blocks(48).Select(b => b.Cid).ToList();

        raw.Send(node, Message.Empty.WithEntries(cids.Take(24).Select(c => WantlistEntry.WantBlock(c, 1))));
        raw.Send(node, Message.Empty.WithEntries(cids.Skip(24).Select(c => WantlistEntry.WantBlock(c, 1))));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal(32, node.Node.WantlistForPeer(raw.Peer).Count);
    }

    // §7.13 TestIgnoresIdentityCid
    [Fact]
    public async Task An_identity_cid_is_ignored_and_the_rest_is_served_without_disconnecting()
    {
        await using var world = new World(43, output);
        var node = world.Instances(1)[0];
        var raw = new RawPeer(world, 1);
        raw.ConnectTo(node);
        var block = world.BlockOfSize(500);
        await world.Add(node, block);
        var identity = Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Identity, [1, 2, 3]));

        raw.Send(node, Message.Empty.WithEntries([
            WantlistEntry.WantBlock(identity, 5, sendDontHave: true),
            WantlistEntry.WantBlock(block.Cid, 4, sendDontHave: true),
        ]));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal([block.Cid], raw.Blocks.Select(b => b.Cid));
        Assert.Null(raw.PresenceFor(identity));
        Assert.True(world.Network.AreConnected(raw.Peer, node.Peer));
        Assert.DoesNotContain(identity, node.Node.WantlistForPeer(raw.Peer));
    }

    // §7.17 TestCancelOverridesPendingWants / TestWantOverridesPendingCancels
    [Fact]
    public async Task Cancelling_an_unsent_want_sends_nothing_and_cancelling_a_sent_one_sends_a_cancel()
    {
        await using var world = new World(44, output);
        var node = world.Instances(1)[0];
        var raw = new RawPeer(world, 1);
        raw.ConnectTo(node);
        var unsent = world.BlockOfSize(100, salt: 1).Cid;
        var sent = world.BlockOfSize(100, salt: 2).Cid;
        var warm = world.BlockOfSize(100, salt: 3).Cid;

        // A want to an idle peer leaves at once; one right after it waits out the send debounce, and can be cancelled unsent.
        using var warmCancel = new CancellationTokenSource();
        var warmFetch = node.Node.GetBlockAsync(warm, warmCancel.Token);
        world.Settle();
        using (var quick = new CancellationTokenSource())
        {
            var fetch = node.Node.GetBlockAsync(unsent, quick.Token);
            world.Settle();
            await quick.CancelAsync();
            world.Scheduler.RunFor(TimeSpan.FromSeconds(1));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
        }

        Assert.DoesNotContain(raw.Entries, e => e.Cid == unsent);
        await warmCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => warmFetch);

        using (var slow = new CancellationTokenSource())
        {
            var fetch = node.Node.GetBlockAsync(sent, slow.Token);
            world.Scheduler.RunFor(TimeSpan.FromMilliseconds(500));
            Assert.Contains(raw.Entries, e => e.Cid == sent && !e.Cancel);
            await slow.CancelAsync();
            world.Scheduler.RunFor(TimeSpan.FromSeconds(1));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
        }

        Assert.Contains(raw.Entries, e => e.Cid == sent && e.Cancel);
    }

    // §7.23 TestSendsWantBlockToOnePeerOnly
    [Fact]
    public async Task Only_one_peer_holds_a_want_block_until_it_says_dont_have()
    {
        await using var world = new World(45, output);
        var (node, first, second, cid) = NodeWithTwoRawPeers(world);
        var fetch = node.Node.GetBlockAsync(cid);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.Contains(first.Entries, e => e.Cid == cid && e.WantType == WantType.Have);
        Assert.Contains(second.Entries, e => e.Cid == cid && e.WantType == WantType.Have);

        first.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.Contains(first.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);

        second.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.DoesNotContain(second.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);

        first.Send(node, Message.Empty.WithPresence(cid, PresenceType.DontHave));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.Contains(second.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);
        Assert.False(fetch.IsCompleted);
    }

    // §7.22 donthavetimeoutmgr: an unanswered want-block counts as DONT_HAVE after the timeout, and only when simulation is on
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_silent_want_block_times_out_into_a_simulated_dont_have(bool simulate)
    {
        await using var world = new World(47, output, options: _ => BitswapOptions.Default with { SimulateDontHaves = simulate });
        var (node, silent, backup, cid) = NodeWithTwoRawPeers(world);
        var fetch = node.Node.GetBlockAsync(cid);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        silent.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        backup.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Contains(silent.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);
        Assert.DoesNotContain(backup.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);

        // The timeout is at most DontHaveTimeoutMaxMs (7 s) whatever the latency estimate.
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(Limits.Default.DontHaveTimeoutMaxMs + 500));

        Assert.Equal(simulate, backup.Entries.Any(e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel));
        Assert.False(fetch.IsCompleted);
    }

    // Issue 13: a peer that answers a want-block with HAVE and never sends the block still times out into a simulated
    // DONT_HAVE, and the want-block moves to a peer that has the block.
    [Fact]
    public async Task A_have_in_answer_to_a_want_block_does_not_stop_its_dont_have_clock()
    {
        await using var world = new World(48, output);
        var (node, silent, backup, cid) = NodeWithTwoRawPeers(world);
        var fetch = node.Node.GetBlockAsync(cid);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        silent.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Contains(silent.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);
        // The liar answers the want-block with a second HAVE, and never sends the block.
        silent.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        backup.Send(node, Message.Empty.WithPresence(cid, PresenceType.Have));
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.DoesNotContain(backup.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);

        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(Limits.Default.DontHaveTimeoutMaxMs + 500));

        Assert.Contains(backup.Entries, e => e.Cid == cid && e.WantType == WantType.Block && !e.Cancel);
        Assert.False(fetch.IsCompleted);
    }

    // Issue 13, end to end in virtual time: a session fetching 16 blocks beside a liar that answers every want (want-blocks
    // included) with HAVE at once, and an honest node that holds them all, gets every block.
    [Fact]
    public async Task A_session_gets_every_block_beside_a_peer_that_says_have_to_everything()
    {
        await using var world = new World(49, output);
        var nodes = world.Instances(2);
        var (fetcher, honest) = (nodes[0], nodes[1]);
        var silent = new RawPeer(world, 1);
        silent.AnswerEveryWantWithHave(fetcher);
        silent.ConnectTo(fetcher);
        var blocks = world.Blocks(16);
        await world.Add(honest, [.. blocks]);
        using var session = fetcher.Node.NewSession();

        var got = await world.Run(Observable.ToList(session.GetBlocks(blocks.Select(b => b.Cid))).ToTask(), TimeSpan.FromSeconds(60));

        Assert.Equal(blocks.Select(b => b.Cid).Order(), got.Select(b => b.Cid).Order());
        Assert.Contains(silent.Entries, e => e.WantType == WantType.Block && !e.Cancel);
    }

    // §7.18 TestSendingMessagesPriority
    [Fact]
    public async Task Earlier_wants_carry_higher_priority()
    {
        await using var world = new World(46, output);
        var node = world.Instances(1)[0];
        var raw = new RawPeer(world, 1);
        raw.ConnectTo(node);
        var cids = world.Blocks(6).Select(b => b.Cid).ToList();

        using var session = node.Node.NewSession();
        foreach (var cid in cids)
        {
            _ = session.GetBlockAsync(cid);
            world.Scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        }

        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        var priorities = cids.Select(c => raw.Entries.First(e => e.Cid == c && !e.Cancel).Priority).ToList();
        Assert.Equal(priorities.OrderDescending(), priorities);
        Assert.Equal(cids.Count, priorities.Distinct().Count());
    }

    /// <summary>A scripted peer: a bare port on the virtual network.</summary>
    /// <summary>One node, two raw peers connected to it (indexes 1 and 2), and the CID of a 5,000-byte block nobody holds.</summary>
    private static (Instance Node, RawPeer First, RawPeer Second, Cid Cid) NodeWithTwoRawPeers(World world)
    {
        var node = world.Instances(1)[0];
        var first = new RawPeer(world, 1);
        var second = new RawPeer(world, 2);
        first.ConnectTo(node);
        second.ConnectTo(node);
        return (node, first, second, world.BlockOfSize(5000).Cid);
    }

    private sealed class RawPeer
    {
        private readonly World _world;
        private readonly IBitswapNetwork _port;
        private readonly List<Message> _received = [];

        public RawPeer(World world, int index, ProtocolVersion version = ProtocolVersion.V120)
        {
            _world = world;
            Peer = SessionGenerator.PeerFor(world.Seed + 1_000_000, index);
            _port = world.Network.Join(Peer, version);
            _port.Events.Subscribe(e =>
            {
                if (e is MessageArrived arrived)
                {
                    _received.Add(arrived.Message);
                }
            });
        }

        public PeerId Peer { get; }

        public IEnumerable<WantlistEntry> Entries => _received.SelectMany(m => m.Wantlist.Values);

        public IEnumerable<Block> Blocks => _received.SelectMany(m => m.Blocks.Values);

        public PresenceType? PresenceFor(Cid cid) =>
            _received.Where(m => m.Presences.ContainsKey(cid)).Select(m => (PresenceType?)m.Presences[cid]).LastOrDefault();

        /// <summary>Answers every want from <paramref name="node"/>, want-blocks included, with HAVE, and never sends a block.</summary>
        public void AnswerEveryWantWithHave(Instance node) =>
            _port.Events.Subscribe(e =>
            {
                if (e is not MessageArrived { Message.Wantlist.IsEmpty: false } arrived) return;
                var answer = arrived.Message.Wantlist.Values.Where(w => !w.Cancel)
                    .Aggregate(Message.Empty, (m, w) => m.WithPresence(w.Cid, PresenceType.Have));
                if (!answer.IsEmpty) System.Reactive.Concurrency.Scheduler.Schedule(_world.Scheduler, TimeSpan.Zero, () => Send(node, answer));
            });

        public void ConnectTo(Instance node)
        {
            _world.Network.Connect(Peer, node.Peer);
            _world.Settle();
        }

        public void Send(Instance node, Message message)
        {
            var sending = _port.SendAsync(node.Peer, message);
            Assert.True(sending.IsCompletedSuccessfully, $"seed {_world.Seed}: the virtual network refused a send");
        }
    }
}
