using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Domain;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Network;
using Bitswap.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>The acceptance scenarios of bitswap-reference.md §7, run on the virtual network in virtual time.</summary>
public sealed class BehaviourTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(5);

    // §7.1 TestBasicBitswap
    [Fact]
    public async Task Basic_fetch_moves_one_block_and_counts_it_exactly()
    {
        await using var world = new World(1, output);
        var (a, b, c) = Three(world.Instances(3));
        var block = world.BlockOfSize(1500);
        await world.Add(a, block);

        var got = await world.Run(b.Node.GetBlockAsync(block.Cid));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal(block.Data.ToArray(), got.Data.ToArray());
        var sa = a.Node.Stat();
        var sb = b.Node.Stat();
        var sc = c.Node.Stat();
        Assert.Equal((1L, 1500L), (sa.BlocksSent, sa.DataSent));
        Assert.Equal((1L, 1500L, 0L, 0L), (sb.BlocksReceived, sb.DataReceived, sb.DupBlksReceived, sb.DupDataReceived));
        Assert.Equal((0L, 0L, 0L, 0L), (sb.BlocksSent, sb.DataSent, sc.BlocksSent, sc.DataSent));
        Assert.Equal((0L, 0L), (sc.BlocksReceived, sc.DataReceived));
        Assert.Equal((0L, 0L), (sa.BlocksReceived, sa.DataReceived));
    }

    // §7.2
    [Fact]
    public async Task Cancel_on_receipt_leaves_both_wantlists_empty()
    {
        await using var world = new World(2, output);
        var (a, b, c) = Three(world.Instances(3));
        var block = world.BlockOfSize(5000);
        await world.Add(a, block);

        await world.Run(b.Node.GetBlockAsync(block.Cid));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Empty(b.Node.GetWantlist());
        Assert.Empty(c.Node.WantlistForPeer(b.Peer));
        Assert.Empty(a.Node.WantlistForPeer(b.Peer));
    }

    // §7.3 TestWantlistCleanup
    [Fact]
    public async Task Timeout_cleanup_empties_the_wantlist_and_cancelling_one_request_leaves_the_other()
    {
        await using var world = new World(3, output);
        var (_, b) = Two(world.Instances(2));
        var keys = world.Blocks(11).Select(x => x.Cid).ToList();

        using var timeout = new CancellationTokenSource();
        world.Scheduler.Schedule(TimeSpan.FromMilliseconds(50), () => timeout.Cancel());
        var fetch = b.Node.GetBlockAsync(keys[0], timeout.Token);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
        world.Settle();
        Assert.Empty(b.Node.GetWantlist());

        var one = b.Node.GetBlocks(keys.Take(1)).Subscribe(_ => { });
        var ten = b.Node.GetBlocks(keys.Skip(1)).Subscribe(_ => { });
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Equal(11, b.Node.GetWantlist().Count);

        ten.Dispose();
        world.Settle();
        Assert.Equal([keys[0]], b.Node.GetWantlist());
        one.Dispose();
        world.Settle();
        Assert.Empty(b.Node.GetWantlist());
    }

    // §7.4 TestDoubleGet
    [Fact]
    public async Task Independent_requests_for_one_cid_end_separately()
    {
        await using var world = new World(4, output);
        var (a, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(3000);

        using var cancelFirst = new CancellationTokenSource();
        var first = b.Node.GetBlockAsync(block.Cid, cancelFirst.Token);
        var second = b.Node.GetBlockAsync(block.Cid);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        await cancelFirst.CancelAsync();
        world.Settle();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal([block.Cid], b.Node.GetWantlist());

        await world.Add(a, block);
        var got = await world.Run(second);
        Assert.Equal(block, got);
    }

    // §7.5 TestSendToWantingPeer
    [Fact]
    public async Task Want_before_have_is_served_after_the_block_is_added()
    {
        await using var world = new World(5, output);
        var (a, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(4000);

        var fetch = b.Node.GetBlockAsync(block.Cid);
        world.Scheduler.RunFor(TimeSpan.FromSeconds(2));
        Assert.False(fetch.IsCompleted);
        Assert.Contains(block.Cid, a.Node.WantlistForPeer(b.Peer));

        await world.Add(a, block);
        var got = await world.Run(fetch);
        Assert.Equal(block, got);
        Assert.Equal(1, a.Node.Stat().BlocksSent);
    }

    // §7.6 TestEmptyKey
    [Fact]
    public async Task An_undefined_cid_is_not_found()
    {
        await using var world = new World(6, output);
        var (_, b) = Two(world.Instances(2));
        await Assert.ThrowsAsync<BlockNotFoundException>(() => b.Node.GetBlockAsync(null!));
    }

    // §7.6 TestClose
    [Fact]
    public async Task Getting_a_block_after_close_fails()
    {
        await using var world = new World(7, output);
        var (_, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(100);
        var pending = b.Node.GetBlockAsync(block.Cid);
        world.Settle();

        await b.Node.DisposeAsync();

        Assert.False(b.Node.IsOnline);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => b.Node.GetBlockAsync(block.Cid));
    }

    // §7.7 TestBitswapLedgerOneWay
    [Fact]
    public async Task Ledger_one_way_mirrors_sender_and_receiver()
    {
        await using var world = new World(8, output);
        var (a, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(2048);
        await world.Add(a, block);

        await world.Run(b.Node.GetBlockAsync(block.Cid));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        var ra = a.Node.LedgerForPeer(b.Peer);
        var rb = b.Node.LedgerForPeer(a.Peer);
        Assert.Equal((2048L, 0L, 1L), (ra.Sent, ra.Recv, ra.Exchanged));
        Assert.Equal((0L, 2048L, 1L), (rb.Sent, rb.Recv, rb.Exchanged));
        Assert.Equal(2048.0 / 1, ra.Value, 6);
        Assert.Equal(0.0, rb.Value, 6);
    }

    // §7.7 TestBitswapLedgerTwoWay
    [Fact]
    public async Task Ledger_two_way_is_equal_on_both_sides()
    {
        await using var world = new World(9, output);
        var (a, b) = Two(world.Instances(2));
        var ab = world.BlockOfSize(1000, salt: 1);
        var ba = world.BlockOfSize(1000, salt: 2);
        await world.Add(a, ab);
        await world.Add(b, ba);

        await world.Run(b.Node.GetBlockAsync(ab.Cid));
        await world.Run(a.Node.GetBlockAsync(ba.Cid));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        var ra = a.Node.LedgerForPeer(b.Peer);
        var rb = b.Node.LedgerForPeer(a.Peer);
        Assert.Equal((1000L, 1000L, 2L), (ra.Sent, ra.Recv, ra.Exchanged));
        Assert.Equal((ra.Sent, ra.Recv, ra.Exchanged, ra.Value), (rb.Sent, rb.Recv, rb.Exchanged, rb.Value));
        Assert.Equal(1000.0 / 1001.0, ra.Value, 6);
    }

    // §7.9
    [Fact]
    public async Task A_small_block_answers_a_want_have_and_a_large_one_gets_a_have_first()
    {
        await using var world = new World(10, output);
        var (a, b) = Two(world.Instances(2));
        var small = world.BlockOfSize(1000, salt: 1);
        var large = world.BlockOfSize(9000, salt: 2);
        await world.Add(a, small, large);
        var seen = new List<Message>();
        using var watch = b.Node.Events.OfType<MessageIn>().Subscribe(m => seen.Add(m.Message));

        await world.Run(b.Node.GetBlockAsync(small.Cid));
        Assert.DoesNotContain(seen, m => m.Presences.ContainsKey(small.Cid));
        Assert.Contains(seen, m => m.Blocks.ContainsKey(small.Cid));

        seen.Clear();
        await world.Run(b.Node.GetBlockAsync(large.Cid));
        Assert.Contains(seen, m => m.Presences.ContainsKey(large.Cid) && m.Presences[large.Cid] == PresenceType.Have);
        Assert.Contains(seen, m => m.Blocks.ContainsKey(large.Cid));
    }

    // §7.14 TestPeerBlockFilter
    [Fact]
    public async Task A_filtered_block_is_never_sent()
    {
        var denied = ScenarioRunner.MakeBlocks(2, 11)[1];
        await using var world = new World(11, output, options: i => i == 0
            ? BitswapOptions.Default with { RequestFilter = (_, cid) => cid != denied.Cid }
            : BitswapOptions.Default);
        var (a, b) = Two(world.Instances(2));
        var allowed = world.BlockOfSize(2000);
        await world.Add(a, denied, allowed);

        await world.Run(b.Node.GetBlockAsync(allowed.Cid));
        var blocked = b.Node.GetBlockAsync(denied.Cid);
        world.Scheduler.RunFor(TimeSpan.FromSeconds(20));

        Assert.False(blocked.IsCompleted);
        Assert.Equal(1, a.Node.Stat().BlocksSent);
        Assert.Equal(allowed.Size, a.Node.Stat().DataSent);
    }

    // §7.20 FetchFromOldBitswap
    [Fact]
    public async Task Old_peers_speaking_1_1_0_still_serve_a_fetch()
    {
        await using var world = new World(12, output, versions: i => i < 2 ? ProtocolVersion.V110 : ProtocolVersion.V120);
        var instances = world.Instances(3);
        var fetcher = instances[2];
        var blocks = world.Blocks(10);
        await world.Add(instances[0], [.. blocks.Where((_, i) => i % 2 == 0)]);
        await world.Add(instances[1], [.. blocks.Where((_, i) => i % 2 == 1)]);
        var haves = new List<Message>();
        using var watch = fetcher.Node.Events.OfType<MessageOut>().Subscribe(m => haves.Add(m.Message));

        using var session = fetcher.Node.NewSession();
        foreach (var block in blocks)
        {
            Assert.Equal(block, await world.Run(session.GetBlockAsync(block.Cid)));
        }

        Assert.DoesNotContain(haves, m => m.Wantlist.Values.Any(e => e.WantType == WantType.Have));
        Assert.Equal(10, fetcher.Node.Stat().BlocksReceived - fetcher.Node.Stat().DupBlksReceived);
    }

    // §7.21 TestWantlistRebroadcast
    [Fact]
    public async Task Unanswered_wants_are_rebroadcast_and_cancelled_ones_are_not()
    {
        await using var world = new World(13, output);
        var (a, b) = Two(world.Instances(2));
        var kept = world.BlockOfSize(100, salt: 1);
        var dropped = world.BlockOfSize(100, salt: 2);
        var sent = new List<WantlistEntry>();
        using var watch = b.Node.Events.OfType<WantsSent>().Subscribe(w => sent.AddRange(w.Entries.Where(e => !e.Cancel)));

        using var cancelDropped = new CancellationTokenSource();
        var keptFetch = b.Node.GetBlockAsync(kept.Cid);
        var droppedFetch = b.Node.GetBlockAsync(dropped.Cid, cancelDropped.Token);
        world.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        await cancelDropped.CancelAsync();
        var before = (sent.Count(e => e.Cid == kept.Cid), sent.Count(e => e.Cid == dropped.Cid));
        world.Scheduler.RunFor(TimeSpan.FromSeconds(70));

        Assert.True(sent.Count(e => e.Cid == kept.Cid) > before.Item1, $"seed {world.Seed}: the unanswered want was not re-sent");
        Assert.Equal(before.Item2, sent.Count(e => e.Cid == dropped.Cid));
        Assert.False(keptFetch.IsCompleted);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => droppedFetch);
        Assert.Equal([kept.Cid], a.Node.WantlistForPeer(b.Peer));
    }

    // §7.25 TestSessionSplitFetch
    [Fact]
    public async Task A_session_gets_blocks_spread_over_ten_peers_from_their_holders()
    {
        await using var world = new World(14, output);
        var instances = world.Instances(11);
        var fetcher = instances[10];
        var blocks = world.Blocks(10);
        for (var i = 0; i < 10; i++)
        {
            await world.Add(instances[i], blocks[i]);
        }

        var from = new Dictionary<Domain.Multiformats.Cid, Domain.Multiformats.PeerId>();
        using var watch = fetcher.Node.Blocks.Subscribe(r => from.TryAdd(r.Block.Cid, r.From));
        using var session = fetcher.Node.NewSession();
        var got = await world.Run(session.GetBlocks(blocks.Select(b => b.Cid)).ToList().ToTask());

        Assert.Equal(blocks.Select(b => b.Cid).Order(), got.Select(b => b.Cid).Order());
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(instances[i].Peer, from[blocks[i].Cid]);
        }
    }

    // §7.25 TestWantlistClearsOnCancel
    [Fact]
    public async Task Disposing_a_session_empties_the_wantlist()
    {
        await using var world = new World(15, output);
        var (_, b) = Two(world.Instances(2));
        var keys = world.Blocks(5).Select(x => x.Cid).ToList();
        var session = b.Node.NewSession();
        Exception? ended = null;
        var subscription = session.GetBlocks(keys).Subscribe(_ => { }, e => ended = e);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Equal(5, b.Node.GetWantlist().Count);

        session.Dispose();
        world.Settle();

        Assert.Empty(b.Node.GetWantlist());
        Assert.IsAssignableFrom<OperationCanceledException>(ended);
        subscription.Dispose();
    }

    // §7.25 TestFetchNotConnected
    [Fact]
    public async Task A_provider_that_is_not_connected_is_found_through_routing()
    {
        await using var world = new World(16, output);
        var provider = world.Generator.Next();
        var fetcher = world.Generator.Next();
        world.Settle();
        var block = world.BlockOfSize(3000);
        await world.Add(provider, block);
        world.Generator.Routing.Provide(provider.Peer, block.Cid);

        var got = await world.Run(fetcher.Node.GetBlockAsync(block.Cid), TimeSpan.FromSeconds(30));

        Assert.Equal(block, got);
        Assert.True(world.Network.AreConnected(provider.Peer, fetcher.Peer));
    }

    // §7.25 TestSessionPendingBlockAdded (local add wakes a queued want)
    [Fact]
    public async Task A_block_added_locally_wakes_a_waiting_fetch()
    {
        await using var world = new World(17, output);
        var (_, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(700);
        var fetch = b.Node.GetBlockAsync(block.Cid);
        world.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));

        await world.Add(b, block);

        Assert.Equal(block, await world.Run(fetch, TimeSpan.FromSeconds(1)));
        Assert.Empty(b.Node.GetWantlist());
    }

    // §5 Stat and §6 traceability: the Blocks stream carries the sender and the latency.
    [Fact]
    public async Task Received_blocks_carry_their_sender_and_latency()
    {
        await using var world = new World(18, output, latency: TimeSpan.FromMilliseconds(25));
        var (a, b) = Two(world.Instances(2));
        var block = world.BlockOfSize(600);
        await world.Add(a, block);
        var received = new List<ReceivedBlock>();
        using var watch = b.Node.Blocks.Subscribe(received.Add);

        await world.Run(b.Node.GetBlockAsync(block.Cid));

        var only = Assert.Single(received);
        Assert.Equal(a.Peer, only.From);
        Assert.True(only.Latency >= TimeSpan.FromMilliseconds(50), $"seed {world.Seed}: latency {only.Latency} is under one round trip");
    }

    // §5: GetBlocks completes once every block arrived; GetBlocksAsync streams the same.
    [Fact]
    public async Task GetBlocks_completes_when_every_block_arrived()
    {
        await using var world = new World(19, output);
        var (a, b) = Two(world.Instances(2));
        var blocks = world.Blocks(20);
        await world.Add(a, [.. blocks]);

        var got = await world.Run(b.Node.GetBlocks(blocks.Select(x => x.Cid)).ToList().ToTask());
        Assert.Equal(20, got.Count);
        Assert.All(got, x => Assert.True(Block.Verified(x.Cid, x.Data).IsRight));

        var again = new List<Block>();
        await using var stream = b.Node.GetBlocksAsync(blocks.Select(x => x.Cid)).GetAsyncEnumerator();
        while (await world.Run(stream.MoveNextAsync().AsTask()))
        {
            again.Add(stream.Current);
        }

        Assert.Equal(20, again.Count);
    }

    // The shell: an exception in an interpreter goes to the error stream and the loop keeps running.
    [Fact]
    public async Task A_failing_blockstore_is_reported_and_the_node_keeps_working()
    {
        await using var world = new World(20, output);
        var a = world.Generator.Next();
        var peer = SessionGenerator.PeerFor(999, 0);
        var port = world.Network.Join(peer);
        await using var faulty = BitswapNode.Create(peer, port, new SizeLookupFails(), BitswapOptions.Default with { Scheduler = world.Scheduler });
        world.Network.ConnectAll();
        world.Settle();
        var block = world.BlockOfSize(1200);
        await world.Add(a, block);
        var errors = new List<ErrorEvent>();
        using var watch = faulty.Events.OfType<ErrorEvent>().Subscribe(errors.Add);

        var got = await world.Run(faulty.GetBlockAsync(block.Cid));

        Assert.Equal(block, got);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Equal("blockstore", e.Where));
        Assert.True(faulty.IsOnline);
    }

    /// <summary>A blockstore whose size lookups fail, as a disk that cannot stat.</summary>
    private sealed class SizeLookupFails : IBlockstore
    {
        private readonly MemoryBlockstore _inner = new();

        public ValueTask<bool> HasAsync(Domain.Multiformats.Cid cid, CancellationToken cancellationToken = default) => _inner.HasAsync(cid, cancellationToken);

        public ValueTask<int?> GetSizeAsync(Domain.Multiformats.Cid cid, CancellationToken cancellationToken = default) =>
            throw new IOException("stat failed");

        public ValueTask<Block?> GetAsync(Domain.Multiformats.Cid cid, CancellationToken cancellationToken = default) => _inner.GetAsync(cid, cancellationToken);

        public ValueTask PutAsync(Block block, CancellationToken cancellationToken = default) => _inner.PutAsync(block, cancellationToken);

        public ValueTask<bool> DeleteAsync(Domain.Multiformats.Cid cid, CancellationToken cancellationToken = default) => _inner.DeleteAsync(cid, cancellationToken);

        public IAsyncEnumerable<Domain.Multiformats.Cid> AllKeysAsync(CancellationToken cancellationToken = default) => _inner.AllKeysAsync(cancellationToken);
    }

    // boxo's network ReceiveError: logged and reported, nothing else changes.
    [Fact]
    public async Task A_receive_error_is_reported_on_the_event_stream()
    {
        await using var world = new World(21, output);
        var (_, b) = Two(world.Instances(2));
        var errors = new List<ErrorEvent>();
        using var watch = b.Node.Events.OfType<ErrorEvent>().Subscribe(errors.Add);

        b.Node.ReceiveError(new InvalidDataException("a peer sent garbage"));

        var error = Assert.Single(errors);
        Assert.Equal("receive", error.Where);
        Assert.True(b.Node.IsOnline);
    }

    private static (Instance, Instance) Two(IReadOnlyList<Instance> instances) => (instances[0], instances[1]);

    private static (Instance, Instance, Instance) Three(IReadOnlyList<Instance> instances) => (instances[0], instances[1], instances[2]);
}
