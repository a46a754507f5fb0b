using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Identity;
using Bitswap.Transport.Tcp.Noise;
using FsCheck.Xunit;
using Google.Protobuf;
using Xunit;
using KeyType = Bitswap.Transport.Tcp.Identity.Pb.KeyType;
using PublicKeyPb = Bitswap.Transport.Tcp.Identity.Pb.PublicKey;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>
/// RSA, secp256k1 and ECDSA identities (libp2p/specs peer-ids/peer-ids.md): keys made by the base library, and vectors
/// made by js-libp2p's @libp2p/crypto 5.1.23 (generateKeyPair, publicKeyToProtobuf, sign, toMultihash).
/// </summary>
public class KeyTypeTests
{
    private static readonly byte[] NoiseMessage = [.. Encoding.ASCII.GetBytes(NoisePayload.SignaturePrefix), .. new byte[32]];

    // @libp2p/crypto 5.1.23: an RSA-2048 key, its signature over "noise-libp2p-static-key:" ‖ 32 zero bytes, its peer ID.
    private const string JsRsaPublicKey =
        "080012a60230820122300d06092a864886f70d01010105000382010f003082010a0282010100aaefada815f4e82b86ed22926f7ea2d9a2eb658f4f52"
        + "dd20c3356a2694e4914fe34e2f86671b8ee872d0fd882e9f5266a7395a59995606d2e8edb43e342c88c6038ebbdf403fc6f75ba9a1c50cc05fc4f2c6"
        + "ff2b77bfd185ce7f1394da4157f23c94b025404d12ec92e70a9b9980bc33d3025a83b003f98fc78910c078e4bf5dc379ff6a95b0ec1655be2f252ece"
        + "bb742b24944851b70df2912dd96112dac9f93d2be726011d6e9f88c6f2c1d830c4270c8ade55b586272e6f4d9045413c491cbf47ac61e6a79967a200"
        + "d09c71a154f61aea6a573974f328b93f52ba1198ff9bf10310bb11774f2e850b22fd396d31b17ae5c4c25ff32ba01dccbbdb205159630203010001";

    private const string JsRsaSignature =
        "57666bc664d39be7556ea6081457f11cdd76abc3d52c35d931d5a074344cd95d1f3fe0c19ed110b578f8b3392bc4f015fbd4658f768a6c033fd99841"
        + "cd7167b8c06517870646eda5c635fa139ffd615316a6eb96bbb3dffa479252687aed6f26a7fa352f00bce8b74a2e32e4f30c9c17ec5c01716ecca468"
        + "96a72942a8ac44e335a03355e0229141bb139f87b6debb60a0cddedf3a8c7a33eac97f4001ca89e0c06e28a903fbd9df2a074db339e1be26d1ecd061"
        + "fdbb6a821da7d13ac818eba554297fe106a41f9f6492f67e13839482822378d568fff0826a3e5b819913b74d6dd7c651e1b4cb89c5f9f46318fe1a4a"
        + "cbc9198c122698f02997f8792b826e3c";

    private const string JsRsaPeerId = "QmeTTiiSVeGtD7fczqHm1WdKAZtR94C1Bn9UGNcLTLtGk5";

    // @libp2p/crypto 5.1.23: a secp256k1 key (compressed point), its DER signature over the same message, its peer ID.
    private const string JsSecp256k1PublicKey = "0802122103d08ef781155c2ed6197d8252900582b1f827fa4a1f466ccf9156672e2af869d9";
    private const string JsSecp256k1Signature =
        "304402200edbf467109df7ee25e461692bc2d82f596d9b5c1b3c38cbd7a5a46bbec6f8cd02204c4acd9412cf4f6ea03639bf4bc7360bce288c12f658b5c9ce501ea208139014";
    private const string JsSecp256k1PeerId = "16Uiu2HAmSh7bJshTsaCtzRsk9GVL3gjbmqELs7w4awr79tmuJjHi";

    [Fact]
    public void A_js_libp2p_RSA_key_verifies_its_signature_and_has_its_sha256_peer_id()
    {
        var key = Convert.FromHexString(JsRsaPublicKey);
        Assert.True(Identity.Verify(key, NoiseMessage, Convert.FromHexString(JsRsaSignature)));
        Assert.False(Identity.Verify(key, [.. NoiseMessage, 0], Convert.FromHexString(JsRsaSignature)));
        var peer = Identity.PeerIdFromPublicKey(key).Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal(JsRsaPeerId, peer.ToString());
        Assert.Equal((ulong)MultihashCode.Sha2_256, peer.Hash.Code);
    }

    [Fact]
    public void A_js_libp2p_secp256k1_key_verifies_its_signature_and_has_its_inline_peer_id()
    {
        var key = Convert.FromHexString(JsSecp256k1PublicKey);
        Assert.True(Identity.Verify(key, NoiseMessage, Convert.FromHexString(JsSecp256k1Signature)));
        Assert.False(Identity.Verify(key, [.. NoiseMessage, 0], Convert.FromHexString(JsSecp256k1Signature)));
        var peer = Identity.PeerIdFromPublicKey(key).Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal(JsSecp256k1PeerId, peer.ToString());
        Assert.Equal((ulong)MultihashCode.Identity, peer.Hash.Code);
    }

