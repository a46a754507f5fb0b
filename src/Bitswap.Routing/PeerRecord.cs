using System.Text.Json;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Routing;

/// <summary>
/// A peer from a delegated router (http-routing-v1.md "Peer Schema"): its ID, the addresses the router knows (maybe
/// none) and the transfer protocols it announced (maybe none). The legacy <c>bitswap</c> schema is read as one of these.
/// </summary>
/// <param name="Id">The peer.</param>
/// <param name="Addrs">Multiaddrs as text, unparsed: the router may list transports we do not know.</param>
/// <param name="Protocols">Protocol names such as <c>transport-bitswap</c>.</param>
public sealed record PeerRecord(PeerId Id, IReadOnlyList<string> Addrs, IReadOnlyList<string> Protocols)
{
    /// <summary>
    /// Reads one record; null for anything we must ignore: another schema, no readable ID, not an object. Unknown fields
    /// are ignored (http-routing-v1.md: clients MUST ignore unknown fields).
    /// </summary>
    public static PeerRecord? FromJson(JsonElement element, int addressesMax)
    {
        if (element.ValueKind != JsonValueKind.Object) return null;
        var schema = StringField(element, "Schema");
        // The "bitswap" schema was deprecated for "peer" (IPIP-417); boxo and Helia still read it as a peer record.
        var legacy = string.Equals(schema, "bitswap", StringComparison.Ordinal);
        if (!legacy && !string.Equals(schema, "peer", StringComparison.Ordinal)) return null;
        var idText = StringField(element, "ID");
        if (idText is null) return null;
        var parsedId = PeerId.Parse(idText);
        if (parsedId.IsLeft) return null;
        var id = parsedId.RightToSeq().Head();
        var addrs = Strings(element, "Addrs", addressesMax);
        var protocols = Strings(element, "Protocols", 16);
        if (legacy && protocols.Count == 0) protocols = [StringField(element, "Protocol") ?? "transport-bitswap"];
        return new PeerRecord(id, addrs, protocols);
    }

    /// <summary>
    /// IPIP-484 filters applied on our side, since a server may ignore them: the record must name one of the wanted
    /// protocols (or none, when <c>unknown</c> is wanted), and keeps only addresses that pass the address filter. A record
    /// that had addresses and lost them all is dropped; one that had none is kept so its peer can be resolved.
    /// </summary>
    public PeerRecord? Filter(IReadOnlyList<string> protocolFilter, IReadOnlyList<string> addressFilter)
    {
        if (protocolFilter.Count > 0)
        {
            var wanted = Protocols.Count == 0
                ? protocolFilter.Contains("unknown")
                : Protocols.Any(protocolFilter.Contains);
            if (!wanted) return null;
        }
        if (Addrs.Count == 0 || addressFilter.Count == 0) return this;
        var kept = Addrs.Where(a => AddressPasses(a, addressFilter)).ToArray();
        return kept.Length == 0 ? null : this with { Addrs = kept };
    }

    /// <summary>
    /// IPIP-484 address filter: no negative term (<c>!name</c>) may name a protocol of the address, and when positive
    /// terms exist one of them must.
    /// </summary>
    public static bool AddressPasses(string multiaddr, IReadOnlyList<string> filter)
    {
        var names = ProtocolNames(multiaddr);
        var positives = filter.Where(f => !f.StartsWith('!')).ToArray();
        if (filter.Where(f => f.StartsWith('!')).Any(f => names.Contains(f[1..]))) return false;
        return positives.Length == 0 || positives.Any(names.Contains);
    }

    // The protocol names of a text multiaddr: every component name, skipping values. Values of the protocols we might
    // meet are single path segments except the path-valued unix/http-path ones, which never matter to these filters.
    private static HashSet<string> ProtocolNames(string multiaddr)
    {
        var parts = multiaddr.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < parts.Length; i++)
        {
            names.Add(parts[i]);
            if (ValuedProtocols.Contains(parts[i])) i++;
        }
        return names;
    }

    // multiformats/multiaddr protocols.csv entries that carry a value.
    private static readonly HashSet<string> ValuedProtocols =
    [
        "ip4", "ip6", "ip6zone", "ipcidr", "tcp", "udp", "dccp", "sctp", "dns", "dns4", "dns6", "dnsaddr", "p2p", "ipfs",
        "onion", "onion3", "garlic64", "garlic32", "certhash", "sni", "memory", "http-path",
    ];

    private static string? StringField(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static List<string> Strings(JsonElement element, string name, int max)
    {
        var list = new List<string>();
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Array) return list;
        foreach (var item in value.EnumerateArray())
        {
            if (list.Count >= max) break;
            if (item.ValueKind == JsonValueKind.String && item.GetString() is { Length: > 0 } text && !list.Contains(text)) list.Add(text);
        }
        return list;
    }
}
