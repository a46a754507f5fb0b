using System.Net;
using System.Text.Json.Nodes;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Routing.HttpNet;
using Bitswap.Tests.Interop.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.HttpNet;

/// <summary>
/// HTTP retrieval beside Bitswap (boxo bitswap/network/httpnet): <c>bitswap get --gateway URL</c> against our own
/// trustless gateway, against gateways that misbehave while a Bitswap peer also has the blocks, and a gateway found
/// through delegated routing. No second gateway implementation is on the npm list here (verified-fetch and the
/// trustless-gateway client are clients), so the second gateway is a deliberately bad one.
/// </summary>
public sealed class HttpRetrievalTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Get_with_only_a_gateway_fetches_a_file_over_HTTP_from_our_gateway()
    {
        using var temp = CliRun.Temp();
        var data = Payload(1_800_000, 3);
        await File.WriteAllBytesAsync(temp["file.bin"], data);
        await using var server = await CliServer.StartAsync(temp["file.bin"], "--repo", temp["repo"], "--key", temp["server.key"], "--gateway", "/ip4/127.0.0.1/tcp/0");
        var root = server.Announcement["roots"]![0]!.GetValue<string>();
        var gateway = server.Announcement["gateway"]!.GetValue<string>();

        var result = await CliRun.RunAsync("get", root, "--gateway", gateway, "-o", temp["out.bin"], "--json");
        output.WriteLine($"$ bitswap get {root} --gateway {gateway} -o out.bin --json\nexit {result.ExitCode}\n{result.Stdout}{result.Stderr}");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(temp["out.bin"]));
    }

    [Theory]
    [InlineData("wrong-block")]
    [InlineData("429")]
    [InlineData("500")]
    public async Task A_misbehaving_gateway_does_not_lose_the_fetch_when_a_bitswap_peer_has_the_blocks(string mode)
    {
        using var temp = CliRun.Temp();
        var data = Payload(1_200_000, 5);
        await File.WriteAllBytesAsync(temp["file.bin"], data);
        await using var peer = await CliServer.StartAsync(temp["file.bin"], "--repo", temp["repo"], "--key", temp["server.key"], "--profile", "unixfs-v0-2015");
        var root = peer.Announcement["roots"]![0]!.GetValue<string>();
        await using var bad = await BadGateway.StartAsync(mode);

        var result = await CliRun.RunAsync("get", root, "--peer", peer.Address, "--gateway", bad.Url.ToString(), "-o", temp["out.bin"], "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(temp["out.bin"]));
        Assert.True(bad.BlockRequests > 0, "the bad gateway was never asked");
        if (mode == "429") Assert.True(bad.BlockRequests <= new HttpNetOptions().RequestsInFlightMax, $"{bad.BlockRequests} requests after a 429 with Retry-After: 60");
    }

    [Fact]
    public async Task A_gateway_announced_through_routing_is_fetched_from_over_HTTP()
    {
        using var temp = CliRun.Temp();
        var data = Payload(700_000, 9);
        await File.WriteAllBytesAsync(temp["file.bin"], data);
        await using var server = await CliServer.StartAsync(temp["file.bin"], "--repo", temp["repo"], "--key", temp["server.key"], "--gateway", "/ip4/127.0.0.1/tcp/0");
        var root = server.Announcement["roots"]![0]!.GetValue<string>();
        var gateway = new Uri(server.Announcement["gateway"]!.GetValue<string>());
        await using var router = await HeliaPeer.StartScriptAsync("routing.mjs", null);
        var url = router.ReadyLine["url"]!.GetValue<string>();
        var body = new JsonObject
        {
            ["Providers"] = new JsonArray(new JsonObject
            {
                ["Schema"] = "peer",
                ["ID"] = server.Announcement["peerId"]!.GetValue<string>(),
                ["Addrs"] = new JsonArray($"/ip4/127.0.0.1/tcp/{gateway.Port}/http"),
                ["Protocols"] = new JsonArray("transport-ipfs-gateway-http"),
            }),
        };
        await router.CallAsync("raw", new JsonObject { ["cid"] = root, ["status"] = 200, ["contentType"] = "application/json", ["body"] = body.ToJsonString() });

        var result = await CliRun.RunAsync("get", root, "--routing", url, "-o", temp["out.bin"], "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(temp["out.bin"]));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/", true)]
    [InlineData("http://localhost:8080/", true)]
    [InlineData("http://192.168.1.2/", true)]
    [InlineData("http://[fd00::1]:8080/", true)]
    [InlineData("https://ipfs.example.org/", true)]
    [InlineData("http://ipfs.example.org/", false)]
    [InlineData("http://8.8.8.8/", false)]
    [InlineData("ftp://127.0.0.1/", false)]
    public void Plain_http_is_allowed_only_to_loopback_or_private_addresses(string url, bool allowed) =>
        Assert.Equal(allowed, GatewayUrls.IsAllowed(new Uri(url)));

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/8080/http", "http://127.0.0.1:8080/")]
    [InlineData("/dns4/gw.example.org/tcp/443/https", "https://gw.example.org/")]
    [InlineData("/dns/gw.example.org/tcp/443/tls/http", "https://gw.example.org/")]
    [InlineData("/ip6/::1/tcp/8080/http", "http://[::1]:8080/")]
    [InlineData("/ip4/127.0.0.1/tcp/4001", null)]
    public void Http_multiaddrs_become_gateway_URLs(string multiaddr, string? url) =>
        Assert.Equal(url, GatewayUrls.FromMultiaddr(multiaddr)?.ToString());

    private static byte[] Payload(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>A gateway that answers the bafkqaaa probe and then misbehaves on every block in one way.</summary>
    private sealed class BadGateway : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _blockRequests;

        private BadGateway(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        public int BlockRequests => Volatile.Read(ref _blockRequests);

        public static async Task<BadGateway> StartAsync(string mode)
        {
            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.Services.AddRoutingCore();
            builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var gateway = new BadGateway(app);
            app.MapMethods("/ipfs/{cid}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string cid) =>
            {
                if (cid == "bafkqaaa") return Task.CompletedTask;
                Interlocked.Increment(ref gateway._blockRequests);
                switch (mode)
                {
                    case "429":
                        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                        context.Response.Headers.RetryAfter = "60";
                        return Task.CompletedTask;
                    case "500":
                        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                        return Task.CompletedTask;
                    default:
                        context.Response.ContentType = "application/vnd.ipld.raw";
                        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.Body.WriteAsync("not the block you asked for"u8.ToArray()).AsTask();
                }
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            gateway.Url = new Uri(address.TrimEnd('/') + "/");
            return gateway;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
