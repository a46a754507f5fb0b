using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Tests.Interop.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.Gateway;

/// <summary>
/// <c>bitswap serve --gateway</c>, read by a client nobody here wrote (Helia's trustless-gateway block broker,
/// @helia/trustless-gateway-client 1.0.6, in tests/Interop/peer/gateway-client.mjs) and checked header by header
/// against ipfs/specs src/http-gateways/trustless-gateway.md with HttpClient.
/// </summary>
public sealed class GatewayTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempFolder _temp = CliRun.Temp();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private CliServer _server = null!;
    private byte[] _file = [];

    private Uri Gateway => new(_server.Announcement["gateway"]!.GetValue<string>());

    private string Root => _server.Announcement["roots"]![0]!.GetValue<string>();

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _file = new byte[2_500_000];
        new Random(7).NextBytes(_file);
        await File.WriteAllBytesAsync(_temp["file.bin"], _file);
        _server = await CliServer.StartAsync(
            _temp["file.bin"], "--repo", _temp["repo"], "--key", _temp["server.key"], "--profile", "unixfs-v0-2015", "--gateway", "/ip4/127.0.0.1/tcp/0");
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _http.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public async Task Helias_trustless_gateway_broker_reads_a_file_from_our_gateway()
    {
        await using var client = await HeliaPeer.StartScriptAsync("gateway-client.mjs", null);

        var answer = await client.CallAsync("cat", new JsonObject { ["cid"] = Root, ["gateway"] = Gateway.ToString() }, TimeSpan.FromSeconds(90));
        output.WriteLine($"gateway {Gateway} root {Root}: Helia read {answer.ToJsonString()}");

        Assert.Equal(_file.Length, answer["size"]!.GetValue<int>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_file)), answer["sha256"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_raw_block_comes_with_the_trustless_headers_and_hashes_to_its_CID()
    {
        using var response = await _http.GetAsync(new Uri(Gateway, $"ipfs/{Root}?format=raw"));
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.ipld.raw", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal($"\"{Root}.raw\"", response.Headers.ETag!.Tag);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal($"{Root}.bin", response.Content.Headers.ContentDisposition.FileName!.Trim('"'));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.True(Block.Verified(Cid.ParseOrThrow(Root), body).IsRight);
    }

    [Fact]
    public async Task Accept_headers_choose_the_format_and_HEAD_sends_headers_only()
    {
        using var head = new HttpRequestMessage(HttpMethod.Head, new Uri(Gateway, $"ipfs/{Root}"));
        head.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.ipld.raw"));
        using var response = await _http.SendAsync(head);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.ipld.raw", response.Content.Headers.ContentType!.MediaType);
        Assert.True(response.Content.Headers.ContentLength > 0);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task The_empty_identity_CID_is_200_with_an_empty_body()
    {
        using var response = await _http.GetAsync(new Uri(Gateway, "ipfs/bafkqaaa?format=raw"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_block_we_lack_is_404_and_a_request_without_a_format_is_406()
    {
        var missing = Block.Raw("nobody stored this"u8.ToArray()).Cid;
        using var notFound = await _http.GetAsync(new Uri(Gateway, $"ipfs/{missing}?format=raw"));
        using var noFormat = await _http.GetAsync(new Uri(Gateway, $"ipfs/{Root}"));
        using var badCid = await _http.GetAsync(new Uri(Gateway, "ipfs/not-a-cid?format=raw"));

        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal(HttpStatusCode.NotAcceptable, noFormat.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badCid.StatusCode);
    }

    [Theory]
    [InlineData("all")]
    [InlineData("entity")]
    [InlineData("block")]
    public async Task A_CAR_holds_the_root_and_the_blocks_of_its_dag_scope_each_once(string scope)
    {
        using var response = await _http.GetAsync(new Uri(Gateway, $"ipfs/{Root}?format=car&dag-scope={scope}"));
        var body = await response.Content.ReadAsByteArrayAsync();
        var (roots, blocks) = await CarReader.ReadAllAsync(new MemoryStream(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.ipld.car", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(response.Content.Headers.ContentType.Parameters, p => p.Name == "version" && p.Value == "1");
        Assert.Equal($"{Root}.car", response.Content.Headers.ContentDisposition!.FileName!.Trim('"'));
        Assert.Equal(new[] { Root }, roots.Select(r => r.ToString()).ToArray());
        Assert.Equal(Root, blocks[0].Cid.ToString());
        var expected = scope == "block" ? 1 : _server.Announcement["cids"]!.AsArray().Count;
        Assert.Equal(expected, blocks.Count);
        Assert.Equal(blocks.Count, blocks.Select(b => b.Cid).Distinct().Count());
        if (scope != "block")
        {
            await using var exported = new MemoryStream();
            await UnixFsExporter.ExportAsync(Cid.ParseOrThrow(Root), (cid, _) => ValueTask.FromResult(blocks.Single(b => b.Cid == cid)), exported);
            Assert.Equal(_file, exported.ToArray());
        }
    }

    [Fact]
    public async Task A_matching_If_None_Match_is_304_and_a_bad_dag_scope_is_400()
    {
        using var conditional = new HttpRequestMessage(HttpMethod.Get, new Uri(Gateway, $"ipfs/{Root}?format=raw"));
        conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{Root}.raw\""));
        using var notModified = await _http.SendAsync(conditional);
        using var badScope = await _http.GetAsync(new Uri(Gateway, $"ipfs/{Root}?format=car&dag-scope=everything"));

        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badScope.StatusCode);
    }
}
