using System.Reactive.Subjects;
using Bitswap.Domain;

namespace Bitswap.Runtime.Shell;

/// <summary>One input waiting in a node's mailbox, and whether it occupies one of the bounded slots.</summary>
/// <param name="Input">The input to reduce; null for a letter that only carries shell work.</param>
/// <param name="HoldsSlot">True when a slot was taken for it and must be given back once it is processed.</param>
/// <param name="Work">Shell work the loop does before it interprets the input's effects (register or drop waiters, stop).</param>
/// <param name="Lease">Pooled memory the input's blocks live in; the loop disposes it once their effects are done.</param>
/// <param name="Paced">True when the <see cref="FairInbox"/> handed it to the loop and must hear when it is processed.</param>
internal readonly record struct Letter(Input? Input, bool HoldsSlot, LoopWork? Work = null, IDisposable? Lease = null, bool Paced = false);

/// <summary>
/// The node's bounded mailbox. Outside callers (the API, the network) take a slot first and wait when all
/// <see cref="Limits.MailboxCapacity"/> slots are taken; the loop gives the slot back once the input is reduced.
/// Answers to effects (sends, loads, timers) never wait: they are bounded by the effects in flight, and waiting for
/// the loop on the loop's own thread would deadlock. Peers' messages come through the <see cref="FairInbox"/>, which
/// bounds them by bytes, per peer and in all, without blocking a thread.
/// </summary>
/// <remarks>
/// In virtual time one thread drives the scheduler, the network and the loop, so a waiting poster could never be
/// released: there a full mailbox admits the input without a slot, and the simulation's own bounds apply.
/// </remarks>
internal sealed class Mailbox : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly Subject<Letter> _letters = new();
    private readonly object _gate = new();
    private readonly bool _mayWait;
    private readonly CancellationTokenSource _closing = new();
    private bool _closed;

    /// <summary>A mailbox with <paramref name="capacity"/> slots; <paramref name="mayWait"/> is false in virtual time.</summary>
    public Mailbox(int capacity, bool mayWait)
    {
        _slots = new SemaphoreSlim(Math.Max(1, capacity), Math.Max(1, capacity));
        _mayWait = mayWait;
    }

    /// <summary>The letters in posting order, one at a time.</summary>
    public IObservable<Letter> Letters => _letters;

    /// <summary>Takes a slot, waiting asynchronously while the mailbox is full. Returns whether a slot was taken.</summary>
    public async ValueTask<bool> ReserveAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0))
        {
            return true;
        }

        if (!_mayWait)
        {
            return false;
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        try
        {
            await _slots.WaitAsync(either.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Closed while waiting: the letter will be refused by Push anyway.
            return false;
        }
    }

    /// <summary>Posts an input from outside after <see cref="ReserveAsync"/>; waits while the mailbox is full.</summary>
    public ValueTask PostAsync(Input input, CancellationToken cancellationToken) => PostAsync(input, null, cancellationToken);

    /// <summary>Posts an input with shell work after <see cref="ReserveAsync"/>; waits while the mailbox is full.</summary>
    public async ValueTask PostAsync(Input input, LoopWork? work, CancellationToken cancellationToken)
    {
        var holdsSlot = await ReserveAsync(cancellationToken).ConfigureAwait(false);
        Push(new Letter(input, holdsSlot, work));
    }

    /// <summary>Posts an input for which a slot was (or was not) taken earlier.</summary>
    public void Push(Letter letter)
    {
        lock (_gate)
        {
            if (_closed)
            {
                Release(letter);
                letter.Lease?.Dispose();
                return;
            }

            _letters.OnNext(letter);
        }
    }

    /// <summary>Posts an answer to an effect; never waits.</summary>
    public void PostAnswer(Input input) => Push(new Letter(input, false));

    /// <summary>Posts a letter whose input (if any) comes with shell work; never waits.</summary>
    public void PostWork(Input? input, LoopWork work) => Push(new Letter(input, false, work));


    /// <summary>Gives a processed letter's slot back.</summary>
    public void Release(Letter letter)
    {
        if (letter.HoldsSlot)
        {
            _slots.Release();
        }
    }

    /// <summary>Refuses further letters and ends the stream.</summary>
    public void Close() => Close(null);

    /// <summary>Refuses further letters, posts <paramref name="last"/> (if any) as the final one, and ends the stream.</summary>
    public void Close(Letter? last)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _closing.Cancel();

            if (last is { } letter)
            {
                _letters.OnNext(letter);
            }

            _letters.OnCompleted();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Close();
        _letters.Dispose();
        _closing.Dispose();
    }
}
