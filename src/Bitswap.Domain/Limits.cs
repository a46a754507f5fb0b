namespace Bitswap.Domain;

/// <summary>
/// Every bound in the library, in one place, with boxo's defaults (ipfs/boxo bitswap, see bitswap-reference.md §4).
/// Durations are in milliseconds of the caller's clock so the domain stays clock-free.
/// </summary>
public sealed record Limits
{
    /// <summary>The defaults used by boxo and the spec.</summary>
    public static readonly Limits Default = new();

    // ---- wire (spec; libp2p MessageSizeMax = 1 << 22) ----

    /// <summary>Largest message read from or written to a stream (spec MUST: 4 MiB).</summary>
    public int MessageBytesMax { get; init; } = 4 * 1024 * 1024;

    /// <summary>Largest block accepted or sent (spec: 2 MiB; boxo chunker.BlockSizeLimit).</summary>
    public int BlockBytesMax { get; init; } = 2 * 1024 * 1024;

    /// <summary>Longest CID accepted from a peer (boxo MaximumAllowedCid).</summary>
    public int CidBytesMax { get; init; } = 168;

    // ---- server (boxo bitswap/server, decision engine, go-peertaskqueue) ----

    /// <summary>Wants kept per peer (boxo MaxQueuedWantlistEntiresPerPeer, CVE-2023-25568).</summary>
    public int WantlistEntriesPerPeerMax { get; init; } = 1024;

    /// <summary>Bytes of popped-but-unsent work per peer (boxo MaxOutstandingBytesPerPeer).</summary>
    public int OutstandingBytesPerPeerMax { get; init; } = 1024 * 1024;

    /// <summary>Work popped into one outgoing server message when the peer has no backlog (boxo TargetMessageSize, a floor).</summary>
    public int TargetMessageBytes { get; init; } = 16 * 1024;

    /// <summary>
    /// Work popped into one message while the peer's pending work exceeds it: blocks then travel together instead of
    /// 16 KiB at a time. As large as <see cref="OutstandingBytesPerPeerMax"/> allows (1 MiB, under the 4 MiB
    /// <see cref="MessageBytesMax"/>): Helia's server puts every block it has for a peer in one message split at 4 MiB, and
    /// a Helia receiver pays per message, so 256 KiB chunks sent one per message reached it about 20% slower.
    /// </summary>
    public int BacklogMessageBytes { get; init; } = 1024 * 1024;

    /// <summary>A want-have for a block of at most this size is answered with the block (boxo DefaultWantHaveReplaceSize).</summary>
    public int WantHaveReplaceBytes { get; init; } = 1024;

    /// <summary>Server envelopes loading or being built at once (boxo TaskWorkerCount); one handed to the network only counts against its peer's outstanding bytes.</summary>
    public int TaskWorkerCount { get; init; } = 8;

    /// <summary>Blockstore reads in flight at once (boxo EngineBlockstoreWorkerCount).</summary>
    public int BlockstoreWorkerCount { get; init; } = 128;

    /// <summary>A peer not served for this long counts as starved (boxo fair scheduler, #1143).</summary>
    public long StarvationMs { get; init; } = 10_000;

    /// <summary>Pending tasks counted when ranking peers (boxo fair scheduler pending cap).</summary>
    public int PendingTasksRankCap { get; init; } = 16;

    /// <summary>Pending tasks kept per peer; a wantlist flood beyond this is dropped, oldest kept.</summary>
    public int PendingTasksPerPeerMax { get; init; } = 1024;

    /// <summary>Score ledger short-term EWMA period (boxo scoreledger shortTerm).</summary>
    public long ScorePeriodMs { get; init; } = 10_000;

    // ---- client (boxo bitswap/client) ----

    /// <summary>Largest client wantlist message before it is split (boxo messagequeue maxMessageSize).</summary>
    public int ClientMessageBytesMax { get; init; } = 2 * 1024 * 1024;

    /// <summary>Overflow is sent at once only if at least this many entries remain (boxo sendMessageCutoff).</summary>
    public int SendMessageCutoffEntries { get; init; } = 256;

    /// <summary>Wants a session broadcasts before it knows any peer (boxo broadcastLiveWantsLimit).</summary>
    public int BroadcastLiveWantsMax { get; init; } = 64;

    /// <summary>Consecutive DONT_HAVEs before a session prunes a peer (boxo peerDontHaveLimit).</summary>
    public int PeerDontHaveLimit { get; init; } = 16;

    /// <summary>Unanswered wants are re-sent after this long (boxo rebroadcastInterval).</summary>
    public long RebroadcastIntervalMs { get; init; } = 30_000;

    /// <summary>How often unanswered wants are checked for rebroadcast (boxo: every 15 s).</summary>
    public long RebroadcastCheckMs { get; init; } = 15_000;

