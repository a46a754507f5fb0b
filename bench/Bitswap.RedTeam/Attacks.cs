using System.Net.Sockets;
using System.Security.Cryptography;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Transport.Tcp.Host;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;

namespace Bitswap.RedTeam;

/// <summary>What an attack may use, and what it counts.</summary>
public sealed class AttackContext(NodeUnderTest node, Corpus corpus)
{
    private long _connections;
    private long _rejected;
    private long _sentBytes;

    /// <summary>The node under attack.</summary>
    public NodeUnderTest Node { get; } = node;

    /// <summary>The blocks it serves.</summary>
    public Corpus Corpus { get; } = corpus;

    /// <summary>Hostile connections opened.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Hostile connections or streams the node refused, reset or closed.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Payload bytes the attackers sent.</summary>
    public long SentBytes => Interlocked.Read(ref _sentBytes);

    /// <summary>Counts a connection.</summary>
    public void Connected() => Interlocked.Increment(ref _connections);

    /// <summary>Counts a refusal or reset by the node.</summary>
    public void Refused() => Interlocked.Increment(ref _rejected);

    /// <summary>Counts bytes sent.</summary>
    public void Sent(long bytes) => Interlocked.Add(ref _sentBytes, bytes);
}

/// <summary>One attack: a name for <c>--attack</c>, what it does, and the hostile peers that do it until cancelled.</summary>
public sealed record Attack(string Name, string Description, Func<AttackContext, CancellationToken, Task> RunAsync);

/// <summary>The hostile peers.</summary>
public static class Attacks
{
    /// <summary>Every attack, in the order <c>--attack all</c> runs them.</summary>
    public static IReadOnlyList<Attack> All { get; } =
    [
        new("none", "no attacker: the baseline", (_, ct) => HonestPeer.Delay(Timeout.InfiniteTimeSpan, ct)),
        new("garbage", "16 peers: pre-handshake garbage (random bytes, a valid multistream header then junk, an oversized Noise frame)", GarbageAsync),
        new("slow-handshake", "500 connections trickling the multistream header one byte every 3 s", SlowHandshakeAsync),
        new("noise-tamper", "8 peers: a forged third handshake message, or a tampered transport frame after a good handshake", NoiseTamperAsync),
        new("yamux-errors", "8 peers: bad version, unknown type, data on an unopened stream, a window overrun, a 4 GiB length", YamuxErrorsAsync),
        new("ping-stall", "4 connections x 64 ping streams fed 1-byte frames, echoes never read", PingStallAsync),
        new("partial-messages", "100 streams (10 connections) announce a 4 MiB message and send 3.5 MiB of it", PartialMessagesAsync),
        new("want-flood", "4 peers: ~85,000-entry (4 MB) want-block lists of absent CIDs with sendDontHave, answers never read", (c, ct) => WantFloodAsync(c, 4, present: false, sendDontHave: true, ct)),
        new("want-flood-present", "4 peers: 4 MB want-have lists naming every block the node has, with sendDontHave, never read", (c, ct) => WantFloodAsync(c, 4, present: true, sendDontHave: true, ct)),
        new("want-flood-quiet", "4 peers: 4 MB want-have lists of absent CIDs without sendDontHave", (c, ct) => WantFloodAsync(c, 4, present: false, sendDontHave: false, ct)),
        new("want-flood-one", "1 peer: 4 MB want-block lists of absent CIDs with sendDontHave, never read", (c, ct) => WantFloodAsync(c, 1, present: false, sendDontHave: true, ct)),
        new("never-read", "10 peers accept the node's Bitswap stream, want every 1 MiB block, and never read it past the Yamux window", NeverReadWindowAsync),
        new("never-read-raw", "10 peers want every 1 MiB block over raw frames and never read a byte (not even the negotiation)", NeverReadAsync),
        new("identify-push", "4 peers push identify with ~700 fresh addresses each time, as fast as they can", IdentifyPushAsync),
        new("many-peers", "200 peers each want 100 blocks of 64 KiB (and read them), again every 3 s", ManyPeersAsync),
    ];

