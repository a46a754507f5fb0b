using System.Collections.Concurrent;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Addressing;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Daemon;

/// <summary>What the RPC handlers share: the running node, its repo, our identity, and the way to stop the daemon.</summary>
public sealed class DaemonState
{
    /// <summary>Most remembered dial addresses (one per peer connected through <c>swarm/connect</c>).</summary>
    public const int DialedAddressesMax = 4096;

    private readonly ConcurrentDictionary<PeerId, Multiaddr> _dialed = new();
    private readonly CancellationTokenSource _stop;

    /// <summary>Wraps a started node.</summary>
    public DaemonState(LiveNode node, FlatFsBlockstore repo, string repoPath, PeerIdentity identity, CancellationTokenSource stop)
    {
        Node = node;
        Repo = repo;
        RepoPath = repoPath;
        Identity = identity;
        _stop = stop;
    }

    /// <summary>The delegated routing client, when routing is on (<c>--routing</c>).</summary>
    public Routing.DelegatedRoutingClient? Routing { get; init; }

    /// <summary>The trustless gateway's URL, when one is served (<c>--gateway</c>).</summary>
    public Uri? Gateway { get; init; }

    /// <summary>The Bitswap node and its host.</summary>
    public LiveNode Node { get; }

    /// <summary>The flatfs repo every block is stored in and served from.</summary>
    public FlatFsBlockstore Repo { get; }

    /// <summary>The repo folder.</summary>
    public string RepoPath { get; }

    /// <summary>Our key.</summary>
    public PeerIdentity Identity { get; }

    /// <summary>Bounds of the DAG walks behind cat, get and dag/export.</summary>
    public Limits Limits { get; } = Limits.Default;

    /// <summary>Asks the daemon to stop (the <c>shutdown</c> command).</summary>
    public void RequestStop() => _stop.Cancel();

    /// <summary>A block from the repo, else from peers over Bitswap (it is stored as it arrives); waits until cancelled.</summary>
    public async ValueTask<Block> GetBlockAsync(Cid cid, CancellationToken cancellationToken)
    {
        if (await Repo.GetAsync(cid, cancellationToken).ConfigureAwait(false) is { } local)
        {
            return local;
        }

        return await Node.Node.GetBlockAsync(cid, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Remembers the address a peer was dialed on, for <c>swarm/peers</c>.</summary>
    public void Dialed(PeerId peer, Multiaddr address)
    {
        if (_dialed.Count >= DialedAddressesMax)
        {
            var connected = Node.Host.ConnectedPeers.ToHashSet();
            foreach (var stale in _dialed.Keys.Where(p => !connected.Contains(p)).ToList())
            {
                _dialed.TryRemove(stale, out _);
            }
        }

        if (_dialed.Count < DialedAddressesMax)
        {
            _dialed[peer] = address.WithoutPeer();
        }
    }

    /// <summary>The address a connected peer was dialed on, if we dialed it.</summary>
    public Multiaddr? DialedAddress(PeerId peer) => _dialed.TryGetValue(peer, out var address) ? address : null;
}
