using System.Text.Json.Nodes;
using Bitswap.Cli;
using Bitswap.Tests.Interop.Cli;
using Xunit;

namespace Bitswap.Tests.Interop.Daemon;

/// <summary><c>bitswap add -r</c> gives Helia's root CID for a folder tree, and the daemon resolves paths through it.</summary>
public sealed class DirectoryTests(Cli.HeliaFixture helia) : IClassFixture<Cli.HeliaFixture>
{
    /// <summary>1,000 small files in ten folders, two large files, an empty folder, a nested folder and a hidden file.</summary>
    private static void WriteTree(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "empty"));
        Directory.CreateDirectory(Path.Combine(root, "d0", "deep"));
        File.WriteAllText(Path.Combine(root, "d0", "deep", "x.txt"), "deep\n");
        File.WriteAllText(Path.Combine(root, ".hidden"), "skipped\n");
        var random = new Random(12);
        for (var d = 0; d < 10; d++)
        {
            var folder = Path.Combine(root, $"d{d}");
            Directory.CreateDirectory(folder);
            for (var f = 0; f < 100; f++)
            {
                File.WriteAllText(Path.Combine(folder, $"f{f:D3}.txt"), $"file {d}/{f} " + new string('x', random.Next(1, 300)) + "\n");
            }
        }

        foreach (var (name, size) in new[] { ("big1.bin", 1_300_000), ("big2.bin", 3_000_000) })
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(root, name), bytes);
        }
    }

    [Fact]
    public async Task A_tree_added_by_helia_is_fetched_by_an_empty_daemon_and_rebuilt_byte_for_byte()
    {
        using var temp = CliRun.Temp();
        var tree = temp["tree"];
        WriteTree(tree);
        // And a folder past the shard threshold, so Helia's HAMT is walked too (1,000 entries with 240-byte names).
        var sharded = Directory.CreateDirectory(Path.Combine(tree, "sharded")).FullName;
        for (var i = 0; i < 1000; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(sharded, $"entry-{i:D5}-".PadRight(240, 'n')), $"entry {i}\n");
        }

        var theirs = await helia.Peer.CallAsync("importDir", new JsonObject { ["path"] = tree, ["profile"] = "unixfs-v1-2025" }, TimeSpan.FromSeconds(60));
        var root = theirs["cid"]!.GetValue<string>();
        await using var daemon = await DaemonRun.StartAsync(temp["empty-daemon"]);

        var connect = await CliRun.RunAsync("swarm", "connect", helia.Peer.Multiaddrs[0], "--repo", daemon.Repo);
        var got = await CliRun.RunAsync("get", root, "--repo", daemon.Repo, "-o", temp["out"]);

        Assert.True(connect.ExitCode == 0, connect.Stderr);
        Assert.True(got.ExitCode == 0, got.Stderr);
        var files = Directory.EnumerateFiles(tree, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).ToList();
        Assert.Equal(2_003, files.Count);
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(tree, file);
            Assert.Equal(await File.ReadAllBytesAsync(file), await File.ReadAllBytesAsync(Path.Combine(temp["out"], relative)));
        }

        Assert.True(Directory.Exists(Path.Combine(temp["out"], "empty")));
    }

    [Fact]
    public async Task Add_r_gives_helias_root_cid_for_both_profiles_and_the_daemon_resolves_paths_in_it()
    {
        using var temp = CliRun.Temp();
        var tree = temp["tree"];
        WriteTree(tree);

        var root = "";
        foreach (var profile in new[] { "unixfs-v0-2015", "unixfs-v1-2025" })
        {
            var ours = await CliRun.RunAsync("add", "-r", tree, "--profile", profile, "--repo", temp[$"{profile}/blocks"]);
            Assert.True(ours.ExitCode == 0, ours.Stderr);
            var theirs = await helia.Peer.CallAsync("importDir", new JsonObject { ["path"] = tree, ["profile"] = profile }, TimeSpan.FromSeconds(60));
            root = Assert.Single(ours.Lines);
            Assert.Equal(theirs["cid"]!.GetValue<string>(), root);
        }

        var notRecursive = await CliRun.RunAsync("add", tree, "--repo", temp["x/blocks"]);
        Assert.Contains("use -r", notRecursive.Stderr);

        // A daemon on the v1 repo serves the tree: cat through folders, ls of a folder, get of the whole tree as tar.
        await using var daemon = await DaemonRun.StartAsync(temp["unixfs-v1-2025"]);
        var deep = await CliRun.RunAsync("cat", $"/ipfs/{root}/d0/deep/x.txt", "--repo", daemon.Repo);
        Assert.Equal("deep\n", deep.Stdout);
        using var http = new HttpClient();
        var ls = JsonNode.Parse(await (await http.PostAsync($"{daemon.ApiUrl}/api/v0/ls?arg={root}/d3", null)).Content.ReadAsStringAsync())!;
        var links = ls["Objects"]![0]!["Links"]!.AsArray();
        Assert.Equal(100, links.Count);
        Assert.Equal("f000.txt", links[0]!["Name"]!.GetValue<string>());
        Assert.Equal(2, links[0]!["Type"]!.GetValue<int>());
        var missing = JsonNode.Parse(await (await http.PostAsync($"{daemon.ApiUrl}/api/v0/cat?arg={root}/nope", null)).Content.ReadAsStringAsync())!;
        Assert.Equal($"no link named \"nope\" under {root}", missing["Message"]!.GetValue<string>());

        var got = await CliRun.RunAsync("get", root, "--repo", daemon.Repo, "-o", temp["out"]);
        Assert.True(got.ExitCode == 0, got.Stderr);
        foreach (var file in Directory.EnumerateFiles(tree, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')))
        {
            var relative = Path.GetRelativePath(tree, file);
            Assert.Equal(await File.ReadAllBytesAsync(file), await File.ReadAllBytesAsync(Path.Combine(temp["out"], relative)));
        }

        Assert.True(Directory.Exists(Path.Combine(temp["out"], "empty")));
        Assert.False(File.Exists(Path.Combine(temp["out"], ".hidden")));
    }

    [Fact]
    public async Task A_folder_past_the_shard_threshold_becomes_helias_hamt_and_the_daemon_reads_through_it()
    {
        using var temp = CliRun.Temp();
        // 1,000 entries with 240-byte names: past 256 KiB by both profiles' estimates (links-bytes about 274 KB, block-bytes about 286 KB).
        var folder = Directory.CreateDirectory(temp["tree/sharded"]).FullName;
        for (var i = 0; i < 1000; i++)
        {
            var name = $"entry-{i:D5}-".PadRight(240, 'n');
            await File.WriteAllTextAsync(Path.Combine(folder, name), $"entry {i}\n");
        }

        Assert.Equal("cbd8a7b341bd9b02", Convert.ToHexStringLower(Bitswap.Dag.UnixFsHamt.Hash64("hello")));
        var root = "";
        foreach (var profile in new[] { "unixfs-v0-2015", "unixfs-v1-2025" })
        {
            var ours = await CliRun.RunAsync("add", "-r", temp["tree"], "--profile", profile, "--repo", temp[$"{profile}/blocks"]);
            Assert.True(ours.ExitCode == 0, ours.Stderr);
            var theirs = await helia.Peer.CallAsync("importDir", new JsonObject { ["path"] = temp["tree"], ["profile"] = profile }, TimeSpan.FromSeconds(60));
            root = Assert.Single(ours.Lines);
            Assert.Equal(theirs["cid"]!.GetValue<string>(), root);
        }

        await using var daemon = await DaemonRun.StartAsync(temp["unixfs-v1-2025"]);
        var name1234 = "entry-00234-".PadRight(240, 'n');
        var cat = await CliRun.RunAsync("cat", $"{root}/sharded/{name1234}", "--repo", daemon.Repo);
        Assert.Equal("entry 234\n", cat.Stdout);
        using var http = new HttpClient();
        var ls = JsonNode.Parse(await (await http.PostAsync($"{daemon.ApiUrl}/api/v0/ls?arg={root}/sharded", null)).Content.ReadAsStringAsync())!;
        Assert.Equal(1000, ls["Objects"]![0]!["Links"]!.AsArray().Count);
    }
}
