using Bitswap.Transport.Tcp.Host;
using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain;
using Bitswap.Transport.Tcp.Yamux;
using Xunit;

namespace Bitswap.Tests.Properties.Yamux;

/// <summary>Two yamux sessions talking over an in-memory pipe.</summary>
public sealed class YamuxSessionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Open_and_accept_give_the_same_stream_id_on_both_sides()
    {
        await using var pair = SessionPair.Start();
        var opened = await pair.Client.OpenStreamAsync(Timeout());
        await opened.WriteAsync("hi"u8.ToArray());
        var accepted = await pair.Server.AcceptStreamAsync(Timeout());

        Assert.Equal(1u, opened.Id);
        Assert.Equal(opened.Id, accepted.Id);
        Assert.True(accepted.IsInbound);
        Assert.False(opened.IsInbound);
        Assert.Equal("hi", Encoding.ASCII.GetString(await ReadExactlyAsync(accepted, 2)));
    }

    [Fact]
    public async Task An_attached_receiver_gets_every_byte_in_order_from_before_and_after_it_was_attached_then_the_end()
    {
        await using var pair = SessionPair.Start();
        var stream = await pair.Client.OpenStreamAsync(Timeout());
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await stream.WriteAsync(payload.AsMemory(0, 100_000));
        var accepted = await pair.Server.AcceptStreamAsync(Timeout());
        await Task.Delay(50);
        var receiver = new CollectingReceiver();

        accepted.AttachReceiver(receiver);
        // 3 MiB is far past the initial 256 KiB window: only the window the attach grants lets it through.
        await stream.WriteUncopiedAsync(payload.AsMemory(100_000)).AsTask().WaitAsync(Patience);
        await stream.CloseWriteAsync();

        Assert.Null(await receiver.Ended.Task.WaitAsync(Patience));
        Assert.Equal(payload, receiver.Bytes.ToArray());
    }

    [Fact]
    public async Task Server_streams_have_even_ids_and_client_streams_odd_ids()
    {
        await using var pair = SessionPair.Start();
        var fromClient = new[] { await pair.Client.OpenStreamAsync(Timeout()), await pair.Client.OpenStreamAsync(Timeout()) };
        var fromServer = new[] { await pair.Server.OpenStreamAsync(Timeout()), await pair.Server.OpenStreamAsync(Timeout()) };

        Assert.Equal([1u, 3u], fromClient.Select(s => s.Id));
        Assert.Equal([2u, 4u], fromServer.Select(s => s.Id));
        Assert.Equal(2u, (await pair.Client.AcceptStreamAsync(Timeout())).Id);
        Assert.Equal(1u, (await pair.Server.AcceptStreamAsync(Timeout())).Id);
    }

    [Fact]
    public async Task Echo_returns_the_bytes_and_the_ack_opens_the_stream()
    {
        await using var pair = SessionPair.Start();
        var echo = EchoOnceAsync(pair.Server);
        var stream = await pair.Client.OpenStreamAsync(Timeout());
        Assert.Equal(YamuxStreamState.Opening, stream.StreamState);

        var message = RandomNumberGenerator.GetBytes(100_000);
        await stream.WriteAsync(message);
        await stream.CloseWriteAsync();
        var echoed = await ReadToEndAsync(stream);
        await echo;

        Assert.Equal(message, echoed);
        Assert.Equal(YamuxStreamState.Closed, stream.StreamState);
    }

    [Fact]
    public async Task Synchronous_read_and_write_work_like_the_async_ones()
    {
        await using var pair = SessionPair.Start();
        var echo = EchoOnceAsync(pair.Server);
        using var stream = await pair.Client.OpenStreamAsync(Timeout());
        var message = RandomNumberGenerator.GetBytes(300_000);

        var reader = Task.Run(() =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        });
        await Task.Run(() => stream.Write(message, 0, message.Length)).WaitAsync(Patience);
        await stream.CloseWriteAsync();
        var echoed = await reader.WaitAsync(Patience);
        await echo;

        Assert.Equal(message, echoed);
    }

    [Fact]
    public async Task Eight_MiB_each_way_never_exceeds_the_send_window()
    {
        var audit = new WindowAudit(TcpHostOptions.Default.YamuxInitialWindowBytes);
        await using var pair = SessionPair.Start(audit: audit);
        const int size = 8 * 1024 * 1024;
        var upload = RandomNumberGenerator.GetBytes(size);
        var download = RandomNumberGenerator.GetBytes(size);

        var client = await pair.Client.OpenStreamAsync(Timeout());
        var clientSide = Task.WhenAll(
            WriteThenFinAsync(client, upload),
            ReadToEndAsync(client));
        var server = await pair.Server.AcceptStreamAsync(Timeout());
        var serverSide = Task.WhenAll(
            WriteThenFinAsync(server, download),
            ReadToEndAsync(server));

        var received = await Task.WhenAll(clientSide, serverSide).WaitAsync(TimeSpan.FromSeconds(25));

        Assert.Equal(download, received[0][1]);
        Assert.Equal(upload, received[1][1]);
        Assert.Empty(audit.Violations);
        Assert.Equal(2L * size, audit.DataBytes);
    }

    [Fact]
    public async Task Two_hundred_and_fifty_six_concurrent_streams_all_echo_their_own_bytes()
    {
        await using var pair = SessionPair.Start();
        const int count = 256;
        var server = ServeEchoAsync(pair.Server, count);
        var clients = Enumerable.Range(0, count).Select(async i =>
        {
            var stream = await pair.Client.OpenStreamAsync(Timeout());
            var message = RandomNumberGenerator.GetBytes(4096 + i);
            await stream.WriteAsync(message);
            await stream.CloseWriteAsync();
            var echoed = await ReadToEndAsync(stream);
            await stream.DisposeAsync();
            return message.AsSpan().SequenceEqual(echoed);
        });

        var results = await Task.WhenAll(clients).WaitAsync(Patience);
        await server.WaitAsync(Patience);

        Assert.All(results, Assert.True);
        await Eventually(() => pair.Client.ActiveStreams == 0 && pair.Server.ActiveStreams == 0);
    }

    [Fact]
    public async Task After_the_remote_fin_reads_return_zero_and_writes_still_arrive()
    {
        await using var pair = SessionPair.Start();
        var client = await pair.Client.OpenStreamAsync(Timeout());
        await client.WriteAsync("ping"u8.ToArray());
        await client.CloseWriteAsync();
        Assert.Equal(YamuxStreamState.HalfClosedLocal, client.StreamState);

        var server = await pair.Server.AcceptStreamAsync(Timeout());
        Assert.Equal("ping", Encoding.ASCII.GetString(await ReadToEndAsync(server)));
        Assert.Equal(0, await server.ReadAsync(new byte[8]));
        Assert.Equal(YamuxStreamState.HalfClosedRemote, server.StreamState);

        await server.WriteAsync("pong"u8.ToArray());
        await server.CloseWriteAsync();

        Assert.Equal("pong", Encoding.ASCII.GetString(await ReadToEndAsync(client)));
        Assert.Equal(YamuxStreamState.Closed, client.StreamState);
        Assert.Equal(YamuxStreamState.Closed, server.StreamState);
        await Assert.ThrowsAsync<YamuxException>(async () => await client.WriteAsync(new byte[1]));
        await Eventually(() => pair.Client.ActiveStreams == 0 && pair.Server.ActiveStreams == 0);
    }

    [Fact]
    public async Task Reset_fails_the_peer_reads_and_writes()
    {
        await using var pair = SessionPair.Start();
        var client = await pair.Client.OpenStreamAsync(Timeout());
        await client.WriteAsync(new byte[10]);
        var server = await pair.Server.AcceptStreamAsync(Timeout());
        await ReadExactlyAsync(server, 10);

        client.Reset();

        var readError = await Assert.ThrowsAsync<YamuxException>(async () => await server.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.StreamReset, readError.Kind);
        var writeError = await Assert.ThrowsAsync<YamuxException>(async () => await server.WriteAsync(new byte[1]));
        Assert.Equal(YamuxErrorKind.StreamReset, writeError.Kind);
        Assert.Equal(YamuxStreamState.Reset, server.StreamState);
        Assert.Equal(YamuxStreamState.Reset, client.StreamState);
        await Eventually(() => pair.Client.ActiveStreams == 0 && pair.Server.ActiveStreams == 0);
    }

    [Fact]
    public async Task A_writer_blocked_on_an_exhausted_window_wakes_up_with_the_reset()
    {
        await using var pair = SessionPair.Start();
        var client = await pair.Client.OpenStreamAsync(Timeout());
        var blocked = client.WriteAsync(new byte[TcpHostOptions.Default.YamuxInitialWindowBytes + 1]).AsTask();
        var server = await pair.Server.AcceptStreamAsync(Timeout());
        await Eventually(() => client.SendWindow == 0);
        Assert.False(blocked.IsCompleted);

        server.Reset();

        var error = await Assert.ThrowsAsync<YamuxException>(() => blocked.WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.StreamReset, error.Kind);
    }

    [Fact]
    public async Task Ping_round_trip_reports_a_positive_time()
    {
        await using var pair = SessionPair.Start();

        var rtt = await pair.Client.PingAsync(Timeout());
        var back = await pair.Server.PingAsync(Timeout());

        Assert.True(rtt > TimeSpan.Zero);
        Assert.True(back > TimeSpan.Zero);
        Assert.True(pair.Client.RoundTripTime > TimeSpan.Zero);
    }

    [Fact]
    public async Task Close_sends_go_away_so_the_peer_opens_no_more_streams()
    {
        await using var pair = SessionPair.Start();
        var before = await pair.Client.OpenStreamAsync(Timeout());
        await before.WriteAsync(new byte[1]);
        await pair.Server.AcceptStreamAsync(Timeout());

        await pair.Server.CloseAsync();

        Assert.True(pair.Server.IsClosed);
        Assert.True(pair.Server.Completion.IsCompletedSuccessfully);
        await pair.Client.Completion.WaitAsync(Patience);
        var refused = await Assert.ThrowsAsync<YamuxException>(async () => await pair.Client.OpenStreamAsync(Timeout()));
        Assert.Contains(refused.Kind, new[] { YamuxErrorKind.GoAwayReceived, YamuxErrorKind.SessionClosed });
        var accept = await Assert.ThrowsAsync<YamuxException>(async () => await pair.Client.AcceptStreamAsync(Timeout()));
        Assert.Equal(YamuxErrorKind.SessionClosed, accept.Kind);
        await Assert.ThrowsAsync<YamuxException>(async () => await before.ReadExactlyAsync(new byte[1]));
    }

    [Fact]
    public async Task Inbound_streams_beyond_the_limit_are_reset()
    {
        var limits = TcpHostOptions.Default with { InboundStreamsPerConnectionMax = 2 };
        await using var pair = SessionPair.Start(serverLimits: limits);
        var streams = new List<YamuxStream>();
        for (var i = 0; i < 3; i++)
        {
            var stream = await pair.Client.OpenStreamAsync(Timeout());
            await stream.WriteAsync(new byte[] { (byte)i });
            streams.Add(stream);
        }

        var refused = await Assert.ThrowsAsync<YamuxException>(async () => await streams[2].ReadAsync(new byte[1]).AsTask().WaitAsync(Patience));
        Assert.Equal(YamuxErrorKind.StreamReset, refused.Kind);
        Assert.Equal(1u, (await pair.Server.AcceptStreamAsync(Timeout())).Id);
        Assert.Equal(3u, (await pair.Server.AcceptStreamAsync(Timeout())).Id);
        Assert.Equal(2, pair.Server.ActiveStreams);
        Assert.False(pair.Server.IsClosed);
    }

    [Fact]
    public async Task Negotiation_marks_move_the_stream_through_negotiating_to_open()
    {
        await using var pair = SessionPair.Start();
        var stream = await pair.Client.OpenStreamAsync(Timeout());
        Assert.Equal(YamuxStreamState.Opening, stream.StreamState);

        stream.MarkNegotiating();
        Assert.Equal(YamuxStreamState.Negotiating, stream.StreamState);
        await stream.WriteAsync(new byte[1]);
        var accepted = await pair.Server.AcceptStreamAsync(Timeout());
        Assert.Equal(YamuxStreamState.Open, accepted.StreamState);
        await pair.Server.PingAsync(Timeout());
        Assert.Equal(YamuxStreamState.Negotiating, stream.StreamState);

        stream.MarkOpen();
        Assert.Equal(YamuxStreamState.Open, stream.StreamState);
    }

    [Fact]
    public async Task The_ack_of_an_accepted_stream_moves_the_opener_to_open()
    {
        await using var pair = SessionPair.Start();
        var stream = await pair.Client.OpenStreamAsync(Timeout());
        await pair.Server.AcceptStreamAsync(Timeout());

        await Eventually(() => stream.StreamState == YamuxStreamState.Open);
    }

    [Fact]
    public async Task Disposing_a_stream_sends_fin_and_the_peer_reads_to_the_end()
    {
        await using var pair = SessionPair.Start();
        var stream = await pair.Client.OpenStreamAsync(Timeout());
        await stream.WriteAsync("bye"u8.ToArray());
        await stream.DisposeAsync();

        var accepted = await pair.Server.AcceptStreamAsync(Timeout());
        Assert.Equal("bye", Encoding.ASCII.GetString(await ReadToEndAsync(accepted)));
        await accepted.DisposeAsync();
        await Eventually(() => pair.Client.ActiveStreams == 0 && pair.Server.ActiveStreams == 0);
    }

    internal static CancellationToken Timeout() => new CancellationTokenSource(Patience).Token;

    internal static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(5);
        }
    }

    internal static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer).WaitAsync(TimeSpan.FromSeconds(25));
        return buffer.ToArray();
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Patience);
        return buffer;
    }

    private static async Task<byte[]> WriteThenFinAsync(YamuxStream stream, byte[] data)
    {
        // Uneven write sizes exercise frame splitting and window waits.
        var offset = 0;
        var size = 1000;
        while (offset < data.Length)
        {
            var n = Math.Min(size, data.Length - offset);
            await stream.WriteAsync(data.AsMemory(offset, n));
            offset += n;
            size = size * 3 % 200_000 + 1;
        }

        await stream.CloseWriteAsync();
        return [];
    }

    private static async Task EchoOnceAsync(YamuxSession session)
    {
        await using var stream = await session.AcceptStreamAsync(Timeout());
        await stream.CopyToAsync(stream).WaitAsync(Patience);
        await stream.CloseWriteAsync();
    }

    private static async Task ServeEchoAsync(YamuxSession session, int count)
    {
        var echoes = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            var stream = await session.AcceptStreamAsync(Timeout());
            echoes.Add(Task.Run(async () =>
            {
                await stream.CopyToAsync(stream);
                await stream.CloseWriteAsync();
                await stream.DisposeAsync();
            }));
        }

        await Task.WhenAll(echoes);
    }
}

