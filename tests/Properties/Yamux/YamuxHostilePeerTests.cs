using System.Security.Cryptography;
using Bitswap.Transport.Tcp.Host;
using System.Text;
using Bitswap.Domain;
using Bitswap.Transport.Tcp.Yamux;
using FsCheck;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties.Yamux;

/// <summary>A yamux session facing a hand-driven peer that sends exactly the frames a test chooses.</summary>
public sealed class YamuxHostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly TcpHostOptions Quiet = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0 };

    private static YamuxFrameHeader Frame(YamuxFrameType type, YamuxFrameFlags flags, uint stream, uint length) => new(type, flags, stream, length);

    [Fact]
    public async Task A_peer_overflowing_the_receive_window_ends_the_session_with_a_protocol_error()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        var window = TcpHostOptions.Default.YamuxInitialWindowBytes;

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, (uint)window), new byte[window]);
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 1), new byte[1]);

        var goAway = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.GoAway, Patience);
        Assert.Equal((uint)YamuxGoAwayCode.ProtocolError, goAway.Header.Length);
        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.ReceiveWindowExceeded, error.Kind);
        Assert.True(error.IsProtocolError);
    }

    [Fact]
    public async Task A_block_and_its_framing_leave_in_one_data_frame_cut_only_by_the_window()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        var window = TcpHostOptions.Default.YamuxInitialWindowBytes;
        var head = RandomNumberGenerator.GetBytes(40);
        var block = RandomNumberGenerator.GetBytes(window + 1000);
        var stream = await session.OpenStreamAsync(Timeout());

        var writing = stream.WriteUncopiedAsync(head, block, Timeout()).AsTask();
        var first = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data, Patience);
        // The whole window in one frame, far past one Noise frame's 65,519 bytes: the receiver pays one window update for it.
        Assert.Equal(window, first.Payload.Length);
        Assert.Equal(head, first.Payload[..head.Length]);
        Assert.False(writing.IsCompleted);
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Ack, stream.Id, (uint)window));
        var second = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data, Patience);
        await writing.WaitAsync(Patience);

        Assert.Equal(head.Concat(block), first.Payload.Concat(second.Payload));
    }

    [Fact]
    public async Task Copied_writes_still_leave_in_frames_of_one_noise_frame()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        var stream = await session.OpenStreamAsync(Timeout());

        await stream.WriteAsync(new byte[100_000], Timeout());

        var first = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data, Patience);
        Assert.Equal(65_519, first.Payload.Length);
    }

    [Fact]
    public async Task Data_within_the_window_granted_by_updates_is_accepted()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        var window = TcpHostOptions.Default.YamuxInitialWindowBytes;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, (uint)window), new byte[window]);

        var stream = await session.AcceptStreamAsync(Timeout());
        var ack = await peer.ReceiveUntilAsync(h => h.StreamId == 1, Patience);
        Assert.True(ack.Header.Has(YamuxFrameFlags.Ack));
        await stream.ReadExactlyAsync(new byte[window]);
        var update = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.StreamId == 1 && h.Length > 0, Patience);
        Assert.Equal((uint)window, update.Header.Length);
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.Fin, 1, update.Header.Length), new byte[update.Header.Length]);

        await stream.ReadExactlyAsync(new byte[update.Header.Length]);
        Assert.Equal(0, await stream.ReadAsync(new byte[1]));
        Assert.False(session.IsClosed);
        await session.CloseAsync();
    }

    [Fact]
    public async Task Receive_window_doubles_when_updates_come_within_four_round_trips_up_to_the_maximum()
    {
        var window = TcpHostOptions.Default.YamuxInitialWindowBytes;
        var limits = TcpHostOptions.Default with { YamuxWindowBytesMax = 2 * window };
        var (session, peer) = Start(limits);
        await using var _ = peer;
        var ping = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping, Patience);
        await Task.Delay(TimeSpan.FromMilliseconds(250));
        await peer.SendAsync(Frame(YamuxFrameType.Ping, YamuxFrameFlags.Ack, 0, ping.Header.Length));
        await YamuxSessionTests.Eventually(() => session.RoundTripTime >= TimeSpan.FromMilliseconds(250));

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, (uint)window), new byte[window]);
        var stream = await session.AcceptStreamAsync(Timeout());
        await stream.ReadExactlyAsync(new byte[window]);
        var first = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.StreamId == 1 && h.Length > 0, Patience);

        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, first.Header.Length), new byte[first.Header.Length]);
        await stream.ReadExactlyAsync(new byte[first.Header.Length]);
        var second = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.StreamId == 1 && h.Length > 0, Patience);

        Assert.Equal(2u * (uint)window, first.Header.Length);
        Assert.Equal(2u * (uint)window, second.Header.Length);
        Assert.Equal(2 * window, stream.ReceiveWindow);
        await session.CloseAsync();
    }

    [Theory]
    [InlineData("data on stream 0", "000000000000000000000000")]
    [InlineData("window update on stream 0", "000100000000000000000010")]
    [InlineData("ping on a stream", "000200010000000300000007")]
    [InlineData("go away on a stream", "000300000000000100000000")]
    [InlineData("version 1", "010100010000000100000000")]
    [InlineData("unknown type 4", "000400000000000000000000")]
    [InlineData("SYN with the server's own parity", "000100010000000200000000")]
    [InlineData("ping with SYN and ACK", "000200030000000000000007")]
    public async Task A_malformed_frame_ends_the_session_with_go_away_protocol_error(string why, string hex)
    {
        var (session, peer) = Start();
        await using var _ = peer;

        await peer.SendRawAsync(Convert.FromHexString(hex));

        var goAway = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.GoAway, Patience);
        Assert.Equal("000300000000000000000001", goAway.Header.ToHex());
        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.True(error.Kind == YamuxErrorKind.ProtocolError, why);
        Assert.Null(await peer.ReceiveAsync(Patience));
    }

    [Fact]
    public async Task Streams_die_with_the_session_when_the_peer_breaks_the_protocol()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = await session.AcceptStreamAsync(Timeout());
        var pendingRead = stream.ReadAsync(new byte[1]).AsTask();

        await peer.SendRawAsync(Convert.FromHexString("000000000000000000000000"));

        var error = await Assert.ThrowsAsync<YamuxException>(() => pendingRead.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.SessionClosed, error.Kind);
        Assert.Equal(YamuxStreamState.Reset, stream.StreamState);
        await Assert.ThrowsAsync<YamuxException>(async () => await session.AcceptStreamAsync(Timeout()));
    }

    [Fact]
    public async Task Frames_for_unknown_streams_without_syn_are_ignored()
    {
        var (session, peer) = Start();
        await using var _ = peer;

        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 5, 10), new byte[10]);
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, 7, 1000));
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, 9, 0));
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, 11, 2));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.Ack, 13, 3), [1, 2, 3]);
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.Syn, 1, 2), "hi"u8.ToArray());

        var stream = await session.AcceptStreamAsync(Timeout());
        var buffer = new byte[2];
        await stream.ReadExactlyAsync(buffer);
        Assert.Equal("hi", Encoding.ASCII.GetString(buffer));
        Assert.Equal(1, session.ActiveStreams);
        Assert.False(session.IsClosed);
        await session.CloseAsync();
    }

    [Fact]
    public async Task Frames_for_a_stream_that_was_reset_are_ignored()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = await session.AcceptStreamAsync(Timeout());
        stream.Reset();
        await peer.ReceiveUntilAsync(h => h.StreamId == 1 && h.Has(YamuxFrameFlags.Rst), Patience);

        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 4), new byte[4]);
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, 1, 100));
        await peer.SendAsync(Frame(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 42));

        var pong = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping, Patience);
        Assert.Equal(42u, pong.Header.Length);
        Assert.Equal(0, session.ActiveStreams);
        Assert.False(session.IsClosed);
        await session.CloseAsync();
    }

    [Fact]
    public async Task A_ping_is_answered_with_an_ack_carrying_the_same_value()
    {
        var (session, peer) = Start();
        await using var _ = peer;

        await peer.SendRawAsync(Convert.FromHexString("000200010000000000000007"));

        var pong = await peer.ReceiveAsync(Patience);
        Assert.Equal("000200020000000000000007", pong!.Value.Header.ToHex());
        await session.CloseAsync();
    }

    [Fact]
    public async Task Close_sends_go_away_normal_and_completes_successfully()
    {
        var (session, peer) = Start();
        await using var _ = peer;

        await session.CloseAsync();

        var goAway = await peer.ReceiveAsync(Patience);
        Assert.Equal("000300000000000000000000", goAway!.Value.Header.ToHex());
        Assert.True(session.Completion.IsCompletedSuccessfully);
        Assert.Null(await peer.ReceiveAsync(Patience));
    }

    [Fact]
    public async Task After_the_peer_go_away_no_stream_can_be_opened_but_existing_ones_work()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = await session.AcceptStreamAsync(Timeout());

        await peer.SendRawAsync(Convert.FromHexString("000300000000000000000000"));
        await peer.SendAsync(Frame(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 2), "ok"u8.ToArray());
        await peer.SendAsync(Frame(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 1));
        await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping, Patience);

        var error = await Assert.ThrowsAsync<YamuxException>(async () => await session.OpenStreamAsync(Timeout()));
        Assert.Equal(YamuxErrorKind.GoAwayReceived, error.Kind);
        var buffer = new byte[2];
        await stream.ReadExactlyAsync(buffer);
        Assert.Equal("ok", Encoding.ASCII.GetString(buffer));
        Assert.False(session.IsClosed);
        await session.CloseAsync();
    }

    [Fact]
    public async Task A_go_away_with_an_error_code_ends_the_session_without_answering()
    {
        var (session, peer) = Start();
        await using var _ = peer;

        await peer.SendRawAsync(Convert.FromHexString("000300000000000000000002"));

        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.RemoteError, error.Kind);
        Assert.Null(await peer.ReceiveAsync(Patience));
    }

    [Fact]
    public async Task Rst_length_is_not_added_to_the_send_window()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = await session.AcceptStreamAsync(Timeout());
        var before = stream.SendWindow;

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, 1, 5000));
        await peer.SendAsync(Frame(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 9));
        await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping, Patience);

        Assert.Equal(before, stream.SendWindow);
        Assert.Equal(YamuxStreamState.Reset, stream.StreamState);
        await session.CloseAsync();
    }

    [Fact]
    public async Task A_window_update_adds_its_delta_to_the_send_window()
    {
        var (session, peer) = Start();
        await using var _ = peer;
        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = await session.AcceptStreamAsync(Timeout());

        await peer.SendAsync(Frame(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, 1, 5000));
        await peer.SendAsync(Frame(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 9));
        await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping, Patience);

        Assert.Equal(TcpHostOptions.Default.YamuxInitialWindowBytes + 5000L, stream.SendWindow);
        await session.CloseAsync();
    }

    [Fact]
    public async Task An_unanswered_keepalive_ping_ends_the_session()
    {
        var limits = TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 50, YamuxPingTimeoutMs = 100 };
        var (session, peer) = Start(limits);
        await using var _ = peer;

        var ping = await peer.ReceiveAsync(Patience);
        Assert.Equal(YamuxFrameType.Ping, ping!.Value.Header.Type);
        Assert.Equal(YamuxFrameFlags.Syn, ping.Value.Header.Flags);

        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.KeepAliveTimeout, error.Kind);
    }

    [Fact]
    public async Task A_truncated_frame_at_eof_is_a_protocol_error()
    {
        var (session, peer) = Start();

        await peer.SendRawAsync(Convert.FromHexString("0000000000000001000000"));
        await peer.DisposeAsync();

        var error = await Assert.ThrowsAsync<YamuxException>(() => session.Completion.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.ProtocolError, error.Kind);
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Task<bool> Any_input_ends_the_session_with_a_typed_outcome_and_never_escapes_the_loop(YamuxWireNoise noise) =>
        Outcome(noise.Bytes);

    private static async Task<bool> Outcome(byte[] input)
    {
        var (session, peer) = Start();
        var acceptor = DrainInboundAsync(session);
        await peer.SendRawAsync(input);
        await peer.DisposeAsync();
        try
        {
            await session.Completion.WaitAsync(Patience);
        }
        catch (YamuxException)
        {
            // A typed end is an acceptable outcome for garbage.
        }

        await acceptor.WaitAsync(Patience);
        return session.IsClosed && session.ActiveStreams == 0;
    }

    private static async Task DrainInboundAsync(YamuxSession session)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                await using var stream = await session.AcceptStreamAsync(CancellationToken.None);
                try
                {
                    while (await stream.ReadAsync(buffer) > 0)
                    {
                    }

                    await stream.WriteAsync(buffer.AsMemory(0, 16));
                }
                catch (YamuxException)
                {
                    // Streams of a garbage session may be reset at any point.
                }
            }
        }
        catch (YamuxException)
        {
            // The session ended.
        }
    }

    private static (YamuxSession Session, RawPeer Peer) Start(TcpHostOptions? limits = null)
    {
        var (left, right) = PipeStreams.CreatePair();
        var session = new YamuxSession(left, isClient: false, limits ?? Quiet);
        session.Start();
        return (session, new RawPeer(right));
    }

    private static CancellationToken Timeout() => new CancellationTokenSource(Patience).Token;
}
