using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Transport.Tcp.Host;
using Bitswap.Transport.Tcp.Noise;
using Bitswap.Transport.Tcp.Yamux;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.RedTeam;

/// <summary>
/// One hostile libp2p connection built from the transport's own parts: a raw socket, multistream-select, the Noise
/// handshake and multistream <c>/yamux/1.0.0</c>. What runs on top is the attack's choice: raw Yamux frames written to
/// the Noise stream (protocol violations, streams whose answers are never read) or a <see cref="YamuxSession"/>.
/// </summary>
public sealed class Hostile : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private uint _nextStream = 1;

    private Hostile(Socket socket, NetworkStream raw, SecureChannel channel)
    {
        _socket = socket;
        Raw = raw;
        Channel = channel;
    }

    /// <summary>The TCP stream under Noise (for tampering with ciphertext).</summary>
    public NetworkStream Raw { get; }

    /// <summary>The secure channel; its stream carries Yamux.</summary>
    public SecureChannel Channel { get; }

    /// <summary>Opens a raw TCP connection to the node.</summary>
    public static async Task<Socket> DialRawAsync(IPEndPoint endpoint, CancellationToken ct)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects and upgrades up to the point where Yamux frames may flow (we are the Yamux client).</summary>
    public static async Task<Hostile> ConnectAsync(IPEndPoint endpoint, CancellationToken ct, PeerIdentity? identity = null)
    {
        var socket = await DialRawAsync(endpoint, ct).ConfigureAwait(false);
        var raw = new NetworkStream(socket, ownsSocket: true);
        try
        {
            await MultistreamSelect.SelectAsync(raw, [NoiseHandshake.ProtocolId], ct).ConfigureAwait(false);
            var channel = await NoiseHandshake.InitiatorAsync(raw, identity ?? PeerIdentity.Generate(), null, ct).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(channel.Stream, [TcpHost.YamuxProtocol], ct).ConfigureAwait(false);
            return new Hostile(socket, raw, channel);
        }
        catch
        {
            await raw.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A Yamux session over this connection that keeps flow control honest.</summary>
    public YamuxSession StartSession()
    {
        var session = new YamuxSession(Channel.Stream, isClient: true, TcpHostOptions.Default with { YamuxKeepAliveIntervalMs = 0 });
        session.Start();
        return session;
    }

    /// <summary>A fresh odd stream id for raw frames.</summary>
    public uint NextStreamId()
    {
        var id = _nextStream;
        _nextStream += 2;
        return id;
    }

    /// <summary>Writes one Yamux frame as given, however wrong.</summary>
    public async Task FrameAsync(YamuxFrameType type, YamuxFrameFlags flags, uint stream, uint length, ReadOnlyMemory<byte> payload, CancellationToken ct, byte version = YamuxFrameHeader.CurrentVersion)
    {
        var bytes = new byte[YamuxFrameHeader.Size + payload.Length];
        new YamuxFrameHeader(version, type, flags, stream, length).WriteTo(bytes);
        payload.CopyTo(bytes.AsMemory(YamuxFrameHeader.Size));
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await Channel.Stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            await Channel.Stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Data frame with exactly this payload.</summary>
    public Task DataAsync(uint stream, ReadOnlyMemory<byte> payload, CancellationToken ct, YamuxFrameFlags flags = YamuxFrameFlags.None) =>
        FrameAsync(YamuxFrameType.Data, flags, stream, (uint)payload.Length, payload, ct);

    /// <summary>Opens a stream with a SYN and proposes <paramref name="protocol"/> optimistically (the answer is never read).</summary>
    public async Task<uint> OpenLazyAsync(string protocol, CancellationToken ct)
    {
        var id = NextStreamId();
        await DataAsync(id, MultistreamSelect.LazyProposal(protocol), ct, YamuxFrameFlags.Syn).ConfigureAwait(false);
        return id;
    }

    /// <summary>Sends <paramref name="bytes"/> on a stream in frames of at most <paramref name="frameBytes"/>.</summary>
    public async Task SendChunkedAsync(uint stream, ReadOnlyMemory<byte> bytes, int frameBytes, CancellationToken ct)
    {
        for (var offset = 0; offset < bytes.Length; offset += frameBytes)
        {
            await DataAsync(stream, bytes.Slice(offset, Math.Min(frameBytes, bytes.Length - offset)), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads and drops whatever the node sends, so that its writes never wait on us.</summary>
    public async Task DrainAsync(CancellationToken ct)
    {
        var scratch = new byte[64 * 1024];
        try
        {
            while (await Channel.Stream.ReadAsync(scratch, ct).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or NoiseException or SocketException)
        {
            // The node closed us, or the attack is over.
        }
    }

    /// <summary>Whether the node has closed the TCP connection (a zero-byte peek would block, so this asks the socket).</summary>
    public bool LooksClosed => _socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // Already torn down by the node.
        }

        _writeGate.Dispose();
    }

    /// <summary>A length-prefixed Bitswap message as it goes on a stream.</summary>
    public static byte[] Framed(Message message) => Framed(MessageCodec.Encode(message, ProtocolVersion.V120));

    /// <summary>Prefixes <paramref name="body"/> with its varint length.</summary>
    public static byte[] Framed(byte[] body)
    {
        var prefix = Varint.Encode((ulong)body.Length);
        var framed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(framed, 0);
        body.CopyTo(framed, prefix.Length);
        return framed;
    }

    /// <summary>A varint length prefix announcing <paramref name="length"/> bytes.</summary>
    public static byte[] Prefix(int length) => Varint.Encode((ulong)length);

    /// <summary>Big-endian u32 (Yamux window deltas, ping opaque values).</summary>
    public static byte[] U32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }
}
