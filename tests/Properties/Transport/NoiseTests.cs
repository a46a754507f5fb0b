using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Bitswap.Transport.Tcp.Identity;
using Bitswap.Transport.Tcp.Noise;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>The libp2p Noise handshake between our own identities and the encrypted stream after it.</summary>
public class NoiseTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly Identity Alice = Identity.Generate();
    private static readonly Identity Bob = Identity.Generate();

    [Fact]
    public async Task Handshake_authenticates_both_identities_over_an_in_memory_pair()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = NoiseHandshake.ResponderAsync(listener, Bob, cts.Token);
        await using var initiator = await NoiseHandshake.InitiatorAsync(dialer, Alice, Bob.PeerId, cts.Token);
        await using var accepted = await responder;
        Assert.Equal(Bob.PeerId, initiator.RemotePeer);
        Assert.Equal(Alice.PeerId, accepted.RemotePeer);
        Assert.Equal(Bob.PublicKeyProtobuf, initiator.RemotePublicKey);
        Assert.Equal(Alice.PublicKeyProtobuf, accepted.RemotePublicKey);

        await initiator.Stream.WriteAsync("ping"u8.ToArray(), cts.Token);
        var ping = new byte[4];
        await accepted.Stream.ReadExactlyAsync(ping, cts.Token);
        Assert.Equal("ping"u8.ToArray(), ping);
        await accepted.Stream.WriteAsync("pong"u8.ToArray(), cts.Token);
        var pong = new byte[4];
        await initiator.Stream.ReadExactlyAsync(pong, cts.Token);
        Assert.Equal("pong"u8.ToArray(), pong);
    }

    [Fact]
    public async Task Handshake_and_a_two_way_transfer_work_over_loopback_tcp()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var accept = Task.Run(async () =>
        {
            var socket = await server.AcceptSocketAsync(cts.Token);
            return await NoiseHandshake.ResponderAsync(new NetworkStream(socket, ownsSocket: true), Bob, cts.Token);
        });
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync((IPEndPoint)server.LocalEndpoint, cts.Token);
        await using var initiator = await NoiseHandshake.InitiatorAsync(new NetworkStream(client, ownsSocket: true), Alice, Bob.PeerId, cts.Token);
        await using var accepted = await accept;

        var upload = Payload(3 * 1024 * 1024 + 17, seed: 1);
        var download = Payload(1024 * 1024 + 5, seed: 2);
        var sendUp = SendAndCloseAsync(initiator.Stream, upload, cts.Token);
        var sendDown = accepted.Stream.WriteAsync(download, cts.Token).AsTask();
        var receivedUp = ReadExactlyAsync(accepted.Stream, upload.Length, 7919, cts.Token);
        var receivedDown = ReadExactlyAsync(initiator.Stream, download.Length, 65536, cts.Token);
        await Task.WhenAll(sendUp, sendDown, receivedUp, receivedDown);
        Assert.Equal(upload, await receivedUp);
        Assert.Equal(download, await receivedDown);
    }

    [Fact]
    public async Task A_wrong_expected_peer_fails_the_handshake()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = NoiseHandshake.ResponderAsync(listener, Bob, cts.Token);
        var failure = await Assert.ThrowsAsync<NoiseException>(() => NoiseHandshake.InitiatorAsync(dialer, Alice, Identity.Generate().PeerId, cts.Token));
        Assert.Equal(NoiseFailure.WrongPeer, failure.Failure);
        dialer.Dispose();
        await Assert.ThrowsAsync<NoiseException>(() => responder);
    }

    [Property(MaxTest = 200)]
    public async Task<bool> Flipping_any_byte_of_message_two_fails_the_initiator(PositiveInt position, byte mask)
    {
        // Message 2 is 200 bytes after its 2-byte prefix: e (32), encrypted s (48), encrypted payload (104 + 16).
        var flipAt = 2 + position.Get % 200;
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = NoiseHandshake.ResponderAsync(listener, Bob, cts.Token);
        try
        {
            await using var channel = await NoiseHandshake.InitiatorAsync(new FlippingStream(dialer, flipAt, (byte)(mask | 1)), Alice, null, cts.Token);
            return false;
        }
        catch (NoiseException)
        {
            dialer.Dispose();
            try
            {
                await responder;
                return false;
            }
            catch (NoiseException)
            {
                return true;
            }
        }
    }

    [Fact]
    public async Task Tampered_ciphertext_fails_and_leaves_the_channel_unusable()
    {
        var (sender, receiver) = CipherPair();
        var wire = new MemoryStream();
        await using (var writer = new NoiseStream(wire, sender, Cipher(), leaveOpen: true))
            await writer.WriteAsync("hello, noise"u8.ToArray());
        var bytes = wire.ToArray();
        bytes[5] ^= 0x40;
        await using var reader = new NoiseStream(new MemoryStream(bytes), Cipher(), receiver);
        var buffer = new byte[64];
        var failure = await Assert.ThrowsAsync<NoiseException>(() => reader.ReadAsync(buffer).AsTask());
        Assert.Equal(NoiseFailure.Decryption, failure.Failure);
        var after = await Assert.ThrowsAsync<NoiseException>(() => reader.ReadAsync(buffer).AsTask());
        Assert.Equal(NoiseFailure.Unusable, after.Failure);
    }

    [Theory]
    [InlineData("0000")]
    [InlineData("000f000102030405060708090a0b0c0d0e")]
    [InlineData("00ff0102")]
    public async Task Frames_that_are_too_short_or_truncated_fail_with_a_framing_error(string hex)
    {
        await using var reader = new NoiseStream(new MemoryStream(Convert.FromHexString(hex)), Cipher(), Cipher());
        var failure = await Assert.ThrowsAsync<NoiseException>(() => reader.ReadAsync(new byte[16]).AsTask());
        Assert.Equal(NoiseFailure.Framing, failure.Failure);
    }

    [Fact]
    public async Task Large_writes_are_split_into_maximal_frames_in_one_transport_write()
    {
        var (sender, receiver) = CipherPair();
        var wire = new CountingStream();
        await using (var writer = new NoiseStream(wire, sender, Cipher(), leaveOpen: true))
            await writer.WriteAsync(Payload(2 * NoiseStream.PlaintextBytesMax + 1, seed: 3));
        var bytes = wire.ToArray();
        var lengths = new List<int>();
        for (var offset = 0; offset < bytes.Length; offset += 2 + lengths[^1])
            lengths.Add(BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset)));
        Assert.Equal([65535, 65535, 17], lengths);
        Assert.Equal(1, wire.Writes);

        await using var reader = new NoiseStream(new MemoryStream(bytes), Cipher(), receiver);
        Assert.Equal(Payload(2 * NoiseStream.PlaintextBytesMax + 1, seed: 3), await ReadExactlyAsync(reader, 2 * NoiseStream.PlaintextBytesMax + 1, 1000, CancellationToken.None));
    }

    [Property(MaxTest = 200)]
    public async Task<bool> Any_sequence_of_writes_is_read_back_intact_with_any_read_size(PositiveInt[] writeSizes, PositiveInt readSize)
    {
        var (sender, receiver) = CipherPair();
        var (left, right) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        await using var writer = new NoiseStream(left, sender, Cipher());
        await using var reader = new NoiseStream(right, Cipher(), receiver);
        var chunks = writeSizes.Take(8).Select((size, i) => Payload(size.Get % 150_000, seed: i)).ToArray();
        var expected = chunks.SelectMany(c => c).ToArray();
        var send = Task.Run(async () =>
        {
            foreach (var chunk in chunks) await writer.WriteAsync(chunk, cts.Token);
        });
        var received = await ReadExactlyAsync(reader, expected.Length, readSize.Get % 100_000 + 1, cts.Token);
        await send;
        return received.AsSpan().SequenceEqual(expected);
    }

    [Property(MaxTest = 1000)]
    public void Decoding_a_random_handshake_payload_never_throws(byte[] payload, byte[] staticKey) =>
        _ = NoisePayload.Decode(payload, staticKey);

    [Fact]
    public void A_payload_signed_for_another_static_key_is_rejected()
    {
        var payload = NoisePayload.Encode(Alice, new byte[32]);
        Assert.True(NoisePayload.Decode(payload, new byte[32]).IsRight);
        var otherKey = new byte[32];
        otherKey[0] = 9;
        Assert.True(NoisePayload.Decode(payload, otherKey).IsLeft);
    }

    private static async Task SendAndCloseAsync(Stream stream, byte[] data, CancellationToken ct)
    {
        // Odd-sized writes exercise frame splitting and batching.
        for (var offset = 0; offset < data.Length; offset += 100_003)
            await stream.WriteAsync(data.AsMemory(offset, Math.Min(100_003, data.Length - offset)), ct);
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int total, int readSize, CancellationToken ct)
    {
        var result = new byte[total];
        var offset = 0;
        while (offset < total)
        {
            var read = await stream.ReadAsync(result.AsMemory(offset, Math.Min(readSize, total - offset)), ct);
            if (read == 0) throw new EndOfStreamException($"stream ended after {offset} of {total} bytes");
            offset += read;
        }
        return result;
    }

    private static byte[] Payload(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static NoiseCipherState Cipher() => new(new byte[32]);

    private static (NoiseCipherState Sender, NoiseCipherState Receiver) CipherPair()
    {
        var key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        return (new NoiseCipherState(key), new NoiseCipherState(key));
    }

    /// <summary>Flips bits of the byte at one absolute read offset.</summary>
    private sealed class FlippingStream(Stream inner, int flipAt, byte mask) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => Flip(buffer.AsSpan(offset), inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var count = await inner.ReadAsync(buffer, cancellationToken);
            return Flip(buffer.Span, count);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        private int Flip(Span<byte> read, int count)
        {
            if (flipAt >= _position && flipAt < _position + count) read[(int)(flipAt - _position)] ^= mask;
            _position += count;
            return count;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Collects bytes and counts write calls.</summary>
    private sealed class CountingStream : Stream
    {
        private readonly MemoryStream _bytes = new();

        public int Writes { get; private set; }

        public byte[] ToArray() => _bytes.ToArray();

        public override bool CanRead => false;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes++;
            _bytes.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes++;
            _bytes.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}
