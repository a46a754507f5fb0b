using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Transport.Tcp.Addressing;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop;

/// <summary>One Helia peer shared by the tests of a class: it takes seconds to start.</summary>
public sealed class HeliaFixture : IAsyncLifetime
{
    /// <summary>The running Helia peer.</summary>
    public IRemotePeer Remote { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => Remote = new HeliaRemote(await HeliaPeer.StartAsync());

    /// <inheritdoc />
    public async Task DisposeAsync() => await Remote.DisposeAsync();
}

/// <summary>A second node of ours shared by the tests of a class.</summary>
public sealed class CSharpFixture : IAsyncLifetime
{
    /// <summary>The running node.</summary>
    public IRemotePeer Remote { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => Remote = await CSharpRemote.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Remote.DisposeAsync();
}

/// <summary>Our node against a live Helia node (helia 7, @helia/bitswap 4) over real libp2p TCP on 127.0.0.1.</summary>
public sealed class HeliaInteropTests(HeliaFixture fixture, ITestOutputHelper output) : PeerInteropSuite(fixture.Remote, output), IClassFixture<HeliaFixture>
{
    /// <summary>js-libp2p's connection monitor pings every 10 s: 25 s spans two cycles.</summary>
    protected override TimeSpan LongWait => TimeSpan.FromSeconds(25);

    /// <summary>Helia broadcasts want-block with sendDontHave = true (libp2p-reference §8.2).</summary>
    protected override bool AsksForDontHave => true;
}

/// <summary>The same suite between two of our nodes over real TCP.</summary>
public sealed class CSharpInteropTests(CSharpFixture fixture, ITestOutputHelper output) : PeerInteropSuite(fixture.Remote, output), IClassFixture<CSharpFixture>
{
    /// <summary>Long enough for several yamux keepalive and stream cycles; our pings are every 30 s.</summary>
    protected override TimeSpan LongWait => TimeSpan.FromSeconds(5);

