using System.Buffers.Binary;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Transport.Tcp.Noise;

using LocalIdentity = Bitswap.Transport.Tcp.Identity.Identity;

/// <summary>An authenticated, encrypted connection after a libp2p Noise handshake.</summary>
public sealed class SecureChannel : IAsyncDisposable
{
    /// <summary>Wraps an encrypted stream and the identity it was proven to belong to.</summary>
    public SecureChannel(Stream stream, PeerId remotePeer, byte[] remotePublicKey)
    {
        Stream = stream;
        RemotePeer = remotePeer;
        RemotePublicKey = remotePublicKey;
    }

    /// <summary>The encrypted duplex stream (a <see cref="NoiseStream"/>): one concurrent reader and one concurrent writer.</summary>
    public Stream Stream { get; }

    /// <summary>The remote peer, derived from the identity key it signed its Noise static key with.</summary>
    public PeerId RemotePeer { get; }

    /// <summary>The remote identity key as a serialized libp2p PublicKey.</summary>
    public byte[] RemotePublicKey { get; }

    /// <summary>Closes the encrypted stream and the transport under it.</summary>
    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}

/// <summary>
/// The libp2p Noise handshake (libp2p/specs noise/README.md) over a byte stream whose multistream-select step chose
/// <c>/noise</c>: XX with an empty prologue, a fresh X25519 static key per connection, and identity payloads in
/// messages 2 and 3 with no extensions. Reads exactly the handshake bytes, so nothing after them is lost. On success the
/// returned channel owns the transport; on failure (a <see cref="NoiseException"/>, cancellation, or an I/O error) the
/// caller still owns it and must close it. Bound the handshake with <c>ct</c> (js allows 10 s for a whole upgrade).
/// </summary>
public static class NoiseHandshake
{
    /// <summary>The multistream-select protocol id of this security transport.</summary>
    public const string ProtocolId = "/noise";

    /// <summary>Runs the initiator (dialer) side; fails with <see cref="NoiseException"/> if the peer is not <paramref name="expectedRemote"/>.</summary>
    public static async Task<SecureChannel> InitiatorAsync(Stream transport, LocalIdentity self, PeerId? expectedRemote, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(self);
        using var handshake = NoiseXxHandshake.Create(isInitiator: true);
        // libp2p sends an empty payload in message 1 (never extensions).
        await WriteFrameAsync(transport, handshake.WriteMessage(ReadOnlySpan<byte>.Empty), ct).ConfigureAwait(false);
        var responderPayload = handshake.ReadMessage(await ReadFrameAsync(transport, ct).ConfigureAwait(false));
        var remote = Authenticate(responderPayload, handshake.RemoteStaticPublicKey!);
        if (expectedRemote is not null && remote.PeerId != expectedRemote)
            throw new NoiseException(NoiseFailure.WrongPeer, $"dialled {expectedRemote} but the remote is {remote.PeerId}");
        await WriteFrameAsync(transport, handshake.WriteMessage(NoisePayload.Encode(self, handshake.LocalStaticPublicKey)), ct).ConfigureAwait(false);
        return Finish(transport, handshake, remote);
    }

    /// <summary>Runs the responder (listener) side.</summary>
    public static async Task<SecureChannel> ResponderAsync(Stream transport, LocalIdentity self, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(self);
        using var handshake = NoiseXxHandshake.Create(isInitiator: false);
        // Message 1 carries no identity; whatever payload it has is authenticated by the transcript hash and ignored.
        handshake.ReadMessage(await ReadFrameAsync(transport, ct).ConfigureAwait(false));
        await WriteFrameAsync(transport, handshake.WriteMessage(NoisePayload.Encode(self, handshake.LocalStaticPublicKey)), ct).ConfigureAwait(false);
        var initiatorPayload = handshake.ReadMessage(await ReadFrameAsync(transport, ct).ConfigureAwait(false));
        var remote = Authenticate(initiatorPayload, handshake.RemoteStaticPublicKey!);
        return Finish(transport, handshake, remote);
    }

    private static SecureChannel Finish(Stream transport, NoiseXxHandshake handshake, AuthenticatedPeer remote)
    {
        var (send, receive) = handshake.Split();
        return new SecureChannel(new NoiseStream(transport, send, receive), remote.PeerId, remote.PublicKeyProtobuf);
    }

    private static AuthenticatedPeer Authenticate(byte[] payload, byte[] remoteStatic) =>
        NoisePayload.Decode(payload, remoteStatic).Match(
            peer => peer,
            error => throw new NoiseException(
                error.Kind == DecodeErrorKind.HashMismatch ? NoiseFailure.BadSignature : NoiseFailure.BadPayload,
                $"the remote handshake payload was rejected: {error}"));

    private static async ValueTask WriteFrameAsync(Stream transport, byte[] message, CancellationToken ct)
    {
        var frame = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, checked((ushort)message.Length));
        message.CopyTo(frame, 2);
        await transport.WriteAsync(frame, ct).ConfigureAwait(false);
        await transport.FlushAsync(ct).ConfigureAwait(false);
    }

    private static async ValueTask<byte[]> ReadFrameAsync(Stream transport, CancellationToken ct)
    {
        var prefix = new byte[2];
        try
        {
            await transport.ReadExactlyAsync(prefix, ct).ConfigureAwait(false);
            var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
            await transport.ReadExactlyAsync(message, ct).ConfigureAwait(false);
            return message;
        }
        catch (EndOfStreamException e)
        {
            throw new NoiseException(NoiseFailure.Framing, "the transport closed during the Noise handshake", e);
        }
    }
}
