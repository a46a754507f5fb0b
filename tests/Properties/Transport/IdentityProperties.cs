using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Identity;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NSec.Cryptography;
using Xunit;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>Identity keys, peer IDs and signatures.</summary>
public class IdentityProperties
{
    [Property(MaxTest = 200)]
    public bool A_private_key_round_trips_and_derives_an_inline_peer_id(byte[] seedMaterial)
    {
        var seed = new byte[32];
        seedMaterial.AsSpan(0, Math.Min(32, seedMaterial.Length)).CopyTo(seed);
        var identity = Identity.FromPrivateKey(PrivateKeyProtobuf(seed));
        var again = Identity.FromPrivateKey(identity.PrivateKeyProtobuf);
        return again.PeerId == identity.PeerId
            && again.PublicKeyProtobuf.AsSpan().SequenceEqual(identity.PublicKeyProtobuf)
            && identity.PeerId.Hash.Code == (ulong)MultihashCode.Identity
            && identity.PeerId.ToString().StartsWith("12D3KooW", StringComparison.Ordinal)
            && Identity.PeerIdFromPublicKey(identity.PublicKeyProtobuf).Match(p => p == identity.PeerId, _ => false);
    }

    [Property(MaxTest = 200)]
    public bool A_signature_verifies_for_the_signed_data_only(byte[] data, byte flip)
    {
        var identity = Identity.Generate();
        var signature = identity.Sign(data);
        var tampered = data.Length == 0 ? [flip] : data.ToArray();
        if (data.Length > 0) tampered[flip % data.Length] ^= (byte)(flip | 1);
        return Identity.Verify(identity.PublicKeyProtobuf, data, signature)
            && !Identity.Verify(identity.PublicKeyProtobuf, tampered, signature)
            && !Identity.Verify(Identity.Generate().PublicKeyProtobuf, data, signature);
    }

    [Property(MaxTest = 300)]
    public bool Small_keys_are_inlined_and_large_keys_hashed(PositiveInt size)
    {
        // An RSA-typed key of arbitrary length: 08 00 12 <len> <data>; only the serialized size matters.
        var length = size.Get % 300 + 1;
        var data = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        byte[] key = [0x08, 0x00, 0x12, .. Varint.Encode((ulong)length), .. data];
        var expected = key.Length <= Identity.InlinePublicKeyBytesMax ? MultihashCode.Identity : MultihashCode.Sha2_256;
        return Identity.PeerIdFromPublicKey(key).Match(peer => peer.Hash.Code == (ulong)expected && peer.Hash.Verifies(key), _ => false);
    }

    [Property(MaxTest = 1000)]
    public void Decoding_random_key_bytes_never_throws(byte[] bytes)
    {
        _ = Identity.PeerIdFromPublicKey(bytes);
        _ = Identity.ParsePrivateKey(bytes);
        _ = Identity.Verify(bytes, bytes, bytes);
    }

    [Fact]
    public void The_legacy_96_byte_private_key_is_accepted_when_both_public_keys_agree()
    {
        var identity = Identity.Generate();
        var data = identity.PrivateKeyProtobuf.AsSpan(4).ToArray();
        byte[] legacy = [0x08, 0x01, 0x12, 0x60, .. data, .. data.AsSpan(32)];
        Assert.Equal(identity.PeerId, Identity.FromPrivateKey(legacy).PeerId);
        legacy[^1] ^= 1;
        Assert.True(Identity.ParsePrivateKey(legacy).IsLeft);
    }

    [Fact]
    public void A_private_key_whose_public_half_does_not_match_its_seed_is_rejected()
    {
        var key = Identity.Generate().PrivateKeyProtobuf;
        key[^1] ^= 1;
        Assert.True(Identity.ParsePrivateKey(key).IsLeft);
        Assert.Throws<FormatException>(() => Identity.FromPrivateKey(key));
    }

    [Fact]
    public void Load_or_create_writes_an_owner_only_key_file_and_reads_it_back()
    {
        var directory = Directory.CreateTempSubdirectory("bitswap-identity-");
        try
        {
            var path = Path.Combine(directory.FullName, "nested", "identity.key");
            var created = Identity.LoadOrCreate(path);
            var loaded = Identity.LoadOrCreate(path);
            Assert.Equal(created.PeerId, loaded.PeerId);
            Assert.Equal(created.PrivateKeyProtobuf, File.ReadAllBytes(path));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static byte[] PrivateKeyProtobuf(byte[] seed)
    {
        using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        return [0x08, 0x01, 0x12, 0x40, .. seed, .. key.PublicKey.Export(KeyBlobFormat.RawPublicKey)];
    }
}
