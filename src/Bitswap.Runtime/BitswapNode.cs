using LanguageExt;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Network;
using Bitswap.Runtime.Recording;
using Bitswap.Runtime.Shell;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bitswap.Runtime;

/// <summary>
/// A Bitswap node (boxo bitswap.Bitswap): the pure reducers behind one event loop. Inputs go through a bounded mailbox,
/// then <c>ObserveOn</c> the node's single loop scheduler, then <c>Scan(Node.Handle)</c>; the resulting effects are
/// interpreted here (network sends, blockstore reads, timers, deliveries to local waiters). Queries read the latest
/// immutable state snapshot. Build with <c>BitswapNode.Create</c>; <see cref="DisposeAsync"/> is boxo's Close (Bitswap.Close).
/// </summary>
public sealed partial class BitswapNode : IAsyncDisposable
{
    private readonly IBitswapNetwork _network;
    private readonly IBlockstore _blockstore;
    private readonly BitswapOptions _options;
    private readonly IScheduler _clock;
    private readonly IScheduler _loopScheduler;
    private readonly EventLoopScheduler? _ownLoop;
    private readonly DateTimeOffset _origin;
    private readonly Mailbox _mailbox;
    private readonly FairInbox? _inbox;
    private readonly WorkerPool _blockstorePool;
    private readonly WorkerPool _finderPool;
    private readonly Waiters _waiters = new();
    private readonly Subject<BitswapEvent> _events = new();
    private readonly Subject<ReceivedBlock> _blocks = new();
    private readonly object _emitGate = new();
    private readonly ILogger _logger;
    private readonly MessageLogWriter? _recorder;
    private readonly TextWriter? _trace;
    private readonly System.Collections.Generic.HashSet<(TimerId Timer, long Deadline)> _armed = [];
    private readonly System.Collections.Generic.HashSet<Task> _background = [];
    private readonly object _gate = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly IDisposable _loop;
    private readonly IDisposable _networkSubscription;
    private readonly IDisposable? _pacing;
    private volatile NodeState _state;
    private long _lastSession;
    private int _closed;

    private BitswapNode(PeerId self, IBitswapNetwork network, IBlockstore blockstore, BitswapOptions options)
    {
        Self = self;
        _network = network;
        _blockstore = blockstore;
        _options = options;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bitswap.Node");
        var limits = options.EffectiveLimits;
        var virtualTime = options.Scheduler is VirtualTimeSchedulerBase<DateTimeOffset, TimeSpan>;
        _clock = options.Scheduler ?? Scheduler.Default;
        if (virtualTime)
        {
            // One scheduler drives everything, so a simulated run is reproducible from its seed.
            _loopScheduler = _clock;
        }
        else
        {
            _ownLoop = new EventLoopScheduler(start => new Thread(start) { IsBackground = true, Name = $"bitswap-loop {self.Short}" });
            _loopScheduler = _ownLoop;
        }

        var workerScheduler = virtualTime ? _clock : TaskPoolScheduler.Default;
        _origin = _clock.Now;
        _mailbox = new Mailbox(limits.MailboxCapacity, mayWait: !virtualTime);
        // In virtual time one thread drives everything and nothing may wait: messages go straight to the mailbox, in order.
        _inbox = virtualTime ? null : new FairInbox(_mailbox.Push, limits.MailboxBytesMax, options.InboundBytesPerPeerMax, options.InboundMessagesPerPeerMax);
        _blockstorePool = new WorkerPool(workerScheduler, limits.BlockstoreWorkerCount, e => ReportError("blockstore", null, e));
        _finderPool = new WorkerPool(workerScheduler, ProviderFindsInFlight, e => ReportError("routing", null, e));
        _trace = options.TraceTo;
        var config = options.ToNodeConfig();
        _state = NodeState.Create(self, config);
        if (options.RecordTo is not null)
        {
            _recorder = new MessageLogWriter(options.RecordTo, self, config);
        }

        var seed = new Turn(new Letter(null, false), null, 0, _state, Seq<Effect>.Empty);
        _loop = _mailbox.Letters
            .ObserveOn(_loopScheduler)
            .Select(letter => (Letter: UnlessClosing(letter), Clock: NowMs))
            .Scan(seed, (turn, next) => Reduce(turn, next.Letter, next.Clock))
            .Subscribe(OnTurn, OnLoopFailed);
        _pacing = (network as IPacedNetwork)?.PaceMessages(ArriveAsync);
        _networkSubscription = network.Events.Subscribe(OnNetworkEvent, e => ReportError("network", null, e));
    }