    /// <summary>Simulated DONT_HAVE timeout before latency is known (boxo donthavetimeoutmgr.go dontHaveTimeout).</summary>
    public long DontHaveTimeoutMs { get; init; } = 5_000;

    /// <summary>Longest a peer is expected to take to process wants before it answers (boxo donthavetimeoutmgr.go maxExpectedWantProcessTime).</summary>
    public long WantProcessTimeMaxMs { get; init; } = 2_000;

    /// <summary>Latencies a want may take on top of the processing time (boxo donthavetimeoutmgr.go pingLatencyMultiplier).</summary>
    public int DontHaveLatencyMultiplier { get; init; } = 3;

    /// <summary>Lower clamp of the DONT_HAVE timeout (boxo DontHaveTimeoutConfig MinTimeout, boxo#965).</summary>
    public long DontHaveTimeoutMinMs { get; init; } = 50;

    /// <summary>Upper clamp of the DONT_HAVE timeout (boxo donthavetimeoutmgr.go maxTimeout = dontHaveTimeout + maxExpectedWantProcessTime).</summary>
    public long DontHaveTimeoutMaxMs { get; init; } = 7_000;

    /// <summary>Latency samples above this are ignored (boxo maxValidLatency).</summary>
    public long LatencySampleMaxMs { get; init; } = 30_000;

    /// <summary>First idle tick of a session (boxo ProvSearchDelay).</summary>
    public long ProviderSearchDelayMs { get; init; } = 1_000;

    /// <summary>Base of later idle ticks (boxo baseTickDelay).</summary>
    public long BaseTickDelayMs { get; init; } = 500;

    /// <summary>Providers taken per find (boxo BitswapClientDefaultMaxProviders).</summary>
    public int ProvidersPerFindMax { get; init; } = 10;

    /// <summary>Per-peer send debounce per connected peer, in microseconds (boxo: 125 µs × peers).</summary>
    public long SendDelayPerPeerMicros { get; init; } = 125;

    /// <summary>Lower clamp of the send debounce (boxo: 20 ms).</summary>
    public long SendDelayMinMs { get; init; } = 20;

    /// <summary>Upper clamp of the send debounce (boxo: 2 s).</summary>
    public long SendDelayMaxMs { get; init; } = 2_000;

    /// <summary>Wants one caller may have outstanding in the client at once; more are refused rather than queued without bound.</summary>
    public int ClientWantsMax { get; init; } = 1 << 20;

    /// <summary>Sessions open in the client at once; boxo has no cap (sessions end with their context), so this only bounds state.</summary>
    public int ClientSessionsMax { get; init; } = 1 << 16;

    /// <summary>Recently received CIDs remembered to count a second copy as a duplicate (boxo counts only blockstore hits; this bounds the extra memory).</summary>
    public int ClientRecentBlocksMax { get; init; } = 4096;

    /// <summary>After a failed client send, the queue waits this long before retrying (boxo messagequeue gives up after 3 tries 100 ms apart; we retry at the longest debounce).</summary>
    public long ClientSendRetryMs { get; init; } = 2_000;

    // ---- shell (runtime) ----

    /// <summary>Inputs waiting in a node's mailbox before posting blocks (back-pressure).</summary>
    public int MailboxCapacity { get; init; } = 4096;

    /// <summary>
    /// Bytes of received messages a node holds between the network and the end of their turn (stored and delivered):
    /// past it, the receiving connection waits, so a loop that falls behind slows the network instead of filling memory.
    /// Ours: four of the largest messages (MessageBytesMax).
    /// </summary>
    public long MailboxBytesMax { get; init; } = 16L * 1024 * 1024;

    /// <summary>Blocks buffered between HasBlock and the node loop (boxo HasBlockBufferSize).</summary>
    public int HasBlockBufferSize { get; init; } = 256;

    // ---- dag (UnixFS, CAR) ----

    /// <summary>Largest CARv1 header accepted (go-car v2 DefaultMaxAllowedHeaderSize: 32 MiB).</summary>
    public int CarHeaderBytesMax { get; init; } = 32 * 1024 * 1024;

    /// <summary>Largest CARv1 section (CID plus block) accepted (go-car v2 DefaultMaxAllowedSectionSize: 8 MiB).</summary>
    public int CarSectionBytesMax { get; init; } = 8 * 1024 * 1024;

    /// <summary>Deepest DAG walked: 174-link nodes over 256 KiB leaves hold over 1 TB within 4 levels, so 64 only stops hostile or degenerate DAGs.</summary>
    public int DagDepthMax { get; init; } = 64;

    /// <summary>Blocks a DAG walk fetches at once.</summary>
    public int DagFetchConcurrency { get; init; } = 32;
}
