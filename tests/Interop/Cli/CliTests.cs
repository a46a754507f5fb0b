using System.Text.Json.Nodes;
using Bitswap.Cli;
using Bitswap.Domain;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;
using Xunit;

namespace Bitswap.Tests.Interop.Cli;

/// <summary>The <c>bitswap</c> commands end to end: real TCP on 127.0.0.1, real flatfs repos in temporary folders.</summary>
public sealed class CliTests
{
    private static byte[] Content(int length, ulong seed)
    {
        var bytes = new byte[length];
        using var stream = new PseudoRandomStream(length, seed);
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.NotEqual(0, result.ExitCode);
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("bitswap: ", line);
        Assert.Contains(expected, line);
    }

    [Theory]
    [InlineData("unixfs-v1-2025", 5)]
    [InlineData("unixfs-v0-2015", 14)]
    public async Task Add_then_serve_then_get_over_tcp_gives_a_byte_identical_file(string profile, int blocks)
    {
        using var temp = CliRun.Temp();
        var original = Content(3 * 1024 * 1024 + 17, seed: 1);
        await File.WriteAllBytesAsync(temp["file.bin"], original);
        var added = await CliRun.RunAsync("add", temp["file.bin"], "--repo", temp["added"], "--profile", profile);
        Assert.Equal(0, added.ExitCode);
        var root = Assert.Single(added.Lines);

        await using var server = await CliServer.StartAsync(temp["file.bin"], "--repo", temp["served"], "--key", temp["server.key"], "--profile", profile);
        Assert.Equal(root, server.Announcement["roots"]![0]!.GetValue<string>());
        Assert.Equal(blocks, server.Announcement["cids"]!.AsArray().Count);

        var got = await CliRun.RunAsync("get", root, "--peer", server.Address, "-o", temp["out.bin"], "--timeout", "30");

        Assert.True(got.ExitCode == 0, got.Stderr);
        Assert.Equal(original, await File.ReadAllBytesAsync(temp["out.bin"]));
        var summary = got.LastJson;
        Assert.Equal(blocks, summary["blocks"]!.GetValue<int>());
        Assert.True(summary["bytes"]!.GetValue<long>() > original.Length);
        Assert.True(summary.ContainsKey("ms") && summary.ContainsKey("MBps"));
        Assert.True(summary["dialMs"]!.GetValue<double>() <= summary["firstBlockMs"]!.GetValue<double>());
        Assert.True(summary["firstBlockMs"]!.GetValue<double>() <= summary["ms"]!.GetValue<long>() + 1);
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task A_scratch_folder_left_by_a_killed_command_is_removed_by_the_next_one()
    {
        using var temp = CliRun.Temp();
        var root = temp["tmp"];
        using var gone = System.Diagnostics.Process.Start("true")!;
        await gone.WaitForExitAsync();
        var stale = Directory.CreateDirectory(Path.Combine(root, $"get-{gone.Id}-0123456789abcdef"));
        await File.WriteAllBytesAsync(Path.Combine(stale.FullName, "leftover"), new byte[4096]);
        var live = Directory.CreateDirectory(Path.Combine(root, $"get-{Environment.ProcessId}-fedcba9876543210"));

        var fresh = BitswapHome.NewScratch("get", root);

        Assert.False(stale.Exists || Directory.Exists(stale.FullName), "the dead command's folder is gone");
        Assert.True(Directory.Exists(live.FullName), "a running command's folder stays");
        Assert.StartsWith($"get-{Environment.ProcessId}-", fresh.Name);
    }

    [Fact]
    public async Task Get_places_a_chunk_that_repeats_in_the_file_at_every_offset_it_covers()
    {
        // Zeros, then random bytes, then zeros again: with 64 KiB chunks the zero chunk is one CID under many links,
        // and several of its places are only learnt after it arrived.
        using var temp = CliRun.Temp();
        var original = new byte[1024 * 1024 + 70_000];
        Content(300_000, seed: 9).CopyTo(original, 400_000);
        await File.WriteAllBytesAsync(temp["zeros.bin"], original);
        var added = await CliRun.RunAsync("add", temp["zeros.bin"], "--repo", temp["served"], "--chunk-size", "65536", "--max-links", "4");
        Assert.Equal(0, added.ExitCode);
        var root = Assert.Single(added.Lines);
        await using var server = await CliServer.StartAsync("--repo", temp["served"], "--key", temp["server.key"]);

        var got = await CliRun.RunAsync("get", root, "--peer", server.Address, "-o", temp["out.bin"], "--timeout", "30");

        Assert.True(got.ExitCode == 0, got.Stderr);
        Assert.Equal(original, await File.ReadAllBytesAsync(temp["out.bin"]));
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task Get_without_a_file_writes_the_file_to_stdout_and_the_summary_to_stderr()
    {
        using var temp = CliRun.Temp();
        await File.WriteAllTextAsync(temp["hello.txt"], "hello from bitswap\n");
        await using var server = await CliServer.StartAsync(temp["hello.txt"], "--repo", temp["repo"], "--key", temp["server.key"]);
        var root = server.Announcement["roots"]![0]!.GetValue<string>();

        var got = await CliRun.RunAsync("get", root, "--peer", server.Address);

        Assert.True(got.ExitCode == 0, got.Stderr);
        Assert.Equal("hello from bitswap\n", got.Stdout);
        Assert.Equal(1, JsonNode.Parse(Assert.Single(got.ErrorLines))!["blocks"]!.GetValue<int>());
    }

    [Fact]
    public async Task Get_out_fetches_exactly_the_raw_blocks_that_serve_blocks_announces()
    {
        using var temp = CliRun.Temp();
        Directory.CreateDirectory(temp["blocks"]);
        var contents = new[] { Content(1000, 2), Content(300_000, 3), Content(5, 4) };
        for (var i = 0; i < contents.Length; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(temp["blocks"], $"b{i}"), contents[i]);
        }

        await using var server = await CliServer.StartAsync("--blocks", temp["blocks"], "--key", temp["server.key"]);
        var cids = server.Announcement["cids"]!.AsArray().Select(c => c!.GetValue<string>()).ToArray();
        Assert.Equal(contents.Select(c => Block.Raw(c).Cid.ToString()), cids);

        var got = await CliRun.RunAsync(["get", .. cids, "--peer", server.Address, "--out", temp["out"]]);

        Assert.True(got.ExitCode == 0, got.Stderr);
        Assert.Equal(3, got.LastJson["blocks"]!.GetValue<int>());
        for (var i = 0; i < contents.Length; i++)
        {
            Assert.Equal(contents[i], await File.ReadAllBytesAsync(Path.Combine(temp["out"], cids[i])));
        }

        Assert.Equal(3, Directory.GetFiles(temp["out"]).Length);
    }

    [Fact]
    public async Task Car_export_then_import_round_trips_the_dag_and_prints_its_root()
    {
        using var temp = CliRun.Temp();
        await File.WriteAllBytesAsync(temp["file.bin"], Content(600_000, 5));
        var root = Assert.Single((await CliRun.RunAsync("add", temp["file.bin"], "--repo", temp["a"], "--profile", "unixfs-v0-2015")).Lines);

        var exported = await CliRun.RunAsync("car", "export", root, "--repo", temp["a"], "-o", temp["a.car"]);
        Assert.True(exported.ExitCode == 0, exported.Stderr);
        var imported = await CliRun.RunAsync("car", "import", temp["a.car"], "--repo", temp["b"]);
        Assert.True(imported.ExitCode == 0, imported.Stderr);
        Assert.Equal(root, Assert.Single(imported.Lines));
        var again = await CliRun.RunAsync("car", "export", root, "--repo", temp["b"], "-o", temp["b.car"]);

        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(await File.ReadAllBytesAsync(temp["a.car"]), await File.ReadAllBytesAsync(temp["b.car"]));
    }

    [Theory]
    [InlineData("flipped block byte")]
    [InlineData("truncated section")]
    [InlineData("garbage header")]
    public async Task A_corrupt_car_gives_one_line_and_a_nonzero_exit(string corruption)
    {
        using var temp = CliRun.Temp();
        await File.WriteAllBytesAsync(temp["file.bin"], Content(300_000, 6));
        var root = Assert.Single((await CliRun.RunAsync("add", temp["file.bin"], "--repo", temp["a"])).Lines);
        Assert.Equal(0, (await CliRun.RunAsync("car", "export", root, "--repo", temp["a"], "-o", temp["good.car"])).ExitCode);
        var bytes = await File.ReadAllBytesAsync(temp["good.car"]);
        var bad = corruption switch
        {
            "flipped block byte" => Flip(bytes, bytes.Length - 100),
            "truncated section" => bytes[..(bytes.Length - 1000)],
            _ => [0x0a, .. "not a car header"u8.ToArray()],
        };
        await File.WriteAllBytesAsync(temp["bad.car"], bad);

        var result = await CliRun.RunAsync("car", "import", temp["bad.car"], "--repo", temp["b"]);

        AssertOneLineError(result, "CAR");
        Assert.Empty(result.Stdout);
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] ^= 0xff;
        return copy;
    }

