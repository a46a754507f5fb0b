using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Recording.Pb;
using Google.Protobuf;

namespace Bitswap.Runtime.Recording;

/// <summary>
/// Writes a node's message log (docs/message-log.md): the header at once, then one length-delimited record per input.
/// Called from the node loop only, so writes are sequential. The stream stays open; its owner closes it.
/// </summary>
public sealed class MessageLogWriter : IDisposable
{
    private readonly Stream _stream;
    private bool _disposed;

    /// <summary>Starts a log on <paramref name="stream"/> for this node and configuration.</summary>
    public MessageLogWriter(Stream stream, PeerId self, NodeConfig config)
    {
        _stream = stream;
        new LogEntry { Header = LogCodec.Header(self, config) }.WriteDelimitedTo(_stream);
    }

    /// <summary>Appends one processed input.</summary>
    public void Write(Input input, ProtocolVersion? version = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        new LogEntry { Input = LogCodec.Encode(input, version) }.WriteDelimitedTo(_stream);
    }

    /// <summary>Flushes the stream; later writes fail.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _stream.Flush();
        }
    }
}
