using LanguageExt;
using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Runtime.Recording;
using Bitswap.Runtime.Shell;
using Microsoft.Extensions.Logging;

namespace Bitswap.Runtime;

/// <summary>The loop and the effect interpreters: everything here runs on the loop scheduler unless it says otherwise.</summary>
public sealed partial class BitswapNode
{
    /// <summary>One turn of the loop: the letter, its input stamped with the loop's time, the state after it and the effects to interpret.</summary>
    private sealed record Turn(Letter Letter, Input? Input, long Now, NodeState State, Seq<Effect> Effects);

    /// <summary>
    /// Stamps the input with the loop's time and reduces it. Time never goes backwards, and a timer never fires before
    /// its deadline: a wall clock can step back, and a timer can wake a tick early, while reducers rightly ignore a
    /// firing they see as early (and would then wait for it forever). A timer's letter carries its deadline as Now.
    /// A letter without an input (shell work only) leaves the state as it is.
    /// </summary>
    private static Turn Reduce(Turn previous, Letter letter, long clock)
    {
        if (letter.Input is null)
        {
            return new Turn(letter, null, previous.Now, previous.State, Seq<Effect>.Empty);
        }

        var now = Math.Max(previous.Now, Math.Max(clock, letter.Input.Now));
        var stamped = letter.Input with { Now = now };
        var step = Node.Handle(previous.State, stamped);
        return new Turn(letter, stamped, now, step.State, step.Effects);
    }

    private void OnTurn(Turn turn)
    {
        _state = turn.State;
        _mailbox.Release(turn.Letter);
        if (turn.Letter.Paced)
        {
            _inbox?.Processed();
        }
        if (turn.Letter.Work is { } work)
        {
            Guard("work", null, () => DoWork(work, turn.Now));
        }

        if (turn.Input is not { } input)
        {
            turn.Letter.Lease?.Dispose();
            return;
        }

        Guard("record", null, () =>
        {
            _recorder?.Write(input, input is MessageReceived received ? _network.VersionOf(received.Peer) : null);
            if (_trace is not null)
            {
                foreach (var line in TraceFormat.Lines(input, turn.Effects))
                {
                    _trace.WriteLine(line);
                }
            }
        });
        Guard("observe", null, () => Observe(input));
        List<DeliverBlock>? deliveries = null;
        foreach (var effect in turn.Effects)
        {
            if (effect is DeliverBlock deliver)
            {
                (deliveries ??= []).Add(deliver);
                continue;
            }

            Guard(effect.GetType().Name, PeerOf(effect), () => Interpret(effect, input.Now));
        }

        // Wants the API ended (cancel, close) end their callers too, even those whose want never reached the client.
        switch (input)
        {
            case CancelWants cancel:
                _waiters.Fail(cancel.Session, cancel.Cids, cid => new OperationCanceledException($"want for {cid} cancelled"));
                break;
            case CloseSession close:
                _waiters.FailSession(close.Session, _ => new OperationCanceledException($"session {close.Session} closed"));
                break;
            default:
                break;
        }

        if (deliveries is null)
        {
            turn.Letter.Lease?.Dispose();
            return;
        }

        var lease = turn.Letter.Lease;
        Guard(nameof(DeliverBlock), null, () => Deliver(deliveries, lease));
    }

    /// <summary>Shell work a letter carried: registers or drops waiters, or fails them all when the node stops.</summary>
    private void DoWork(LoopWork work, long now)
    {
        switch (work)
        {
            case Watch watch:
                foreach (var waiter in watch.Waiters)
                {
                    waiter.WantedAt = now;
                    _waiters.Add(waiter);
                }

                break;
            case Unwatch unwatch:
                foreach (var waiter in unwatch.Waiters)
                {
                    _waiters.Remove(waiter);
                }

                break;
            case Disarm disarm:
                _armed.Remove((disarm.Timer, disarm.Deadline));
                break;
            case Handover handover:
                AfterStore(handover.Deliveries, handover.Lease, handover.Stored);
                break;
            case Stop stop:
                _waiters.FailAll(stop.Reason);
                stop.Done.TrySetResult();
                break;
            default:
                throw new UnreachableException($"work {work.GetType().Name}");
        }
    }

