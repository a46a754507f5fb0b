using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Recording;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host;
using Xunit;
using Identity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Tests.Interop.Readme;

/// <summary>The library examples of README.md, run against a real provider so the documented code is known to work.</summary>
public sealed class ReadmeExamplesTests
{
    [Fact]
    public async Task GetBlockAsync_example_fetches_a_block_from_a_peer()
    {
        await using var provider = await InteropNode.StartAsync();
        var wanted = Block.Raw("readme example"u8.ToArray());
        await provider.Node.NotifyNewBlocksAsync(wanted);
        var peerAddress = provider.Address;
        var cidText = wanted.Cid.ToString();
        var keyFile = Path.Combine(Path.GetTempPath(), $"readme-{Guid.NewGuid():N}.key");

        // README: "Fetch a block"
        await using var host = await TcpHost.StartAsync(Identity.LoadOrCreate(keyFile), new TcpHostOptions());
        // TcpHost does not report connection addresses yet, and broadcast control treats such a peer as remote.
        await using var node = BitswapNode.Create(host.Self, host, new MemoryBlockstore(), new BitswapOptions());
        await host.DialAsync(Multiaddr.ParseOrThrow(peerAddress));
        Block block = await node.GetBlockAsync(Cid.ParseOrThrow(cidText));

        Assert.Equal(wanted, block);
        File.Delete(keyFile);
    }

    [Fact]
    public async Task GetBlocks_example_streams_blocks_and_completes()
    {
        await using var provider = await InteropNode.StartAsync();
        var blocks = Enumerable.Range(0, 5).Select(i => Block.Raw(new byte[] { (byte)i, 1, 2, 3 })).ToArray();
        await provider.Node.NotifyNewBlocksAsync(blocks);
        await using var leech = await InteropNode.StartAsync();
        await leech.Host.DialAsync(Multiaddr.ParseOrThrow(provider.Address));
        var node = leech.Node;
        var cids = blocks.Select(b => b.Cid).ToList();
        var seen = new List<Cid>();
        var done = new TaskCompletionSource();

        // README: "Subscribe to blocks"
        using var subscription = node.GetBlocks(cids).Subscribe(
            b => seen.Add(b.Cid),
            () => done.SetResult());
        using var log = node.Blocks.Subscribe(r => Console.WriteLine($"{r.Block.Cid} from {r.From.Short} in {r.Latency.TotalMilliseconds:F0} ms"));

        await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(cids.OrderBy(c => c), seen.OrderBy(c => c));
    }

    [Fact]
    public async Task Replay_example_prints_the_same_decisions()
    {
        await using var provider = await InteropNode.StartAsync();
        var wanted = Block.Raw("recorded"u8.ToArray());
        await provider.Node.NotifyNewBlocksAsync(wanted);
        var path = Path.Combine(Path.GetTempPath(), $"readme-{Guid.NewGuid():N}.log");
        await using (var host = await TcpHost.StartAsync(Identity.Generate(), new TcpHostOptions()))
        {
            // README: "Record and replay"
            await using var file = File.Create(path);
            await using var node = BitswapNode.Create(host.Self, host, new MemoryBlockstore(), new BitswapOptions { RecordTo = file });
            await host.DialAsync(Multiaddr.ParseOrThrow(provider.Address));
            await node.GetBlockAsync(wanted.Cid).WaitAsync(TimeSpan.FromSeconds(60));
        }

        await using var recorded = File.OpenRead(path);
        string trace = Replay.Run(recorded);

        Assert.Contains("DeliverBlock", trace);
        Assert.Contains(wanted.Cid.ToString()[^8..], trace);
        File.Delete(path);
    }
}