    [Theory]
    [InlineData("notacid")]
    [InlineData("bafy")]
    [InlineData("QmTooShort")]
    public async Task A_bad_cid_gives_one_line_naming_it(string text)
    {
        var peer = PeerIdentity.Generate().PeerId;

        var result = await CliRun.RunAsync("get", text, "--peer", $"/ip4/127.0.0.1/tcp/9/p2p/{peer}");

        AssertOneLineError(result, $"invalid CID '{text}'");
    }

    [Fact]
    public async Task An_unreachable_peer_gives_one_line_naming_its_address()
    {
        var peer = PeerIdentity.Generate().PeerId;
        var closedPort = ClosedPort();
        var address = $"/ip4/127.0.0.1/tcp/{closedPort}/p2p/{peer}";

        var result = await CliRun.RunAsync("get", Block.Raw("x"u8.ToArray()).Cid.ToString(), "--peer", address, "--timeout", "10");

        AssertOneLineError(result, $"cannot reach {address}");
    }

    [Fact]
    public async Task A_peer_address_without_a_peer_id_gives_one_line()
    {
        var result = await CliRun.RunAsync("get", Block.Raw("x"u8.ToArray()).Cid.ToString(), "--peer", "/ip4/127.0.0.1/tcp/4001");

        AssertOneLineError(result, "does not name a peer");
    }

