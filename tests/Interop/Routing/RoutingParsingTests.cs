using System.Text.Json;
using Bitswap.Routing;
using Xunit;

namespace Bitswap.Tests.Interop.Routing;

/// <summary>Endpoint settings and record parsing of the routing client, without a server.</summary>
public class RoutingParsingTests
{
    [Fact]
    public void Endpoints_come_from_arguments_then_the_environment_then_the_default_and_none_turns_routing_off()
    {
        Assert.Equal([new Uri("http://127.0.0.1:1/"), new Uri("http://127.0.0.1:2/")], RoutingOptions.ParseEndpoints(["http://127.0.0.1:1", "http://127.0.0.1:2"], "http://127.0.0.1:3"));
        Assert.Equal([new Uri("http://127.0.0.1:3/"), new Uri("http://127.0.0.1:4/")], RoutingOptions.ParseEndpoints([], "http://127.0.0.1:3, http://127.0.0.1:4"));
        Assert.Equal([RoutingOptions.DefaultEndpoint], RoutingOptions.ParseEndpoints(null, null));
        Assert.Empty(RoutingOptions.ParseEndpoints(["none"], "http://127.0.0.1:3"));
        Assert.Empty(RoutingOptions.ParseEndpoints(null, "none"));
        Assert.Throws<FormatException>(() => RoutingOptions.ParseEndpoints(["ftp://example.org"], null));
    }

    [Theory]
    [InlineData("/ip4/1.2.3.4/tcp/4001", true)]
    [InlineData("/ip6/::1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", true)]
    [InlineData("/dns4/example.org/tcp/443/tls/ws", true)]
    [InlineData("/ip4/1.2.3.4/udp/4001/quic-v1", false)]
    [InlineData("/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq/p2p-circuit", false)]
    public void The_IPIP_484_address_filter_keeps_tcp_and_drops_relays(string address, bool kept) =>
        Assert.Equal(kept, PeerRecord.AddressPasses(address, RoutingOptions.Default.AddressFilter));

    [Theory]
    [InlineData("""{"Schema":"peer","ID":"12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"}""", true)]
    [InlineData("""{"Schema":"bitswap","ID":"12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq","Protocol":"transport-bitswap"}""", true)]
    [InlineData("""{"Schema":"peer","ID":"bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"}""", true)]
    [InlineData("""{"Schema":"other","ID":"12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"}""", false)]
    [InlineData("""{"Schema":"peer","ID":"not a peer"}""", false)]
    [InlineData("""{"Schema":"peer","ID":5,"Addrs":"x"}""", false)]
    [InlineData("""["Schema","peer"]""", false)]
    public void Records_of_known_schemas_with_readable_IDs_are_read_and_everything_else_ignored(string json, bool read)
    {
        using var document = JsonDocument.Parse(json);
        Assert.Equal(read, PeerRecord.FromJson(document.RootElement, 8) is not null);
    }

    [Fact]
    public void The_protocol_filter_keeps_bitswap_gateways_and_unknown_and_drops_the_rest()
    {
        var id = Domain.Multiformats.PeerId.ParseOrThrow("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        var filter = RoutingOptions.Default.ProtocolFilter;
        Assert.NotNull(new PeerRecord(id, [], []).Filter(filter, []));
        Assert.NotNull(new PeerRecord(id, [], ["transport-ipfs-gateway-http"]).Filter(filter, []));
        Assert.Null(new PeerRecord(id, [], ["transport-graphsync-filecoinv1"]).Filter(filter, []));
        Assert.Null(new PeerRecord(id, ["/ip4/1.2.3.4/udp/1/quic-v1"], []).Filter(filter, RoutingOptions.Default.AddressFilter));
    }
}
