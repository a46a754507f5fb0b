using Bitswap.Domain.Multiformats;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host;
using Microsoft.Extensions.Logging;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli;

/// <summary>A Bitswap node running over a TCP host, with its metrics and optional message log; disposed in order.</summary>
public sealed class LiveNode : IAsyncDisposable
{
    private readonly Stream? _record;
    private readonly ILogger _logger;

    private LiveNode(TcpHost host, BitswapNode node, IBlockstore blockstore, BitswapMetrics metrics, Stream? record, ILogger logger)
    {
        _logger = logger;
        Host = host;
        Node = node;
        Blockstore = blockstore;
        Metrics = metrics;
        _record = record;
    }

    /// <summary>The libp2p host (listening, dialing, connections).</summary>
    public TcpHost Host { get; }

    /// <summary>The Bitswap node.</summary>
    public BitswapNode Node { get; }

    /// <summary>The node's blockstore.</summary>
    public IBlockstore Blockstore { get; }

    /// <summary>The node's <c>ipfs_bitswap_*</c> instruments.</summary>
    public BitswapMetrics Metrics { get; }

    /// <summary>Our peer ID.</summary>
    public PeerId Self => Host.Self;

    /// <summary>
    /// Starts a host on <paramref name="listen"/> (empty: dial only) and a node on it; with <paramref name="recordPath"/>
    /// every input the node processes goes to that message log (docs/message-log.md). With
    /// <paramref name="storeReceived"/> false, received blocks are only handed to their fetchers, never stored.
    /// <paramref name="providers"/> builds the node's provider finder over the host (delegated routing), or none;
    /// <paramref name="network"/> wraps the host (HTTP gateways beside it). <paramref name="peered"/> are the peers the user
    /// named: broadcast control always broadcasts to them, as Kubo does to its Peering.Peers.
    /// </summary>
    public static async Task<LiveNode> StartAsync(
        PeerIdentity identity, IBlockstore blockstore, IReadOnlyList<Multiaddr> listen, CliContext context, string? recordPath, CancellationToken cancellationToken,
        bool storeReceived = true, Func<TcpHost, Bitswap.Runtime.Network.IProviderFinder?>? providers = null,
        Func<TcpHost, Bitswap.Runtime.Network.IBitswapNetwork>? network = null, IReadOnlySet<PeerId>? peered = null)
    {
        var host = await TcpHost.StartAsync(identity, new TcpHostOptions { Listen = listen, LoggerFactory = context.Logs })
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        Stream? record = null;
        try
        {
            record = recordPath is null ? null : new FileStream(recordPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
            var options = BitswapOptions.Default with
            {
                LoggerFactory = context.Logs,
                RecordTo = record,
                StoreReceivedBlocks = storeReceived,
                Seed = (ulong)Random.Shared.NextInt64(),
                ProviderFinder = providers?.Invoke(host),
                PeeredPeers = peered ?? BitswapOptions.Default.PeeredPeers,
            };
            var node = BitswapNode.Create(identity.PeerId, network?.Invoke(host) ?? host, blockstore, options);
            return new LiveNode(host, node, blockstore, new BitswapMetrics(node), record, context.Logs.CreateLogger("Bitswap.Cli.LiveNode"));
        }
        catch
        {
            if (record is not null)
            {
                await record.DisposeAsync().ConfigureAwait(false);
            }

            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Dials a peer; any failure becomes one line naming the address.</summary>
    public async Task<PeerId> DialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        try
        {
            return await Host.DialAsync(address, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new CliError($"cannot reach {address}: {BitswapCli.Describe(error)}", error);
        }
    }

    /// <summary>Stops the node, then the host, then closes the message log.</summary>
    public async ValueTask DisposeAsync()
    {
        // Timed, because a close under a flood must stay bounded (issue 13) and this says which half took the time.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Node.DisposeAsync().ConfigureAwait(false);
        var node = clock.ElapsedMilliseconds;
        Metrics.Dispose();
        await Host.DisposeAsync().ConfigureAwait(false);
        _logger.LogDebug("closed: node in {Node} ms, host in {Host} ms", node, clock.ElapsedMilliseconds - node);
        if (_record is not null)
        {
            await _record.DisposeAsync().ConfigureAwait(false);
        }
    }
}
