using Bitswap.Cli;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Recording;
using LanguageExt;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots.Cli;

/// <summary>Golden output of the <c>bitswap</c> commands whose output is deterministic.</summary>
public sealed class CliSnapshotTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = await BitswapCli.RunAsync(args, new Output(stdout, stderr, null, OutIsTerminal: false));
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static PeerId Peer(byte tag) => new(Multihash.FromDigest((ulong)MultihashCode.Sha2_256, Enumerable.Repeat(tag, 32).ToArray()));

    [Fact]
    public async Task Add_of_a_fixed_file_prints_fixed_root_cids_under_every_profile_and_override()
    {
        var folder = Directory.CreateTempSubdirectory("bitswap-cli-snap-");
        try
        {
            var file = Path.Combine(folder.FullName, "fixed.bin");
            await using (var content = new PseudoRandomStream(3 * 1024 * 1024 + 123, seed: 42))
            await using (var target = File.Create(file))
            {
                await content.CopyToAsync(target);
            }

            var lines = new List<string>();
            string[][] variants =
            [
                ["--profile", "unixfs-v1-2025"],
                ["--profile", "unixfs-v0-2015"],
                ["--profile", "unixfs-v0-2015", "--raw-leaves", "true", "--cid-version", "1"],
                ["--profile", "unixfs-v1-2025", "--chunk-size", "262144", "--max-links", "3"],
            ];
            foreach (var variant in variants)
            {
                var (code, stdout, stderr) = await RunAsync(["add", file, "--repo", Path.Combine(folder.FullName, "repo"), .. variant]);
                Assert.True(code == 0, stderr);
                lines.Add($"add fixed.bin {string.Join(' ', variant)} -> {stdout.Trim()}");
            }

            Snapshot.Match(string.Join('\n', lines));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Replay_json_of_a_fixed_log_prints_a_fixed_decision_trace()
    {
        var folder = Directory.CreateTempSubdirectory("bitswap-cli-snap-");
        try
        {
            var self = Peer(1);
            var provider = Peer(2);
            var silent = Peer(3);
            var wanted = Block.Raw("the block we want"u8.ToArray());
            var missing = Block.Raw("a block nobody has"u8.ToArray());
            var log = Path.Combine(folder.FullName, "fixed.log");
            await using (var stream = File.Create(log))
            using (var writer = new MessageLogWriter(stream, self, BitswapOptions.Default.ToNodeConfig()))
            {
                // Local peers, so broadcast control (on in BitswapOptions.Default) lets the broadcast reach both.
                writer.Write(new PeerConnected(0, provider, ProtocolVersion.V120, PeerTraits.Local));
                writer.Write(new PeerConnected(1, silent, ProtocolVersion.V110, PeerTraits.Local));
                writer.Write(new WantBlocks(2, 1, Prelude.Seq(wanted.Cid, missing.Cid)));
                writer.Write(new MessageReceived(30, provider, Message.Empty.WithBlock(wanted).WithPresence(missing.Cid, PresenceType.DontHave), Map<Cid, int>.Empty));
                writer.Write(new CancelWants(40, 1, Prelude.Seq1(missing.Cid)));
                writer.Write(new CloseSession(50, 1));
            }

            var (code, stdout, stderr) = await RunAsync("replay", log, "--json");
            var (textCode, text, _) = await RunAsync("replay", log);

            Assert.True(code == 0, stderr);
            Assert.Equal(0, textCode);
            Assert.Contains("\"type\":\"Explain\"", stdout);
            Snapshot.Match(stdout + "\n" + text);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Errors_are_one_fixed_line_each()
    {
        var peer = Peer(9);
        var lines = new List<string>();
        string[][] commands =
        [
            ["get", "notacid", "--peer", $"/ip4/127.0.0.1/tcp/9/p2p/{peer}"],
            ["get", "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba", "--peer", "/ip4/127.0.0.1/tcp/9"],
            ["get", "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba", "--peer", "/ip9/nowhere"],
            ["add", "/nonexistent/file.bin", "--repo", "/nonexistent/repo"],
            ["replay", "/nonexistent/file.log"],
            ["demo", "--size-mib", "0"],
            ["add", "x", "--profile", "unixfs-v2-2030"],
        ];
        foreach (var command in commands)
        {
            var (code, stdout, stderr) = await RunAsync(command);
            Assert.Empty(stdout);
            lines.Add($"$ bitswap {string.Join(' ', command)}\nexit {code}: {stderr.TrimEnd('\n')}");
        }

        Snapshot.Match(string.Join('\n', lines));
    }
}
