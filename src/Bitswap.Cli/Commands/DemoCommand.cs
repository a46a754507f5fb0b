using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Bitswap.Domain;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Spectre.Console;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap demo</c>: two nodes on 127.0.0.1 over the real TCP transport (temporary repos and keys), one adds a
/// generated file, the other fetches it by root CID, verifies its SHA-256 and both print their Stat and ledgers.
/// Exits non-zero when the reassembled file differs.
/// </summary>
public static class DemoCommand
{
    /// <summary>The seed of the generated file, so every run moves the same bytes and gets the same root CID.</summary>
    public const ulong ContentSeed = 0x6269747377617021;

    /// <summary>Largest generated file, in MiB.</summary>
    public const int SizeMiBMax = 4096;

    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var size = new Option<int>("--size-mib") { Description = "Size of the generated file in MiB", DefaultValueFactory = _ => 64 };
        var profile = ServeCommand.ProfileOption();
        var json = new Option<bool>("--json") { Description = "JSON lines instead of a progress bar and tables" };
        var command = new Command("demo", "Two local nodes over TCP: add a generated file on one, fetch and verify it on the other") { size, profile, json };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var mebibytes = parsed.GetValue(size);
            if (mebibytes is < 1 or > SizeMiBMax)
            {
                throw new CliError($"--size-mib must be between 1 and {SizeMiBMax}, got {mebibytes}");
            }

