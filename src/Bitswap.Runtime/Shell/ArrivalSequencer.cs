using Bitswap.Domain;

namespace Bitswap.Runtime.Shell;

/// <summary>
/// Keeps network arrivals in order while some of them wait for blockstore lookups: an arrival is posted only after
/// every earlier arrival was, so a peer's wantlist, its cancel and its disconnect reach the loop in the order they came.
/// </summary>
internal sealed class ArrivalSequencer
{
    private readonly Mailbox _mailbox;
    private readonly Queue<Arrival> _arrivals = new();
    private readonly object _gate = new();

    /// <summary>A sequencer posting into <paramref name="mailbox"/>.</summary>
    public ArrivalSequencer(Mailbox mailbox) => _mailbox = mailbox;

    /// <summary>An arrival whose input is not known yet.</summary>
    public sealed class Arrival
    {
        internal Arrival(bool holdsSlot) => HoldsSlot = holdsSlot;

        internal bool HoldsSlot { get; }

        internal bool Done { get; set; }

        internal Input? Input { get; set; }
    }

    /// <summary>Takes a place in line; <paramref name="holdsSlot"/> says whether a mailbox slot was reserved for it.</summary>
    public Arrival Enqueue(bool holdsSlot)
    {
        var arrival = new Arrival(holdsSlot);
        lock (_gate)
        {
            _arrivals.Enqueue(arrival);
        }

        return arrival;
    }

    /// <summary>Sets an arrival's input (null to drop it) and posts every arrival that is now at the head of the line.</summary>
    public void Complete(Arrival arrival, Input? input)
    {
        lock (_gate)
        {
            arrival.Input = input;
            arrival.Done = true;
            while (_arrivals.TryPeek(out var head) && head.Done)
            {
                _arrivals.Dequeue();
                var letter = new Letter(head.Input!, head.HoldsSlot);
                if (head.Input is null)
                {
                    _mailbox.Release(letter);
                }
                else
                {
                    _mailbox.Push(letter);
                }
            }
        }
    }

    /// <summary>Posts an input that needs no lookup, in its place in line.</summary>
    public void Post(Input input, bool holdsSlot) => Complete(Enqueue(holdsSlot), input);
}