    /// <summary>
    /// A peer's message that reaches the loop after the node began to close is not reduced (its lease is still returned):
    /// under a flood, the last turn must not wait behind wantlists nobody will be answered for.
    /// </summary>
    private Letter UnlessClosing(Letter letter) => letter.Paced && !IsOnline ? letter with { Input = null } : letter;

    /// <summary>How long closing waits for the loop's last turn and for sends in flight.</summary>
    private static readonly TimeSpan CloseDrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Provider finds in flight at once (boxo providerquerymanager: 8).</summary>
    private const int ProviderFindsInFlight = 8;

    /// <summary>How long one provider find may take (boxo providerquerymanager: 10 s).</summary>
    private static readonly TimeSpan ProviderFindTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Our own peer ID.</summary>
    public PeerId Self { get; }

    /// <summary>False after <see cref="DisposeAsync"/>.</summary>
    public bool IsOnline => Volatile.Read(ref _closed) == 0;

    /// <summary>Every block received from a peer, wanted or not, with its sender and latency.</summary>
    public IObservable<ReceivedBlock> Blocks => _blocks.AsObservable();

    /// <summary>Messages in and out, peers up and down, wants and blocks sent, explanations and errors.</summary>
    public IObservable<BitswapEvent> Events => _events.AsObservable();

    /// <summary>The latest state the loop produced; immutable.</summary>
    public NodeState State => _state;

    /// <summary>The node's clock: milliseconds since the node was created, on the injected scheduler.</summary>
    public long NowMs => (_clock.Now - _origin).Ticks / TimeSpan.TicksPerMillisecond;

    /// <summary>boxo's New: builds a node and starts its loop; it reacts to the network at once.</summary>
    public static BitswapNode Create(PeerId self, IBitswapNetwork network, IBlockstore blockstore, BitswapOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(self);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(blockstore);
        return new BitswapNode(self, network, blockstore, options ?? BitswapOptions.Default);
    }

    /// <summary>Builds a node for the network's own peer ID.</summary>
    public static BitswapNode Create(IBitswapNetwork network, IBlockstore blockstore, BitswapOptions? options = null) =>
        Create(network.Self, network, blockstore, options);

    // ---------------------------------------------------------------- fetching

    /// <summary>Fetches one block in a session of its own (boxo's GetBlock). Cancelling withdraws the want.</summary>
    public Task<Block> GetBlockAsync(Cid cid, CancellationToken cancellationToken = default) =>
        FetchOneAsync(NextSession(), cid, temporary: true, cancellationToken);

    /// <summary>
    /// Fetches blocks in a session of their own (boxo's GetBlocks): each block once, in arrival order; completes when
    /// every block arrived. Disposing the subscription cancels the remaining wants.
    /// </summary>
    public IObservable<Block> GetBlocks(IEnumerable<Cid> cids) => Fetch(() => NextSession(), cids, temporary: true);

    /// <summary>The blocks of <see cref="GetBlocks"/> as an async stream; cancelling ends it and cancels the remaining wants.</summary>
    public IAsyncEnumerable<Block> GetBlocksAsync(IEnumerable<Cid> cids, CancellationToken cancellationToken = default) =>
        AsAsyncEnumerable(GetBlocks(cids), cancellationToken);

    /// <summary>A long-lived session (boxo's NewSession): its wants share peers and end with <see cref="BitswapSession.Dispose"/>.</summary>
    public BitswapSession NewSession()
    {
        ThrowIfClosed();
        return new BitswapSession(this, NextSession());
    }

    /// <summary>Withdraws a session's wants for these CIDs (boxo's CancelWants); their waiters are cancelled when the loop takes it.</summary>
    public void CancelWants(IEnumerable<Cid> cids, long session)
    {
        ThrowIfClosed();
        _mailbox.PostAnswer(new CancelWants(0, session, Prelude.toSeq(cids.Distinct().ToArray())));
    }

    // ---------------------------------------------------------------- adding blocks

    /// <summary>Adds one block: stores it, wakes local waiters and serves peers that want it (boxo's HasBlock).</summary>
    public Task HasBlockAsync(Block block, CancellationToken cancellationToken = default) => NotifyNewBlocksAsync([block], cancellationToken);

    /// <summary>Adds blocks (boxo's NotifyNewBlocks).</summary>
    public Task NotifyNewBlocksAsync(params Block[] blocks) => NotifyNewBlocksAsync(blocks, CancellationToken.None);

