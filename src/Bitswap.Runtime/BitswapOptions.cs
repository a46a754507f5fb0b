using System.Reactive.Concurrency;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Network;
using Microsoft.Extensions.Logging;

namespace Bitswap.Runtime;

/// <summary>
/// How a <see cref="BitswapNode"/> is built (boxo's functional options, as one record). Defaults are boxo's.
/// </summary>
public sealed record BitswapOptions
{
    /// <summary>The defaults: server on, boxo limits, seed 0, wall-clock scheduling.</summary>
    public static readonly BitswapOptions Default = new();

    /// <summary>Server messages in flight at once (boxo TaskWorkerCount, 8); copied into <see cref="Limits"/>.</summary>
    public int TaskWorkerCount { get; init; } = Limits.Default.TaskWorkerCount;

    /// <summary>Most blocks one BlocksAdded input carries to the loop (boxo HasBlockBufferSize, 256); copied into <see cref="Limits"/>.</summary>
    public int HasBlockBufferSize { get; init; } = Limits.Default.HasBlockBufferSize;

    /// <summary>False for a client-only node (boxo WithServerEnabled).</summary>
    public bool ServerEnabled { get; init; } = true;

    /// <summary>Every bound.</summary>
    public Limits Limits { get; init; } = Limits.Default;

    /// <summary>
    /// Received bytes one peer may have waiting for the loop (the node's total is <see cref="Limits.MailboxBytesMax"/>);
    /// past it that peer's stream waits. Ours: two of the largest messages, so a flooder holds at most half the node's budget.
    /// </summary>
    public long InboundBytesPerPeerMax { get; init; } = 2L * Limits.Default.MessageBytesMax;

    /// <summary>Messages one peer may have waiting for the loop or for their blocks to be stored (ours).</summary>
    public int InboundMessagesPerPeerMax { get; init; } = 256;

    /// <summary>The seed of every random choice the node makes; the same seed and inputs give the same run.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// The clock and timer scheduler. Null means wall-clock time with the node loop on its own event-loop thread.
    /// A virtual-time scheduler (<see cref="HistoricalScheduler"/>, any <see cref="VirtualTimeSchedulerBase{TAbsolute, TRelative}"/>)
    /// also runs the loop, the blockstore workers and the answers, so a run is driven by that scheduler alone and reproducible.
    /// </summary>
    public IScheduler? Scheduler { get; init; }

    /// <summary>Where the node logs; null logs nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Finds providers for session wants; null finds none.</summary>
    public IProviderFinder? ProviderFinder { get; init; }

    /// <summary>Store received wanted blocks in the blockstore before delivering them (default true); the server then serves them to others.</summary>
    public bool StoreReceivedBlocks { get; init; } = true;

    /// <summary>The server answers DONT_HAVE when asked to (boxo SetSendDontHaves, default true).</summary>
    public bool SendDontHaves { get; init; } = true;

    /// <summary>The client simulates DONT_HAVE on unanswered want-blocks (boxo SetSimulateDontHavesOnTimeout, default true).</summary>
    public bool SimulateDontHaves { get; init; } = true;

    /// <summary>Peer block request filter (boxo WithPeerBlockRequestFilter); null allows every request.</summary>
    public Func<PeerId, Cid, bool>? RequestFilter { get; init; }

    /// <summary>A stream the node records every input it processes to (see docs/message-log.md); null records nothing.</summary>
    public Stream? RecordTo { get; init; }

    /// <summary>A writer the node prints its trace to (one line per input and per effect); null prints nothing.</summary>
    public TextWriter? TraceTo { get; init; }

    /// <summary>
    /// Which peers get want-have broadcasts (boxo#937). On by default, as in Kubo 0.36+ (Internal.Bitswap.BroadcastControl):
    /// only peers that sent us a block or HAVE, local peers and <see cref="PeeredPeers"/>; <see cref="BroadcastControl.Disabled"/>
    /// broadcasts to every peer, as boxo does by default.
    /// </summary>
    public BroadcastControl BroadcastControl { get; init; } = BroadcastControl.Default;

    /// <summary>Peers configured for peering (Kubo Peering.Peers): broadcast control always broadcasts to them.</summary>
    public IReadOnlySet<PeerId> PeeredPeers { get; init; } = new System.Collections.Generic.HashSet<PeerId>();

    /// <summary>Returns these options recording to <paramref name="stream"/>.</summary>
    public BitswapOptions WithRecordTo(Stream stream) => this with { RecordTo = stream };

    /// <summary>The reducer configuration these options describe; decisions are explained when recording or tracing.</summary>
    public NodeConfig ToNodeConfig() =>
        new(EffectiveLimits, Seed, ServerEnabled, SendDontHaves, SimulateDontHaves, RequestFilter, Explain: RecordTo is not null || TraceTo is not null)
        {
            BroadcastControl = BroadcastControl,
        };

    /// <summary>The limits with the top-level worker and buffer counts folded in.</summary>
    public Limits EffectiveLimits => Limits with { TaskWorkerCount = TaskWorkerCount, HasBlockBufferSize = HasBlockBufferSize };
}
