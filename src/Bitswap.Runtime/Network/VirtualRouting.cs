using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Network;

/// <summary>
/// A content router in memory for tests (boxo mockrouting): peers announce CIDs with <see cref="Provide"/>, and lookups
/// return the announcing peers in peer ID order. Keyed by multihash, like the DHT, so v0 and v1 CIDs of the same content
/// share providers. Safe for concurrent use.
/// </summary>
public sealed class VirtualRouting : IProviderFinder
{
    private readonly object _gate = new();
    private readonly Dictionary<Multihash, SortedSet<PeerId>> _providers = new();
    private readonly int _providersPerCidMax;

    /// <summary>An empty router that keeps at most <paramref name="providersPerCidMax"/> providers per CID (later announcements are ignored).</summary>
    public VirtualRouting(int providersPerCidMax = 1024)
    {
        if (providersPerCidMax < 1) throw new ArgumentOutOfRangeException(nameof(providersPerCidMax), "must be at least 1");
        _providersPerCidMax = providersPerCidMax;
    }

    /// <summary>Announces that <paramref name="peer"/> holds <paramref name="cid"/>; repeating it changes nothing.</summary>
    public void Provide(PeerId peer, Cid cid)
    {
        lock (_gate)
        {
            if (!_providers.TryGetValue(cid.Hash, out var peers))
            {
                peers = [];
                _providers.Add(cid.Hash, peers);
            }
            if (peers.Count < _providersPerCidMax) peers.Add(peer);
        }
    }

    /// <summary>Withdraws an announcement; false when there was none.</summary>
    public bool Unprovide(PeerId peer, Cid cid)
    {
        lock (_gate)
        {
            if (!_providers.TryGetValue(cid.Hash, out var peers) || !peers.Remove(peer)) return false;
            if (peers.Count == 0) _providers.Remove(cid.Hash);
            return true;
        }
    }

    /// <summary>The peers that announced <paramref name="cid"/>, in peer ID order.</summary>
    public IReadOnlyList<PeerId> ProvidersOf(Cid cid)
    {
        lock (_gate) return _providers.TryGetValue(cid.Hash, out var peers) ? peers.ToArray() : [];
    }

    /// <inheritdoc />
    public IAsyncEnumerable<PeerId> FindProvidersAsync(Cid cid, int max, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ProvidersOf(cid).Take(Math.Max(0, max)).ToAsyncEnumerable();
    }
}