    /// <summary>
    /// Adds blocks: stores each one, then tells the loop, which wakes local waiters and serves peers that want them.
    /// A block already held is not an error (boxo NotifyNewBlocks does not check; go-bitswap's old ErrAlreadyHaveBlock was
    /// only raised on the receive path, where this node counts the block as a duplicate instead).
    /// </summary>
    public async Task NotifyNewBlocksAsync(IReadOnlyList<Block> blocks, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (blocks.Count == 0)
        {
            return;
        }

        // The loop hears of at most HasBlockBufferSize blocks per input (boxo HasBlockBufferSize), and each batch waits
        // for room in the mailbox, so a huge add cannot flood the loop.
        foreach (var batch in blocks.DistinctBy(b => b.Cid).Chunk(Math.Max(1, _options.EffectiveLimits.HasBlockBufferSize)))
        {
            foreach (var block in batch)
            {
                await _blockstore.PutAsync(block, cancellationToken).ConfigureAwait(false);
            }

            await _mailbox.PostAsync(new BlocksAdded(0, Prelude.toSeq(batch)), cancellationToken).ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- network delegate (boxo's Receiver)

    /// <summary>Tells the node a peer connected (boxo's PeerConnected); the version is the network's, else 1.2.0.</summary>
    public void PeerConnected(PeerId peer) => OnNetworkEvent(new PeerUp(peer, _network.VersionOf(peer) ?? ProtocolVersion.V120));

    /// <summary>Tells the node a peer disconnected (boxo's PeerDisconnected).</summary>
    public void PeerDisconnected(PeerId peer) => OnNetworkEvent(new PeerDown(peer));

    /// <summary>Hands the node a message from a peer (boxo's ReceiveMessage).</summary>
    public void ReceiveMessage(PeerId peer, Message message) =>
        OnNetworkEvent(new MessageArrived(peer, _network.VersionOf(peer) ?? ProtocolVersion.V120, message, 0));

    /// <summary>Reports a receive error (boxo's ReceiveError): logged and put on <see cref="Events"/>.</summary>
    public void ReceiveError(Exception error) => ReportError("receive", null, error);

    // ---------------------------------------------------------------- queries

    /// <summary>The CIDs the client wants now, sorted.</summary>
    public IReadOnlyList<Cid> GetWantlist() => [.. _state.Client.Wantlist];

    /// <summary>A peer's wantlist as the server sees it; for our own ID, our own wantlist (seed behaviour).</summary>
    public IReadOnlyList<Cid> WantlistForPeer(PeerId peer) =>
        peer == Self ? GetWantlist() : [.. _state.Server.WantlistOf(peer).Where(e => !e.Cancel).Select(e => e.Cid)];

    /// <summary>The server's ledger receipt for a peer (boxo's LedgerForPeer).</summary>
    public Receipt LedgerForPeer(PeerId peer) => _state.Server.ReceiptOf(peer);

    /// <summary>The sessions that want a CID now.</summary>
    public IReadOnlyList<long> SessionsForBlock(Cid cid) => [.. _state.Client.SessionsWanting(cid)];

    /// <summary>Counters of both sides (boxo's Stat).</summary>
    public BitswapStat Stat()
    {
        var state = _state;
        var client = state.Client;
        var server = state.Server;
        return new BitswapStat(
            Prelude.toSeq(client.Wantlist),
            Prelude.toSeq(server.Peers.OrderBy(p => p)),
            client.BlocksReceived,
            client.DataReceived,
            client.DupBlocksReceived,
            client.DupDataReceived,
            client.MessagesReceived,
            server.BlocksSent,
            server.DataSent,
            client.BroadcastSkips);
    }

    /// <summary>go-bitswap's WantManager, as a thin view over this node.</summary>
    public WantManager WantManager => new(this);

    // ---------------------------------------------------------------- lifetime

    /// <summary>
    /// boxo's Close: stops the loop, cancels timers and blockstore work, and fails every pending fetch with
    /// <see cref="ObjectDisposedException"/>. Fetches after this fail at once. The network stays open (its owner closes it).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        var closing = System.Diagnostics.Stopwatch.StartNew();
        _pacing?.Dispose();
        _networkSubscription.Dispose();
        // Streams waiting for room are let go (their messages dropped), and queued messages will not hold the last turn back.
        _inbox?.Close();
        var stop = new Stop(new ObjectDisposedException(nameof(BitswapNode), "bitswap is closed"));
        if (_ownLoop is null)
        {
            // In virtual time the caller's thread drives the scheduler and the loop is idle now: no letter needed.
            _mailbox.Close();
            _waiters.FailAll(stop.Reason);
        }
        else
        {
            // The waiters belong to the loop: it fails them in its last turn, after every letter posted before.
            _mailbox.Close(new Letter(null, false, stop));
            await Task.WhenAny(stop.Done.Task, Task.Delay(CloseDrainTimeout)).ConfigureAwait(false);
        }

        var lastTurn = closing.Elapsed;
        _loop.Dispose();
        await _closing.CancelAsync().ConfigureAwait(false);
        await _blockstorePool.StopAsync().ConfigureAwait(false);
        await _finderPool.StopAsync().ConfigureAwait(false);
        Task[] sends;
        lock (_gate)
        {
            sends = [.. _background];
        }

        // Sends were cancelled above; a transport that does not honour that still cannot hold the close for long.
        await Task.WhenAny(Task.WhenAll(sends), Task.Delay(CloseDrainTimeout)).ConfigureAwait(false);
        _logger.LogDebug("bitswap node {Self} closed in {Total} ms (last turn after {LastTurn} ms, {Sends} sends in flight)", Self.Short, closing.ElapsedMilliseconds, (long)lastTurn.TotalMilliseconds, sends.Length);
        _recorder?.Dispose();
        _trace?.Flush();
        lock (_emitGate)
        {
            _events.OnCompleted();
            _blocks.OnCompleted();
        }

        _ownLoop?.Dispose();
        _mailbox.Dispose();
    }

    // ---------------------------------------------------------------- internals used by sessions

    internal Task<Block> FetchOneAsync(long session, Cid cid, bool temporary, CancellationToken cancellationToken)
    {
        if (!IsOnline)
        {
            return Task.FromException<Block>(new ObjectDisposedException(nameof(BitswapNode), "bitswap is closed"));
        }

        if (cid is null)
        {
            return Task.FromException<Block>(new BlockNotFoundException("an undefined CID cannot be fetched"));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<Block>(cancellationToken);
        }

        // The caller gets the answer's own task, so it is complete the moment the loop delivers the block (in virtual
        // time, before the scheduler moves on); the caller's continuations still run off the loop thread.
        var answer = new TaskCompletionSource<Block>(TaskCreationOptions.RunContinuationsAsynchronously);
        var starting = StartFetchAsync(answer, session, cid, temporary, cancellationToken);
        Track(starting);
        return answer.Task;
    }

    /// <summary>Checks the blockstore, then posts the want with its waiter to the loop; every failure lands in <paramref name="answer"/>.</summary>
    private async Task StartFetchAsync(TaskCompletionSource<Block> answer, long session, Cid cid, bool temporary, CancellationToken cancellationToken)
    {
        try
        {
            var local = await _blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false);
            if (local is not null)
            {
                answer.TrySetResult(local);
                return;
            }

            CancellationTokenRegistration registration = default;
            var waiter = new Waiter(session, cid,
                block =>
                {
                    registration.Dispose();
                    if (answer.TrySetResult(block) && temporary)
                    {
                        _mailbox.PostAnswer(new CloseSession(0, session));
                    }
                },
                error =>
                {
                    registration.Dispose();
                    answer.TrySetException(error);
                });
            await _mailbox.PostAsync(new WantBlocks(0, session, Prelude.Seq1(cid)), new Watch([waiter]), cancellationToken).ConfigureAwait(false);
            registration = cancellationToken.Register(() =>
            {
                // The caller stops waiting now; the loop drops the waiter and withdraws the want in the order it was posted.
                if (answer.TrySetCanceled(cancellationToken))
                {
                    _mailbox.PostWork(temporary ? new CloseSession(0, session) : new CancelWants(0, session, Prelude.Seq1(cid)), new Unwatch([waiter]));
                }
            });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            answer.TrySetCanceled(cancellationToken);
        }
        catch (Exception error)
        {
            answer.TrySetException(error);
        }
    }

    internal IObservable<Block> Fetch(Func<long> session, IEnumerable<Cid> cids, bool temporary) =>
        Observable.Create<Block>(async (observer, cancellationToken) =>
        {
            ThrowIfClosed();
            var wanted = cids.Distinct().ToList();
            if (wanted.Any(c => c is null))
            {
                throw new BlockNotFoundException("an undefined CID cannot be fetched");
            }

            var id = session();
            var remaining = new System.Collections.Generic.HashSet<Cid>();
            foreach (var cid in wanted)
            {
                var local = await _blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false);
                if (local is not null)
                {
                    observer.OnNext(local);
                }
                else
                {
                    remaining.Add(cid);
                }
            }

            if (remaining.Count == 0)
            {
                observer.OnCompleted();
                return Disposable.Empty;
            }

            // Callbacks run on the loop thread; the lock is for the disposal, which reads what is left from the caller's thread.
            var finished = false;
            var waiters = new List<Waiter>();
            foreach (var cid in wanted.Where(remaining.Contains))
            {
                waiters.Add(new Waiter(id, cid,
                    block =>
                    {
                        bool last;
                        lock (remaining)
                        {
                            if (finished || !remaining.Remove(block.Cid))
                            {
                                return;
                            }

                            last = remaining.Count == 0;
                            finished = last;
                        }

                        observer.OnNext(block);
                        if (last)
                        {
                            observer.OnCompleted();
                        }
                    },
                    error =>
                    {
                        lock (remaining)
                        {
                            if (finished)
                            {
                                return;
                            }

                            finished = true;
                        }

                        observer.OnError(error);
                    }));
            }

            await _mailbox.PostAsync(new WantBlocks(0, id, Prelude.toSeq(waiters.Select(w => w.Cid))), new Watch(waiters), cancellationToken).ConfigureAwait(false);
            return Disposable.Create(() =>
            {
                if (!IsOnline)
                {
                    return;
                }

                Cid[] left;
                lock (remaining)
                {
                    finished = true;
                    left = [.. remaining.Order()];
                }

                // The loop drops the waiters and withdraws what is still wanted.
                Input? end = temporary ? new CloseSession(0, id) : left.Length > 0 ? new CancelWants(0, id, Prelude.toSeq(left)) : null;
                _mailbox.PostWork(end, new Unwatch(waiters));
            });
        });

