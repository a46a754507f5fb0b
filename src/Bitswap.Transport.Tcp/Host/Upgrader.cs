using System.Net.Sockets;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Noise;
using MultistreamSelect = Bitswap.Transport.Tcp.Multistream.Multistream;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// Upgrades a raw TCP socket to a secure channel ready for Yamux (libp2p-reference.md §0): multistream-select
/// <c>/noise</c>, the Noise XX handshake, then multistream-select <c>/yamux/1.0.0</c> inside it.
/// </summary>
internal static class Upgrader
{
    /// <summary>The Noise security protocol id.</summary>
    public const string NoiseProtocol = "/noise";

    /// <summary>The Yamux muxer protocol id.</summary>
    public const string YamuxProtocol = "/yamux/1.0.0";

    /// <summary>
    /// Runs the upgrade as dialer (<paramref name="outbound"/>) or listener; the channel owns the socket.
    /// <paramref name="arrived"/>, if given, is called with the count of handshake bytes whenever some arrive.
    /// </summary>
    public static async Task<SecureChannel> UpgradeAsync(Socket socket, PeerIdentity identity, bool outbound, PeerId? expected, CancellationToken cancellationToken, Action<int>? arrived = null)
    {
        var network = new NetworkStream(socket, ownsSocket: true);
        var watched = arrived is null ? null : new ProgressStream(network, arrived);
        Stream raw = watched is null ? network : watched;
        try
        {
            return await UpgradeAsync(raw, identity, outbound, expected, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            watched?.StopWatching();
        }
    }

    private static async Task<SecureChannel> UpgradeAsync(Stream raw, PeerIdentity identity, bool outbound, PeerId? expected, CancellationToken cancellationToken)
    {
        SecureChannel channel;
        if (outbound)
        {
            await MultistreamSelect.SelectAsync(raw, [NoiseProtocol], cancellationToken).ConfigureAwait(false);
            channel = await NoiseHandshake.InitiatorAsync(raw, identity, expected, cancellationToken).ConfigureAwait(false);
            await MultistreamSelect.SelectAsync(channel.Stream, [YamuxProtocol], cancellationToken).ConfigureAwait(false);
            return channel;
        }

        if (await MultistreamSelect.HandleAsync(raw, p => p == NoiseProtocol, cancellationToken).ConfigureAwait(false) is null)
            throw new IOException("peer closed during security negotiation");
        channel = await NoiseHandshake.ResponderAsync(raw, identity, cancellationToken).ConfigureAwait(false);
        if (await MultistreamSelect.HandleAsync(channel.Stream, p => p == YamuxProtocol, cancellationToken).ConfigureAwait(false) is null)
            throw new IOException("peer closed during muxer negotiation");
        return channel;
    }
}