/// <summary>A started client and server session over one in-memory pipe.</summary>
internal sealed class CollectingReceiver : IYamuxReceiver
{
    private readonly byte[] _scratch = new byte[7_000];

    public MemoryStream Bytes { get; } = new();

    public TaskCompletionSource<YamuxException?> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Memory<byte> GetReceiveMemory(int available) => _scratch.AsMemory(0, Math.Min(available, _scratch.Length));

    public void OnReceived(int count) => Bytes.Write(_scratch, 0, count);

    public void OnEnded(YamuxException? failure) => Ended.TrySetResult(failure);
}

internal sealed class SessionPair : IAsyncDisposable
{
    private SessionPair(YamuxSession client, YamuxSession server)
    {
        Client = client;
        Server = server;
    }

    public YamuxSession Client { get; }

    public YamuxSession Server { get; }

    public static SessionPair Start(TcpHostOptions? clientLimits = null, TcpHostOptions? serverLimits = null, WindowAudit? audit = null)
    {
        var (left, right) = PipeStreams.CreatePair();
        Stream clientTransport = audit is null ? left : audit.Tap(left, "client", "server");
        Stream serverTransport = audit is null ? right : audit.Tap(right, "server", "client");
        var pair = new SessionPair(
            new YamuxSession(clientTransport, isClient: true, clientLimits ?? TcpHostOptions.Default),
            new YamuxSession(serverTransport, isClient: false, serverLimits ?? TcpHostOptions.Default));
        pair.Client.Start();
        pair.Server.Start();
        return pair;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}
