using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host.Pb;
using Bitswap.Transport.Tcp.Yamux;
using Google.Protobuf;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>The libp2p identify protocol (libp2p/specs identify; libp2p-reference.md §7.1).</summary>
internal static class IdentifyService
{
    /// <summary>The identify protocol id.</summary>
    public const string Protocol = "/ipfs/id/1.0.0";

    /// <summary>The identify push protocol id.</summary>
    public const string PushProtocol = "/ipfs/id/push/1.0.0";

    // js-libp2p reads up to this many identify messages before EOF and merges them (libp2p-reference.md §7.1).
    private const int MessagesMax = 10;

    /// <summary>What a peer told us about itself.</summary>
    /// <param name="Protocols">Protocols it accepts.</param>
    /// <param name="ListenAddresses">Addresses it listens on (unparseable ones skipped).</param>
    public sealed record Answer(IReadOnlyList<string> Protocols, IReadOnlyList<Multiaddr> ListenAddresses);

    /// <summary>Writes our identify message on an accepted stream and closes our side at once (js waits for the FIN).</summary>
    public static async Task ServeAsync(YamuxStream stream, PeerIdentity identity, string agentVersion, IReadOnlyList<string> protocols, IReadOnlyList<Multiaddr> listenAddresses, Multiaddr observed, CancellationToken cancellationToken)
    {
        var identify = new Identify
        {
            ProtocolVersion = "ipfs/0.1.0",
            AgentVersion = agentVersion,
            PublicKey = ByteString.CopyFrom(identity.PublicKeyProtobuf),
            ObservedAddr = ByteString.CopyFrom(observed.ToBytes()),
        };
        identify.Protocols.Add(protocols);
        foreach (var address in listenAddresses) identify.ListenAddrs.Add(ByteString.CopyFrom(address.ToBytes()));
        await stream.WriteAsync(Domain.Wire.Framing.Frame(identify.ToByteArray()), cancellationToken).ConfigureAwait(false);
        await stream.CloseWriteAsync().ConfigureAwait(false);
    }

    /// <summary>Reads identify messages until EOF, checking that any public key is the connection's peer.</summary>
    /// <exception cref="IOException">A malformed message, or a key that is not the peer's.</exception>
    public static async Task<Answer> ReadAsync(YamuxStream stream, Domain.Multiformats.PeerId remote, int messageBytesMax, CancellationToken cancellationToken)
    {
        var protocols = new List<string>();
        var addresses = new List<Multiaddr>();
        for (var i = 0; i < MessagesMax; i++)
        {
            var frame = await LengthPrefixed.ReadAsync(stream, messageBytesMax, cancellationToken).ConfigureAwait(false);
            if (frame.Error is { } error) throw new IOException($"identify: {error}");
            if (frame.Message is not { } bytes) break;
            Identify message;
            try
            {
                message = Identify.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new IOException($"identify: {e.Message}", e);
            }

            if (message.HasPublicKey)
            {
                var claimed = PeerIdentity.PeerIdFromPublicKey(message.PublicKey.Span);
                if (claimed.IsLeft || !claimed.RightToSeq().Head().Equals(remote))
                    throw new IOException("identify public key does not match the connection's peer");
            }

            protocols.AddRange(message.Protocols);
            foreach (var raw in message.ListenAddrs)
                Multiaddr.FromBytes(raw.Span).IfRight(addresses.Add);
        }

        return new Answer(protocols, addresses);
    }
}