    [Fact]
    public async Task A_missing_required_option_gives_one_usage_line_and_exit_code_2()
    {
        var result = await CliRun.RunAsync("car", "export", Block.Raw("x"u8.ToArray()).Cid.ToString(), "--repo", "/nonexistent/repo");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'-o' is required", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Get_with_routing_off_and_no_peer_says_to_give_a_peer()
    {
        var result = await CliRun.RunAsync("get", Block.Raw("x"u8.ToArray()).Cid.ToString(), "--routing", "none");

        AssertOneLineError(result, "give --peer");
    }

    [Fact]
    public async Task The_bitswap_process_replays_a_log_exactly_as_the_library_does()
    {
        // The bitswap process starts LanguageExt without its type-class scan (Program.SkipTypeClassScan); the reducers
        // must decide exactly as they do with it, so a replayed trace is byte-identical in a child process.
        using var temp = CliRun.Temp();
        var original = Content(700_000, seed: 5);
        await File.WriteAllBytesAsync(temp["file.bin"], original);
        var added = await CliRun.RunAsync("add", temp["file.bin"], "--repo", temp["served"], "--chunk-size", "16384", "--max-links", "8");
        var root = Assert.Single(added.Lines);
        await using var server = await CliServer.StartAsync("--repo", temp["served"], "--key", temp["server.key"]);
        var got = await CliRun.RunAsync("get", root, "--peer", server.Address, "-o", temp["out.bin"], "--record", temp["get.log"]);
        Assert.True(got.ExitCode == 0, got.Stderr);

        var inProcess = await CliRun.RunAsync("replay", temp["get.log"]);
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "bitswap.dll"), "replay", temp["get.log"] }) start.ArgumentList.Add(arg);
        using var child = System.Diagnostics.Process.Start(start)!;
        var childOut = child.StandardOutput.ReadToEndAsync();
        var childErr = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync().WaitAsync(CliRun.Patience);

        Assert.True(child.ExitCode == 0, await childErr);
        Assert.True(inProcess.Lines.Count > 100, $"a trace of {inProcess.Lines.Count} lines is too small to compare");
        Assert.Equal(inProcess.Stdout.Replace("\r\n", "\n"), (await childOut).Replace("\r\n", "\n"));
        Assert.Equal(0, await server.StopAsync());
    }

    [Fact]
    public async Task Replay_of_a_recorded_get_prints_the_trace_with_explain_lines()
    {
        using var temp = CliRun.Temp();
        Directory.CreateDirectory(temp["blocks"]);
        await File.WriteAllBytesAsync(Path.Combine(temp["blocks"], "a"), Content(2000, 7));
        await File.WriteAllBytesAsync(Path.Combine(temp["blocks"], "b"), Content(3000, 8));
        await using var server = await CliServer.StartAsync("--blocks", temp["blocks"], "--key", temp["server.key"]);
        var cids = server.Announcement["cids"]!.AsArray().Select(c => c!.GetValue<string>()).ToArray();
        var got = await CliRun.RunAsync(["get", .. cids, "--peer", server.Address, "--out", temp["out"], "--record", temp["get.log"]]);
        Assert.True(got.ExitCode == 0, got.Stderr);

        var text = await CliRun.RunAsync("replay", temp["get.log"]);
        var json = await CliRun.RunAsync("replay", temp["get.log"], "--json");

        Assert.Equal(0, text.ExitCode);
        Assert.Contains(text.Lines, l => l.Contains("< PeerConnected"));
        Assert.Contains(text.Lines, l => l.Contains("< WantBlocks"));
        Assert.Contains(text.Lines, l => l.Contains("> SendMessage"));
        Assert.Contains(text.Lines, l => l.Contains("> DeliverBlock"));
        Assert.Contains(text.Lines, l => l.Contains("> Explain want-"));
        Assert.Equal(0, json.ExitCode);
        var objects = json.Lines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Contains(objects, o => o["type"]!.GetValue<string>() == "Explain" && o["reason"] is not null && o["cid"] is not null);
        Assert.Equal(text.Lines.Count - 2, objects.Count);
    }

    [Fact]
    public async Task Replay_of_a_file_that_is_not_a_log_gives_one_line()
    {
        using var temp = CliRun.Temp();
        await File.WriteAllBytesAsync(temp["junk.log"], Content(100, 9));

        AssertOneLineError(await CliRun.RunAsync("replay", temp["junk.log"]), "is not a message log");
    }

    [Fact]
    public async Task Demo_fetches_and_verifies_a_generated_file_over_tcp()
    {
        var result = await CliRun.RunAsync("demo", "--size-mib", "4", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var events = result.Lines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var verified = Assert.Single(events, e => e["event"]?.GetValue<string>() == "verified");
        Assert.True(verified["ok"]!.GetValue<bool>());
        Assert.Equal(verified["expected"]!.GetValue<string>(), verified["sha256"]!.GetValue<string>());
        var stats = events.Where(e => e["event"]?.GetValue<string>() == "stat").ToDictionary(e => e["node"]!.GetValue<string>());
        Assert.Equal(stats["provider"]["dataSent"]!.GetValue<long>(), stats["fetcher"]["dataReceived"]!.GetValue<long>());
        Assert.Equal(0, stats["fetcher"]["dupBlksReceived"]!.GetValue<long>());
        Assert.True(events[^1]["ok"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Id_prints_the_peer_id_of_the_key_file_and_keeps_it()
    {
        using var temp = CliRun.Temp();

        var first = await CliRun.RunAsync("id", "--key", temp["k"]);
        var second = await CliRun.RunAsync("id", "--key", temp["k"]);

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.Equal(PeerIdentity.LoadOrCreate(temp["k"]).PeerId.ToString(), Assert.Single(first.Lines));
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
