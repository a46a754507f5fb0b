using System.Runtime.CompilerServices;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Addressing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Routing;

/// <summary>
/// The runtime's provider port over delegated routing: each provider's TCP addresses go into the host's address book
/// (so the node's <c>ConnectAsync</c> can dial them) and the provider is yielded; providers with no TCP address we can
/// dial (QUIC, WebTransport, DNS names, HTTP gateways) are skipped with a debug line.
/// </summary>
public sealed class RoutingProviderFinder : IProviderFinder
{
    private readonly DelegatedRoutingClient _client;
    private readonly Action<PeerId, Multiaddr> _addAddress;
    private readonly Action<PeerId, Uri>? _addGateway;
    private readonly ILogger _logger;

    /// <summary>
    /// Creates the finder; <paramref name="addAddress"/> is usually <c>TcpHost.AddAddress</c>, and
    /// <paramref name="addGateway"/> (optional, usually <c>HttpGatewayNetwork.AddGateway</c>) takes providers that announce
    /// <c>transport-ipfs-gateway-http</c> with an http(s) address and no TCP address we can dial.
    /// </summary>
    public RoutingProviderFinder(DelegatedRoutingClient client, Action<PeerId, Multiaddr> addAddress, ILoggerFactory? loggerFactory = null, Action<PeerId, Uri>? addGateway = null)
    {
        _addGateway = addGateway;
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(addAddress);
        _client = client;
        _addAddress = addAddress;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bitswap.Routing");
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<PeerId> FindProvidersAsync(Cid cid, int max, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var yielded = 0;
        foreach (var record in await _client.FindProvidersAsync(cid, cancellationToken).ConfigureAwait(false))
        {
            if (yielded >= max) yield break;
            var dialable = DialableAddresses(record).ToArray();
            if (dialable.Length == 0 && _addGateway is not null && GatewayOf(record) is { } gateway)
            {
                _addGateway(record.Id, gateway);
                yielded++;
                yield return record.Id;
                continue;
            }

            if (dialable.Length == 0)
            {
                _logger.LogDebug("provider {Peer} of {Cid} skipped: no TCP address we can dial among {Addrs}", record.Id.Short, cid, string.Join(' ', record.Addrs));
                continue;
            }
            foreach (var address in dialable) _addAddress(record.Id, address);
            yielded++;
            yield return record.Id;
        }
    }

    /// <summary>The first http(s) address of a record that announces <c>transport-ipfs-gateway-http</c> and that we may use.</summary>
    public static Uri? GatewayOf(PeerRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!record.Protocols.Contains("transport-ipfs-gateway-http")) return null;
        return record.Addrs.Select(HttpNet.GatewayUrls.FromMultiaddr).FirstOrDefault(u => u is not null && HttpNet.GatewayUrls.IsAllowed(u));
    }

    /// <summary>The record's addresses that parse and are <c>/ip4|ip6/…/tcp/…</c> (with an optional matching <c>/p2p/…</c>).</summary>
    public IEnumerable<Multiaddr> DialableAddresses(PeerRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        foreach (var text in record.Addrs)
        {
            var result = Multiaddr.Parse(text);
            var parsed = result.IsRight ? result.RightToSeq().Head() : null;
            if (parsed is null || !parsed.TryGetTcpEndpoint(out _))
            {
                _logger.LogDebug("address {Address} of {Peer} skipped: not a TCP address we can dial", text, record.Id.Short);
                continue;
            }
            if (parsed.PeerId is { } named && named != record.Id) continue;
            yield return parsed.WithoutPeer();
        }
    }
}
