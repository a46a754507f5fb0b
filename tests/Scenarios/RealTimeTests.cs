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
}
