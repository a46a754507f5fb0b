using Bitswap.Transport.Tcp.Identity;
using Bitswap.Transport.Tcp.Multistream;
using Bitswap.Transport.Tcp.Noise;
using NSec.Cryptography;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots.Transport;

/// <summary>The Noise XX core against published vectors, and golden bytes of our libp2p handshake.</summary>
public class NoiseVectorTests
{
    // haskell-cryptography/cacophony vectors/cacophony.txt, entry Noise_XX_25519_ChaChaPoly_SHA256.
    private const string Prologue = "4a6f686e2047616c74";
    private const string InitiatorStatic = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
    private const string InitiatorEphemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
    private const string ResponderStatic = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
    private const string ResponderEphemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";

    private static readonly (string Payload, string Ciphertext)[] Messages =
    [
        ("4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"),
        ("4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9326ad"),
        ("462e20412e20486179656b", "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"),
        ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
        ("4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"),
        ("457567656e2042f6686d20766f6e2042617765726b", "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"),
    ];

    [Fact]
    public void The_xx_core_reproduces_the_cacophony_vector()
    {
        using var initiator = NoiseXxHandshake.Create(true, Hex(Prologue), Hex(InitiatorStatic), Hex(InitiatorEphemeral));
        using var responder = NoiseXxHandshake.Create(false, Hex(Prologue), Hex(ResponderStatic), Hex(ResponderEphemeral));
        for (var i = 0; i < 3; i++)
        {
            var (writer, reader) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            var message = writer.WriteMessage(Hex(Messages[i].Payload));
            Assert.Equal(Messages[i].Ciphertext, Convert.ToHexStringLower(message));
            Assert.Equal(Messages[i].Payload, Convert.ToHexStringLower(reader.ReadMessage(message)));
        }
        Assert.True(initiator.IsComplete && responder.IsComplete);
        Assert.Equal(initiator.RemoteStaticPublicKey, responder.LocalStaticPublicKey);
        Assert.Equal(responder.RemoteStaticPublicKey, initiator.LocalStaticPublicKey);
        // libp2p-reference.md §9: the handshake hash of this vector, reproduced there with an independent implementation.
        Assert.Equal("c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e", Convert.ToHexStringLower(initiator.HandshakeHash));
        Assert.Equal(initiator.HandshakeHash, responder.HandshakeHash);

        var (initiatorSend, initiatorReceive) = initiator.Split();
        var (responderSend, responderReceive) = responder.Split();
        using (initiatorSend)
        using (initiatorReceive)
        using (responderSend)
        using (responderReceive)
        {
            // After the handshake the vector alternates: responder, initiator, responder.
            for (var i = 3; i < Messages.Length; i++)
            {
                var (send, receive) = i % 2 == 1 ? (responderSend, initiatorReceive) : (initiatorSend, responderReceive);
                var plaintext = Hex(Messages[i].Payload);
                var ciphertext = new byte[plaintext.Length + NoiseCipherState.TagBytes];
                send.Encrypt(ReadOnlySpan<byte>.Empty, plaintext, ciphertext);
                Assert.Equal(Messages[i].Ciphertext, Convert.ToHexStringLower(ciphertext));
                var decrypted = new byte[plaintext.Length];
                Assert.Equal(plaintext.Length, receive.Decrypt(ReadOnlySpan<byte>.Empty, ciphertext, decrypted));
                Assert.Equal(plaintext, decrypted);
            }
        }
    }

    [Fact]
    public void Hkdf_matches_the_js_libp2p_noise_vector()
    {
        // ChainSafe/js-libp2p-noise test/protocol.spec.ts "Test get HKDF" (first two of its three outputs).
        var output = new byte[64];
        NoiseXxHandshake.Hkdf2(
            Hex("4e6f6973655f58585f32353531395f58436861436861506f6c795f5348413235"),
            Hex("a3eae50ea37a47e8a7aa0c7cd8e16528670536dcd538cebfd724fb68ce44f1910ad898860666227d4e8dd50d22a9a64d1c0a6f47ace092510161e9e442953da3"),
            output);
        Assert.Equal("cc5659adff12714982f806e2477a8d5ddd071def4c29bb38777b7e37046f6914", Convert.ToHexStringLower(output.AsSpan(0, 32)));
        Assert.Equal("a16ada915e551ab623f38be674bb4ef15d428ae9d80688899c9ef9b62ef208fa", Convert.ToHexStringLower(output.AsSpan(32)));
    }

