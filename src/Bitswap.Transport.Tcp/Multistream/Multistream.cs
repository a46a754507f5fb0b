using System.Buffers;
using System.Text;

namespace Bitswap.Transport.Tcp.Multistream;

/// <summary>A multistream-select negotiation failed: malformed input, a wrong header, or no common protocol.</summary>
public sealed class MultistreamException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public MultistreamException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure that caused it.</summary>
    public MultistreamException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>
/// multistream-select 1.0 (multiformats/multistream-select; libp2p/specs connections/README.md). Every message is
/// <c>uvarint(len) ‖ UTF-8 text ‖ '\n'</c>. Both roles read exactly the bytes of each message and never beyond, so
/// whatever follows the negotiation (a Noise handshake, a lazy client's first data) stays in the stream.
/// </summary>
public static class Multistream
{
    /// <summary>The protocol header both sides send first.</summary>
    public const string Header = "/multistream/1.0.0";

    /// <summary>The refusal of a proposal.</summary>
    public const string NotAvailable = "na";

    /// <summary>The listing request (answered with <c>na</c>, as go does).</summary>
    public const string List = "ls";

    /// <summary>Largest message, counting the newline (go-multistream lpReadBuf, js MAX_PROTOCOL_LENGTH).</summary>
    public const int MessageBytesMax = 1024;

    /// <summary>Proposals a responder hears before giving up on a peer that never names a protocol we speak.</summary>
    public const int ProposalsMax = 64;

    // A length of at most 1024 fits in two varint bytes (js accepts at most 2 bytes too).
    private const int LengthBytesMax = 2;

    /// <summary>
    /// Initiator: sends the header and the first proposal in one write, then tries each protocol in order until the
    /// responder echoes one, which it returns.
    /// </summary>
    /// <exception cref="MultistreamException">The responder refused every protocol, broke the protocol, or closed the stream.</exception>
    public static async Task<string> SelectAsync(Stream stream, IReadOnlyList<string> protocols, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (protocols.Count == 0) throw new ArgumentException("propose at least one protocol", nameof(protocols));
        foreach (var protocol in protocols) CheckProtocolName(protocol);

        await WriteMessagesAsync(stream, [Header, protocols[0]], ct).ConfigureAwait(false);
        var header = await ReadMessageAsync(stream, ct).ConfigureAwait(false)
            ?? throw new MultistreamException("the stream closed before the responder's multistream header");
        if (header != Header) throw new MultistreamException($"expected the header {Header}, got '{Printable(header)}'");

        for (var i = 0; i < protocols.Count; i++)
        {
            if (i > 0) await WriteMessagesAsync(stream, [protocols[i]], ct).ConfigureAwait(false);
            var answer = await ReadMessageAsync(stream, ct).ConfigureAwait(false)
                ?? throw new MultistreamException($"the stream closed while {protocols[i]} was proposed");
            if (answer == protocols[i]) return answer;
            if (answer != NotAvailable)
                throw new MultistreamException($"proposed {protocols[i]}, the responder answered '{Printable(answer)}'");
        }
        throw new MultistreamException($"the responder supports none of {string.Join(", ", protocols)}");
    }