    /// <summary>Runs <paramref name="count"/> copies of <paramref name="one"/>, each restarted after the node rejects it, until cancelled.</summary>
    private static Task SwarmAsync(AttackContext context, int count, Func<int, CancellationToken, Task> one, CancellationToken ct) =>
        Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await one(i, ct).ConfigureAwait(false);
                }
                catch (Exception) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is IOException or SocketException or NoiseException or YamuxException or ObjectDisposedException
                    or Transport.Tcp.Multistream.MultistreamException or OperationCanceledException or TimeoutException or InvalidOperationException)
                {
                    context.Refused();
                    // Do not spin on a node that refuses at once.
                    await HonestPeer.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
                }
            }
        }, CancellationToken.None)));

    private static async Task<Hostile> ConnectAsync(AttackContext context, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var hostile = await Hostile.ConnectAsync(context.Node.Endpoint, timeout.Token).ConfigureAwait(false);
        context.Connected();
        return hostile;
    }

    /// <summary>Waits until the node closes the connection, or <paramref name="most"/> passes.</summary>
    private static async Task WaitClosedAsync(Stream stream, TimeSpan most, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(most);
        var scratch = new byte[16 * 1024];
        try
        {
            while (await stream.ReadAsync(scratch, timeout.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or NoiseException or SocketException)
        {
            // Closed, reset or still open after `most`: either way this round is over.
        }
    }

    // ---------------------------------------------------------------- below Noise

    private static Task GarbageAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 16, async (i, ct) =>
    {
        using var socket = await Hostile.DialRawAsync(context.Node.Endpoint, ct).ConfigureAwait(false);
        context.Connected();
        await using var raw = new NetworkStream(socket, ownsSocket: false);
        var junk = RandomNumberGenerator.GetBytes(64 * 1024);
        switch (i % 3)
        {
            case 0:
                await raw.WriteAsync(junk, ct).ConfigureAwait(false);
                break;
            case 1:
                await raw.WriteAsync(MultistreamSelect.Encode(MultistreamSelect.Header), ct).ConfigureAwait(false);
                await raw.WriteAsync(junk, ct).ConfigureAwait(false);
                break;
            default:
                // Multistream picks /noise, then a Noise frame announcing 65535 bytes of junk as the first handshake message.
                await raw.WriteAsync(MultistreamSelect.LazyProposal(NoiseHandshake.ProtocolId), ct).ConfigureAwait(false);
                await raw.WriteAsync(new byte[] { 0xff, 0xff }, ct).ConfigureAwait(false);
                await raw.WriteAsync(junk.AsMemory(0, 65535), ct).ConfigureAwait(false);
                break;
        }

        context.Sent(junk.Length);
        await WaitClosedAsync(raw, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        context.Refused();
    }, ct);

    private static async Task SlowHandshakeAsync(AttackContext context, CancellationToken ct)
    {
        var header = MultistreamSelect.LazyProposal(NoiseHandshake.ProtocolId);
        await SwarmAsync(context, 500, async (i, ct) =>
        {
            using var socket = await Hostile.DialRawAsync(context.Node.Endpoint, ct).ConfigureAwait(false);
            context.Connected();
            // Spread the trickles so that the node sees a steady drip, not 500 bytes at once.
            await HonestPeer.Delay(TimeSpan.FromMilliseconds(i * 6), ct).ConfigureAwait(false);
            for (var b = 0; !ct.IsCancellationRequested; b = (b + 1) % header.Length)
            {
                await socket.SendAsync(header.AsMemory(b, 1), SocketFlags.None, ct).ConfigureAwait(false);
                context.Sent(1);
                await HonestPeer.Delay(TimeSpan.FromSeconds(3), ct).ConfigureAwait(false);
                if (socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0)
                {
                    throw new IOException("closed by the node");
                }
            }
        }, ct).ConfigureAwait(false);
    }

    private static Task NoiseTamperAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 8, async (i, ct) =>
    {
        if (i % 2 == 0)
        {
            // A forged handshake: a random ephemeral key (any 32 bytes is one), then a third message of junk.
            using var socket = await Hostile.DialRawAsync(context.Node.Endpoint, ct).ConfigureAwait(false);
            context.Connected();
            await using var raw = new NetworkStream(socket, ownsSocket: false);
            await MultistreamSelect.SelectAsync(raw, [NoiseHandshake.ProtocolId], ct).ConfigureAwait(false);
            await raw.WriteAsync(Frame(RandomNumberGenerator.GetBytes(32)), ct).ConfigureAwait(false);
            var length = new byte[2];
            await raw.ReadExactlyAsync(length, ct).ConfigureAwait(false);
            await raw.ReadExactlyAsync(new byte[(length[0] << 8) | length[1]], ct).ConfigureAwait(false);
            await raw.WriteAsync(Frame(RandomNumberGenerator.GetBytes(200)), ct).ConfigureAwait(false);
            await WaitClosedAsync(raw, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            context.Refused();
            return;
        }

        // A good handshake, then a transport frame whose ciphertext was flipped on the way.
        await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
        await hostile.Raw.WriteAsync(Frame(RandomNumberGenerator.GetBytes(1000)), ct).ConfigureAwait(false);
        context.Sent(1002);
        await WaitClosedAsync(hostile.Raw, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        context.Refused();
    }, ct);

    private static byte[] Frame(byte[] body) => [(byte)(body.Length >> 8), (byte)body.Length, .. body];

    // ---------------------------------------------------------------- Yamux

    private static Task YamuxErrorsAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 8, async (i, ct) =>
    {
        await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
        var drain = hostile.DrainAsync(ct);
        switch (i % 5)
        {
            case 0:
                await hostile.FrameAsync(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0, ReadOnlyMemory<byte>.Empty, ct, version: 7).ConfigureAwait(false);
                break;
            case 1:
                await hostile.FrameAsync((YamuxFrameType)9, YamuxFrameFlags.None, 1, 0, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
                break;
            case 2:
                await hostile.DataAsync(99, RandomNumberGenerator.GetBytes(1024), ct).ConfigureAwait(false);
                break;
            case 3:
                // 1 MiB on a ping stream whose window is 256 KiB.
                var id = await hostile.OpenLazyAsync(TcpHost.PingProtocol, ct).ConfigureAwait(false);
                await hostile.SendChunkedAsync(id, new byte[1024 * 1024], 60 * 1024, ct).ConfigureAwait(false);
                context.Sent(1024 * 1024);
                break;
            default:
                // A header announcing 4 GiB of data, then a trickle of it.
                await hostile.FrameAsync(YamuxFrameType.Data, YamuxFrameFlags.Syn, hostile.NextStreamId(), uint.MaxValue, new byte[4096], ct).ConfigureAwait(false);
                break;
        }

        await drain.WaitAsync(TimeSpan.FromSeconds(2), ct).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        context.Refused();
    }, ct);

    private static Task PingStallAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 4, async (_, ct) =>
    {
        await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
        // Nothing is ever read: the node's echoes fill the socket, its echo loop stops, and our frames pile up in it.
        var streams = new List<uint>();
        for (var s = 0; s < 64; s++)
        {
            streams.Add(await hostile.OpenLazyAsync(TcpHost.PingProtocol, ct).ConfigureAwait(false));
        }

        const int FramesPerWrite = 4000;
        var batch = new byte[FramesPerWrite * (YamuxFrameHeader.Size + 1)];
        var perStream = new long[streams.Count];
        for (var round = 0; !ct.IsCancellationRequested; round++)
        {
            var s = round % streams.Count;
            // Stay inside the 256 KiB window: a protocol error would only get us disconnected.
            if (perStream[s] + FramesPerWrite > 250 * 1024)
            {
                if (perStream.All(sent => sent + FramesPerWrite > 250 * 1024))
                {
                    await HonestPeer.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
                    if (hostile.LooksClosed)
                    {
                        throw new IOException("closed by the node");
                    }
                }

                continue;
            }

            for (var f = 0; f < FramesPerWrite; f++)
            {
                var offset = f * (YamuxFrameHeader.Size + 1);
                new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, streams[s], 1).WriteTo(batch.AsSpan(offset));
                batch[offset + YamuxFrameHeader.Size] = (byte)f;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await hostile.Channel.Stream.WriteAsync(batch, timeout.Token).ConfigureAwait(false);
            perStream[s] += FramesPerWrite;
            context.Sent(FramesPerWrite);
        }
    }, ct);

    // ---------------------------------------------------------------- Bitswap

    private static Task PartialMessagesAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 10, async (_, ct) =>
    {
        await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
        await using var session = hostile.StartSession();
        var part = new byte[3584 * 1024];
        RandomNumberGenerator.Fill(part.AsSpan(0, 4096));
        var streams = new List<YamuxStream>();
        for (var s = 0; s < 10; s++)
        {
            var stream = await session.OpenStreamAsync(ct).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(stream, [ProtocolVersion.V120.Id()], ct).ConfigureAwait(false);
            await stream.WriteAsync(Hostile.Prefix(4 * 1024 * 1024 - 64), ct).ConfigureAwait(false);
            streams.Add(stream);
        }

        // Feed the ten streams in turn so that all of them are partly received at once.
        for (var offset = 0; offset < part.Length; offset += 256 * 1024)
        {
            foreach (var stream in streams)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await stream.WriteAsync(part.AsMemory(offset, 256 * 1024), timeout.Token).ConfigureAwait(false);
                context.Sent(256 * 1024);
            }
        }

        // Then hold them, never finishing a message.
        await Task.WhenAny(session.Completion, Task.Delay(Timeout.Infinite, ct)).ConfigureAwait(false);
        throw new IOException("session ended by the node");
    }, ct);

    /// <summary>Wantlists just under <see cref="Limits.MessageBytesMax"/>, framed, prepared once per run.</summary>
    private static byte[][] Wantlists(AttackContext context, bool present, bool sendDontHave, int count)
    {
        var presentCids = context.Corpus.Probes.Concat(context.Corpus.Big).Concat(context.Corpus.Medium).Select(b => b.Cid).ToList();
        var messages = new byte[count][];
        for (var m = 0; m < count; m++)
        {
            var entries = new List<WantlistEntry>(90_000);
            if (present)
            {
                entries.AddRange(presentCids.Select((cid, i) => WantlistEntry.WantHave(cid, 100_000 - i, sendDontHave)));
            }

            var random = new Random(1000 + m);
            var digest = new byte[32];
            while (entries.Count < 85_000)
            {
                random.NextBytes(digest);
                var cid = Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Sha2_256, digest));
                entries.Add(present || !sendDontHave
                    ? WantlistEntry.WantHave(cid, entries.Count, sendDontHave)
                    : WantlistEntry.WantBlock(cid, entries.Count, sendDontHave));
            }

            var message = Message.Empty.WithEntries(entries).WithFull(m == 0);
            var body = MessageCodec.Encode(message, ProtocolVersion.V120);
            if (body.Length > Limits.Default.MessageBytesMax)
            {
                throw new InvalidOperationException($"wantlist of {body.Length} bytes is over the message limit");
            }

            messages[m] = Hostile.Framed(body);
        }

        return messages;
    }

    private static async Task WantFloodAsync(AttackContext context, int peers, bool present, bool sendDontHave, CancellationToken ct)
    {
        var wantlists = Wantlists(context, present, sendDontHave, 4);
        await SwarmAsync(context, peers, async (_, ct) =>
        {
            await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
            // The session never accepts the node's streams: its answers are never read.
            await using var session = hostile.StartSession();
            var stream = await session.OpenStreamAsync(ct).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(stream, [ProtocolVersion.V120.Id()], ct).ConfigureAwait(false);
            for (var m = 0; !ct.IsCancellationRequested; m++)
            {
                var bytes = wantlists[m % wantlists.Length];
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await stream.WriteAsync(bytes, timeout.Token).ConfigureAwait(false);
                context.Sent(bytes.Length);
            }
        }, ct).ConfigureAwait(false);
    }

    private static async Task NeverReadAsync(AttackContext context, CancellationToken ct)
    {
        var wants = Hostile.Framed(Message.Empty.WithEntries(context.Corpus.Big.Select((b, i) => WantlistEntry.WantBlock(b.Cid, 100 - i, sendDontHave: true))).WithFull(true));
        await SwarmAsync(context, 10, async (_, ct) =>
        {
            await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
            // Raw frames, and no read at all: the node's writes stall on our TCP window.
            var id = await hostile.OpenLazyAsync(ProtocolVersion.V120.Id(), ct).ConfigureAwait(false);
            await hostile.DataAsync(id, wants, ct).ConfigureAwait(false);
            context.Sent(wants.Length);
            while (!ct.IsCancellationRequested)
            {
                await HonestPeer.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                if (hostile.LooksClosed)
                {
                    throw new IOException("closed by the node");
                }
            }
        }, ct).ConfigureAwait(false);
    }

    private static async Task NeverReadWindowAsync(AttackContext context, CancellationToken ct)
    {
        var wants = Hostile.Framed(Message.Empty.WithEntries(context.Corpus.Big.Select((b, i) => WantlistEntry.WantBlock(b.Cid, 100 - i, sendDontHave: true))).WithFull(true));
        await SwarmAsync(context, 10, async (_, ct) =>
        {
            await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
            await using var session = hostile.StartSession();
            // The node's streams are accepted and negotiated, so its sender gets going; then nothing is read, and the
            // node's writes wait on our Yamux window once 256 KiB are buffered here.
            var held = HoldStreamsAsync(session, ct);
            var stream = await session.OpenStreamAsync(ct).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(stream, [ProtocolVersion.V120.Id()], ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested && !session.Completion.IsCompleted)
            {
                await stream.WriteAsync(wants, ct).ConfigureAwait(false);
                context.Sent(wants.Length);
                await HonestPeer.Delay(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            }

            await held.ConfigureAwait(false);
            throw new IOException("session ended by the node");
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Accepts the node's streams, answers their negotiation, and then never reads them.</summary>
    private static async Task HoldStreamsAsync(YamuxSession session, CancellationToken ct)
    {
        var held = new List<YamuxStream>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var stream = await session.AcceptStreamAsync(ct).ConfigureAwait(false);
                held.Add(stream);
                using var negotiation = CancellationTokenSource.CreateLinkedTokenSource(ct);
                negotiation.CancelAfter(TimeSpan.FromSeconds(5));
                try
                {
                    await MultistreamSelect.HandleAsync(stream, p => p.StartsWith("/ipfs/bitswap", StringComparison.Ordinal), negotiation.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or Transport.Tcp.Multistream.MultistreamException)
                {
                    // Identify, refused; or the node gave up on it.
                }
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The session is over.
        }

        foreach (var stream in held)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static Task IdentifyPushAsync(AttackContext context, CancellationToken ct) => SwarmAsync(context, 4, async (_, ct) =>
    {
        await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
        var drain = hostile.DrainAsync(ct);
        var random = new Random();
        while (!ct.IsCancellationRequested && !drain.IsCompleted)
        {
            var push = IdentifyWithAddresses(random, 700);
            var id = await hostile.OpenLazyAsync(TcpHost.IdentifyPushProtocol, ct).ConfigureAwait(false);
            await hostile.DataAsync(id, push, ct, YamuxFrameFlags.Fin).ConfigureAwait(false);
            context.Sent(push.Length);
            // One push every 10 ms per peer: the node's cost, not ours, should be what limits this.
            await HonestPeer.Delay(TimeSpan.FromMilliseconds(10), ct).ConfigureAwait(false);
        }

        throw new IOException("closed by the node");
    }, ct);

    /// <summary>A length-prefixed identify message holding <paramref name="count"/> random /ip4/…/tcp/… addresses (field 2).</summary>
    private static byte[] IdentifyWithAddresses(Random random, int count)
    {
        var body = new List<byte>(count * 10);
        var address = new byte[8];
        for (var a = 0; a < count; a++)
        {
            // /ip4/a.b.c.d/tcp/port: code 4, four bytes, code 6, a two-byte port.
            address[0] = 0x04;
            random.NextBytes(address.AsSpan(1, 4));
            address[5] = 0x06;
            random.NextBytes(address.AsSpan(6, 2));
            body.Add(0x12);
            body.Add((byte)address.Length);
            body.AddRange(address);
        }

        return Hostile.Framed([.. body]);
    }

    private static async Task ManyPeersAsync(AttackContext context, CancellationToken ct)
    {
        var wants = Hostile.Framed(Message.Empty.WithEntries(context.Corpus.Medium.Select((b, i) => WantlistEntry.WantBlock(b.Cid, 1000 - i, sendDontHave: true))).WithFull(true));
        await SwarmAsync(context, 200, async (i, ct) =>
        {
            await HonestPeer.Delay(TimeSpan.FromMilliseconds(i * 10), ct).ConfigureAwait(false);
            await using var hostile = await ConnectAsync(context, ct).ConfigureAwait(false);
            await using var session = hostile.StartSession();
            var drain = DrainStreamsAsync(session, ct);
            var stream = await session.OpenStreamAsync(ct).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(stream, [ProtocolVersion.V120.Id()], ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested && !session.Completion.IsCompleted)
            {
                await stream.WriteAsync(wants, ct).ConfigureAwait(false);
                context.Sent(wants.Length);
                await HonestPeer.Delay(TimeSpan.FromSeconds(3), ct).ConfigureAwait(false);
            }

            await drain.ConfigureAwait(false);
            throw new IOException("session ended by the node");
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Accepts every stream the node opens (identify, its Bitswap answers) and reads it to the end.</summary>
    private static async Task DrainStreamsAsync(YamuxSession session, CancellationToken ct)
    {
        var readers = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var stream = await session.AcceptStreamAsync(ct).ConfigureAwait(false);
                readers.Add(DrainAsync(stream, ct));
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The session is over.
        }

        await Task.WhenAll(readers).ConfigureAwait(false);
    }

    private static async Task DrainAsync(YamuxStream stream, CancellationToken ct)
    {
        await using var _ = stream.ConfigureAwait(false);
        var scratch = new byte[64 * 1024];
        try
        {
            // Answer multistream like a listener would, so that the node's sender gets its echo and writes.
            var protocol = await MultistreamSelect.HandleAsync(stream, p => p.StartsWith("/ipfs/bitswap", StringComparison.Ordinal), ct).ConfigureAwait(false);
            if (protocol is null)
            {
                return;
            }

            while (await stream.ReadAsync(scratch, ct).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException or Transport.Tcp.Multistream.MultistreamException)
        {
            // Reset or over.
        }
    }
}
