using System.CommandLine;
using Bitswap.Domain.Multiformats;
using Bitswap.Routing;
using Bitswap.Transport.Tcp.Host;
using Microsoft.Extensions.Logging;

namespace Bitswap.Cli;

/// <summary>
/// The CLI's delegated routing: the <c>--routing</c> option, the client it configures, and the eager provider lookup
/// <c>get</c> does before its session starts (sessions search on their own only after 1 s, as boxo's do).
/// </summary>
public static class RoutingSetup
{
    /// <summary>The repeatable <c>--routing URL</c> option (<c>none</c> turns routing off).</summary>
    public static Option<string[]> Option() => new("--routing")
    {
        Description = $"Delegated routing endpoint (repeatable; 'none' turns it off; default ${RoutingOptions.EnvironmentVariable} or {RoutingOptions.DefaultEndpoint} when no --peer is given)",
    };

    /// <summary>
    /// The routing client for these <c>--routing</c> values, or null when routing is off. Without an explicit setting
    /// (<c>--routing</c> or <c>BITSWAP_ROUTING</c>) routing is on only when no peer was given: <c>--peer</c> alone never
    /// reaches a public router.
    /// </summary>
    public static DelegatedRoutingClient? CreateClient(string[]? values, bool peersGiven, CliContext context)
    {
        var environment = Environment.GetEnvironmentVariable(RoutingOptions.EnvironmentVariable);
        var explicitly = values is { Length: > 0 } || !string.IsNullOrWhiteSpace(environment);
        if (peersGiven && !explicitly) return null;
        IReadOnlyList<Uri> endpoints;
        try
        {
            endpoints = RoutingOptions.ParseEndpoints(values, environment);
        }
        catch (FormatException error)
        {
            throw new CliError(error.Message, error);
        }

        return endpoints.Count == 0 ? null : new DelegatedRoutingClient(RoutingOptions.Default with { Endpoints = endpoints }, context.Logs);
    }

    /// <summary>The provider finder over <paramref name="host"/>'s address book (and the gateways of <paramref name="http"/>), or null without a client.</summary>
    public static RoutingProviderFinder? Finder(DelegatedRoutingClient? client, TcpHost host, CliContext context, Routing.HttpNet.HttpGatewayNetwork? http = null) =>
        client is null ? null : new RoutingProviderFinder(client, host.AddAddress, context.Logs, http is null ? null : (peer, url) => http.AddGateway(url, peer));

    /// <summary>The repeatable <c>get --gateway URL</c> option: trustless gateways fetched from over HTTP beside Bitswap.</summary>
    public static Option<string[]> GatewayOption() => new("--gateway")
    {
        Description = "Trustless gateway URL to fetch from over HTTP beside Bitswap (repeatable; plain http only to loopback or private addresses)",
    };

    /// <summary>The gateway URLs given, checked; a bad one is a one-line error.</summary>
    public static IReadOnlyList<Uri> GatewayUrls(string[]? values)
    {
        var urls = new List<Uri>();
        foreach (var value in values ?? [])
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || !Routing.HttpNet.GatewayUrls.IsAllowed(url))
            {
                throw new CliError($"--gateway '{value}' must be an https URL, or http to a loopback or private address");
            }

            urls.Add(url);
        }

        return urls;
    }

    /// <summary>Probes every gateway at once; returns how many answered and a line per failure.</summary>
    public static async Task<(int Connected, IReadOnlyList<string> Failures)> ConnectGatewaysAsync(
        Routing.HttpNet.HttpGatewayNetwork http, IReadOnlyList<(Uri Url, PeerId Peer)> gateways, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        probing.CancelAfter(timeout);
        var results = await Task.WhenAll(gateways.Select(async gateway =>
        {
            try
            {
                await http.ConnectAsync(gateway.Peer, probing.Token).ConfigureAwait(false);
                return null;
            }
            catch (Runtime.Network.NetworkException error)
            {
                return $"gateway {gateway.Url}: {error.Message}";
            }
        })).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var failures = results.OfType<string>().ToArray();
        return (gateways.Count - failures.Length, failures);
    }

    /// <summary>
    /// Looks up providers of <paramref name="cid"/> once and dials them all at once; returns how many connected and a
    /// line per failure (for the error when nothing connected).
    /// </summary>
    public static async Task<(int Connected, IReadOnlyList<string> Failures)> ConnectProvidersAsync(
        LiveNode node, RoutingProviderFinder finder, Cid cid, TimeSpan timeout, CliContext context, CancellationToken cancellationToken,
        Routing.HttpNet.HttpGatewayNetwork? http = null)
    {
        var logger = context.Logs.CreateLogger("Bitswap.Cli.Routing");
        using var dialing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        dialing.CancelAfter(timeout);
        var providers = new List<PeerId>();
        try
        {
            await foreach (var peer in finder.FindProvidersAsync(cid, Runtime.BitswapOptions.Default.EffectiveLimits.ProvidersPerFindMax, dialing.Token).ConfigureAwait(false))
            {
                if (peer != node.Self) providers.Add(peer);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (0, [$"no provider of {cid} found within {timeout.TotalSeconds:0.#} s"]);
        }

        if (providers.Count == 0)
        {
            return (0, [$"routing found no provider of {cid} with a TCP address"]);
        }

        var results = await Task.WhenAll(providers.Select(async peer =>
        {
            try
            {
                // A provider the finder handed to the HTTP network is a gateway: probing it is connecting.
                await (http is not null && http.Knows(peer) ? http.ConnectAsync(peer, dialing.Token) : node.Host.ConnectAsync(peer, dialing.Token)).ConfigureAwait(false);
                logger.LogDebug("connected to provider {Peer}", peer);
                return null;
            }
            catch (Exception error) when (error is Runtime.Network.NetworkException || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                logger.LogDebug("provider {Peer} unreachable: {Reason}", peer, error.Message);
                return $"cannot reach provider {peer}: {BitswapCli.Describe(error)}";
            }
        })).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var failures = results.OfType<string>().ToArray();
        return (providers.Count - failures.Length, failures);
    }
}
