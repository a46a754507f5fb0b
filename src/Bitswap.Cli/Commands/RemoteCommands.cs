using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Bitswap.Cli.Daemon;

namespace Bitswap.Cli.Commands;

/// <summary>
/// Commands that ask a running daemon (found through the repo's api file, or <c>--api MA</c>): <c>stat</c>,
/// <c>wantlist</c>, <c>ledger</c> and <c>swarm peers|connect</c>. Text output is what <c>ipfs bitswap …</c> and
/// <c>ipfs swarm …</c> print (kubo core/commands/bitswap.go, swarm.go); <c>--json</c> prints the daemon's JSON as one line.
/// </summary>
public static class RemoteCommands
{
    /// <summary><c>bitswap stat</c>.</summary>
    public static Command Stat(Output output)
    {
        var (api, repo, json) = Common();
        var command = new Command("stat", "Show the running daemon's Bitswap counters, wantlist and partners (ipfs bitswap stat)") { api, repo, json };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var client = await RpcClient.RequireAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
            var stat = await client.JsonAsync("bitswap/stat", [], null, cancellationToken).ConfigureAwait(false);
            if (parsed.GetValue(json))
            {
                output.JsonLine(stat.AsObject());
                return 0;
            }

            var wantlist = stat["Wantlist"]?.AsArray() ?? [];
            var peers = stat["Peers"]?.AsArray() ?? [];
            var lines = new List<string>
            {
                "bitswap status",
                $"\tblocks received: {Number(stat, "BlocksReceived")}",
                $"\tblocks sent: {Number(stat, "BlocksSent")}",
                $"\tdata received: {Number(stat, "DataReceived")}",
                $"\tdata sent: {Number(stat, "DataSent")}",
                $"\tdup blocks received: {Number(stat, "DupBlksReceived")}",
                $"\tdup data received: {Number(stat, "DupDataReceived")}",
                $"\twantlist [{wantlist.Count} keys]",
            };
            lines.AddRange(wantlist.Select(k => $"\t\t{k?["/"]?.GetValue<string>()}"));
            lines.Add($"\tpartners [{peers.Count}]");
            lines.AddRange(peers.Select(p => $"\t\t{p?.GetValue<string>()}"));
            output.Line(string.Join('\n', lines));
            return 0;
        });
        return command;
    }

    /// <summary><c>bitswap wantlist [--peer ID]</c>.</summary>
    public static Command Wantlist(Output output)
    {
        var (api, repo, json) = Common();
        var peer = new Option<string?>("--peer", "-p") { Description = "Show the wantlist this peer sent us (default: our own)" };
        var command = new Command("wantlist", "Show the blocks the running daemon wants, or a peer wants from it (ipfs bitswap wantlist)") { peer, api, repo, json };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var client = await RpcClient.RequireAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
            var query = parsed.GetValue(peer) is { } id ? new[] { ("peer", id) } : [];
            var answer = await client.JsonAsync("bitswap/wantlist", query, null, cancellationToken).ConfigureAwait(false);
            if (parsed.GetValue(json))
            {
                output.JsonLine(answer.AsObject());
                return 0;
            }

            foreach (var key in answer["Keys"]?.AsArray() ?? [])
            {
                output.Line(key?["/"]?.GetValue<string>() ?? "");
            }

            return 0;
        });
        return command;
    }

    /// <summary><c>bitswap ledger PEER</c>.</summary>
    public static Command Ledger(Output output)
    {
        var (api, repo, json) = Common();
        var peer = new Argument<string>("PEER") { Description = "The peer ID whose ledger to show" };
        var command = new Command("ledger", "Show the running daemon's ledger for a peer (ipfs bitswap ledger)") { peer, api, repo, json };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var client = await RpcClient.RequireAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
            var ledger = await client.JsonAsync("bitswap/ledger", [("arg", parsed.GetValue(peer)!)], null, cancellationToken).ConfigureAwait(false);
            if (parsed.GetValue(json))
            {
                output.JsonLine(ledger.AsObject());
                return 0;
            }

            var value = ledger["Value"]?.GetValue<double>() ?? 0;
            output.Line(string.Join('\n',
                $"Ledger for {ledger["Peer"]?.GetValue<string>()}",
                $"Debt ratio:\t{value.ToString("F6", CultureInfo.InvariantCulture)}",
                $"Exchanges:\t{Number(ledger, "Exchanged")}",
                $"Bytes sent:\t{Number(ledger, "Sent")}",
                $"Bytes received:\t{Number(ledger, "Recv")}"));
            return 0;
        });
        return command;
    }

    /// <summary><c>bitswap swarm peers</c> and <c>bitswap swarm connect MA</c>.</summary>
    public static Command Swarm(Output output)
    {
        var swarm = new Command("swarm", "Ask the running daemon about its connections (ipfs swarm)");

        var (api, repo, json) = Common();
        var peers = new Command("peers", "List the peers the daemon is connected to") { api, repo, json };
        peers.SetAction(async (parsed, cancellationToken) =>
        {
            using var client = await RpcClient.RequireAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
            var answer = await client.JsonAsync("swarm/peers", [], null, cancellationToken).ConfigureAwait(false);
            if (parsed.GetValue(json))
            {
                output.JsonLine(answer.AsObject());
                return 0;
            }

            foreach (var peer in answer["Peers"]?.AsArray() ?? [])
            {
                output.Line($"{peer?["Addr"]?.GetValue<string>()}/p2p/{peer?["Peer"]?.GetValue<string>()}");
            }

            return 0;
        });

        var (api2, repo2, json2) = Common();
        var address = new Argument<string>("MA") { Description = "Peer multiaddr ending in /p2p/<id>" };
        var connect = new Command("connect", "Make the daemon connect to a peer") { address, api2, repo2, json2 };
        connect.SetAction(async (parsed, cancellationToken) =>
        {
            using var client = await RpcClient.RequireAsync(parsed.GetValue(api2), parsed.GetValue(repo2), cancellationToken).ConfigureAwait(false);
            var answer = await client.JsonAsync("swarm/connect", [("arg", parsed.GetValue(address)!)], null, cancellationToken).ConfigureAwait(false);
            if (parsed.GetValue(json2))
            {
                output.JsonLine(answer.AsObject());
                return 0;
            }

            foreach (var line in answer["Strings"]?.AsArray() ?? [])
            {
                output.Line(line?.GetValue<string>() ?? "");
            }

            return 0;
        });

        swarm.Subcommands.Add(peers);
        swarm.Subcommands.Add(connect);
        return swarm;
    }

    /// <summary>The <c>--api</c> option shared by the commands that may talk to a daemon.</summary>
    public static Option<string?> ApiOption() => new("--api") { Description = "RPC API multiaddr of the daemon (default: the api file next to the repo)" };

    private static (Option<string?> Api, Option<string?> Repo, Option<bool> Json) Common() =>
    (
        ApiOption(),
        new Option<string?>("--repo") { Description = "flatfs repo whose daemon to ask (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" },
        new Option<bool>("--json") { Description = "Print the daemon's answer as one JSON line" }
    );

    private static string Number(JsonNode node, string name) => node[name]?.ToJsonString() ?? "0";
}