    private void OnLoopFailed(Exception error)
    {
        // A reducer threw: a bug. The node cannot go on with a state it does not trust, so it says so loudly and stops.
        // The loop is dead, so its thread no longer touches the waiters and failing them here races with nothing.
        _logger.LogCritical(error, "bitswap loop of {Self} failed; the node stops", Self.Short);
        Emit(new ErrorEvent(NowMs, "loop", null, error));
        Interlocked.Exchange(ref _closed, 1);
        _waiters.FailAll(new InvalidOperationException("the bitswap loop failed", error));
    }

    private void Observe(Input input)
    {
        // Events cost an allocation or more each; with nobody listening none is built.
        if (!_events.HasObservers && !_blocks.HasObservers)
        {
            return;
        }

        switch (input)
        {
            case MessageReceived received:
                Emit(new MessageIn(input.Now, received.Peer, received.Message));
                foreach (var block in received.Message.Blocks.Values)
                {
                    var wantedAt = _waiters.EarliestWant(block.Cid);
                    var latency = wantedAt is null ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Max(0, input.Now - wantedAt.Value));
                    EmitBlock(new ReceivedBlock(block, received.Peer, latency));
                }

                break;
            case PeerConnected connected:
                Emit(new PeerUpEvent(input.Now, connected.Peer, connected.Version));
                break;
            case PeerDisconnected disconnected:
                Emit(new PeerDownEvent(input.Now, disconnected.Peer));
                break;
            case MessageFailed failed:
                Emit(new MessageNotSent(input.Now, failed.Peer, failed.Envelope, failed.Reason));
                break;
            default:
                break;
        }
    }

    private void Interpret(Effect effect, long now)
    {
        switch (effect)
        {
            case SendMessage send:
                Send(send, now);
                break;
            case LoadBlocks load:
                Load(load);
                break;
            case ArmTimer arm:
                Arm(arm);
                break;
            case FindProviders find:
                _finderPool.Enqueue(ct => FindAsync(find, ct));
                break;
            case RejectWants reject:
                _waiters.Fail(reject.Session, reject.Cids, cid => new WantRejectedException(cid, reject.Reason));
                break;
            case WantsEnded ended:
                _waiters.Fail(ended.Session, ended.Cids, cid => new OperationCanceledException($"want for {cid} ended: {ended.Reason}"));
                break;
            case Explain explain:
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    _logger.LogDebug("{Subject} {Cid} {Peer}: {Reason}", explain.Subject, explain.Cid, explain.Peer?.Short, explain.Reason);
                }

                if (_events.HasObservers)
                {
                    Emit(new Explained(now, explain.Subject, explain.Cid, explain.Peer, explain.Reason));
                }

                break;
            case DeliverBlock:
                throw new UnreachableException("deliveries are gathered per turn before effects are interpreted");
            default:
                throw new UnreachableException($"effect {effect.GetType().Name}");
        }
    }

    // ---------------------------------------------------------------- SendMessage

    private void Send(SendMessage send, long now)
    {
        if (_events.HasObservers)
        {
            Emit(new MessageOut(now, send.Peer, send.Envelope, send.Message));
            var wants = send.Message.Wantlist.Values.ToSeq();
            if (!wants.IsEmpty)
            {
                Emit(new WantsSent(now, send.Peer, wants));
            }
        }

        ValueTask sending;
        try
        {
            sending = _network.SendAsync(send.Peer, send.Message, _closing.Token);
        }
        catch (Exception error)
        {
            Failed(send, error);
            return;
        }

        if (sending.IsCompletedSuccessfully)
        {
            Sent(send);
            return;
        }

        Track(AwaitSendAsync(sending, send));
    }

    /// <summary>Keeps an unfinished background task (a send, a fetch being started) so that closing waits for it; its errors are handled inside.</summary>
    private void Track(Task task)
    {
        if (task.IsCompleted)
        {
            return;
        }

        lock (_gate)
        {
            _background.Add(task);
        }

        task.ContinueWith(t => { lock (_gate) { _background.Remove(t); } }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task AwaitSendAsync(ValueTask sending, SendMessage send)
    {
        try
        {
            await sending.ConfigureAwait(false);
            Sent(send);
        }
        catch (Exception error)
        {
            Failed(send, error);
        }
    }

    private void Sent(SendMessage send)
    {
        if (!send.Message.Blocks.IsEmpty && _events.HasObservers)
        {
            Emit(new BlocksSent(NowMs, send.Peer, send.Message.Blocks.Keys.ToSeq(), send.Message.Blocks.Values.Sum(b => (long)b.Size)));
        }

        _mailbox.PostAnswer(new MessageSent(0, send.Peer, send.Envelope));
    }

    private void Failed(SendMessage send, Exception error)
    {
        if (error is OperationCanceledException && _closing.IsCancellationRequested)
        {
            return;
        }

        _logger.LogDebug(error, "send {Envelope} to {Peer} failed", send.Envelope, send.Peer.Short);
        _mailbox.PostAnswer(new MessageFailed(0, send.Peer, send.Envelope, error.Message));
    }

    // ---------------------------------------------------------------- LoadBlocks

    private void Load(LoadBlocks load)
    {
        if (_blockstore.CompletesSynchronously)
        {
            // An in-memory store answers at once: no worker hop, and the answer is the next letter.
            var loading = LoadAsync(load, _closing.Token);
            if (loading.IsCompleted)
            {
                return;
            }

            Track(loading.AsTask());
            return;
        }

        _blockstorePool.Enqueue(ct => LoadAsync(load, ct));
    }

    private async ValueTask LoadAsync(LoadBlocks load, CancellationToken cancellationToken)
    {
        // Gathered first, then made a map in one bulk pass: a node per block instead of a path per block.
        var found = new List<(Cid, Block)>(load.Cids.Count);
        try
        {
            foreach (var cid in load.Cids)
            {
                var block = await _blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false);
                if (block is not null)
                {
                    found.Add((cid, block));
                }
            }
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The envelope must still be answered, or the server would wait for it forever: what could not be read counts as vanished.
            ReportError("blockstore", load.Peer, error);
        }

        _mailbox.PostAnswer(new BlocksLoaded(0, load.Envelope, load.Peer, Map<Cid, Block>.Empty.AddRange(found.DistinctBy(f => f.Item1))));
    }

    // ---------------------------------------------------------------- ArmTimer

    private void Arm(ArmTimer arm)
    {
        // The same timer armed twice for the same deadline fires once: reducers re-arm their timers freely.
        if (!_armed.Add((arm.Timer, arm.Deadline)))
        {
            return;
        }

        // A timer that fires after the node closed posts into a closed mailbox, which drops it: nothing to cancel.
        _clock.Schedule(_origin + TimeSpan.FromMilliseconds(arm.Deadline), () =>
            _mailbox.PostWork(new TimerFired(arm.Deadline, arm.Timer), new Disarm(arm.Timer, arm.Deadline)));
    }

    // ---------------------------------------------------------------- FindProviders

    private async ValueTask FindAsync(FindProviders find, CancellationToken cancellationToken)
    {
        var found = new List<PeerId>();
        if (_options.ProviderFinder is { } finder)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // The timeout runs on the injected scheduler so that virtual time governs it too.
            using var deadline = _clock.Schedule(ProviderFindTimeout, () => timeout.Cancel());
            try
            {
                await foreach (var peer in finder.FindProvidersAsync(find.Cid, _options.EffectiveLimits.ProvidersPerFindMax, timeout.Token).ConfigureAwait(false))
                {
                    if (peer == Self || found.Contains(peer))
                    {
                        continue;
                    }

                    try
                    {
                        await _network.ConnectAsync(peer, timeout.Token).ConfigureAwait(false);
                        found.Add(peer);
                    }
                    catch (NetworkException error)
                    {
                        _logger.LogDebug(error, "provider {Peer} unreachable", peer.Short);
                    }

                    if (found.Count >= _options.EffectiveLimits.ProvidersPerFindMax)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogDebug("provider search for {Cid} timed out", find.Cid);
            }
        }

        _mailbox.PostAnswer(new ProvidersFound(0, find.Session, find.Cid, found.ToSeq()));
    }

    // ---------------------------------------------------------------- DeliverBlock

    /// <summary>
    /// Stores the received blocks of one turn as one batch, then hands them to their waiters, then tells the loop they
    /// are held (so the server serves them to other peers). Blocks lent from a pooled receive buffer are copied only
    /// for whoever keeps them (an in-memory store, a waiter that keeps its block); the lease is returned when all is done.
    /// </summary>
    private void Deliver(IReadOnlyList<DeliverBlock> deliveries, IDisposable? lease)
    {
        var received = new List<Block>();
        foreach (var delivery in deliveries)
        {
            if (delivery.From is not null && !received.Exists(b => b.Cid == delivery.Block.Cid))
            {
                received.Add(delivery.Block);
            }
        }

        if (received.Count == 0 || !_options.StoreReceivedBlocks)
        {
            Hand(deliveries, lease is not null);
            lease?.Dispose();
            return;
        }

        var toStore = lease is not null && _blockstore.RetainsBlockMemory ? received.ConvertAll(b => b.Detached()) : received;
        if (_blockstore.CompletesSynchronously)
        {
            var storing = _blockstore.PutManyAsync(toStore, _closing.Token);
            if (storing.IsCompletedSuccessfully)
            {
                AfterStore(deliveries, lease, toStore);
                return;
            }

            Track(FinishStoreAsync(storing, deliveries, lease, toStore));
            return;
        }

        // Stored before delivered, so a caller that gets the block can read it back; then the server may serve it.
        _blockstorePool.Enqueue(ct => new ValueTask(FinishStoreAsync(_blockstore.PutManyAsync(toStore, ct), deliveries, lease, toStore)));
    }

    /// <summary>Waits for a put off the loop, then hands the deliveries back to it; a failed put still delivers and returns the lease.</summary>
    private async Task FinishStoreAsync(ValueTask storing, IReadOnlyList<DeliverBlock> deliveries, IDisposable? lease, List<Block> stored)
    {
        try
        {
            await storing.ConfigureAwait(false);
            _mailbox.PostWork(null, new Handover(deliveries, lease, stored));
        }
        catch (Exception error)
        {
            if (error is not OperationCanceledException)
            {
                ReportError("blockstore", null, error);
            }

            _mailbox.PostWork(null, new Handover(deliveries, lease, []));
        }
    }

    /// <summary>On the loop: hands stored blocks to their waiters, returns the lease and posts <see cref="BlocksAdded"/>.</summary>
    private void AfterStore(IReadOnlyList<DeliverBlock> deliveries, IDisposable? lease, List<Block> stored)
    {
        Hand(deliveries, lease is not null);
        lease?.Dispose();
        if (stored.Count > 0)
        {
            _mailbox.PostAnswer(new BlocksAdded(0, stored.ToSeq()));
        }
    }

    private void Hand(IReadOnlyList<DeliverBlock> deliveries, bool lent)
    {
        foreach (var delivery in deliveries)
        {
            if (_waiters.Take(delivery.Session, delivery.Block.Cid) is not { } waiters)
            {
                continue;
            }

            Block? owned = null;
            foreach (var waiter in waiters)
            {
                waiter.OnBlock(!lent || waiter.Borrows ? delivery.Block : owned ??= delivery.Block.Detached());
            }
        }
    }

    // ---------------------------------------------------------------- network events (network threads)

    /// <summary>What broadcast control needs to know of a peer: a local address (from the transport) or a peering configured in the options.</summary>
    private PeerTraits TraitsOf(PeerUp up) =>
        ((up.RemoteAddress is not { } address || PeerAddresses.IsLocal(address)) ? PeerTraits.Local : PeerTraits.None)
        | (_options.PeeredPeers.Contains(up.Peer) ? PeerTraits.Peered : PeerTraits.None);

    private void OnNetworkEvent(NetworkEvent networkEvent)
    {
        if (!IsOnline)
        {
            (networkEvent as MessageArrived)?.Lease?.Dispose();
            return;
        }

        switch (networkEvent)
        {
            // Peer events are bounded by the connections; they never wait, so a send failing on the loop thread cannot block it.
            case PeerUp up:
                PostPeerEvent(up.Peer, new PeerConnected(0, up.Peer, up.Version, TraitsOf(up)));
                break;
            case PeerDown down:
                PostPeerEvent(down.Peer, new PeerDisconnected(0, down.Peer));
                break;
            case MessageArrived arrived:
                Arrive(arrived);
                break;
            case ReceiveFailed failed:
                ReportError("decode", failed.Peer, new InvalidDataException(failed.Error.ToString()));
                break;
            default:
                throw new UnreachableException($"network event {networkEvent.GetType().Name}");
        }
    }

    /// <summary>A peer's arrival or departure goes behind that peer's queued messages, so the loop never sees a message after its sender left.</summary>
    private void PostPeerEvent(PeerId peer, Input input)
    {
        var letter = new Letter(input, false);
        if (_inbox?.EnqueueEvent(peer, letter) != true)
        {
            _mailbox.Push(letter);
        }
    }

    /// <summary>
    /// A message from a network that cannot be told to wait (it publishes on <see cref="IBitswapNetwork.Events"/>, on its
    /// reader's thread): while the inbox has no room for it, that reader is blocked, which is back-pressure on that
    /// connection. An <see cref="IPacedNetwork"/> awaits <see cref="ArriveAsync"/> instead, and no thread waits.
    /// </summary>
    private void Arrive(MessageArrived arrived)
    {
        var arriving = ArriveAsync(arrived);
        if (!arriving.IsCompleted)
        {
            // Deliberately synchronous: OnNext cannot await, and returning would let this peer's reader run on unbounded.
            arriving.AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// Takes room for the message in its peer's budget and the node's (waiting asynchronously while there is none: the
    /// transport reads no more from that stream meanwhile), looks up the local sizes the server needs on the arriving
    /// thread itself (so peers do not wait behind each other's look-ups and each peer's messages keep their order), then
    /// queues it for the loop behind that peer's earlier messages. Completes once the message is queued.
    /// </summary>
    private async ValueTask ArriveAsync(MessageArrived arrived)
    {
        if (!IsOnline)
        {
            arrived.Lease?.Dispose();
            return;
        }

        IDisposable? held = null;
        if (_inbox is not null)
        {
            // The message's bytes stay charged until its blocks are stored and delivered (the lease is disposed).
            held = await _inbox.AdmitAsync(arrived.Peer, Math.Max(arrived.WireBytes, 1)).ConfigureAwait(false);
            if (held is null)
            {
                arrived.Lease?.Dispose();
                return;
            }
        }

        // Gathered first, then made a map in one bulk pass: a node per CID instead of a path per CID.
        var found = new Dictionary<Cid, int>();
        try
        {
            foreach (var entry in arrived.Message.Wantlist.Values)
            {
                if (!entry.Cancel)
                {
                    LookUpSize(found, entry.Cid);
                }
            }

            foreach (var cid in arrived.Message.Blocks.Keys)
            {
                LookUpSize(found, cid);
            }
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The message is still delivered; what could not be looked up counts as not held.
            ReportError("blockstore", arrived.Peer, error);
        }

        var sizes = Map<Cid, int>.Empty.AddRange(found.Where(kv => kv.Value > 0).Select(kv => (kv.Key, kv.Value)));
        var input = new MessageReceived(0, arrived.Peer, arrived.Message, sizes);
        if (_inbox is null)
        {
            _mailbox.Push(new Letter(input, false, null, arrived.Lease));
            return;
        }

        _inbox.Enqueue(arrived.Peer, new Letter(input, false, null, new Leases(arrived.Lease, held!)));
    }

    /// <summary>The transport's lease on a message's memory and the mailbox's hold on its bytes, returned together.</summary>
    private sealed class Leases(IDisposable? memory, IDisposable bytes) : IDisposable
    {
        public void Dispose()
        {
            memory?.Dispose();
            bytes.Dispose();
        }
    }

    // A CID looked up once per message; 0 stands for "not held".
    private void LookUpSize(Dictionary<Cid, int> sizes, Cid cid)
    {
        if (sizes.ContainsKey(cid))
        {
            return;
        }

        var lookup = _blockstore.GetSizeAsync(cid, _closing.Token);
        // Stores answer a stat at once (both of ours do); an asynchronous one is waited for on this peer's reader only.
        var size = lookup.IsCompletedSuccessfully ? lookup.Result : lookup.AsTask().GetAwaiter().GetResult();
        sizes[cid] = size is > 0 ? size.Value : 0;
    }

    // ---------------------------------------------------------------- events and errors

    private void Guard(string where, PeerId? peer, Action action)
    {
        try
        {
            action();
        }
        catch (Exception error)
        {
            ReportError(where, peer, error);
        }
    }

    private void ReportError(string where, PeerId? peer, Exception error)
    {
        _logger.LogWarning(error, "{Where} failed{Peer}", where, peer is null ? "" : $" for {peer.Short}");
        Emit(new ErrorEvent(NowMs, where, peer, error));
    }

    private void Emit(BitswapEvent bitswapEvent)
    {
        lock (_emitGate)
        {
            if (IsOnline)
            {
                _events.OnNext(bitswapEvent);
            }
        }
    }

    private void EmitBlock(ReceivedBlock block)
    {
        lock (_emitGate)
        {
            if (IsOnline)
            {
                _blocks.OnNext(block);
            }
        }
    }

    private static PeerId? PeerOf(Effect effect) => effect switch
    {
        SendMessage send => send.Peer,
        LoadBlocks load => load.Peer,
        _ => null,
    };
}