    /// <summary>
    /// Fetches blocks and calls <paramref name="onBlock"/> for each as it arrives, on the node's loop thread, once per
    /// CID; completes when every block arrived. The block passed may be lent from a pooled receive buffer: it is valid
    /// only during the call (use <see cref="Block.Detached"/> to keep it). This is the zero-copy path; the callback must
    /// be quick and must not block. Blocks already held locally are passed first, from the caller's thread.
    /// </summary>
    public Task FetchAsync(IEnumerable<Cid> cids, Action<Block> onBlock, CancellationToken cancellationToken = default) =>
        FetchAsync(null, cids, onBlock, cancellationToken);

    /// <summary><see cref="FetchAsync(IEnumerable{Cid}, Action{Block}, CancellationToken)"/> in a given session, or a temporary one when null.</summary>
    internal async Task FetchAsync(long? inSession, IEnumerable<Cid> cids, Action<Block> onBlock, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        ArgumentNullException.ThrowIfNull(onBlock);
        var wanted = cids.Distinct().ToList();
        var missing = new List<Cid>();
        foreach (var cid in wanted)
        {
            var local = await _blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false);
            if (local is null)
            {
                missing.Add(cid);
            }
            else
            {
                onBlock(local);
            }
        }

        if (missing.Count == 0)
        {
            return;
        }

