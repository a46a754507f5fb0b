using System.Net;
using System.Net.Sockets;

namespace Bitswap.Runtime.Network;

/// <summary>Classifies a peer's address for broadcast control, as go-multiaddr's manet.IsIPLoopback and manet.IsPrivateAddr do.</summary>
public static class PeerAddresses
{
    /// <summary>
    /// True for loopback (127/8, ::1) and private addresses: 10/8, 100.64/10, 172.16/12, 192.168/16, 169.254/16 (go-multiaddr
    /// net/private.go Private4), fc00::/7 and fe80::/10 (Private6); an IPv4-mapped IPv6 address is judged as its IPv4 address.
    /// </summary>
    public static bool IsLocal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return true;
        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out var length)) return false;
        if (address.AddressFamily == AddressFamily.InterNetwork && length == 4)
        {
            return b[0] == 10
                || (b[0] == 100 && (b[1] & 0xC0) == 64)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254);
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 && length == 16
            && ((b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80));
    }
}
