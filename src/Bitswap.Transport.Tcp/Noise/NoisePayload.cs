using System.Text;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Noise.Pb;
using Google.Protobuf;
using LanguageExt;

namespace Bitswap.Transport.Tcp.Noise;

/// <summary>A remote identity proven by a libp2p Noise handshake payload.</summary>
/// <param name="PeerId">The peer ID derived from the identity key.</param>
/// <param name="PublicKeyProtobuf">The serialized libp2p PublicKey the peer sent.</param>
public sealed record AuthenticatedPeer(PeerId PeerId, byte[] PublicKeyProtobuf);

/// <summary>
/// The libp2p Noise handshake payload (libp2p/specs noise/README.md): the identity key and its signature over
/// <c>"noise-libp2p-static-key:" ‖ Noise static public key</c>. We never send extensions, so muxers are negotiated with
/// multistream-select after the handshake.
/// </summary>
public static class NoisePayload
{
    /// <summary>The prefix of the signed static key (noise/README.md "Static Key Authentication").</summary>
    public const string SignaturePrefix = "noise-libp2p-static-key:";

    /// <summary>Builds our payload: identity key and signature over our Noise static key, no extensions.</summary>
    public static byte[] Encode(Identity.Identity self, ReadOnlySpan<byte> noiseStaticPublicKey) =>
        new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(self.PublicKeyProtobuf),
            IdentitySig = ByteString.CopyFrom(self.Sign(SignedBytes(noiseStaticPublicKey))),
        }.ToByteArray();

    /// <summary>
    /// Parses a received payload and checks its signature against the Noise static key the peer just proved it holds;
    /// never throws.
    /// </summary>
    public static Either<DecodeError, AuthenticatedPeer> Decode(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> remoteStaticPublicKey)
    {
        NoiseHandshakePayload message;
        try
        {
            message = NoiseHandshakePayload.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, $"noise handshake payload: {e.Message}");
        }
        if (message.IdentityKey.IsEmpty) return new DecodeError(DecodeErrorKind.BadField, "noise handshake payload has no identity key");
        var key = message.IdentityKey.ToByteArray();
        var peer = Identity.Identity.PeerIdFromPublicKey(key);
        if (peer.IsLeft) return peer.LeftToSeq().Head().At("noise identity key");
        var verified = Identity.Identity.VerifySignature(key, SignedBytes(remoteStaticPublicKey), message.IdentitySig.Span);
        if (verified.IsLeft) return verified.LeftToSeq().Head().At("noise identity key");
        if (!verified.RightToSeq().Head())
            return new DecodeError(DecodeErrorKind.HashMismatch, "the identity signature over the Noise static key is invalid");
        return new AuthenticatedPeer(peer.RightToSeq().Head(), key);
    }

    private static byte[] SignedBytes(ReadOnlySpan<byte> staticPublicKey) => [.. Encoding.ASCII.GetBytes(SignaturePrefix), .. staticPublicKey];
}