        var session = inSession ?? NextSession();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var left = missing.Count;
        var waiters = missing.ConvertAll(cid => new Waiter(session, cid,
            block =>
            {
                onBlock(block);
                if (--left == 0)
                {
                    done.TrySetResult();
                }
            },
            error => done.TrySetException(error),
            borrows: true));
        await _mailbox.PostAsync(new WantBlocks(0, session, Prelude.toSeq(missing)), new Watch(waiters), cancellationToken).ConfigureAwait(false);
        try
        {
            await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (IsOnline)
            {
                // A temporary session ends here; in a long-lived one only what is still wanted is withdrawn.
                Input? end = inSession is null
                    ? new CloseSession(0, session)
                    : done.Task.IsCompletedSuccessfully ? null : new CancelWants(0, session, Prelude.toSeq(missing));
                _mailbox.PostWork(end, new Unwatch(waiters));
            }
        }
    }

    internal void CloseSession(long session)
    {
        if (IsOnline)
        {
            // The loop fails every waiter of the session when it takes this letter, including those whose want is still queued ahead of it.
            _mailbox.PostAnswer(new CloseSession(0, session));
        }
    }

    internal void Post(Input input) => _mailbox.PostAnswer(input);

    internal IBitswapNetwork Network => _network;

    internal static async IAsyncEnumerable<Block> AsAsyncEnumerable(IObservable<Block> blocks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Unbounded in form only: a fetch yields at most one block per distinct CID asked for.
        var channel = Channel.CreateUnbounded<Block>(new UnboundedChannelOptions { SingleReader = true });
        using var subscription = blocks.Subscribe(
            b => channel.Writer.TryWrite(b),
            e => channel.Writer.TryComplete(e),
            () => channel.Writer.TryComplete());
        await foreach (var block in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return block;
        }
    }

    private long NextSession() => Interlocked.Increment(ref _lastSession);

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(!IsOnline, this);
}
