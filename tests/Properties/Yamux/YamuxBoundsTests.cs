using Bitswap.Transport.Tcp.Host;
using Bitswap.Transport.Tcp.Yamux;
using Xunit;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Tests.Properties.Yamux;

/// <summary>What a stream the application does not read may cost: its window, in packed buffers charged to the peer.</summary>
public sealed class YamuxBoundsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static YamuxFrameHeader Frame(YamuxFrameType type, YamuxFrameFlags flags, uint stream, uint length) => new(type, flags, stream, length);

    private static (YamuxSession Session, RawPeer Peer, ResourceManager Manager, PeerScope Scope) Start(TcpHostOptions options)
    {
        var manager = new ResourceManager(options);
        var scope = new PeerScope(manager, PeerIdentity.Generate().PeerId);
        var (left, right) = PipeStreams.CreatePair();
        var session = new YamuxSession(left, isClient: false, options, scope: scope);
        session.Start();
        return (session, new RawPeer(right), manager, scope);
    }

    [Fact]
    public async Task Tiny_frames_on_an_unread_stream_are_packed_so_the_peer_is_charged_about_a_byte_per_byte()
    {
        var options = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0 };
        var (session, peer, manager, scope) = Start(options);
        await using var _ = peer;
        using var __ = manager;
        const int frames = 20_000;

        // A ping stream whose echoes are never read, fed one-byte frames: nobody reads stream 1.
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var batch = new byte[frames * (YamuxFrameHeader.Size + 1)];
        for (var i = 0; i < frames; i++) Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 1).WriteTo(batch.AsSpan(i * (YamuxFrameHeader.Size + 1)));
        await peer.SendRawAsync(batch);

        // A well-behaved stream on the same session is still served.
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 3, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.Fin, 3, 5), "hello"u8.ToArray());
        var unread = await session.AcceptStreamAsync(new CancellationTokenSource(Patience).Token);
        var served = await session.AcceptStreamAsync(new CancellationTokenSource(Patience).Token);
        var got = new byte[5];
        await served.ReadExactlyAsync(got).AsTask().WaitAsync(Patience);
        Assert.Equal("hello"u8.ToArray(), got);

        // 20,000 bytes in 4 KiB packed segments: five of them, not 20,000 arrays.
        Assert.Equal(1u, unread.Id);
        Assert.InRange(manager.MemoryOf(scope.Peer), frames, frames + 4096);
        Assert.False(session.IsClosed);

        unread.Reset();
        Assert.Equal(0, manager.MemoryOf(scope.Peer));
        await session.CloseAsync();
    }

    [Fact]
    public async Task A_stream_that_would_buffer_past_the_peer_budget_is_reset_alone_and_its_bytes_are_released()
    {
        var options = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0, PeerMemoryBytesMax = 100 * 1024 };
        var (session, peer, manager, scope) = Start(options);
        await using var _ = peer;
        using var __ = manager;

        // Within the 256 KiB window, but over the peer's 100 KiB budget.
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        for (var i = 0; i < 4; i++) await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 40_000), new byte[40_000]);
        await peer.ReceiveUntilAsync(h => h.StreamId == 1 && h.Has(YamuxFrameFlags.Rst), Patience);
        Assert.Equal(1, manager.Resets(ResetReason.PeerMemory));
        Assert.InRange(manager.MemoryOf(scope.Peer), 0, options.PeerMemoryBytesMax);

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 3, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.Fin, 3, 5), "hello"u8.ToArray());
        var first = await session.AcceptStreamAsync(new CancellationTokenSource(Patience).Token);
        var second = await session.AcceptStreamAsync(new CancellationTokenSource(Patience).Token);
        Assert.Equal(3u, second.Id);
        var got = new byte[5];
        await second.ReadExactlyAsync(got).AsTask().WaitAsync(Patience);
        Assert.Equal("hello"u8.ToArray(), got);
        Assert.False(session.IsClosed);

        first.Dispose();
        second.Dispose();
        Assert.Equal(0, manager.MemoryOf(scope.Peer));
        await session.CloseAsync();
    }

    [Fact]
    public async Task A_peer_sending_past_the_window_of_an_unread_stream_is_a_protocol_error_and_its_buffers_are_released()
    {
        var options = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0 };
        var (session, peer, manager, scope) = Start(options);
        await using var _ = peer;
        using var __ = manager;
        var window = options.YamuxInitialWindowBytes;

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, (uint)window), new byte[window]);
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 1), new byte[1]);

        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.ReceiveWindowExceeded, error.Kind);
        await YamuxSessionTests.Eventually(() => manager.MemoryOf(scope.Peer) == 0);
    }

    [Fact]
    public async Task Packed_buffers_keep_every_byte_in_order_and_charge_at_most_twice_the_window_for_any_mix_of_frame_sizes()
    {
        var options = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0 };
        var window = options.YamuxInitialWindowBytes;
        for (var seed = 0; seed < 100; seed++)
        {
            var random = new Random(seed);
            var (session, peer, manager, scope) = Start(options);
            await using var _ = peer;
            using var __ = manager;
            var sent = new List<byte>();
            await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
            while (true)
            {
                // Mostly tiny frames, some mid-sized, a few near a Noise frame's size.
                var size = random.Next(4) switch { 0 => random.Next(1, 70_000), 1 => random.Next(1, 5_000), _ => random.Next(1, 40) };
                if (sent.Count + size > window) break;
                var payload = new byte[size];
                random.NextBytes(payload);
                sent.AddRange(payload);
                await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, (uint)size), payload);
            }

            await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, 1, 0));
            var stream = await session.AcceptStreamAsync(new CancellationTokenSource(Patience).Token);
            await YamuxSessionTests.Eventually(() => stream.StreamState == YamuxStreamState.HalfClosedRemote);
            Assert.InRange(manager.MemoryOf(scope.Peer), sent.Count, 2L * window + 4096);

            var received = new MemoryStream();
            await stream.CopyToAsync(received).WaitAsync(Patience);
            Assert.Equal(sent, received.ToArray());
            Assert.Equal(0, manager.MemoryOf(scope.Peer));
            stream.Dispose();
            await session.CloseAsync();
        }
    }
}
