using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Domain;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;
using Xunit;

namespace Bitswap.Tests.Interop;

/// <summary>Two of our own hosts over loopback TCP: the full libp2p upgrade, identify, ping and Bitswap streams.</summary>
public sealed class TcpHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Dialing_authenticates_the_peer_and_both_sides_see_it_as_a_bitswap_peer()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        var bSeesA = b.Events.OfType<PeerUp>().FirstAsync(e => e.Peer == a.Self).ToTask();

        var dialed = await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);

        Assert.Equal(b.Self, dialed);
        var up = await bSeesA.WaitAsync(Patience);
        Assert.Equal(ProtocolVersion.V120, up.Version);
        Assert.Equal(ProtocolVersion.V120, a.VersionOf(b.Self));
        Assert.Contains(b.Self, a.ConnectedPeers);
    }

    [Fact]
    public async Task A_bitswap_message_arrives_decoded_on_the_other_side()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var block = Block.Raw(new byte[300_000]);
        var message = Message.Empty
            .WithBlock(block)
            .WithEntry(WantlistEntry.WantHave(Block.Raw("x"u8.ToArray()).Cid, 5, sendDontHave: true));
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();

        await a.SendAsync(b.Self, message).AsTask().WaitAsync(Patience);

        var got = await arrived.WaitAsync(Patience);
        Assert.Equal(a.Self, got.Peer);
        Assert.Equal(message, got.Message);
    }

    [Fact]
    public async Task Ping_round_trips_on_an_open_connection()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);

        var rtt = await a.PingAsync(b.Self).WaitAsync(Patience);

        Assert.True(rtt > TimeSpan.Zero);
    }

    [Fact]
    public async Task Dialing_with_the_wrong_peer_id_fails_with_a_network_error()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        var impostor = PeerIdentity.Generate().PeerId;
        var wrong = b.ListenAddresses[0].WithoutPeer().WithPeer(impostor);

        await Assert.ThrowsAsync<NetworkException>(() => a.DialAsync(wrong).WaitAsync(Patience));
        Assert.Empty(a.ConnectedPeers);
    }

    [Fact]
    public async Task Garbage_on_a_bitswap_stream_resets_only_that_stream()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var failed = b.Events.OfType<ReceiveFailed>().FirstAsync().ToTask();

        await a.SendRawBitswapAsync(b.Self, new byte[] { 0x05, 0xff, 0xff, 0xff, 0xff, 0xff }).WaitAsync(Patience);

        var failure = await failed.WaitAsync(Patience);
        Assert.Equal(a.Self, failure.Peer);
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithBlock(Block.Raw("still fine"u8.ToArray()))).AsTask().WaitAsync(Patience);
        Assert.Single((await arrived.WaitAsync(Patience)).Message.Blocks);
    }

    [Fact]
    public async Task Blocks_arrive_hashed_once_under_the_cid_of_their_bytes_and_an_unhashable_prefix_resets_the_stream()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var wanted = Block.Raw(new byte[70_000]);
        var tampered = Framing.Frame(MessageCodec.Encode(Message.Empty.WithBlock(wanted), ProtocolVersion.V120));
        tampered[^1] ^= 0x01;
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();

        await a.SendRawBitswapAsync(b.Self, tampered).WaitAsync(Patience);

        var got = await arrived.WaitAsync(Patience);
        var block = Assert.Single(got.Message.Blocks.Values);
        Assert.NotEqual(wanted.Cid, block.Cid);
        Assert.Equal(Block.Raw(block.Data.ToArray()).Cid, block.Cid);
        Assert.NotNull(got.Lease);
        got.Lease!.Dispose();

        // A prefix asking sha2-256 for a 20-byte digest cannot be checked: the stream is reset, the connection lives.
        var failed = b.Events.OfType<ReceiveFailed>().FirstAsync().ToTask();
        await a.SendRawBitswapAsync(b.Self, Convert.FromHexString("0d1a0b0a04015512141203010203")).WaitAsync(Patience);
        Assert.Equal(Domain.Multiformats.DecodeErrorKind.BadDigestLength, (await failed.WaitAsync(Patience)).Error.Kind);
        var after = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithBlock(wanted)).AsTask().WaitAsync(Patience);
        Assert.Equal(wanted, Assert.Single((await after.WaitAsync(Patience)).Message.Blocks.Values));
    }

    [Fact]
    public async Task Receive_buffers_are_bounded_per_message_and_per_connection_and_only_the_stream_pays()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { PeerMemoryBytesMax = 1024 * 1024 });
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);

        // A length prefix over the message limit is refused before any byte of the body is buffered.
        var tooLarge = b.Events.OfType<ReceiveFailed>().FirstAsync().ToTask();
        await a.SendRawBitswapAsync(b.Self, Domain.Multiformats.Varint.Encode(64UL * 1024 * 1024)).WaitAsync(Patience);
        Assert.Equal(Domain.Multiformats.DecodeErrorKind.TooLarge, (await tooLarge.WaitAsync(Patience)).Error.Kind);

        // A message within the limit but over what the connection may hold half-received resets that stream.
        var overBudget = b.Events.OfType<ReceiveFailed>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithBlock(Block.Raw(new byte[2 * 1024 * 1024]))).AsTask().WaitAsync(Patience);
        Assert.Equal(Domain.Multiformats.DecodeErrorKind.TooLarge, (await overBudget.WaitAsync(Patience)).Error.Kind);

        // A stream that ends inside a message is a truncation, not a message. (The sender retries the oversized message
        // once on a fresh stream, so another TooLarge may still come first.)
        var truncated = b.Events.OfType<ReceiveFailed>().FirstAsync(e => e.Error.Kind != Domain.Multiformats.DecodeErrorKind.TooLarge).ToTask();
        await a.SendRawBitswapAsync(b.Self, new byte[] { 0x80, 0x01, 0x0a }).WaitAsync(Patience);
        Assert.Equal(Domain.Multiformats.DecodeErrorKind.Truncated, (await truncated.WaitAsync(Patience)).Error.Kind);

        var small = Block.Raw(new byte[100_000]);
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithBlock(small)).AsTask().WaitAsync(Patience);
        Assert.Equal(small, Assert.Single((await arrived.WaitAsync(Patience)).Message.Blocks.Values));
    }

    [Fact]
    public async Task Messages_sent_one_after_another_arrive_in_order_over_the_reused_stream()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var blocks = Enumerable.Range(0, 40).Select(i => Block.Raw(Enumerable.Repeat((byte)i, 100_000 + i).ToArray())).ToArray();
        var arrived = b.Events.OfType<MessageArrived>().Take(blocks.Length).Select(e =>
        {
            var cid = e.Message.Blocks.Values.Single().Cid;
            e.Lease?.Dispose();
            return cid;
        }).ToList().ToTask();

        foreach (var block in blocks) await a.SendAsync(b.Self, Message.Empty.WithBlock(block)).AsTask().WaitAsync(Patience);

        Assert.Equal(blocks.Select(x => x.Cid), await arrived.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_peer_that_stops_reading_times_out_only_its_own_sends()
    {
        var options = new TcpHostOptions { SendQueueBytesMax = 1024 * 1024, SendTimeout = TimeSpan.FromSeconds(1) };
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), options);
        await using var stuck = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var healthy = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(stuck.ListenAddresses[0]).WaitAsync(Patience);
        await a.DialAsync(healthy.ListenAddresses[0]).WaitAsync(Patience);
        using var release = new ManualResetEventSlim();
        // The stuck host's consumer never returns from its first message: its connection's read loop stops.
        using var block = stuck.Events.OfType<MessageArrived>().Subscribe(_ => release.Wait(TimeSpan.FromSeconds(30)));
        var data = Block.Raw(new byte[256 * 1024]);

        var timedOut = await Assert.ThrowsAsync<NetworkException>(async () =>
        {
            for (var i = 0; i < 1000; i++) await a.SendAsync(stuck.Self, Message.Empty.WithBlock(Block.Raw(BitConverter.GetBytes(i).Concat(data.Data.ToArray()).ToArray())));
        }).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("timed out", timedOut.Message, StringComparison.Ordinal);

        var arrived = healthy.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(healthy.Self, Message.Empty.WithBlock(data)).AsTask().WaitAsync(Patience);
        Assert.Equal(data, Assert.Single((await arrived.WaitAsync(Patience)).Message.Blocks.Values));
        release.Set();
    }

    [Fact]
    public async Task Disconnect_raises_peer_down_on_both_sides()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var aDown = a.Events.OfType<PeerDown>().FirstAsync().ToTask();
        var bDown = b.Events.OfType<PeerDown>().FirstAsync().ToTask();

        await a.DisconnectAsync(b.Self);

        Assert.Equal(b.Self, (await aDown.WaitAsync(Patience)).Peer);
        Assert.Equal(a.Self, (await bDown.WaitAsync(Patience)).Peer);
    }
}
