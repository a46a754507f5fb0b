using System.Text.Json.Nodes;
using Bitswap.Cli;
using Bitswap.Tests.Interop.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.Daemon;

/// <summary>
/// <c>bitswap daemon</c> end to end on 127.0.0.1: kubo-rpc-client (npm) drives two daemons as a Kubo user's program
/// would, and the CLI talks to running daemons.
/// </summary>
public sealed class DaemonTests(ITestOutputHelper log)
{
    private const string Missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

    [Fact]
    public async Task Kubo_rpc_client_drives_two_daemons_that_exchange_a_file()
    {
        using var temp = CliRun.Temp();
        // A accepts bodies of at most 4 MiB, so the session can show the oversized-body answer.
        await using var a = await DaemonRun.StartAsync(temp["a"], "--api-max-body", "4194304");
        await using var b = await DaemonRun.StartAsync(temp["b"]);

        var session = JsonNode.Parse(await DaemonRun.RunClientAsync(a.ApiUrl, b.ApiUrl, a.SwarmAddress))!.AsObject();
        foreach (var line in session["log"]!.AsArray())
        {
            log.WriteLine(line!.GetValue<string>());
        }

        Assert.Equal(a.PeerId, Text(session, "id"));
        Assert.Equal("0.1.0", Text(session, "version"));
        Assert.StartsWith("Qm", Text(session, "addV0"));
        Assert.True(session["catV0Equal"]!.GetValue<bool>());
        Assert.StartsWith("bafybei", Text(session, "addV1"));
        Assert.True(session["catV1Equal"]!.GetValue<bool>());
        Assert.True(session["progressCalls"]!.GetValue<int>() >= 1);
        Assert.Equal("hello\n", Text(session, "catWrapped"));
        Assert.Equal("hello.txt:file:6", session["ls"]![0]!.GetValue<string>());
        Assert.Equal("h1 { color: red }\n", Text(session, "treeCss"));
        Directory.CreateDirectory(temp["site/css"]);
        Directory.CreateDirectory(temp["site/empty"]);
        await File.WriteAllTextAsync(temp["site/index.html"], "<h1>hello</h1>\n");
        await File.WriteAllTextAsync(temp["site/css/main.css"], "h1 { color: red }\n");
        var offline = await CliRun.RunAsync("add", "-r", temp["site"], "--repo", temp["offline/blocks"]);
        Assert.Equal(Text(session, "treeRoot"), Assert.Single(offline.Lines));
        Assert.True(session["blockGetEqual"]!.GetValue<bool>());
        Assert.Equal(5000, session["blockStat"]!.GetValue<int>());
        Assert.Null(session["blockRm"]![0]!["error"]);
        Assert.Equal("context deadline exceeded", Text(session, "statAfterRm"));
        Assert.Equal(Text(session, "addV0"), session["dagImportRoots"]![0]!.GetValue<string>());
        Assert.True(session["bHasAfterImport"]!.GetValue<int>() > 0);
        Assert.Equal("<h1>hello</h1>\n", Text(session, "treeIndexAtB"));
        Assert.Equal($"connect {a.PeerId} success", session["connect"]![0]!.GetValue<string>());
        Assert.True(session["exchangeEqual"]!.GetValue<bool>());
        Assert.Contains($"{a.SwarmAddress}", session["peersOfB"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(b.PeerId, session["peersOfA"]![0]!.GetValue<string>());
        Assert.True(session["statB"]!["blocksReceived"]!.GetValue<long>() > 0);
        Assert.True(session["ledgerA"]!["Sent"]!.GetValue<long>() >= 3_000_000);
        Assert.Equal(b.PeerId, session["ledgerA"]!["Peer"]!.GetValue<string>());
        Assert.Contains(Missing, session["wantlistB"]!.AsArray().Select(c => c!.GetValue<string>()));
        Assert.Contains(Missing, session["wantlistOfBAtA"]!.AsArray().Select(c => c!.GetValue<string>()));
        Assert.Equal("AbortError", Text(session, "pendingEnded"));
        Assert.Equal(0, session["findProvs"]!.GetValue<int>());
        Assert.True(session["bw"]!["totalIn"]!.GetValue<long>() > 0);
        Assert.True(session["repo"]!["numObjects"]!.GetValue<long>() > 0);

        var bad = session["bad"]!;
        Assert.Equal(405, bad["get"]!.GetValue<int>());
        foreach (var (name, status) in new[] { ("origin", 403), ("unknown", 404), ("cid", 500), ("multipart", 400), ("oversized", 413) })
        {
            Assert.True(status == bad[name]!["status"]!.GetValue<int>(), $"{name}: {bad[name]}");
            var error = bad[name]!["json"]!;
            Assert.Equal("error", error["Type"]!.GetValue<string>());
            Assert.False(string.IsNullOrEmpty(error["Message"]!.GetValue<string>()));
            _ = error["Code"]!.GetValue<int>();
        }

        Assert.True(session["stillServing"]!.GetValue<bool>());
        Assert.Equal("context deadline exceeded", Text(session, "clientError"));

        // Prometheus text on Kubo's path, with boxo's instrument names and this node's peer label.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"{a.ApiUrl}/debug/metrics/prometheus");
        Assert.Contains("ipfs_bitswap_sent_all_blocks_bytes_bucket", metrics);
        Assert.Contains($"ipfs_bitswap_wantlist_total{{otel_scope_name=\"Bitswap\",peer=\"{a.PeerId}\"}}", metrics);
        Assert.Contains("ipfs_bitswap_blocks_sent_total", metrics);

        Assert.Equal(0, await b.StopAsync());
        Assert.Equal(0, await a.StopAsync());
        Assert.False(File.Exists(temp["a/api"]), "the api file outlives the daemon");
    }

    [Fact]
    public async Task The_cli_talks_to_running_daemons()
    {
        using var temp = CliRun.Temp();
        await using var a = await DaemonRun.StartAsync(temp["a"]);
        await using var b = await DaemonRun.StartAsync(temp["b"]);
        Assert.Equal(a.Announcement["api"]!.GetValue<string>(), (await File.ReadAllTextAsync(temp["a/api"])).Trim());

        // add goes through A (its api file sits next to the repo) and gives the offline CID.
        var content = new byte[2_500_000];
        new Random(7).NextBytes(content);
        await File.WriteAllBytesAsync(temp["file.bin"], content);
        var offline = await CliRun.RunAsync("add", temp["file.bin"], "--repo", temp["offline/blocks"]);
        var added = await CliRun.RunAsync("add", temp["file.bin"], "--repo", a.Repo);
        Assert.True(added.ExitCode == 0, added.Stderr);
        Assert.Equal(Assert.Single(offline.Lines), Assert.Single(added.Lines));
        var root = added.Lines[0];

        // add -r through A: the tree goes up as one multipart body and comes back with the offline root CID.
        Directory.CreateDirectory(temp["docs/sub"]);
        Directory.CreateDirectory(temp["docs/empty"]);
        await File.WriteAllTextAsync(temp["docs/a.txt"], "a\n");
        await File.WriteAllTextAsync(temp["docs/sub/b.txt"], "b\n");
        var treeOffline = await CliRun.RunAsync("add", "-r", temp["docs"], "--profile", "unixfs-v0-2015", "--repo", temp["offline/blocks"]);
        var treeRemote = await CliRun.RunAsync("add", "-r", temp["docs"], "--profile", "unixfs-v0-2015", "--repo", a.Repo);
        Assert.True(treeRemote.ExitCode == 0, treeRemote.Stderr);
        Assert.Equal(Assert.Single(treeOffline.Lines), Assert.Single(treeRemote.Lines));
        Assert.StartsWith("Qm", treeRemote.Lines[0]);

        var connected = await CliRun.RunAsync("swarm", "connect", a.SwarmAddress, "--repo", b.Repo);
        Assert.True(connected.ExitCode == 0, connected.Stderr);
        Assert.Equal($"connect {a.PeerId} success", Assert.Single(connected.Lines));

        // get through B: B fetches from A over Bitswap.
        var got = await CliRun.RunAsync("get", root, "--repo", b.Repo, "-o", temp["out.bin"]);
        Assert.True(got.ExitCode == 0, got.Stderr);
        Assert.Equal(content, await File.ReadAllBytesAsync(temp["out.bin"]));
        await File.WriteAllTextAsync(temp["hello.txt"], "hello daemon\n");
        var hello = Assert.Single((await CliRun.RunAsync("add", temp["hello.txt"], "--repo", a.Repo)).Lines);
        var cat = await CliRun.RunAsync("cat", hello, "--repo", b.Repo);
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal("hello daemon\n", cat.Stdout);

        var peers = await CliRun.RunAsync("swarm", "peers", "--repo", b.Repo);
        Assert.Equal($"{a.SwarmAddress}", Assert.Single(peers.Lines));

        var ledger = await CliRun.RunAsync("ledger", b.PeerId, "--repo", a.Repo);
        Assert.True(ledger.ExitCode == 0, ledger.Stderr);
        Assert.Equal($"Ledger for {b.PeerId}", ledger.Lines[0]);
        Assert.Contains(ledger.Lines, l => l.StartsWith("Bytes sent:", StringComparison.Ordinal) && long.Parse(l.Split('\t')[1]) >= content.Length);

        // A want that stays pending (nobody has the block) shows in B's wantlist, and in A's view of B.
        using var http = new HttpClient();
        using var cancel = new CancellationTokenSource();
        var pending = http.PostAsync($"{b.ApiUrl}/api/v0/block/get?arg={Missing}", null, cancel.Token);
        var wantlist = await Eventually(() => CliRun.RunAsync("wantlist", "--repo", b.Repo), r => r.Lines.Contains(Missing));
        Assert.Equal(Missing, Assert.Single(wantlist.Lines));
        var theirs = await Eventually(() => CliRun.RunAsync("wantlist", "--peer", b.PeerId, "--repo", a.Repo), r => r.Lines.Contains(Missing));
        Assert.Contains(Missing, theirs.Lines);

        var stat = await CliRun.RunAsync("stat", "--repo", b.Repo);
        log.WriteLine(stat.Stdout);
        Assert.Equal("bitswap status", stat.Lines[0]);
        Assert.Contains("wantlist [1 keys]", stat.Lines);
        Assert.Contains(Missing, stat.Lines);
        Assert.Contains(a.PeerId, stat.Lines);
        Assert.True(long.Parse(stat.Lines.Single(l => l.StartsWith("blocks received:", StringComparison.Ordinal)).Split(": ")[1]) >= 3);
        var json = (await CliRun.RunAsync("stat", "--repo", b.Repo, "--json")).LastJson;
        Assert.True(json["DataReceived"]!.GetValue<long>() >= content.Length);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);

        Assert.Equal(0, await b.StopAsync());
        Assert.False(File.Exists(temp["b/api"]));
        var noDaemon = await CliRun.RunAsync("stat", "--repo", b.Repo);
        Assert.Equal(CliError.ExitCode, noDaemon.ExitCode);
        Assert.Contains("no running daemon", noDaemon.Stderr);
    }

    private static string Text(JsonObject session, string name) => session[name]!.GetValue<string>();

    private static async Task<CliResult> Eventually(Func<Task<CliResult>> run, Func<CliResult, bool> done)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = await run();
            if (done(result) || attempt == 50)
            {
                return result;
            }

            await Task.Delay(100);
        }
    }
}