    [Property(MaxTest = 5)]
    public bool RSA_keys_from_the_base_library_verify_only_what_they_signed(byte[] data)
    {
        using var rsa = RSA.Create(2048);
        var key = Protobuf(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo());
        var signature = rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return Identity.Verify(key, data, signature)
            && !Identity.Verify(key, [.. data, 1], signature)
            && Identity.PeerIdFromPublicKey(key).Match(p => p.Hash.Code == (ulong)MultihashCode.Sha2_256 && p.Hash.Verifies(key), _ => false);
    }

    [Property(MaxTest = 30)]
    public bool Secp256k1_keys_from_the_base_library_verify_only_what_they_signed(byte[] data)
    {
        using var ecdsa = ECDsa.Create(ECCurve.CreateFromFriendlyName("secp256k1"));
        var key = Protobuf(KeyType.Secp256K1, Compressed(ecdsa));
        var signature = ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return Identity.Verify(key, data, signature)
            && !Identity.Verify(key, [.. data, 1], signature)
            && key.Length == 37
            && Identity.PeerIdFromPublicKey(key).Match(p => p.Hash.Code == (ulong)MultihashCode.Identity, _ => false);
    }

    [Property(MaxTest = 30)]
    public bool ECDSA_P256_keys_from_the_base_library_verify_only_what_they_signed(byte[] data)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = Protobuf(KeyType.Ecdsa, ecdsa.ExportSubjectPublicKeyInfo());
        var signature = ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return Identity.Verify(key, data, signature)
            && !Identity.Verify(key, [.. data, 1], signature)
            && Identity.PeerIdFromPublicKey(key).Match(p => p.Hash.Code == (ulong)MultihashCode.Sha2_256 && p.Hash.Verifies(key), _ => false);
    }

    [Fact]
    public void An_RSA_key_below_2048_bits_is_refused_with_a_reason()
    {
        using var rsa = RSA.Create(1024);
        var key = Protobuf(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo());
        var signature = rsa.SignData(NoiseMessage, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var error = Identity.VerifySignature(key, NoiseMessage, signature).Match(_ => "", e => e.Detail);
        Assert.Contains("2048", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_type_is_refused_as_unsupported_not_as_a_bad_signature()
    {
        var key = Protobuf((KeyType)7, new byte[32]);
        var error = Identity.VerifySignature(key, NoiseMessage, new byte[64]).Match(_ => "", e => e.Detail);
        Assert.Contains("unsupported", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_noise_payload_with_an_unsupported_key_type_is_rejected_as_unsupported_not_as_a_bad_signature()
    {
        var payload = new Bitswap.Transport.Tcp.Noise.Pb.NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(Protobuf((KeyType)7, new byte[32])),
            IdentitySig = ByteString.CopyFrom(new byte[64]),
        }.ToByteArray();

        var error = NoisePayload.Decode(payload, new byte[32]).Match(_ => throw new Xunit.Sdk.XunitException("accepted"), e => e);

        Assert.NotEqual(DecodeErrorKind.HashMismatch, error.Kind);
        Assert.Contains("unsupported", error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secp256k1_point_off_the_curve_is_refused()
    {
        // x = 5: 5³ + 7 = 132 has no square root modulo p, so no point has this X.
        var point = new byte[33];
        point[0] = 0x02;
        point[32] = 5;
        var error = Identity.VerifySignature(Protobuf(KeyType.Secp256K1, point), NoiseMessage, new byte[70]).Match(_ => "", e => e.Detail);
        Assert.Contains("curve", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_noise_payload_signed_by_an_RSA_identity_authenticates_that_peer()
    {
        using var rsa = RSA.Create(2048);
        var key = Protobuf(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo());
        var staticKey = RandomNumberGenerator.GetBytes(32);
        byte[] signed = [.. Encoding.ASCII.GetBytes(NoisePayload.SignaturePrefix), .. staticKey];
        var payload = new Bitswap.Transport.Tcp.Noise.Pb.NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(key),
            IdentitySig = ByteString.CopyFrom(rsa.SignData(signed, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)),
        }.ToByteArray();

        var peer = NoisePayload.Decode(payload, staticKey).Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        var wrongKey = NoisePayload.Decode(payload, RandomNumberGenerator.GetBytes(32));

        Assert.StartsWith("Qm", peer.PeerId.ToString(), StringComparison.Ordinal);
        Assert.Equal(DecodeErrorKind.HashMismatch, wrongKey.Match(_ => DecodeErrorKind.Empty, e => e.Kind));
    }

    private static byte[] Protobuf(KeyType type, byte[] data) =>
        new PublicKeyPb { Type = type, Data = ByteString.CopyFrom(data) }.ToByteArray();

    private static byte[] Compressed(ECDsa ecdsa)
    {
        var q = ecdsa.ExportParameters(includePrivateParameters: false).Q;
        return [(byte)((q.Y![^1] & 1) == 0 ? 0x02 : 0x03), .. q.X!];
    }
}
