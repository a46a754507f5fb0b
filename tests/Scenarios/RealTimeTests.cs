using System.Reactive.Concurrency;
using Bitswap.Runtime;
using Bitswap.Runtime.Network;
using Bitswap.Testing;
using Xunit;

namespace Bitswap.Tests.Scenarios;

/// <summary>The same node in wall-clock mode: its own event-loop thread, thread-pool blockstore workers, real timers.</summary>
public sealed class RealTimeTests
{
    [Fact]
    public async Task A_wall_clock_node_fetches_blocks_on_its_own_event_loop()
    {
        // The virtual network is single-threaded by design: give it its own real-time event loop so that deliveries on
        // a link stay in order, as a transport's one reader per stream keeps them.
        using var wire = new EventLoopScheduler();
        var network = new VirtualNetwork(wire, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(TimeSpan.FromMilliseconds(1)) });
        await using var generator = new SessionGenerator(network, Scheduler.Default, seed: 51, options: _ => BitswapOptions.Default with { Scheduler = null });
        var instances = generator.Instances(2);
        var blocks = ScenarioRunner.MakeBlocks(10, 51);
        await instances[0].Node.NotifyNewBlocksAsync([.. blocks]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var one = await instances[1].Node.GetBlockAsync(blocks[0].Cid, timeout.Token);
        var rest = new List<Bitswap.Domain.Block>();
        await foreach (var block in instances[1].Node.GetBlocksAsync(blocks.Skip(1).Select(b => b.Cid), timeout.Token))
        {
            rest.Add(block);
        }

        Assert.Equal(blocks[0], one);
        Assert.Equal(blocks.Skip(1).Select(b => b.Cid).Order(), rest.Select(b => b.Cid).Order());
        Assert.Equal(10, instances[1].Node.Stat().BlocksReceived);
        Assert.True(await instances[1].Blockstore.HasAsync(blocks[5].Cid), "received blocks are stored");
    }

    [Fact]
    public async Task Closing_a_session_or_cancelling_a_fetch_never_leaves_a_caller_waiting()
    {
        // Nobody holds these blocks, so only the close or the cancel can end each call. Each is raced against the want
        // it ends: the close or cancel is posted right behind the want, before the loop has taken either.
        using var wire = new EventLoopScheduler();
        var network = new VirtualNetwork(wire, new VirtualNetworkOptions { Latency = new LatencyModel.Fixed(TimeSpan.FromMilliseconds(1)) });
        await using var generator = new SessionGenerator(network, Scheduler.Default, seed: 52, options: _ => BitswapOptions.Default with { Scheduler = null });
        var node = generator.Instances(2)[1].Node;
        var missing = ScenarioRunner.MakeBlocks(200, 52).Select(b => b.Cid).ToArray();
        var calls = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            var session = node.NewSession();
            calls.Add(session.GetBlockAsync(missing[i]));
            calls.Add(session.GetBlocksAsync([missing[100 + i]]).ToListAsync().AsTask());
            session.Dispose();
        }

        for (var i = 50; i < 100; i++)
        {
            using var cancel = new CancellationTokenSource();
            calls.Add(node.GetBlockAsync(missing[i], cancel.Token));
            cancel.Cancel();
        }

        var all = Task.WhenAll(calls);
        var finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.Same(all, finished);
        Assert.All(calls, call => Assert.True(call.IsCanceled || call.Exception?.InnerException is OperationCanceledException, $"{call.Status}"));
        // A cancelled call ends at once; its want is withdrawn when the loop takes the letter that follows it.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (node.GetWantlist().Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Empty(node.GetWantlist());
    }
}
