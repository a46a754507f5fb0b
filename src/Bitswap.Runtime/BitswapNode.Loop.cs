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
    /// <summary>One turn of the loop: the letter reduced, the state after it and the effects to interpret.</summary>
    private sealed record Turn(Letter Letter, NodeState State, Seq<Effect> Effects);

    /// <summary>
    /// Stamps the input with the loop's time and reduces it. Time never goes backwards, and a timer never fires before
    /// its deadline: a wall clock can step back, and a timer can wake a tick early, while reducers rightly ignore a
    /// firing they see as early (and would then wait for it forever). A timer's letter carries its deadline as Now.
    /// </summary>
    private static Turn Reduce(Turn previous, Letter letter, long clock)
    {
        var now = Math.Max(previous.Letter.Input.Now, Math.Max(clock, letter.Input.Now));
        var stamped = letter with { Input = letter.Input with { Now = now } };
        var step = Node.Handle(previous.State, stamped.Input);
        return new Turn(stamped, step.State, step.Effects);
    }

    private void OnTurn(Turn turn)
    {
        _state = turn.State;
        var input = turn.Letter.Input;
        _mailbox.Release(turn.Letter);
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
        var deliveries = new List<DeliverBlock>();
        foreach (var effect in turn.Effects)
        {
            if (effect is DeliverBlock deliver)
            {
                deliveries.Add(deliver);
                continue;
            }

            Guard(effect.GetType().Name, PeerOf(effect), () => Interpret(effect, input.Now));
        }

        if (deliveries.Count > 0)
        {
            Guard(nameof(DeliverBlock), null, () => Deliver(deliveries));
        }
    }

    private void OnLoopFailed(Exception error)
    {
        // A reducer threw: a bug. The node cannot go on with a state it does not trust, so it says so loudly and stops.
        _logger.LogCritical(error, "bitswap loop of {Self} failed; the node stops", Self.Short);
        Emit(new ErrorEvent(NowMs, "loop", null, error));
        Interlocked.Exchange(ref _closed, 1);
        _waiters.FailAll(new InvalidOperationException("the bitswap loop failed", error));
    }

    private void Observe(Input input)
    {
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
                _blockstorePool.Enqueue(ct => LoadAsync(load, ct));
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
                _logger.LogDebug("{Subject} {Cid} {Peer}: {Reason}", explain.Subject, explain.Cid, explain.Peer?.Short, explain.Reason);
                Emit(new Explained(now, explain.Subject, explain.Cid, explain.Peer, explain.Reason));
                break;
            case DeliverBlock deliver:
                Deliver([deliver]);
                break;
            default:
                throw new UnreachableException($"effect {effect.GetType().Name}");
        }
    }

    // ---------------------------------------------------------------- SendMessage

    private void Send(SendMessage send, long now)
    {
        Emit(new MessageOut(now, send.Peer, send.Envelope, send.Message));
        var wants = send.Message.Wantlist.Values.ToSeq();
        if (!wants.IsEmpty)
        {
            Emit(new WantsSent(now, send.Peer, wants));
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
        if (!send.Message.Blocks.IsEmpty)
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

    private async ValueTask LoadAsync(LoadBlocks load, CancellationToken cancellationToken)
    {
        var blocks = Map<Cid, Block>.Empty;
        try
        {
            foreach (var cid in load.Cids)
            {
                var block = await _blockstore.GetAsync(cid, cancellationToken).ConfigureAwait(false);
                if (block is not null)
                {
                    blocks = blocks.AddOrUpdate(cid, block);
                }
            }
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The envelope must still be answered, or the server would wait for it forever: what could not be read counts as vanished.
            ReportError("blockstore", load.Peer, error);
        }

        _mailbox.PostAnswer(new BlocksLoaded(0, load.Envelope, load.Peer, blocks));
    }

    // ---------------------------------------------------------------- ArmTimer

    private void Arm(ArmTimer arm)
    {
        var slot = new SingleAssignmentDisposable();
        lock (_gate)
        {
            _timers.Add(slot);
        }

        slot.Disposable = _clock.Schedule(_origin + TimeSpan.FromMilliseconds(arm.Deadline), () =>
        {
            lock (_gate)
            {
                if (!_timers.Remove(slot))
                {
                    return;
                }
            }

            _mailbox.PostAnswer(new TimerFired(arm.Deadline, arm.Timer));
        });
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

    private void Deliver(IReadOnlyList<DeliverBlock> deliveries)
    {
        var received = deliveries.Where(d => d.From is not null).Select(d => d.Block).DistinctBy(b => b.Cid).ToList();
        if (received.Count == 0 || !_options.StoreReceivedBlocks)
        {
            Hand(deliveries);
            return;
        }

        // Stored before delivered, so a caller that gets the block can read it back; then the server may serve it.
        _blockstorePool.Enqueue(async ct =>
        {
            var stored = new List<Block>();
            foreach (var block in received)
            {
                try
                {
                    await _blockstore.PutAsync(block, ct).ConfigureAwait(false);
                    stored.Add(block);
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    ReportError("blockstore", null, error);
                }
            }

            Hand(deliveries);
            if (stored.Count > 0)
            {
                _mailbox.PostAnswer(new BlocksAdded(0, stored.ToSeq()));
            }
        });
    }

    private void Hand(IEnumerable<DeliverBlock> deliveries)
    {
        foreach (var delivery in deliveries)
        {
            _waiters.Deliver(delivery.Session, delivery.Block);
        }
    }

    // ---------------------------------------------------------------- network events (network threads)

    private void OnNetworkEvent(NetworkEvent networkEvent)
    {
        if (!IsOnline)
        {
            return;
        }

        switch (networkEvent)
        {
            case PeerUp up:
                _arrivals.Post(new PeerConnected(0, up.Peer, up.Version), _mailbox.Reserve());
                break;
            case PeerDown down:
                _arrivals.Post(new PeerDisconnected(0, down.Peer), _mailbox.Reserve());
                break;
            case MessageArrived arrived:
                var arrival = _arrivals.Enqueue(_mailbox.Reserve());
                _blockstorePool.Enqueue(ct => LookUpSizesAsync(arrival, arrived, ct));
                break;
            case ReceiveFailed failed:
                ReportError("decode", failed.Peer, new InvalidDataException(failed.Error.ToString()));
                break;
            default:
                throw new UnreachableException($"network event {networkEvent.GetType().Name}");
        }
    }

    private async ValueTask LookUpSizesAsync(ArrivalSequencer.Arrival arrival, MessageArrived arrived, CancellationToken cancellationToken)
    {
        var sizes = Map<Cid, int>.Empty;
        try
        {
            var cids = arrived.Message.Wantlist.Values.Where(e => !e.Cancel).Select(e => e.Cid).Concat(arrived.Message.Blocks.Keys).Distinct();
            foreach (var cid in cids)
            {
                var size = await _blockstore.GetSizeAsync(cid, cancellationToken).ConfigureAwait(false);
                if (size is > 0)
                {
                    sizes = sizes.AddOrUpdate(cid, size.Value);
                }
            }
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The message is still delivered; what could not be looked up counts as not held.
            ReportError("blockstore", arrived.Peer, error);
        }

        _arrivals.Complete(arrival, new MessageReceived(0, arrived.Peer, arrived.Message, sizes));
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
