using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Bitswap.Routing.HttpNet;

/// <summary>Which gateway URLs we may use, and the URL of an <c>/http</c> or <c>/https</c> multiaddr.</summary>
public static partial class GatewayUrls
{
    /// <summary>
    /// True for https anywhere and for plain http only to a loopback or private address (boxo httpnet: no cleartext
    /// requests over the public internet).
    /// </summary>
    public static bool IsAllowed(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme == Uri.UriSchemeHttps) return true;
        if (url.Scheme != Uri.UriSchemeHttp) return false;
        if (url.IsLoopback) return true;
        return IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IsPrivate(address);
    }

    /// <summary>The base URL of <c>/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT[/tls]/http[s]</c>, or null for anything else.</summary>
    public static Uri? FromMultiaddr(string multiaddr)
    {
        var match = HttpMultiaddr().Match(multiaddr);
        if (!match.Success) return null;
        var host = match.Groups["family"].Value == "ip6" ? $"[{match.Groups["host"].Value}]" : match.Groups["host"].Value;
        var scheme = match.Groups["https"].Success || match.Groups["tls"].Success ? "https" : "http";
        return Uri.TryCreate($"{scheme}://{host}:{match.Groups["port"].Value}/", UriKind.Absolute, out var url) ? url : null;
    }

    private static bool IsPrivate(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
            return address.IsIPv6UniqueLocal || address.IsIPv6LinkLocal || (address.IsIPv4MappedToIPv6 && IsPrivate(address.MapToIPv4()));
        var b = address.GetAddressBytes();
        // RFC 1918 and link-local ranges.
        return b[0] == 10 || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254);
    }

    [GeneratedRegex(@"^/(?<family>ip4|ip6|dns|dns4|dns6)/(?<host>[^/]+)/tcp/(?<port>\d{1,5})(?<tls>/tls(/sni/[^/]+)?)?/(?:(?<https>https)|http)(/p2p/[^/]+)?$")]
    private static partial Regex HttpMultiaddr();
}
