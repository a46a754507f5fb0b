using Bitswap.Domain.Multiformats;
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
            var (kind, max) = StreamLimitOf(protocol);
            if (!_resources.TryOpenStream(connection.Remote, kind, max))
            {
                _resources.Refused(ResetReason.StreamsPerProtocol, connection.Remote.ToString(), $"{max} inbound {kind} streams already open; stream {stream.Id} reset");
                stream.Reset();
                return;
            }

            try
            {
                await ServeProtocolAsync(connection, stream, protocol).ConfigureAwait(false);
            }
            finally
            {
                _resources.CloseStream(connection.Remote, kind);
            }
        }
        catch (Exception e) when (e is YamuxException or IOException or OperationCanceledException or MultistreamException or ObjectDisposedException)
        {
            _logger.LogDebug("stream {Id} from {Peer} ended: {Reason}", stream.Id, connection.Remote, e.Message);
            stream.Reset();
        }
    }

    private async Task ServeProtocolAsync(Connection connection, YamuxStream stream, string protocol)
    {
        switch (protocol)
        {
            case IdentifyProtocol:
                await IdentifyService.ServeAsync(stream, _identity, _options.AgentVersion, InboundProtocols, _listenAddresses, connection.RemoteAddress, _shutdown.Token).ConfigureAwait(false);
                break;
            case IdentifyPushProtocol:
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token))
                {
                    // A push that trickles in holds a stream; it gets as long as an identify answer does.
                    timeout.CancelAfter(_options.IdentifyTimeout);
                    Learn(connection, await IdentifyService.ReadAsync(stream, connection.Remote, _options.IdentifyMessageBytesMax, timeout.Token).ConfigureAwait(false));
                }

                break;
            case PingProtocol:
                using (var lifetime = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token))
                {
                    // Bounds both a peer that pings forever and one that never reads its echoes (the write waits on a
                    // window that stays shut).
                    lifetime.CancelAfter(_options.PingStreamDuration);
                    await PingService.EchoAsync(stream, lifetime.Token).ConfigureAwait(false);
                }

                break;
            default:
                await ReceiveBitswapAsync(connection, stream, Protocols.FromId(protocol) ?? ProtocolVersion.V100).ConfigureAwait(false);
                break;
        }
    }

    // Which per-peer stream count a protocol falls under, and its cap; every Bitswap version shares one.
    private (string Kind, int Max) StreamLimitOf(string protocol) => protocol switch
    {
        PingProtocol => (PingProtocol, _options.PingStreamsPerPeerMax),
        IdentifyProtocol or IdentifyPushProtocol => (protocol, _options.IdentifyStreamsPerPeerMax),
        _ => ("bitswap", _options.BitswapStreamsPerPeerMax),
    };

    // From here on the session's read loop frames, decodes and hands over each message; this task only waits for the end.
    private async Task ReceiveBitswapAsync(Connection connection, YamuxStream stream, ProtocolVersion version)
    {
        NoteBitswapPeer(connection, version, announce: true);
        var peer = connection.Remote;
        var receiver = new BitswapReceiver(
            version,
            _options.Limits,
            connection.Scope,
            (message, wireBytes, lease) =>
            {
                Interlocked.Increment(ref _messagesReceived);
                Interlocked.Add(ref _bytesReceived, wireBytes);
                var arrived = new MessageArrived(peer, version, message, wireBytes, lease);
                try
                {
                    // A paced consumer is called without the emit lock, so a peer it makes wait holds back only its own
                    // connection's reads; other connections keep delivering.
                    if (_paced is { } consume) return consume(arrived);
                    Emit(arrived);
                }
                catch (Exception e)
                {
                    // A consumer that throws must not take the connection's read loop down with it.
                    _logger.LogError(e, "a MessageArrived subscriber failed; message from {Peer} dropped", peer);
                    lease?.Dispose();
                }
                return default;
            },
            error =>
            {
                _logger.LogWarning("bad bitswap message from {Peer}: {Error}; stream reset", peer, error);
                stream.Reset();
                Emit(new ReceiveFailed(peer, error));
            });
        stream.AttachReceiver(receiver);
        // A message that stops arriving halfway holds its buffer; after MessageStallTimeout without a byte the stream is
        // reset (boxo and Helia give a message 10 s). Checked a few times per timeout, so a stall is caught within 1.25×.
        var check = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(20).Ticks, _options.MessageStallTimeout.Ticks / 4));
        while (await Task.WhenAny(receiver.Ended, Task.Delay(check, _shutdown.Token)).ConfigureAwait(false) != receiver.Ended)
        {
            _shutdown.Token.ThrowIfCancellationRequested();
            if (receiver.PartialIdle is not { } idle || idle < _options.MessageStallTimeout) continue;
            connection.Scope.Refused(ResetReason.StalledMessage, $"stream {stream.Id}: a message made no progress for {idle.TotalSeconds:0.#} s holding {receiver.Held} bytes; stream reset");
            stream.Reset();
            Emit(new ReceiveFailed(peer, new DecodeError(DecodeErrorKind.Truncated, $"a partly received message made no progress for {idle.TotalSeconds:0.#} s")));
            return;
        }
    }
}
