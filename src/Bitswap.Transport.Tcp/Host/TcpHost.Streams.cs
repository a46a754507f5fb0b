using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Yamux;
using Microsoft.Extensions.Logging;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;
using MultistreamException = Bitswap.Transport.Tcp.Multistream.MultistreamException;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>Inbound streams: negotiation, then identify, identify push, ping, or a Bitswap stream read on the session's loop.</summary>
public sealed partial class TcpHost
{
    private async Task ServeStreamsAsync(Connection connection)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            YamuxStream stream;
            try
            {
                stream = await connection.Session.AcceptStreamAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            Track(ServeStreamAsync(connection, stream));
        }
    }

    private async Task ServeStreamAsync(Connection connection, YamuxStream stream)
    {
        await using var _ = stream.ConfigureAwait(false);
        try
        {
            string? protocol;
            using (var negotiation = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token))
            {
                negotiation.CancelAfter(TimeSpan.FromMilliseconds(_options.NegotiationTimeoutMs));
                stream.MarkNegotiating();
                protocol = await MultistreamSelect.HandleAsync(stream, p => InboundProtocols.Contains(p), negotiation.Token).ConfigureAwait(false);
            }
            if (protocol is null) return;
            stream.MarkOpen();
            switch (protocol)
            {
                case IdentifyProtocol:
                    await IdentifyService.ServeAsync(stream, _identity, _options.AgentVersion, InboundProtocols, _listenAddresses, connection.RemoteAddress, _shutdown.Token).ConfigureAwait(false);
                    break;
                case IdentifyPushProtocol:
                    Learn(connection, await IdentifyService.ReadAsync(stream, connection.Remote, _options.IdentifyMessageBytesMax, _shutdown.Token).ConfigureAwait(false));
                    break;
                case PingProtocol:
                    await PingService.EchoAsync(stream, _shutdown.Token).ConfigureAwait(false);
                    break;
                default:
                    await ReceiveBitswapAsync(connection, stream, Protocols.FromId(protocol) ?? ProtocolVersion.V100).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or MultistreamException or ObjectDisposedException)
        {
            _logger.LogDebug("stream {Id} from {Peer} ended: {Reason}", stream.Id, connection.Remote, e.Message);
            stream.Reset();
        }
    }

    // From here on the session's read loop frames, decodes and hands over each message; this task only waits for the end.
    private async Task ReceiveBitswapAsync(Connection connection, YamuxStream stream, ProtocolVersion version)
    {
        NoteBitswapPeer(connection.Remote, version, announce: true);
        var peer = connection.Remote;
        var receiver = new BitswapReceiver(
            version,
            _options.Limits,
            connection.ReceiveAllowance,
            (message, wireBytes, lease) =>
            {
                Interlocked.Increment(ref _messagesReceived);
                Interlocked.Add(ref _bytesReceived, wireBytes);
                try
                {
                    Emit(new MessageArrived(peer, version, message, wireBytes, lease));
                }
                catch (Exception e)
                {
                    // A consumer that throws must not take the connection's read loop down with it.
                    _logger.LogError(e, "a MessageArrived subscriber failed; message from {Peer} dropped", peer);
                    lease?.Dispose();
                }
            },
            error =>
            {
                _logger.LogWarning("bad bitswap message from {Peer}: {Error}; stream reset", peer, error);
                stream.Reset();
                Emit(new ReceiveFailed(peer, error));
            });
        stream.AttachReceiver(receiver);
        await receiver.Ended.WaitAsync(_shutdown.Token).ConfigureAwait(false);
    }
}
