using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Xunit;

namespace Bitswap.Tests.Snapshots;

/// <summary>The CID vectors of libp2p-reference.md §9.</summary>
public class CidVectorTests
{
    [Fact]
    public void Raw_cid_of_the_empty_string()
    {
        var cid = Cid.Compute([]).Match(c => c, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", cid.ToString());
    }

    [Fact]
    public void Raw_cid_of_hello_world()
    {
        Assert.Equal("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", Block.Raw(Encoding.UTF8.GetBytes("hello world")).Cid.ToString());
    }

    [Fact]
    public void Empty_unixfs_directory_is_QmUNLL_and_converts_to_v1()
    {
        var cid = Cid.Compute(Convert.FromHexString("0a020801"), Multicodec.DagPb, MultihashCode.Sha2_256, version: 0)
            .Match(c => c, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn", cid.ToString());
        Assert.Equal("bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354", cid.ToV1().ToString());
        Assert.Equal(cid, Cid.ParseOrThrow("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"));
    }

    [Fact]
    public void Base58_v1_text_parses_to_the_same_cid()
    {
        var cid = Cid.ParseOrThrow("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA");
        Assert.Equal(1, cid.Version);
        Assert.Equal(Multicodec.Raw, cid.Codec);
        Assert.StartsWith("015512206e6ff795", Convert.ToHexStringLower(cid.Bytes));
    }

    [Fact]
    public void Peer_id_vector_parses_in_both_text_forms()
    {
        var peer = PeerId.ParseOrThrow("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        Assert.Equal("0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", Convert.ToHexStringLower(peer.Bytes));
        Assert.Equal("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6", peer.ToCidString());
        Assert.Equal(peer, PeerId.ParseOrThrow("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"));
    }
}
