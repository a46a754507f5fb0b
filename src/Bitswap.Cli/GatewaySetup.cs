using System.Net;
using Bitswap.Gateway;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Addressing;

namespace Bitswap.Cli;

/// <summary><c>serve --gateway MA</c>: the multiaddr it takes and the trustless gateway it starts.</summary>
public static class GatewaySetup
{
    /// <summary>The TCP endpoint of an <c>/ip4|ip6/…/tcp/…</c> multiaddr, or null without one; anything else is a one-line error.</summary>
    public static IPEndPoint? Endpoint(string? multiaddr)
    {
        if (multiaddr is null)
        {
            return null;
        }

        var parsed = Multiaddr.Parse(multiaddr).Match(a => a, e => throw new CliError($"bad --gateway address '{multiaddr}': {e.Detail}"));
        return parsed.TryGetTcpEndpoint(out var endpoint) && endpoint is not null && parsed.PeerId is null
            ? endpoint
            : throw new CliError($"--gateway takes /ip4/ADDR/tcp/PORT or /ip6/ADDR/tcp/PORT, not '{multiaddr}'");
    }

    /// <summary>Starts the gateway over <paramref name="store"/> at <paramref name="endpoint"/>, or returns null without one.</summary>
    public static async Task<TrustlessGateway?> StartAsync(IPEndPoint? endpoint, IBlockstore store, CliContext context, CancellationToken cancellationToken)
    {
        if (endpoint is null)
        {
            return null;
        }

        try
        {
            return await TrustlessGateway.StartAsync(store, new GatewayOptions { Endpoint = endpoint }, context.Logs, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException error)
        {
            throw new CliError($"cannot serve the gateway on {endpoint}: {error.Message}", error);
        }
    }
}
