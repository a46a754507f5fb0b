using System.Collections.Concurrent;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Tests.Interop;

/// <summary>Wraps a network port and remembers every message handed to it, so tests can see what we told a peer.</summary>
internal sealed class RecordingNetwork(IBitswapNetwork inner) : IBitswapNetwork
{
    /// <summary>Every message sent, in order, with its destination.</summary>
    public ConcurrentQueue<(PeerId Peer, Message Message)> Sent { get; } = new();

    public PeerId Self => inner.Self;
    public IObservable<NetworkEvent> Events => inner.Events;
    public IReadOnlyCollection<PeerId> ConnectedPeers => inner.ConnectedPeers;
    public NetworkStats Stats => inner.Stats;

    /// <summary>Every send that failed, with its error: what a test that waits for a message reports when it never came.</summary>
    public ConcurrentQueue<(PeerId Peer, Message Message, string Error)> Failed { get; } = new();

    public async ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
    {
        try
        {
            await inner.SendAsync(peer, message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            Failed.Enqueue((peer, message, error.Message));
            throw;
        }

        Sent.Enqueue((peer, message));
    }

    public ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default) => inner.ConnectAsync(peer, cancellationToken);
    public ValueTask DisconnectAsync(PeerId peer) => inner.DisconnectAsync(peer);
    public ProtocolVersion? VersionOf(PeerId peer) => inner.VersionOf(peer);
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>One of our nodes on the real TCP transport: a host, a memory blockstore and a Bitswap node over them.</summary>
internal sealed class InteropNode : IAsyncDisposable
{
    private InteropNode(TcpHost host, RecordingNetwork network, MemoryBlockstore blockstore, BitswapNode node)
    {
        Host = host;
        Network = network;
        Blockstore = blockstore;
        Node = node;
    }

    public TcpHost Host { get; }
    public RecordingNetwork Network { get; }
    public MemoryBlockstore Blockstore { get; }
    public BitswapNode Node { get; }
    public PeerId Peer => Host.Self;
    public string Address => Host.ListenAddresses[0].ToString();

    public static async Task<InteropNode> StartAsync(TextWriter? trace = null)
    {
        var host = await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions());
        var network = new RecordingNetwork(host);
        var blockstore = new MemoryBlockstore();
        var node = BitswapNode.Create(host.Self, network, blockstore, new BitswapOptions { TraceTo = trace });
        return new InteropNode(host, network, blockstore, node);
    }

    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync();
        await Host.DisposeAsync();
    }
}
