using System.Net;
using System.Net.Sockets;
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
        Assert.True(b.Resources.Resets(ResetReason.PeerMemory) >= 1);
        Assert.InRange(b.Resources.MemoryOf(a.Self), 0, 1024 * 1024);

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
        Assert.True(a.Resources.Resets(ResetReason.StalledWrite) >= 1);
        // What waits in the send queue is charged to the stuck peer, and never more than the queue holds.
        Assert.InRange(a.Resources.MemoryOf(stuck.Self), 0, options.SendQueueBytesMax + options.YamuxInitialWindowBytes);

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

    [Fact]
    public async Task A_prefix_announcing_4_MiB_then_a_few_bytes_charges_only_what_arrived_and_stalls_out_alone()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { MessageStallTimeout = TimeSpan.FromSeconds(1) });
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var stalled = b.Events.OfType<ReceiveFailed>().FirstAsync().ToTask();

        await using var partial = await a.OpenStreamAsync(b.Self, Protocols.All[0]).WaitAsync(Patience);
        await partial.WriteAsync(Domain.Multiformats.Varint.Encode(4UL * 1024 * 1024).Concat(new byte[10]).ToArray());
        await Eventually(() => b.Resources.MemoryOf(a.Self) > 0);
        // The receiver holds a small first buffer, not the 4 MiB the prefix announced.
        Assert.InRange(b.Resources.MemoryOf(a.Self), 1, 256 * 1024);

        var failure = await stalled.WaitAsync(Patience);
        Assert.Equal(Domain.Multiformats.DecodeErrorKind.Truncated, failure.Error.Kind);
        Assert.Equal(1, b.Resources.Resets(ResetReason.StalledMessage));
        await Eventually(() => b.Resources.MemoryOf(a.Self) == 0);

        // The connection and the peer's other streams are untouched.
        var block = Block.Raw(new byte[50_000]);
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithBlock(block)).AsTask().WaitAsync(Patience);
        var got = await arrived.WaitAsync(Patience);
        Assert.Equal(block, Assert.Single(got.Message.Blocks.Values));
        // A message waiting for its consumer is charged to its peer until the lease is disposed.
        Assert.True(b.Resources.MemoryOf(a.Self) >= block.Data.Length);
        got.Lease?.Dispose();
        await Eventually(() => b.Resources.MemoryOf(a.Self) == 0);
    }

    [Fact]
    public async Task Slow_handshakes_from_one_ip_are_capped_and_cut_at_the_upgrade_deadline_while_another_ip_connects()
    {
        var options = new TcpHostOptions { IpLimitsExemptLoopback = false, HandshakesPerIpMax = 4, UpgradeTimeoutMs = 1500 };
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), options);
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        b.ListenAddresses[0].TryGetTcpEndpoint(out var endpoint);
        using var stop = new CancellationTokenSource();
        var cut = 0;

        // Twelve connections from 127.0.0.2, each trickling one byte of a multistream header every 200 ms: no single read
        // ever waits long, so only a deadline over the whole upgrade ends them.
        async Task TrickleAsync()
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            await socket.ConnectAsync(endpoint!);
            var header = "\u0013/multistream/1.0.0\n"u8.ToArray();
            try
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    await socket.SendAsync(header.AsMemory(i % header.Length, 1));
                    await Task.Delay(200, stop.Token);
                    if (socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0) break;
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }

            if (!stop.IsCancellationRequested) Interlocked.Increment(ref cut);
        }

        var tricklers = Enumerable.Range(0, 12).Select(_ => TrickleAsync()).ToArray();
        await Eventually(() => b.Resources.Resets(ResetReason.HandshakesPerIp) >= 8);
        Assert.InRange(b.Resources.Handshakes, 0, options.HandshakesPerIpMax);

        // An honest peer from 127.0.0.1 still connects and is served.
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
        await a.SendAsync(b.Self, Message.Empty.WithEntry(WantlistEntry.WantHave(Block.Raw("x"u8.ToArray()).Cid, 1))).AsTask().WaitAsync(Patience);
        Assert.Equal(a.Self, (await arrived.WaitAsync(Patience)).Peer);

        // Every trickler is closed by the host at the deadline, and the handshake budget is free again.
        await Task.WhenAll(tricklers).WaitAsync(Patience);
        Assert.Equal(12, cut);
        await Eventually(() => b.Resources.Handshakes == 0);
        stop.Cancel();
    }

    [Fact]
    public async Task Slow_handshakes_from_the_same_address_as_an_honest_peer_cannot_lock_it_out_the_slowest_is_evicted()
    {
        // Loopback skips the per-IP limits, so only the handshake budget and its eviction stand between the two.
        var options = new TcpHostOptions { HandshakesMax = 8, HandshakeEvictMinAge = TimeSpan.FromMilliseconds(300), UpgradeTimeoutMs = 60_000 };
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), options);
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        b.ListenAddresses[0].TryGetTcpEndpoint(out var endpoint);
        using var stop = new CancellationTokenSource();
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync(endpoint!);
                await socket.SendAsync("\u0013"u8.ToArray());
            }

            await Eventually(() => b.Resources.Handshakes == options.HandshakesMax && b.Resources.Resets(ResetReason.Handshakes) >= 1);

            // The honest dial takes the slot of the slowest trickler once that one has run for HandshakeEvictMinAge.
            await Task.Delay(2 * options.HandshakeEvictMinAge);
            await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
            Assert.True(b.Resources.Resets(ResetReason.HandshakeEvicted) >= 1);
            Assert.InRange(b.Resources.Handshakes, 0, options.HandshakesMax);
            var arrived = b.Events.OfType<MessageArrived>().FirstAsync().ToTask();
            await a.SendAsync(b.Self, Message.Empty.WithEntry(WantlistEntry.WantHave(Block.Raw("y"u8.ToArray()).Cid, 1))).AsTask().WaitAsync(Patience);
            Assert.Equal(a.Self, (await arrived.WaitAsync(Patience)).Peer);
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }

        await Eventually(() => b.Resources.Handshakes == 0);
    }

    [Fact]
    public async Task A_peer_holding_ping_streams_open_gets_the_one_past_the_cap_reset_while_another_peer_still_pings()
    {
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var c = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        await c.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);

        var held = new List<Transport.Tcp.Yamux.YamuxStream>();
        for (var i = 0; i < TcpHostOptions.Default.PingStreamsPerPeerMax; i++) held.Add(await a.OpenStreamAsync(b.Self, TcpHost.PingProtocol).WaitAsync(Patience));
        await Eventually(() => b.Resources.StreamsOf(a.Self, TcpHost.PingProtocol) == TcpHostOptions.Default.PingStreamsPerPeerMax);

        // The reset may come before or after our side has read the protocol echo.
        await Assert.ThrowsAsync<Transport.Tcp.Yamux.YamuxException>(async () =>
        {
            await using var extra = await a.OpenStreamAsync(b.Self, TcpHost.PingProtocol).WaitAsync(Patience);
            await extra.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience);
        });
        Assert.Equal(1, b.Resources.Resets(ResetReason.StreamsPerProtocol));
        Assert.Equal(TcpHostOptions.Default.PingStreamsPerPeerMax, b.Resources.StreamsOf(a.Self, TcpHost.PingProtocol));
        Assert.True(await c.PingAsync(b.Self).WaitAsync(Patience) > TimeSpan.Zero);

        foreach (var stream in held) await stream.DisposeAsync();
        await Eventually(() => b.Resources.StreamsOf(a.Self, TcpHost.PingProtocol) == 0);
        Assert.True(await a.PingAsync(b.Self).WaitAsync(Patience) > TimeSpan.Zero);
    }

    [Fact]
    public async Task Disposing_a_host_with_stalled_peers_returns_within_its_shutdown_bound()
    {
        var options = new TcpHostOptions { SendQueueBytesMax = 2 * 1024 * 1024, ShutdownTimeout = TimeSpan.FromSeconds(3) };
        var a = await TcpHost.StartAsync(PeerIdentity.Generate(), options);
        using var release = new ManualResetEventSlim();
        var stuck = new List<TcpHost>();
        var subscriptions = new List<IDisposable>();
        var sends = new List<Task>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var peer = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
                stuck.Add(peer);
                // Its consumer never returns from the first message, so its connection stops reading.
                subscriptions.Add(peer.Events.OfType<MessageArrived>().Subscribe(_ => release.Wait(TimeSpan.FromSeconds(30))));
                await a.DialAsync(peer.ListenAddresses[0]).WaitAsync(Patience);
                for (var m = 0; m < 8; m++)
                    sends.Add(a.SendAsync(peer.Self, Message.Empty.WithBlock(Block.Raw(BitConverter.GetBytes(m).Concat(new byte[1024 * 1024]).ToArray()))).AsTask());
            }

            await Task.Delay(500);
            await a.DisposeAsync().AsTask().WaitAsync(options.ShutdownTimeout + TimeSpan.FromSeconds(4));
            await Task.WhenAll(sends.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
        finally
        {
            release.Set();
            foreach (var subscription in subscriptions) subscription.Dispose();
            foreach (var peer in stuck) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Inbound_connections_past_the_per_ip_cap_are_closed_after_their_handshake_and_the_others_keep_working()
    {
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { IpLimitsExemptLoopback = false, ConnectionsPerIpMax = 2 });
        var dialers = new List<TcpHost>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var dialer = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions { Listen = [] });
                dialers.Add(dialer);
                try
                {
                    await dialer.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
                }
                catch (NetworkException)
                {
                    // The refused one may fail its dial or see the connection close right after.
                }
            }

            await Eventually(() => b.Resources.Resets(ResetReason.ConnectionsPerIp) == 1);
            await Eventually(() => b.ConnectedPeers.Count == 2 && b.Resources.Connections == 2);
            Assert.True(await dialers[0].PingAsync(b.Self).WaitAsync(Patience) > TimeSpan.Zero);
            Assert.True(await dialers[1].PingAsync(b.Self).WaitAsync(Patience) > TimeSpan.Zero);
        }
        finally
        {
            foreach (var dialer in dialers) await dialer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Identify_pushes_are_held_to_8_KiB_a_message_and_the_address_book_to_its_cap()
    {
        await using var a = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await using var b = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        await a.DialAsync(b.ListenAddresses[0]).WaitAsync(Patience);
        static Transport.Tcp.Addressing.Multiaddr Address(int i) =>
            Transport.Tcp.Addressing.Multiaddr.Parse($"/ip4/10.0.{i >> 8}.{i & 255}/tcp/4001").Match(x => x, e => throw new InvalidOperationException(e.ToString()));
        // One identify message: field 2 (listenAddrs) repeated.
        static byte[] Push(IEnumerable<int> addresses) =>
            [.. addresses.SelectMany(i => new byte[] { 0x12, (byte)Address(i).ToBytes().Length }.Concat(Address(i).ToBytes()))];

        // Ten pushes of 800 addresses each (8,000 bytes apiece, 8,000 addresses in all) on one stream: only the newest 64 are kept.
        await using (var push = await a.OpenStreamAsync(b.Self, TcpHost.IdentifyPushProtocol).WaitAsync(Patience))
        {
            for (var m = 0; m < 10; m++) await push.WriteAsync(Framing.Frame(Push(Enumerable.Range(m * 800, 800))));
            await push.CloseWriteAsync();
        }

        await Eventually(() => b.AddressesOf(a.Self).Contains(Address(7_999)));
        Assert.Equal(TcpHostOptions.Default.AddressesPerPeerMax, b.AddressesOf(a.Self).Count);

        // A push over 8 KiB is refused before it is read; nothing in it is learned, and the connection stays up.
        await using (var big = await a.OpenStreamAsync(b.Self, TcpHost.IdentifyPushProtocol).WaitAsync(Patience))
        {
            await big.WriteAsync(Framing.Frame(Push(Enumerable.Range(20_000, 1_000))));
            await big.CloseWriteAsync();
        }

        Assert.True(await a.PingAsync(b.Self).WaitAsync(Patience) > TimeSpan.Zero);
        Assert.DoesNotContain(Address(20_999), b.AddressesOf(a.Self));
        await Eventually(() => b.Resources.StreamsOf(a.Self, TcpHost.IdentifyPushProtocol) == 0);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(10);
        }
    }
}
