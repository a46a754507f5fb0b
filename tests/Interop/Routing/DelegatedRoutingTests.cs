using System.Text.Json.Nodes;
using Bitswap.Domain.Multiformats;
using Bitswap.Routing;
using Bitswap.Tests.Interop.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.Routing;

/// <summary>
/// Our delegated routing client against @helia/delegated-routing-v1-http-api-server 5.2.1 (tests/Interop/peer/routing.mjs,
/// a routing stub that answers what each test sets), on 127.0.0.1 only: never the default public router.
/// </summary>
public sealed class DelegatedRoutingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private HeliaPeer _router = null!;

    private Uri Url => new(_router.ReadyLine["url"]!.GetValue<string>());

    /// <inheritdoc />
    public async Task InitializeAsync() => _router = await HeliaPeer.StartScriptAsync("routing.mjs", null);

    /// <inheritdoc />
    public async Task DisposeAsync() => await _router.DisposeAsync();

    [Fact]
    public async Task Get_without_peer_fetches_a_file_from_the_helia_node_the_router_names()
    {
        await using var helia = await HeliaPeer.StartAsync();
        using var temp = CliRun.Temp();
        var data = new byte[3 * 1024 * 1024 + 17];
        new Random(11).NextBytes(data);
        await File.WriteAllBytesAsync(temp["in.bin"], data);
        var root = await helia.ImportAsync(temp["in.bin"], "unixfs-v1-2025", chunkSize: 256 * 1024);
        await SetProvidersAsync(root, (helia.PeerId, [Bare(helia.Multiaddrs[0])]));

        var result = await CliRun.RunAsync("get", root, "--routing", Url.ToString(), "-o", temp["out.bin"], "--json");
        output.WriteLine($"$ bitswap get {root} --routing {Url} -o out.bin --json");
        output.WriteLine($"exit {result.ExitCode}\n{result.Stdout}{result.Stderr}");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(data, await File.ReadAllBytesAsync(temp["out.bin"]));
        Assert.Contains(await RequestsAsync(), r => r.StartsWith($"/routing/v1/providers/{Cid.ParseOrThrow(root).ToV1()}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_provider_record_without_addresses_is_resolved_through_peers_and_fetched_from()
    {
        await using var helia = await HeliaPeer.StartAsync();
        var data = "found through /routing/v1/peers"u8.ToArray();
        var cid = await helia.PutAsync(data);
        await SetProvidersAsync(cid, (helia.PeerId, []));
        await _router.CallAsync("peer", new JsonObject { ["peerId"] = helia.PeerId, ["addrs"] = new JsonArray(Bare(helia.Multiaddrs[0])) });
        using var temp = CliRun.Temp();

        var result = await CliRun.RunAsync("get", cid, "--routing", Url.ToString(), "--out", temp.Path, "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(temp[cid]));
        var peerCid = PeerId.ParseOrThrow(helia.PeerId).ToCidString();
        Assert.Contains(await RequestsAsync(), r => r.StartsWith($"/routing/v1/peers/{peerCid}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_carry_the_IPIP_484_filters_and_ask_for_NDJSON_first()
    {
        using var client = Client();
        var cid = Cid.Compute("filters"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));

        Assert.Empty(await client.FindProvidersAsync(cid));

        var request = (await RequestsAsync()).Single(r => r.Contains(cid.ToString(), StringComparison.Ordinal));
        Assert.Contains("filter-protocols=transport-bitswap%2Ctransport-ipfs-gateway-http%2Cunknown", request, StringComparison.Ordinal);
        Assert.Contains("filter-addrs=tcp%2C%21p2p-circuit", request, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_404_answer_means_no_providers_and_get_says_so()
    {
        var cid = Cid.Compute("nobody has this"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        await RawAsync(cid, 404, "text/plain", "not found");
        using var client = Client();

        Assert.Empty(await client.FindProvidersAsync(cid));
        var result = await CliRun.RunAsync("get", cid.ToString(), "--routing", Url.ToString(), "--timeout", "5");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no provider", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_answers_in_JSON_and_NDJSON_mean_no_providers()
    {
        var json = Cid.Compute("empty json"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var ndjson = Cid.Compute("empty ndjson"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var server = Cid.Compute("empty from the server"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        await RawAsync(json, 200, "application/json", """{"Providers":[]}""");
        await RawAsync(ndjson, 200, "application/x-ndjson", "");
        await SetProvidersAsync(server.ToString());
        using var client = Client();

        Assert.Empty(await client.FindProvidersAsync(json));
        Assert.Empty(await client.FindProvidersAsync(ndjson));
        Assert.Empty(await client.FindProvidersAsync(server));
    }

    [Fact]
    public async Task NDJSON_is_read_line_by_line_skipping_malformed_lines_unknown_schemas_and_filtered_records()
    {
        var cid = Cid.Compute("ndjson"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var good = TestPeer(1);
        var legacy = TestPeer(2);
        var body = string.Join('\n',
            $$$"""{"Schema":"peer","ID":"{{{good}}}","Addrs":["/ip4/127.0.0.1/tcp/4001"],"Protocols":["transport-bitswap"],"Extra":{"x":1}}""",
            "{this is not json",
            $$"""{"Schema":"future-schema","ID":"{{TestPeer(3)}}","Addrs":["/ip4/127.0.0.1/tcp/4003"]}""",
            $$"""{"Schema":"peer","ID":"{{TestPeer(4)}}","Addrs":["/ip4/127.0.0.1/tcp/4004"],"Protocols":["transport-graphsync-filecoinv1"]}""",
            $$"""{"Schema":"peer","ID":"{{TestPeer(5)}}","Addrs":["/ip4/127.0.0.1/udp/4005/quic-v1","/ip4/127.0.0.1/tcp/4005/p2p/{{TestPeer(9)}}/p2p-circuit"]}""",
            $$"""{"Schema":"bitswap","Protocol":"transport-bitswap","ID":"{{legacy}}","Addrs":["/ip4/127.0.0.1/tcp/4002"]}""",
            "");
        await RawAsync(cid, 200, "application/x-ndjson", body);
        using var client = Client();

        var records = await client.FindProvidersAsync(cid);

        Assert.Equal([good, legacy], records.Select(r => r.Id.ToString()));
        Assert.Equal(["transport-bitswap"], records[1].Protocols);
    }

    [Fact]
    public async Task A_JSON_answer_is_read_even_when_NDJSON_was_asked_for_and_malformed_JSON_counts_as_none()
    {
        var plain = Cid.Compute("plain json"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var broken = Cid.Compute("broken json"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var html = Cid.Compute("html"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        await RawAsync(plain, 200, "application/json", $$"""{"Providers":[{"Schema":"peer","ID":"{{TestPeer(1)}}","Addrs":["/ip4/127.0.0.1/tcp/4001"]}],"Unknown":true}""");
        await RawAsync(broken, 200, "application/json", """{"Providers":[{"Schema":"peer",""");
        await RawAsync(html, 200, "text/html", "<html></html>");
        using var client = Client();

        Assert.Equal([TestPeer(1)], (await client.FindProvidersAsync(plain)).Select(r => r.Id.ToString()));
        Assert.Empty(await client.FindProvidersAsync(broken));
        Assert.Empty(await client.FindProvidersAsync(html));
    }

    [Fact]
    public async Task Answers_are_cached_briefly_and_capped_at_ten_providers()
    {
        var cid = Cid.Compute("many providers"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        await SetProvidersAsync(cid.ToString(), Enumerable.Range(1, 15).Select(i => (TestPeer(i), new[] { $"/ip4/127.0.0.1/tcp/{4000 + i}" })).ToArray());
        using var client = Client();

        var first = await client.FindProvidersAsync(cid);
        var second = await client.FindProvidersAsync(cid);

        Assert.Equal(10, first.Count);
        Assert.Same(first, second);
        Assert.Single(await RequestsAsync(), r => r.Contains(cid.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_finder_fills_the_address_book_with_TCP_addresses_and_skips_providers_without_one()
    {
        var cid = Cid.Compute("finder"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString()));
        var body = $$$"""
            {"Providers":[
              {"Schema":"peer","ID":"{{{TestPeer(1)}}}","Addrs":["/ip4/127.0.0.1/udp/4001/quic-v1","/ip4/127.0.0.1/tcp/4001","/dns4/example.org/tcp/4001","/ip4/127.0.0.1/tcp/4002/http"]},
              {"Schema":"peer","ID":"{{{TestPeer(2)}}}","Addrs":["/ip4/127.0.0.1/udp/4003/quic-v1/webtransport"]}
            ]}
            """;
        await RawAsync(cid, 200, "application/json", body);
        using var client = Client();
        var added = new List<(PeerId, Transport.Tcp.Addressing.Multiaddr)>();
        var finder = new RoutingProviderFinder(client, (peer, address) => added.Add((peer, address)));

        var found = new List<PeerId>();
        await foreach (var peer in finder.FindProvidersAsync(cid, 10)) found.Add(peer);

        Assert.Equal([PeerId.ParseOrThrow(TestPeer(1))], found);
        Assert.Equal(["/ip4/127.0.0.1/tcp/4001"], added.Select(a => a.Item2.ToString()));
    }

    private DelegatedRoutingClient Client() => new(RoutingOptions.Default with { Endpoints = [Url] });

    [Fact]
    public async Task A_daemon_with_routing_and_a_gateway_answers_findprovs_and_serves_the_gateway()
    {
        using var temp = CliRun.Temp();
        var cid = Cid.Compute("asked of the daemon"u8).Match(c => c, e => throw new InvalidOperationException(e.ToString())).ToString();
        var provider = Bitswap.Transport.Tcp.Identity.Identity.Generate().PeerId.ToString();
        await SetProvidersAsync(cid, (provider, ["/ip4/127.0.0.1/tcp/4001"]));
        await using var daemon = await Bitswap.Tests.Interop.Daemon.DaemonRun.StartAsync(temp["d"], "--routing", Url.ToString(), "--gateway", "/ip4/127.0.0.1/tcp/0");
        using var http = new HttpClient();

        var answer = await http.PostAsync($"{daemon.ApiUrl}/api/v0/routing/findprovs?arg={cid}", null);
        var lines = (await answer.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var gateway = daemon.Announcement["gateway"]!.GetValue<string>().TrimEnd('/');
        var empty = await http.GetAsync($"{gateway}/ipfs/bafkqaaa?format=raw");

        Assert.True(answer.IsSuccessStatusCode);
        var line = Assert.Single(lines);
        var evt = JsonNode.Parse(line)!;
        Assert.Equal(4, evt["Type"]!.GetValue<int>());
        Assert.Equal(provider, evt["Responses"]![0]!["ID"]!.GetValue<string>());
        Assert.Equal(System.Net.HttpStatusCode.OK, empty.StatusCode);
        Assert.Empty(await empty.Content.ReadAsByteArrayAsync());
    }

    private async Task SetProvidersAsync(string cid, params (string Id, string[] Addrs)[] providers)
    {
        var list = new JsonArray();
        foreach (var (id, addrs) in providers) list.Add(new JsonObject { ["id"] = id, ["addrs"] = new JsonArray(addrs.Select(a => (JsonNode)a!).ToArray()) });
        await _router.CallAsync("providers", new JsonObject { ["cid"] = cid, ["providers"] = list });
    }

    private Task RawAsync(Cid cid, int status, string contentType, string body) =>
        _router.CallAsync("raw", new JsonObject { ["cid"] = cid.ToString(), ["status"] = status, ["contentType"] = contentType, ["body"] = body });

    private async Task<IReadOnlyList<string>> RequestsAsync() =>
        (await _router.CallAsync("requests"))["requests"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();

    private static string Bare(string multiaddr) => multiaddr[..multiaddr.IndexOf("/p2p/", StringComparison.Ordinal)];

    // Deterministic Ed25519-shaped peer IDs (identity multihash of a key protobuf with a fixed 32-byte key).
    private static string TestPeer(int n)
    {
        var key = new byte[32];
        key[0] = (byte)n;
        var protobuf = Transport.Tcp.Identity.Identity.Ed25519PublicKeyProtobuf(key);
        return Transport.Tcp.Identity.Identity.PeerIdFromPublicKey(protobuf).Match(p => p.ToString(), e => throw new InvalidOperationException(e.ToString()));
    }
}
