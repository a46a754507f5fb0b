using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;

namespace Bitswap.Cli;

/// <summary>Turns command-line text into typed values, or a one-line <see cref="CliError"/> naming the bad text.</summary>
public static class Arguments
{
    /// <summary>A CID in any multibase (or a base58 CIDv0).</summary>
    public static Cid ParseCid(string text) =>
        Cid.Parse(text.Trim()).Match(cid => cid, error => throw new CliError($"invalid CID '{text}': {error.Detail}"));

    /// <summary>A multiaddr such as <c>/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…</c>.</summary>
    public static Multiaddr ParseMultiaddr(string text) =>
        Multiaddr.Parse(text.Trim()).Match(address => address, error => throw new CliError($"invalid multiaddr '{text}': {error.Detail}"));

    /// <summary>A peer's dial address: a multiaddr that names the peer (<c>/p2p/&lt;id&gt;</c>) and a TCP endpoint.</summary>
    public static Multiaddr ParsePeerAddress(string text)
    {
        var address = ParseMultiaddr(text);
        if (address.PeerId is null)
        {
            throw new CliError($"multiaddr '{text}' does not name a peer: append /p2p/<peer id>");
        }

        if (!address.TryGetTcpEndpoint(out _))
        {
            throw new CliError($"multiaddr '{text}' has no /ip4|ip6/…/tcp/<port> part to dial");
        }

        return address;
    }

    /// <summary>A positive whole number of seconds as a span.</summary>
    public static TimeSpan Seconds(double seconds) =>
        seconds > 0 && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : throw new CliError($"timeout must be a positive number of seconds, got {seconds}");
}