    /// <summary>
    /// The bytes a lazy (optimistic) initiator sends before its first data, without waiting: the header and one proposal
    /// (go-multistream lazyClient; libp2p-reference.md §2). Confirm with <see cref="ReadLazyAnswerAsync"/>.
    /// </summary>
    public static byte[] LazyProposal(string protocol)
    {
        CheckProtocolName(protocol);
        var buffer = new ArrayBufferWriter<byte>(64);
        EncodeTo(buffer, Header);
        EncodeTo(buffer, protocol);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the responder's header and its answer to a <see cref="LazyProposal"/>; throws unless it echoed <paramref name="protocol"/>.</summary>
    /// <exception cref="MultistreamException">A wrong header, <c>na</c>, another answer, or the stream closed.</exception>
    public static async Task ReadLazyAnswerAsync(Stream stream, string protocol, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = await ReadMessageAsync(stream, ct).ConfigureAwait(false)
            ?? throw new MultistreamException("the stream closed before the responder's multistream header");
        if (header != Header) throw new MultistreamException($"expected the header {Header}, got '{Printable(header)}'");
        var answer = await ReadMessageAsync(stream, ct).ConfigureAwait(false)
            ?? throw new MultistreamException($"the stream closed while {protocol} was proposed");
        if (answer != protocol) throw new MultistreamException($"proposed {protocol}, the responder answered '{Printable(answer)}'");
    }

    /// <summary>
    /// Responder: sends the header, checks the initiator's, answers <c>na</c> to protocols <paramref name="supported"/>
    /// rejects (and to <c>ls</c>), echoes the first one it accepts and returns it; null when the initiator closes the
    /// stream cleanly between messages.
    /// </summary>
    /// <exception cref="MultistreamException">Malformed messages, a wrong header, or too many refused proposals.</exception>
    public static async Task<string?> HandleAsync(Stream stream, Func<string, bool> supported, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(supported);
        // Send our header without waiting: an initiator that waits for it before speaking must not deadlock us.
        await WriteMessagesAsync(stream, [Header], ct).ConfigureAwait(false);
        var header = await ReadMessageAsync(stream, ct).ConfigureAwait(false);
        if (header is null) return null;
        if (header != Header) throw new MultistreamException($"expected the header {Header}, got '{Printable(header)}'");

        for (var proposals = 0; proposals < ProposalsMax; proposals++)
        {
            var proposal = await ReadMessageAsync(stream, ct).ConfigureAwait(false);
            if (proposal is null) return null;
            if (proposal != List && proposal != Header && supported(proposal))
            {
                await WriteMessagesAsync(stream, [proposal], ct).ConfigureAwait(false);
                return proposal;
            }
            await WriteMessagesAsync(stream, [NotAvailable], ct).ConfigureAwait(false);
        }
        throw new MultistreamException($"the initiator proposed {ProposalsMax} protocols we do not speak");
    }

    /// <summary>The wire bytes of one message (<c>uvarint(len) ‖ text ‖ '\n'</c>).</summary>
    public static byte[] Encode(string message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EncodeTo(buffer, message);
        return buffer.WrittenSpan.ToArray();
    }

    private static void EncodeTo(IBufferWriter<byte> writer, string message)
    {
        var textLength = Encoding.UTF8.GetByteCount(message);
        var length = textLength + 1;
        if (length > MessageBytesMax) throw new ArgumentException($"a multistream message has at most {MessageBytesMax} bytes", nameof(message));
        var prefix = Domain.Multiformats.Varint.EncodedLength((ulong)length);
        var span = writer.GetSpan(prefix + length);
        var n = Domain.Multiformats.Varint.Write(span, (ulong)length);
        n += Encoding.UTF8.GetBytes(message, span[n..]);
        span[n++] = (byte)'\n';
        writer.Advance(n);
    }

    private static async ValueTask WriteMessagesAsync(Stream stream, string[] messages, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        foreach (var message in messages) EncodeTo(buffer, message);
        await stream.WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    // Reads one message byte-exactly: the varint one byte at a time, then exactly its length. Null on a clean EOF
    // before the first byte.
    private static async ValueTask<string?> ReadMessageAsync(Stream stream, CancellationToken ct)
    {
        var one = new byte[1];
        var length = 0;
        for (var i = 0; ; i++)
        {
            if (i == LengthBytesMax) throw new MultistreamException("multistream length prefix longer than 2 bytes");
            var read = await stream.ReadAsync(one, ct).ConfigureAwait(false);
            if (read == 0)
            {
                if (i == 0) return null;
                throw new MultistreamException("the stream closed inside a multistream length prefix");
            }
            length |= (one[0] & 0x7f) << (7 * i);
            if ((one[0] & 0x80) == 0)
            {
                if (one[0] == 0 && i > 0) throw new MultistreamException("multistream length prefix is not minimal");
                break;
            }
        }
        if (length == 0) throw new MultistreamException("empty multistream message");
        if (length > MessageBytesMax) throw new MultistreamException($"multistream message of {length} bytes exceeds {MessageBytesMax}");

        var body = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            try
            {
                await stream.ReadExactlyAsync(body.AsMemory(0, length), ct).ConfigureAwait(false);
            }
            catch (EndOfStreamException e)
            {
                throw new MultistreamException("the stream closed inside a multistream message", e);
            }
            if (body[length - 1] != (byte)'\n') throw new MultistreamException("multistream message does not end with a newline");
            try
            {
                return Strict.GetString(body, 0, length - 1);
            }
            catch (DecoderFallbackException e)
            {
                throw new MultistreamException("multistream message is not UTF-8", e);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static void CheckProtocolName(string protocol)
    {
        if (string.IsNullOrEmpty(protocol) || protocol.Contains('\n') || Encoding.UTF8.GetByteCount(protocol) + 1 > MessageBytesMax)
            throw new ArgumentException($"'{protocol}' cannot be a multistream protocol name", nameof(protocol));
    }

    private static string Printable(string text) => text.Length <= 64 ? text.ReplaceLineEndings(" ") : text[..64].ReplaceLineEndings(" ") + "…";
}
