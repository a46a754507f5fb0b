using System.Reactive.Concurrency;
using System.Text;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Network;

using Bitswap.Runtime;

namespace Bitswap.Testing;

/// <summary>One simulated Bitswap node (boxo testinstance.Instance): its identity, node, blockstore and network port.</summary>
public sealed class Instance : IAsyncDisposable
{
    internal Instance(PeerId peer, BitswapNode node, MemoryBlockstore blockstore, IBitswapNetwork network)
    {
        Peer = peer;
        Node = node;
        Blockstore = blockstore;
        Network = network;
    }

    /// <summary>The instance's peer ID.</summary>
    public PeerId Peer { get; }

    /// <summary>The Bitswap node (boxo Exchange).</summary>
    public BitswapNode Node { get; }

    /// <summary>Its blockstore.</summary>
    public MemoryBlockstore Blockstore { get; }

    /// <summary>Its port on the virtual network (boxo Adapter).</summary>
    public IBitswapNetwork Network { get; }

    /// <summary>Closes the node (boxo's Exchange.Close); the network port stays joined.</summary>
    public ValueTask CloseAsync() => Node.DisposeAsync();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => CloseAsync();
}

/// <summary>
/// Makes simulated nodes on one virtual network (boxo testinstance.NewTestInstanceGenerator). Peer IDs and seeds are
/// derived from the generator's seed and a counter, so the same generator calls give the same nodes; every node runs on
/// the network's scheduler (virtual time when the network's is virtual).
/// </summary>
public sealed class SessionGenerator : IAsyncDisposable
{
    private readonly VirtualNetwork _network;
    private readonly Func<int, BitswapOptions> _options;
    private readonly Func<int, ProtocolVersion> _versions;
    private readonly List<Instance> _instances = [];
    private readonly ulong _seed;

    /// <summary>
    /// A generator on <paramref name="network"/>. <paramref name="options"/> gives each node's options from its index
    /// (its scheduler, seed and provider finder are filled in when left null); <paramref name="versions"/> the Bitswap
    /// version each node speaks (1.2.0 by default); <paramref name="routing"/> the shared provider records.
    /// </summary>
    public SessionGenerator(
        VirtualNetwork network,
        IScheduler scheduler,
        ulong seed = 0,
        Func<int, BitswapOptions>? options = null,
        Func<int, ProtocolVersion>? versions = null,
        VirtualRouting? routing = null)
    {
        _network = network;
        Scheduler = scheduler;
        _seed = seed;
        _options = options ?? (_ => BitswapOptions.Default);
        _versions = versions ?? (_ => ProtocolVersion.V120);
        Routing = routing ?? new VirtualRouting();
    }

    /// <summary>The scheduler every node runs on.</summary>
    public IScheduler Scheduler { get; }

    /// <summary>The provider records every node searches.</summary>
    public VirtualRouting Routing { get; }

    /// <summary>The virtual network.</summary>
    public VirtualNetwork Network => _network;

    /// <summary>The instances made so far, in order.</summary>
    public IReadOnlyList<Instance> All => _instances;

    /// <summary>A deterministic peer ID for an index: the sha2-256 multihash of a label (not a key: simulation only).</summary>
    public static PeerId PeerFor(ulong seed, int index)
    {
        var label = Encoding.UTF8.GetBytes($"bitswap-sim-{seed}-{index}");
        return new PeerId(Multihash.Compute(MultihashCode.Sha2_256, label).Match(h => h, e => throw new InvalidOperationException(e.ToString())));
    }

    /// <summary>Makes the next instance (boxo testinstance's Next); it is joined to the network but connected to no one.</summary>
    public Instance Next()
    {
        var index = _instances.Count;
        var peer = PeerFor(_seed, index);
        var port = _network.Join(peer, _versions(index));
        var blockstore = new MemoryBlockstore(_network.Options.Limits);
        var options = _options(index);
        options = options with
        {
            Scheduler = options.Scheduler ?? Scheduler,
            Seed = options.Seed == 0 ? Domain.Node.DeriveSeed(_seed, (ulong)index + 1) : options.Seed,
            ProviderFinder = options.ProviderFinder ?? Routing,
        };
        var instance = new Instance(peer, BitswapNode.Create(peer, port, blockstore, options), blockstore, port);
        _instances.Add(instance);
        return instance;
    }

    /// <summary>Makes <paramref name="count"/> instances and connects every pair (boxo testinstance's Instances and ConnectInstances).</summary>
    public IReadOnlyList<Instance> Instances(int count)
    {
        var made = Enumerable.Range(0, count).Select(_ => Next()).ToList();
        for (var i = 0; i < made.Count; i++)
        {
            for (var j = i + 1; j < made.Count; j++)
            {
                _network.Connect(made[i].Peer, made[j].Peer);
            }
        }

        return made;
    }

    /// <summary>Closes every instance (boxo testinstance's Close).</summary>
    public async ValueTask CloseAsync()
    {
        foreach (var instance in _instances)
        {
            await instance.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => CloseAsync();
}
