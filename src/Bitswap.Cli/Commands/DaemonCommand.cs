using System.CommandLine;
using System.Text.Json.Nodes;
using Bitswap.Cli.Daemon;
using Bitswap.Transport.Tcp.Addressing;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap daemon</c>: a long-running node on the repo, as <c>ipfs daemon</c>. It listens for libp2p, serves every block
/// in the repo, answers Kubo's RPC API (and Prometheus metrics) on the API address, and leaves an <c>api</c> file next to
/// the repo so other commands find it. It stops on SIGINT/SIGTERM or the <c>shutdown</c> RPC.
/// </summary>
public static class DaemonCommand
{
    /// <summary>Kubo's default swarm addresses (config Addresses.Swarm, TCP only).</summary>
    public static readonly string[] DefaultListen = ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"];

    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var repo = new Option<string?>("--repo") { Description = "flatfs repo (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks); the api file goes next to it" };
        var key = new Option<string?>("--key") { Description = "Identity key file (default identity.key in the bitswap home)" };
        var listen = new Option<string[]>("--listen", "-l") { Description = "libp2p multiaddr to listen on, repeatable (default /ip4/0.0.0.0/tcp/4001 and /ip6/::/tcp/4001)" };
        var api = new Option<string>("--api") { Description = "RPC API multiaddr (port 0: any free port)", DefaultValueFactory = _ => RpcOptions.DefaultAddress };
        var origins = new Option<string[]>("--api-allow-origin") { Description = "Browser origin allowed to call the API, repeatable (default: only the API's own)" };
        var bodyMax = new Option<long>("--api-max-body") { Description = "Largest RPC request body in bytes", DefaultValueFactory = _ => RpcOptions.RequestBytesMaxDefault };
        var json = new Option<bool>("--json") { Description = "Print the start-up line as JSON {peerId, multiaddrs, api, metrics, repo}" };
        var gateway = new Option<string?>("--gateway") { Description = "Also serve a trustless HTTP gateway on this multiaddr (e.g. /ip4/127.0.0.1/tcp/8080)" };
        var routing = RoutingSetup.Option();
        routing.Description = $"Delegated routing endpoint for provider searches and routing/findprovs (repeatable; also ${Routing.RoutingOptions.EnvironmentVariable}; off unless set)";
        var command = new Command("daemon", "Run a long-lived node with Kubo's RPC API until interrupted") { repo, key, listen, api, origins, bodyMax, json, gateway, routing };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var repoOption = parsed.GetValue(repo);
            var repoPath = Path.GetFullPath(repoOption ?? BitswapHome.Repo);
            var apiFile = ApiFile.For(repoOption);
            var apiAddress = Arguments.ParseMultiaddr(parsed.GetValue(api)!);
            if (!apiAddress.TryGetTcpEndpoint(out var apiEndpoint) || apiEndpoint is null)
            {
                throw new CliError($"--api '{apiAddress}' has no /ip4|ip6/…/tcp/<port> part");
            }

            var bodyBytes = parsed.GetValue(bodyMax);
            if (bodyBytes < 1024)
            {
                throw new CliError($"--api-max-body must be at least 1024 bytes, got {bodyBytes}");
            }

            using (var running = await RpcClient.FindAsync(null, repoOption, cancellationToken).ConfigureAwait(false))
            {
                if (running is not null)
                {
                    throw new CliError($"a daemon is already running on {repoPath} (API at {running.Address})");
                }
            }

            var texts = parsed.GetValue(listen) is { Length: > 0 } given ? given : DefaultListen;
            IReadOnlyList<Multiaddr> listenAddresses = [.. texts.Select(Arguments.ParseMultiaddr)];
            var identity = PeerIdentity.LoadOrCreate(parsed.GetValue(key) ?? BitswapHome.KeyFile);
            var flatfs = Repo.Open(repoPath);
            // Routing only when asked for (--routing or BITSWAP_ROUTING): a daemon started in a test or on a closed network
            // must not reach a public router on its own.
            using var routingClient = RoutingSetup.CreateClient(parsed.GetValue(routing), peersGiven: true, context);
            var gatewayEndpoint = GatewaySetup.Endpoint(parsed.GetValue(gateway));
            await using var node = await LiveNode.StartAsync(identity, flatfs, listenAddresses, context, null, cancellationToken,
                providers: host => RoutingSetup.Finder(routingClient, host, context)).ConfigureAwait(false);
            await using var httpGateway = await GatewaySetup.StartAsync(gatewayEndpoint, flatfs, context, cancellationToken).ConfigureAwait(false);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var state = new DaemonState(node, flatfs, repoPath, identity, stop) { Routing = routingClient, Gateway = httpGateway?.Url };
            var options = new RpcOptions { Listen = apiEndpoint, AllowedOrigins = parsed.GetValue(origins) ?? [], RequestBytesMax = bodyBytes };
            RpcServer server;
            try
            {
                server = await RpcServer.StartAsync(state, options, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException error)
            {
                throw new CliError($"cannot listen on {apiAddress} for the API: {error.Message}", error);
            }

            await using (server.ConfigureAwait(false))
            {
                ApiFile.Write(apiFile, server.Address);
                try
                {
                    Announce(output, parsed.GetValue(json), node, server, repoPath, httpGateway?.Url);
                    await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                    if (!parsed.GetValue(json))
                    {
                        output.Line("Received interrupt signal, shutting down...");
                    }
                }
                finally
                {
                    ApiFile.Remove(apiFile, server.Address);
                }
            }

            return 0;
        });
        return command;
    }

    private static void Announce(Output output, bool json, LiveNode node, RpcServer server, string repoPath, Uri? gateway)
    {
        var metrics = $"http://{server.Bound}{RpcServer.MetricsPath}";
        if (json)
        {
            output.JsonLine(new JsonObject
            {
                ["peerId"] = node.Self.ToString(),
                ["multiaddrs"] = new JsonArray([.. node.Host.ListenAddresses.Select(a => JsonValue.Create(a.ToString()))]),
                ["api"] = server.Address.ToString(),
                ["metrics"] = metrics,
                ["repo"] = repoPath,
                ["gateway"] = gateway?.ToString(),
            });
            return;
        }

        // The lines `ipfs daemon` prints (kubo cmd/ipfs/kubo/daemon.go), minus the gateway and WebUI we do not run.
        output.Line($"PeerID: {node.Self}");
        foreach (var address in node.Host.ListenAddresses)
        {
            output.Line($"Swarm listening on {address.WithoutPeer()}");
        }

        output.Line($"RPC API server listening on {server.Address}");
        if (gateway is not null)
        {
            output.Line($"Gateway server listening on {gateway}");
        }
        output.Line($"Metrics on {metrics}");
        output.Line("Daemon is ready");
    }
}
