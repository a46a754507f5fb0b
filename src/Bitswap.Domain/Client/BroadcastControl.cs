namespace Bitswap.Domain;

/// <summary>What the shell knows about a connected peer that decides whether it gets want-have broadcasts.</summary>
[Flags]
public enum PeerTraits
{
    /// <summary>A peer on a public address, or one whose address the transport did not report.</summary>
    None = 0,

    /// <summary>The peer is on a loopback or private address (go-multiaddr manet.IsIPLoopback / IsPrivateAddr).</summary>
    Local = 1,

    /// <summary>The peer was configured for peering (Kubo Peering.Peers; boxo checks the connection manager's peering tag).</summary>
    Peered = 2,
}

/// <summary>
/// Broadcast control (boxo#937, boxo bitswap/client/internal/peermanager BroadcastControl, options BroadcastControlEnable,
/// BroadcastControlMaxPeers, ...): want-have broadcasts go only to peers that sent us a block or a HAVE before, to local
/// and peered peers, and to <see cref="MaxRandomPeers"/> others picked at random; every peer left out counts one
/// broadcast skip (boxo metric <c>bcast_skips_total</c>).
/// </summary>
/// <param name="Enable">False broadcasts to every peer and ignores the rest (boxo's library default; Kubo 0.36+ turns it on).</param>
/// <param name="MaxPeers">Most peers one broadcast goes to: -1 no cap, 0 no broadcasts at all (boxo default -1).</param>
/// <param name="LocalPeers">True subjects local peers to the reduction too; false always broadcasts to them (default false).</param>
/// <param name="PeeredPeers">True subjects peered peers to the reduction too; false always broadcasts to them (default false).</param>
/// <param name="MaxRandomPeers">Peers that are not targets but get each broadcast anyway, drawn from the client's seed (default 0).</param>
/// <param name="SendToPendingPeers">Also broadcast to peers that have a message waiting to leave, so no extra message is sent (default false).</param>
public sealed record BroadcastControl(
    bool Enable = true,
    int MaxPeers = -1,
    bool LocalPeers = false,
    bool PeeredPeers = false,
    int MaxRandomPeers = 0,
    bool SendToPendingPeers = false)
{
    /// <summary>Kubo's defaults (docs/config.md Internal.Bitswap.BroadcastControl): on, no cap, local and peered peers always, no random peers.</summary>
    public static readonly BroadcastControl Default = new();

    /// <summary>boxo's library default (client.go BroadcastControlEnable, "Default is false"): every broadcast goes to every peer.</summary>
    public static readonly BroadcastControl Disabled = new(Enable: false);

    /// <summary>True when a peer with these traits, answered or not, is a broadcast target whatever else holds.</summary>
    public bool AlwaysTargets(PeerTraits traits) =>
        (!LocalPeers && traits.HasFlag(PeerTraits.Local)) || (!PeeredPeers && traits.HasFlag(PeerTraits.Peered));
}
