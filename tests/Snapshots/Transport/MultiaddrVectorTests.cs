using Bitswap.Transport.Tcp.Addressing;
using Xunit;

namespace Bitswap.Tests.Snapshots.Transport;

/// <summary>Multiaddr vectors of libp2p-reference.md §5 (multiformats/multiaddr test/multiaddr.feature).</summary>
public class MultiaddrVectorTests
{
    [Theory]
    [InlineData("/ip4/192.0.2.42/tcp/443", "04c000022a0601bb")]
    [InlineData("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
        "047f000001060fa1a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")]
    [InlineData("/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb")]
    [InlineData("/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1")]
    public void Text_and_binary_forms_match_the_vectors(string text, string hex)
    {
        var parsed = Multiaddr.ParseOrThrow(text);
        Assert.Equal(hex, Convert.ToHexStringLower(parsed.ToBytes()));
        var decoded = Multiaddr.FromBytes(Convert.FromHexString(hex)).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal(text, decoded.ToString());
    }

    [Fact]
    public void The_ipfs_alias_reads_as_p2p()
    {
        var address = Multiaddr.ParseOrThrow("/ip4/127.0.0.1/tcp/4001/ipfs/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        Assert.Equal("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", address.ToString());
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", address.PeerId?.ToString());
        Assert.Equal("/ip4/127.0.0.1/tcp/4001", address.WithoutPeer().ToString());
    }

    [Fact]
    public void A_peer_given_as_a_cid_is_stored_as_its_multihash()
    {
        var address = Multiaddr.ParseOrThrow("/ip4/127.0.0.1/tcp/4001/p2p/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
        Assert.Equal("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", address.ToString());
    }

    [Fact]
    public void Received_lists_skip_addresses_with_unknown_protocols()
    {
        // A webrtc-direct + certhash address (codes 280, 466) among known ones; certhash is not parsed here.
        var known = Multiaddr.ParseOrThrow("/ip4/192.0.2.42/tcp/443");
        byte[] unknown = Convert.FromHexString("04c000022a9102" + "0fa1" + "9802" + "d203" + "0401020304");
        var read = Multiaddr.ReadKnown([unknown, known.ToBytes(), Convert.FromHexString("ffff")]);
        Assert.Equal(new[] { known }, read);
    }
}
