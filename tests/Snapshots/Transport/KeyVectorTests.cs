using System.Text;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Identity;
using Xunit;

namespace Bitswap.Tests.Snapshots.Transport;

/// <summary>Key, peer ID and signature vectors of libp2p-reference.md §9 (libp2p/specs peer-ids/peer-ids.md).</summary>
public class KeyVectorTests
{
    private const string PrivateKeyHex =
        "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    private const string PublicKeyHex = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    [Fact]
    public void The_spec_private_key_gives_the_spec_public_key_and_peer_id()
    {
        var identity = Identity.FromPrivateKey(Convert.FromHexString(PrivateKeyHex));
        Assert.Equal(PublicKeyHex, Convert.ToHexStringLower(identity.PublicKeyProtobuf));
        Assert.Equal(PrivateKeyHex, Convert.ToHexStringLower(identity.PrivateKeyProtobuf));
        Assert.Equal("0024" + PublicKeyHex, Convert.ToHexStringLower(identity.PeerId.Bytes));
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", identity.PeerId.ToString());
        Assert.Equal("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6", identity.PeerId.ToCidString());
    }

    [Fact]
    public void The_spec_public_key_gives_the_spec_peer_id()
    {
        var peer = Identity.PeerIdFromPublicKey(Convert.FromHexString(PublicKeyHex)).Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", peer.ToString());
    }

    [Fact]
    public void The_spec_key_signs_the_noise_static_key_prefix_as_published()
    {
        var identity = Identity.FromPrivateKey(Convert.FromHexString(PrivateKeyHex));
        byte[] message = [.. Encoding.ASCII.GetBytes("noise-libp2p-static-key:"), .. new byte[32]];
        var signature = identity.Sign(message);
        Assert.Equal(
            "96e76c387acf749074786157ff14a810e4d2f0de949691503813564f0168432bd51ecdcbec88090d8ba4c701d3666be691b8f7d8c2e64924e78764a837568902",
            Convert.ToHexStringLower(signature));
        Assert.True(Identity.Verify(identity.PublicKeyProtobuf, message, signature));
    }

    [Fact]
    public void Peer_id_text_forms_from_the_spec_parse_to_the_expected_multihashes()
    {
        var inline = PeerId.ParseOrThrow("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
        Assert.StartsWith("002408011220" + "2ffa35a9", Convert.ToHexStringLower(inline.Bytes));
        var hashed = PeerId.ParseOrThrow("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
        Assert.Equal((ulong)MultihashCode.Sha2_256, hashed.Hash.Code);
        Assert.Equal("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe", hashed.ToCidString());
    }

    [Fact]
    public void Public_key_protobufs_are_encoded_in_tag_order_with_every_field()
    {
        // An RSA key (type 0) must still carry its Type field: 08 00 12 <len> <data>.
        var peer = Identity.PeerIdFromPublicKey(Convert.FromHexString("1203010203" + "0800")).Match(p => p, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal("000708001203010203", Convert.ToHexStringLower(peer.Bytes));
    }
}