    /// <summary>Our client, like boxo, broadcasts want-have without sendDontHave to peers it knows nothing about.</summary>
    protected override bool AsksForDontHave => false;
}

/// <summary>Fetches in both directions, wantlists, DONT_HAVE, a long-lived connection and a 64 MiB file, against any remote peer.</summary>
public abstract class PeerInteropSuite(IRemotePeer remote, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private IRemotePeer Helia => remote;

    /// <summary>How long the connection must stay up in the long-lived test.</summary>
    protected abstract TimeSpan LongWait { get; }

    /// <summary>True when the remote's first wants ask for DONT_HAVE, so a missing block must be answered with one.</summary>
    protected abstract bool AsksForDontHave { get; }

    private async Task<(InteropNode Node, PeerId Helia)> ConnectedNodeAsync(TextWriter? trace = null)
    {
        var node = await InteropNode.StartAsync(trace);
        var heliaAddress = Multiaddr.Parse(Helia.Address).Match(a => a, e => throw new InvalidOperationException(e.ToString()));
        var heliaPeer = await node.Host.DialAsync(heliaAddress).WaitAsync(Patience);
        Assert.Equal(Helia.PeerId, heliaPeer.ToString());
        return (node, heliaPeer);
    }

    [Fact]
    public async Task CSharp_fetches_one_block_from_the_remote()
    {
        var data = "one block from Helia"u8.ToArray();
        var cid = await Helia.PutAsync(data);
        var (node, _) = await ConnectedNodeAsync();
        await using var _ = node;

        var block = await node.Node.GetBlockAsync(cid).WaitAsync(Patience);

        Assert.Equal(data, block.Data.ToArray());
    }

    [Fact]
    public async Task CSharp_fetches_100_blocks_of_mixed_sizes_including_1_MiB_from_the_remote()
    {
        var random = new Random(100);
        var payloads = Enumerable.Range(0, 100).Select(i =>
        {
            var size = i == 0 ? 1024 * 1024 : random.Next(1, 200_000);
            var bytes = new byte[size];
            random.NextBytes(bytes);
            return bytes;
        }).ToArray();
        var cids = new List<Cid>();
        foreach (var p in payloads) cids.Add(await Helia.PutAsync(p));
        var (node, _) = await ConnectedNodeAsync();
        await using var _ = node;

        var blocks = await node.Node.GetBlocks(cids).ToList().ToTask().WaitAsync(Patience);

        Assert.Equal(100, blocks.Count);
        var byCid = blocks.ToDictionary(b => b.Cid);
        for (var i = 0; i < payloads.Length; i++) Assert.Equal(payloads[i], byCid[cids[i]].Data.ToArray());
    }

    [Fact]
    public async Task The_remote_fetches_blocks_from_CSharp_including_1_MiB()
    {
        var (node, _) = await ConnectedNodeAsync();
        await using var _ = node;
        var small = Block.Raw("served by C#"u8.ToArray());
        var large = Block.Raw(Enumerable.Range(0, 1024 * 1024).Select(i => (byte)(i * 7)).ToArray());
        await node.Node.NotifyNewBlocksAsync(small, large);

        var gotSmall = await Helia.GetAsync(small.Cid, TimeSpan.FromSeconds(30));
        var gotLarge = await Helia.GetAsync(large.Cid, TimeSpan.FromSeconds(30));

        Assert.Equal(small.Data.ToArray(), gotSmall);
        Assert.Equal(large.Data.ToArray(), gotLarge);
        Assert.True(node.Node.LedgerForPeer(Bitswap.Domain.Multiformats.PeerId.ParseOrThrow(Helia.PeerId)).Sent >= small.Size + large.Size);
    }

    [Fact]
    public async Task Remote_wants_show_in_WantlistForPeer_get_DONT_HAVE_and_are_served_once_the_block_arrives()
    {
        var (node, heliaPeer) = await ConnectedNodeAsync();
        await using var _ = node;
        var later = Block.Raw("added after Helia asked"u8.ToArray());

        var heliaGet = Helia.GetAsync(later.Cid, TimeSpan.FromSeconds(40));
        await Eventually(() => node.Node.WantlistForPeer(heliaPeer).Contains(later.Cid), "Helia's want to appear in WantlistForPeer");
        if (AsksForDontHave)
            await Eventually(() => node.Network.Sent.Any(s => s.Peer == heliaPeer && s.Message.Presences.Find(later.Cid).Map(p => p == PresenceType.DontHave).IfNone(false)),
                () => $"a DONT_HAVE to the remote (sent to it: {node.Network.Sent.Count(s => s.Peer == heliaPeer)} messages; failed: "
                    + string.Join("; ", node.Network.Failed.Where(f => f.Peer == heliaPeer).Select(f => $"{f.Message} ({f.Error})")) + ")");
        else
            Assert.DoesNotContain(node.Network.Sent, s => s.Peer == heliaPeer && s.Message.Presences.ContainsKey(later.Cid));

        await node.Node.NotifyNewBlocksAsync(later);

        Assert.Equal(later.Data.ToArray(), await heliaGet.WaitAsync(Patience));
    }

    [Fact]
    public async Task One_connection_carries_both_directions_through_the_long_wait()
    {
        var (node, heliaPeer) = await ConnectedNodeAsync();
        await using var _ = node;
        var downs = 0;
        using var watch = node.Host.Events.OfType<Bitswap.Runtime.Network.PeerDown>().Subscribe(_ => Interlocked.Increment(ref downs));
        var fromHelia = "before the wait"u8.ToArray();
        var fromHeliaCid = await Helia.PutAsync(fromHelia);
        Assert.Equal(fromHelia, (await node.Node.GetBlockAsync(fromHeliaCid).WaitAsync(Patience)).Data.ToArray());

        // js-libp2p's connection monitor pings every 10 s and aborts connections whose ping fails or hangs.
        await Task.Delay(LongWait);

        Assert.Equal(0, Volatile.Read(ref downs));
        Assert.Contains(heliaPeer, node.Host.ConnectedPeers);
        var toHelia = Block.Raw("after the wait"u8.ToArray());
        await node.Node.NotifyNewBlocksAsync(toHelia);
        Assert.Equal(toHelia.Data.ToArray(), await Helia.GetAsync(toHelia.Cid, TimeSpan.FromSeconds(30)));
        var fromHeliaAfter = "after the wait, from Helia"u8.ToArray();
        var afterCid = await Helia.PutAsync(fromHeliaAfter);
        Assert.Equal(fromHeliaAfter, (await node.Node.GetBlockAsync(afterCid).WaitAsync(Patience)).Data.ToArray());
        Assert.Equal(0, Volatile.Read(ref downs));
    }

    [Fact]
    public async Task CSharp_fetches_a_64_MiB_UnixFS_file_imported_by_the_remote()
    {
        var content = new byte[64 * 1024 * 1024];
        new Random(64).NextBytes(content);
        var path = Path.Combine(Path.GetTempPath(), $"helia-64mib-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, content);
        try
        {
            var root = await Helia.ImportAsync(path);
            var (node, _) = await ConnectedNodeAsync();
            await using var _ = node;
            using var session = node.Node.NewSession();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();

            var bytes = await UnixFsExporter.ReadAllAsync(root, (cid, ct) => new ValueTask<Block>(session.GetBlockAsync(cid, ct)))
                .WaitAsync(TimeSpan.FromMinutes(3));

            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            Assert.True(content.AsSpan().SequenceEqual(bytes), "the reassembled file differs");
            // Reported, not asserted: speed belongs to benchmarks.
            output.WriteLine($"{GetType().Name}: remote -> C#: 64 MiB in {elapsed.TotalSeconds:F2} s = {64 * 1.048576 / elapsed.TotalSeconds:F1} MB/s");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Task Eventually(Func<bool> condition, string what) => Eventually(condition, () => what);

    private static async Task Eventually(Func<bool> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {Patience.TotalSeconds} s for {what()}");
            await Task.Delay(50);
        }
    }
}