            var profileName = parsed.GetValue(profile)!;
            var options = Repo.Options(profileName, null, null, null, null);
            var interactive = output.Interactive(parsed.GetValue(json));
            var workspace = Directory.CreateTempSubdirectory("bitswap-demo-");
            try
            {
                return await RunAsync(output, context, interactive, mebibytes * 1024L * 1024L, profileName, options, workspace.FullName, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                workspace.Delete(recursive: true);
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(
        Output output, CliContext context, bool interactive, long length, string profileName, Dag.ImportOptions options, string workspace, CancellationToken cancellationToken)
    {
        var ansi = output.Ansi();
        if (interactive)
        {
            ansi.Write(new Rule("[bold]bitswap demo[/]").LeftJustified());
        }

        var providerRepo = FlatFsBlockstore.Open(Path.Combine(workspace, "provider", "blocks"), FlatFsOptions.Default with { FlushToDisk = false });
        var addStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        Dag.ImportResult imported;
        await using (var content = new PseudoRandomStream(length, ContentSeed))
        {
            imported = await Repo.ImportAsync(content, options, providerRepo, cancellationToken).ConfigureAwait(false);
        }

        var addTime = System.Diagnostics.Stopwatch.GetElapsedTime(addStarted);
        byte[] expected;
        await using (var content = new PseudoRandomStream(length, ContentSeed))
        {
            expected = await SHA256.HashDataAsync(content, cancellationToken).ConfigureAwait(false);
        }

        Report(output, interactive,
            $"[green]added[/] {length / (1024 * 1024)} MiB ({profileName}) as [bold]{imported.Root}[/]: {imported.BlockCount} blocks in {addTime.TotalMilliseconds:0} ms",
            new JsonObject { ["event"] = "added", ["profile"] = profileName, ["root"] = imported.Root.ToString(), ["blocks"] = imported.BlockCount, ["bytes"] = length, ["ms"] = (long)addTime.TotalMilliseconds });

        var providerKey = PeerIdentity.LoadOrCreate(Path.Combine(workspace, "provider", "identity.key"));
        var fetcherKey = PeerIdentity.LoadOrCreate(Path.Combine(workspace, "fetcher", "identity.key"));
        var loopback = new[] { Transport.Tcp.Host.TcpHostOptions.LoopbackAnyPort };
        await using var provider = await LiveNode.StartAsync(providerKey, providerRepo, loopback, context, null, cancellationToken).ConfigureAwait(false);
        await using var fetcher = await LiveNode.StartAsync(fetcherKey, new MemoryBlockstore(), loopback, context, null, cancellationToken).ConfigureAwait(false);
        await fetcher.DialAsync(provider.Host.ListenAddresses[0], cancellationToken).ConfigureAwait(false);
        Report(output, interactive,
            $"[green]connected[/] fetcher {fetcher.Self} → provider {provider.Host.ListenAddresses[0]}",
            new JsonObject { ["event"] = "connected", ["provider"] = provider.Self.ToString(), ["fetcher"] = fetcher.Self.ToString(), ["address"] = provider.Host.ListenAddresses[0].ToString() });

        FetchTotals totals;
        using (var session = fetcher.Node.NewSession())
        {
            totals = await TransferView.RunAsync(output, interactive ? TransferView.Mode.Bar : TransferView.Mode.JsonLines, "fetch",
                onBlock => DagFetch.FetchAsync(session, imported.Root, TimeSpan.FromSeconds(30), onBlock, Limits.Default, cancellationToken)).ConfigureAwait(false);
        }

        var outFile = Path.Combine(workspace, "fetcher", "file.bin");
        await GetCommand.WriteFileAsync(outFile, stream => GetCommand.ExportAsync(imported.Root, DagFetch.From(fetcher.Blockstore), stream, cancellationToken)).ConfigureAwait(false);
        byte[] actual;
        await using (var file = File.OpenRead(outFile))
        {
            actual = await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
        }

        var verified = actual.AsSpan().SequenceEqual(expected) && new FileInfo(outFile).Length == length;
        var summary = TransferView.Summary(totals);
        summary["event"] = "fetched";
        Report(output, interactive,
            $"[green]fetched[/] {totals.Blocks} blocks, {totals.Bytes:N0} bytes in {totals.Elapsed.TotalSeconds:0.000} s",
            summary);
        Report(output, interactive,
            verified ? $"[green]verified[/] sha256 {Convert.ToHexStringLower(actual)}" : $"[red]MISMATCH[/] sha256 {Convert.ToHexStringLower(actual)}, expected {Convert.ToHexStringLower(expected)}",
            new JsonObject { ["event"] = "verified", ["ok"] = verified, ["sha256"] = Convert.ToHexStringLower(actual), ["expected"] = Convert.ToHexStringLower(expected) });

        var nodes = new[] { ("provider", provider), ("fetcher", fetcher) };
        if (interactive)
        {
            ansi.Write(StatTable(nodes));
            ansi.Write(LedgerTable([("provider", provider, fetcher), ("fetcher", fetcher, provider)]));
            ansi.MarkupLine($"[bold]{totals.MegabytesPerSecond:0.0} MB/s[/] ({totals.Bytes / 1e6:0.0} MB in {totals.Elapsed.TotalSeconds:0.000} s)");
        }
        else
        {
            foreach (var (role, node) in nodes)
            {
                output.JsonLine(StatJson(role, node));
            }

            output.JsonLine(LedgerJson("provider", provider.Node.LedgerForPeer(fetcher.Self)));
            output.JsonLine(LedgerJson("fetcher", fetcher.Node.LedgerForPeer(provider.Self)));
            output.JsonLine(new JsonObject { ["event"] = "done", ["ok"] = verified, ["MBps"] = Math.Round(totals.MegabytesPerSecond, 2) });
        }

        if (!verified)
        {
            throw new CliError("verification failed: the fetched file's SHA-256 differs from the added file's");
        }

        return 0;
    }

    private static void Report(Output output, bool interactive, string markup, JsonObject json)
    {
        if (interactive)
        {
            output.Ansi().MarkupLine(markup);
        }
        else
        {
            output.JsonLine(json);
        }
    }

    private static Table StatTable(IReadOnlyList<(string Role, LiveNode Node)> nodes)
    {
        var table = new Table().Title("Stat").AddColumn("counter");
        var stats = nodes.Select(n => n.Node.Node.Stat()).ToList();
        foreach (var (role, _) in nodes)
        {
            table.AddColumn(new TableColumn(role).RightAligned());
        }

        void Row(string name, Func<BitswapStat, long> value) => table.AddRow([name, .. stats.Select(s => value(s).ToString("N0"))]);
        Row("blocks received", s => s.BlocksReceived);
        Row("data received", s => s.DataReceived);
        Row("dup blocks received", s => s.DupBlksReceived);
        Row("dup data received", s => s.DupDataReceived);
        Row("messages received", s => s.MessagesReceived);
        Row("blocks sent", s => s.BlocksSent);
        Row("data sent", s => s.DataSent);
        Row("wantlist", s => s.Wantlist.Count);
        Row("peers", s => s.Peers.Count);
        return table;
    }

    private static Table LedgerTable(IReadOnlyList<(string Role, LiveNode Node, LiveNode Peer)> rows)
    {
        var table = new Table().Title("Ledgers").AddColumns("node", "peer", "value", "sent", "recv", "exchanged");
        foreach (var (role, node, peer) in rows)
        {
            var receipt = node.Node.LedgerForPeer(peer.Self);
            table.AddRow(role, receipt.Peer.Short, receipt.Value.ToString("0.000"), receipt.Sent.ToString("N0"), receipt.Recv.ToString("N0"), receipt.Exchanged.ToString("N0"));
        }

        return table;
    }

    private static JsonObject StatJson(string role, LiveNode node)
    {
        var stat = node.Node.Stat();
        return new JsonObject
        {
            ["event"] = "stat",
            ["node"] = role,
            ["peerId"] = node.Self.ToString(),
            ["blocksReceived"] = stat.BlocksReceived,
            ["dataReceived"] = stat.DataReceived,
            ["dupBlksReceived"] = stat.DupBlksReceived,
            ["dupDataReceived"] = stat.DupDataReceived,
            ["messagesReceived"] = stat.MessagesReceived,
            ["blocksSent"] = stat.BlocksSent,
            ["dataSent"] = stat.DataSent,
            ["wantlist"] = stat.Wantlist.Count,
            ["peers"] = stat.Peers.Count,
        };
    }

    private static JsonObject LedgerJson(string role, Receipt receipt) => new()
    {
        ["event"] = "ledger",
        ["node"] = role,
        ["peer"] = receipt.Peer.ToString(),
        ["value"] = receipt.Value,
        ["sent"] = receipt.Sent,
        ["recv"] = receipt.Recv,
        ["exchanged"] = receipt.Exchanged,
    };
}
