using System.Text;
using Bitswap.Transport.Tcp.Multistream;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>multistream-select exchanges over in-memory duplex pipes.</summary>
public class MultistreamTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Initiator_and_responder_agree_on_the_first_protocol_the_responder_supports()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = Multistream.HandleAsync(listener, p => p is "/yamux/1.0.0" or "/mplex/6.7.0", cts.Token);
        var chosen = await Multistream.SelectAsync(dialer, ["/tls/1.0.0", "/quic", "/yamux/1.0.0", "/mplex/6.7.0"], cts.Token);
        Assert.Equal("/yamux/1.0.0", chosen);
        Assert.Equal("/yamux/1.0.0", await responder);
    }

    [Fact]
    public async Task Initiator_sends_the_header_and_first_proposal_in_one_write()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        var recording = new RecordingStream(dialer);
        using var cts = new CancellationTokenSource(Timeout);
        var responder = Multistream.HandleAsync(listener, p => p == "/noise", cts.Token);
        Assert.Equal("/noise", await Multistream.SelectAsync(recording, ["/noise"], cts.Token));
        await responder;
        Assert.Equal("132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a", Convert.ToHexStringLower(recording.Writes[0]));
        Assert.Single(recording.Writes);
    }

    [Fact]
    public async Task Initiator_fails_when_no_proposal_is_accepted()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = Multistream.HandleAsync(listener, _ => false, cts.Token);
        await Assert.ThrowsAsync<MultistreamException>(() => Multistream.SelectAsync(dialer, ["/a", "/b"], cts.Token));
        dialer.Dispose();
        Assert.Null(await responder);
    }

    [Fact]
    public async Task Responder_answers_ls_with_na_and_keeps_listening()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        var responder = Multistream.HandleAsync(listener, p => p == "/ipfs/ping/1.0.0", cts.Token);
        await dialer.WriteAsync(Concat("/multistream/1.0.0", "ls"), cts.Token);
        Assert.Equal("/multistream/1.0.0", await ReadMessageAsync(dialer, cts.Token));
        Assert.Equal("na", await ReadMessageAsync(dialer, cts.Token));
        await dialer.WriteAsync(Concat("/ipfs/ping/1.0.0"), cts.Token);
        Assert.Equal("/ipfs/ping/1.0.0", await ReadMessageAsync(dialer, cts.Token));
        Assert.Equal("/ipfs/ping/1.0.0", await responder);
    }

    [Fact]
    public async Task Bytes_after_the_accepted_proposal_stay_in_the_stream()
    {
        // A lazy go client writes header, protocol and its first application bytes in one packet.
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        byte[] application = [0xde, 0xad, 0xbe, 0xef, 0x0a, 0x13];
        byte[] packet = [.. Concat("/multistream/1.0.0", "/ipfs/bitswap/1.2.0"), .. application];
        await dialer.WriteAsync(packet, cts.Token);
        Assert.Equal("/ipfs/bitswap/1.2.0", await Multistream.HandleAsync(listener, _ => true, cts.Token));
        var rest = new byte[application.Length];
        await listener.ReadExactlyAsync(rest, cts.Token);
        Assert.Equal(application, rest);
    }

    [Fact]
    public async Task Bytes_after_the_echo_stay_in_the_initiator_stream()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        byte[] noiseStart = [0x00, 0x20, 0x01, 0x02];
        var responder = Task.Run(async () =>
        {
            var chosen = await Multistream.HandleAsync(listener, _ => true, cts.Token);
            await listener.WriteAsync(noiseStart, cts.Token);
            return chosen;
        });
        Assert.Equal("/noise", await Multistream.SelectAsync(dialer, ["/noise"], cts.Token));
        var rest = new byte[noiseStart.Length];
        await dialer.ReadExactlyAsync(rest, cts.Token);
        Assert.Equal(noiseStart, rest);
        Assert.Equal("/noise", await responder);
    }

    [Fact]
    public async Task Responder_returns_null_when_the_initiator_closes_before_speaking()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource(Timeout);
        dialer.Dispose();
        Assert.Null(await Multistream.HandleAsync(listener, _ => true, cts.Token));
    }

    [Theory]
    [InlineData("")]
    [InlineData("132f6d756c746973747265616d2f312e302e3020")]
    [InlineData("8008")]
    [InlineData("ffff03")]
    [InlineData("8100")]
    [InlineData("00")]
    [InlineData("132f6d756c746973747265616d2f312e302e300a0300ff0a")]
    [InlineData("122f6d756c746973747265616d2f312e302e300a")]
    [InlineData("132f6d756c746973747265616d2f312e302e300a052f61")]
    public async Task Malformed_input_raises_a_multistream_exception_or_ends_cleanly(string hex)
    {
        var stream = new ScriptedStream(Convert.FromHexString(hex));
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            Assert.Null(await Multistream.HandleAsync(stream, _ => true, cts.Token));
            Assert.Equal("", hex);
        }
        catch (MultistreamException)
        {
            Assert.NotEqual("", hex);
        }
    }

    [Property(MaxTest = 500)]
    public async Task<bool> Random_input_never_crashes_either_role(byte[] garbage, bool withHeader)
    {
        byte[] input = withHeader ? [.. Concat("/multistream/1.0.0"), .. garbage] : garbage;
        return await Survives(() => Multistream.HandleAsync(new ScriptedStream(input), _ => true, CancellationToken.None))
            && await Survives(() => Multistream.SelectAsync(new ScriptedStream(input), ["/noise"], CancellationToken.None));
    }

    private static async Task<bool> Survives(Func<Task> negotiate)
    {
        try
        {
            await negotiate();
            return true;
        }
        catch (MultistreamException)
        {
            return true;
        }
    }

    private static byte[] Concat(params string[] messages) => messages.SelectMany(Multistream.Encode).ToArray();

    private static async Task<string> ReadMessageAsync(Stream stream, CancellationToken ct)
    {
        var length = new byte[1];
        await stream.ReadExactlyAsync(length, ct);
        var body = new byte[length[0]];
        await stream.ReadExactlyAsync(body, ct);
        return Encoding.UTF8.GetString(body, 0, body.Length - 1);
    }

    /// <summary>Reads a fixed script then EOF; swallows writes.</summary>
    private sealed class ScriptedStream(byte[] script) : Stream
    {
        private readonly MemoryStream _input = new(script);

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { }
    }

    /// <summary>Passes everything through and remembers each write.</summary>
    private sealed class RecordingStream(Stream inner) : Stream
    {
        public List<byte[]> Writes { get; } = [];

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes.Add(buffer.AsSpan(offset, count).ToArray());
            inner.Write(buffer, offset, count);
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(buffer.ToArray());
            return inner.WriteAsync(buffer, cancellationToken);
        }
    }
}