    [Fact]
    public void A_libp2p_handshake_with_fixed_keys_has_golden_bytes()
    {
        // Fixed X25519 keys (the cacophony ones), the spec identity for the responder, a seed-0x01 identity for the
        // initiator, and the empty libp2p prologue; Ed25519 signatures are deterministic, so every byte is.
        var responderIdentity = Identity.FromPrivateKey(Hex(
            "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"));
        var initiatorIdentity = Identity.FromPrivateKey(PrivateKeyFromSeed(Enumerable.Repeat((byte)1, 32).ToArray()));
        using var initiator = NoiseXxHandshake.Create(true, [], Hex(InitiatorStatic), Hex(InitiatorEphemeral));
        using var responder = NoiseXxHandshake.Create(false, [], Hex(ResponderStatic), Hex(ResponderEphemeral));

        var message1 = initiator.WriteMessage([]);
        Assert.Empty(responder.ReadMessage(message1));
        var message2 = responder.WriteMessage(NoisePayload.Encode(responderIdentity, responder.LocalStaticPublicKey));
        var responderSeen = NoisePayload.Decode(initiator.ReadMessage(message2), initiator.RemoteStaticPublicKey!)
            .Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        var message3 = initiator.WriteMessage(NoisePayload.Encode(initiatorIdentity, initiator.LocalStaticPublicKey));
        var initiatorSeen = NoisePayload.Decode(responder.ReadMessage(message3), responder.RemoteStaticPublicKey!)
            .Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));

        Assert.Equal(responderIdentity.PeerId, responderSeen.PeerId);
        Assert.Equal(initiatorIdentity.PeerId, initiatorSeen.PeerId);
        // libp2p-reference.md §3.3: with no extensions msg1 = 32, msg2 = 200, msg3 = 168 bytes.
        Assert.Equal([32, 200, 168], new[] { message1.Length, message2.Length, message3.Length });
        Snapshot.Match(string.Join('\n',
            "msg1 " + Convert.ToHexStringLower(message1),
            "msg2 " + Convert.ToHexStringLower(message2),
            "msg3 " + Convert.ToHexStringLower(message3),
            "hash " + Convert.ToHexStringLower(initiator.HandshakeHash)));
    }

    [Fact]
    public void Multistream_messages_have_the_documented_bytes()
    {
        // libp2p-reference.md §2.
        Assert.Equal("132f6d756c746973747265616d2f312e302e300a", Convert.ToHexStringLower(Multistream.Encode("/multistream/1.0.0")));
        Assert.Equal("072f6e6f6973650a", Convert.ToHexStringLower(Multistream.Encode("/noise")));
        Assert.Equal("036e610a", Convert.ToHexStringLower(Multistream.Encode("na")));
        Assert.Equal("036c730a", Convert.ToHexStringLower(Multistream.Encode("ls")));
        Assert.Equal(0x0d, Multistream.Encode("/yamux/1.0.0")[0]);
        Assert.Equal(0x0f, Multistream.Encode("/ipfs/id/1.0.0")[0]);
        Assert.Equal(0x11, Multistream.Encode("/ipfs/ping/1.0.0")[0]);
        Assert.Equal(0x14, Multistream.Encode("/ipfs/bitswap/1.2.0")[0]);
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static byte[] PrivateKeyFromSeed(byte[] seed)
    {
        using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        return [0x08, 0x01, 0x12, 0x40, .. seed, .. key.PublicKey.Export(KeyBlobFormat.RawPublicKey)];
    }
}
