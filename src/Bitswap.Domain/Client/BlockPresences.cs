using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>
/// What peers told us about blocks: CID → peer → HAVE or DONT_HAVE (boxo BlockPresenceManager). A HAVE is sticky: a later
/// DONT_HAVE from the same peer does not overwrite it, because a peer that had the block once is the best bet to have it still,
/// unless the peer was asked for the block itself and failed to send it (<see cref="Revoke"/>).
/// Callers keep only CIDs still wanted, which bounds it by the wantlist times the connected peers.
/// </summary>
/// <param name="ByCid">Presences by CID, then by peer; both maps are ordered, so iteration is deterministic.</param>
public sealed record BlockPresences(Map<Cid, Map<PeerId, PresenceType>> ByCid)
{
    /// <summary>No presences recorded.</summary>
    public static readonly BlockPresences Empty = new(Map<Cid, Map<PeerId, PresenceType>>.Empty);

    /// <summary>Records that <paramref name="peer"/> said <paramref name="type"/> about <paramref name="cid"/>; a DONT_HAVE never replaces a HAVE.</summary>
    public BlockPresences Record(PeerId peer, Cid cid, PresenceType type)
    {
        var peers = ByCid.Find(cid).IfNone(Map<PeerId, PresenceType>.Empty);
        if (type == PresenceType.DontHave && PresenceIn(peers, peer) == PresenceType.Have) return this;
        return new BlockPresences(ByCid.AddOrUpdate(cid, peers.AddOrUpdate(peer, type)));
    }

    /// <summary>
    /// Records a DONT_HAVE that replaces even a HAVE: the peer held our want-block and answered DONT_HAVE, or let it time
    /// out, so its HAVE no longer earns it the block (issue 13: a provider that says HAVE and never sends loses its preference).
    /// </summary>
    public BlockPresences Revoke(PeerId peer, Cid cid) =>
        new(ByCid.AddOrUpdate(cid, ByCid.Find(cid).IfNone(Map<PeerId, PresenceType>.Empty).AddOrUpdate(peer, PresenceType.DontHave)));

    /// <summary>What <paramref name="peer"/> said about <paramref name="cid"/>, or null if it said nothing.</summary>
    public PresenceType? PresenceOf(PeerId peer, Cid cid) =>
        ByCid.Find(cid).Case is Map<PeerId, PresenceType> peers ? PresenceIn(peers, peer) : null;

    /// <summary>True when <paramref name="peer"/> said HAVE for <paramref name="cid"/>.</summary>
    public bool PeerHas(PeerId peer, Cid cid) => PresenceOf(peer, cid) == PresenceType.Have;

    /// <summary>True when <paramref name="peer"/> said DONT_HAVE (and never HAVE) for <paramref name="cid"/>.</summary>
    public bool PeerLacks(PeerId peer, Cid cid) => PresenceOf(peer, cid) == PresenceType.DontHave;

    /// <summary>True when every one of <paramref name="peers"/> (at least one) sent an explicit DONT_HAVE for <paramref name="cid"/>.</summary>
    public bool AllLack(Cid cid, IEnumerable<PeerId> peers)
    {
        var any = false;
        foreach (var peer in peers)
        {
            if (!PeerLacks(peer, cid)) return false;
            any = true;
        }
        return any;
    }

    /// <summary>True when <paramref name="peer"/> said HAVE for any CID recorded here.</summary>
    public bool HasAnyFrom(PeerId peer) => ByCid.Values.Any(peers => PresenceIn(peers, peer) == PresenceType.Have);

    /// <summary>Forgets everything about a CID (it arrived or nobody wants it any more).</summary>
    public BlockPresences RemoveCid(Cid cid) => ByCid.ContainsKey(cid) ? new BlockPresences(ByCid.Remove(cid)) : this;

    /// <summary>Forgets everything a peer said (it disconnected).</summary>
    public BlockPresences RemovePeer(PeerId peer)
    {
        var byCid = ByCid;
        foreach (var (cid, peers) in ByCid)
        {
            if (!peers.ContainsKey(peer)) continue;
            var rest = peers.Without(peer);
            byCid = rest.IsEmpty ? byCid.Without(cid) : byCid.SetItem(cid, rest);
        }
        return new BlockPresences(byCid);
    }

    private static PresenceType? PresenceIn(Map<PeerId, PresenceType> peers, PeerId peer) =>
        peers.ContainsKey(peer) ? peers[peer] : null;
}
