using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Shell;

/// <summary>
/// The inbound side of the mailbox for peers' messages: byte budgets per peer and for the node, waited for
/// asynchronously, and per-peer queues the loop takes from in turn (boxo#1143's rule, on the inbound path). A peer that
/// sends faster than the loop decides waits on its own stream once its own budget is spent; a peer that has waited is
/// admitted before one that holds more; and once admitted, a letter waits behind at most one letter of each other peer
/// plus the one the loop is working on, however much a flooder has queued.
/// </summary>
/// <remarks>
/// Only one letter is handed to the loop at a time (<see cref="LettersInLoopMax"/>); the rest wait here, per peer,
/// so that a fair choice can still be made when the loop is ready. A peer's events (up, down) are queued behind its
/// messages when it has some waiting, so that the loop never sees a message after the peer's departure.
/// </remarks>
internal sealed class FairInbox
{
    /// <summary>
    /// Letters handed to the loop and not yet processed. One is enough for the loop never to idle: the next is handed
    /// over from the loop's own thread as it finishes a turn. Each more would let one more of a flood's wantlists (a
    /// 4 MB one takes about a second to reduce) queue ahead of a quiet peer's message.
    /// </summary>
    public const int LettersInLoopMax = 1;

    private readonly object _gate = new();
    private readonly Action<Letter> _push;
    private readonly long _bytesMax;
    private readonly long _peerBytesMax;
    private readonly int _peerLettersMax;
    private readonly Dictionary<PeerId, PeerShare> _peers = [];
    private readonly LinkedList<PeerId> _ready = new();
    private readonly List<Admission> _waiting = [];
    private long _bytesHeld;
    private int _inLoop;
    private bool _closed;

    /// <summary>An inbox that hands letters to <paramref name="push"/>, with a node budget and a per-peer budget of received bytes and a per-peer cap of queued letters.</summary>
    public FairInbox(Action<Letter> push, long bytesMax, long peerBytesMax, int peerLettersMax)
    {
        _push = push;
        _bytesMax = Math.Max(1, bytesMax);
        _peerBytesMax = Math.Max(1, Math.Min(peerBytesMax, _bytesMax));
        _peerLettersMax = Math.Max(1, peerLettersMax);
    }

    /// <summary>
    /// Takes <paramref name="bytes"/> of <paramref name="peer"/>'s budget and of the node's, waiting asynchronously while
    /// either is spent. A message larger than the budget is let in when its peer (or the node) holds nothing. The bytes
    /// come back when the returned hold is disposed; null when the inbox closed.
    /// </summary>
    public ValueTask<IDisposable?> AdmitAsync(PeerId peer, long bytes)
    {
        Admission waiting;
        lock (_gate)
        {
            if (_closed)
            {
                return ValueTask.FromResult<IDisposable?>(null);
            }

            var share = ShareOf(peer);
            // A peer's messages keep their order: one that arrives while an earlier one waits, waits behind it.
            if (share.Waiting == 0 && Fits(share, bytes))
            {
                return ValueTask.FromResult<IDisposable?>(Take(peer, share, bytes));
            }

            share.Waiting++;
            waiting = new Admission(peer, bytes);
            _waiting.Add(waiting);
        }

        return new ValueTask<IDisposable?>(waiting.Done.Task);
    }

    /// <summary>Queues an admitted letter behind <paramref name="peer"/>'s others; the loop gets it in its turn.</summary>
    public void Enqueue(PeerId peer, Letter letter)
    {
        lock (_gate)
        {
            if (_closed)
            {
                letter.Lease?.Dispose();
                return;
            }

            var share = ShareOf(peer);
            share.Letters.Enqueue(letter);
            if (!share.Ready)
            {
                share.Ready = true;
                _ready.AddLast(peer);
            }

            Dispatch();
        }
    }

    /// <summary>Posts a peer event: behind the peer's queued messages if it has any, else at once. Returns false when it was handed over directly.</summary>
    public bool EnqueueEvent(PeerId peer, Letter letter)
    {
        lock (_gate)
        {
            if (_closed || !_peers.TryGetValue(peer, out var share) || share.Letters.Count == 0)
            {
                return false;
            }

            share.Letters.Enqueue(letter);
            Dispatch();
            return true;
        }
    }

    /// <summary>The loop finished a letter this inbox handed it: the next peer in turn may go.</summary>
    public void Processed()
    {
        lock (_gate)
        {
            _inLoop--;
            Dispatch();
        }
    }

    /// <summary>Refuses further letters, releases every waiting stream and drops what was queued.</summary>
    public void Close()
    {
        List<Admission> waiting;
        List<Letter> dropped = [];
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            waiting = [.. _waiting];
            _waiting.Clear();
            foreach (var share in _peers.Values)
            {
                dropped.AddRange(share.Letters);
                share.Letters.Clear();
            }

            _ready.Clear();
        }

        foreach (var admission in waiting)
        {
            admission.Done.TrySetResult(null);
        }

        foreach (var letter in dropped)
        {
            letter.Lease?.Dispose();
        }
    }

    private PeerShare ShareOf(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var share))
        {
            share = new PeerShare();
            _peers[peer] = share;
        }

        return share;
    }

    private bool Fits(PeerShare share, long bytes) =>
        (share.Bytes == 0 || share.Bytes + bytes <= _peerBytesMax)
        && share.Held < _peerLettersMax
        && (_bytesHeld == 0 || _bytesHeld + bytes <= _bytesMax);

    private Hold Take(PeerId peer, PeerShare share, long bytes)
    {
        share.Bytes += bytes;
        share.Held++;
        _bytesHeld += bytes;
        return new Hold(this, peer, bytes);
    }

    private void Give(PeerId peer, long bytes)
    {
        List<(Admission Admission, Hold Hold)> admitted = [];
        lock (_gate)
        {
            _bytesHeld -= bytes;
            if (_peers.TryGetValue(peer, out var share))
            {
                share.Bytes -= bytes;
                share.Held--;
                Forget(peer, share);
            }

            if (!_closed)
            {
                Wake(admitted);
            }
        }

        // Completed outside the lock: a waiting stream's continuation may run inline and come straight back here.
        foreach (var (admission, hold) in admitted)
        {
            admission.Done.TrySetResult(hold);
        }
    }

    /// <summary>
    /// Admits waiting messages while they fit: each time the one whose peer holds the fewest bytes (a peer that has
    /// waited is served before one that floods), the earliest among equals, and only the first waiting message of a peer.
    /// </summary>
    private void Wake(List<(Admission, Hold)> admitted)
    {
        while (true)
        {
            Admission? best = null;
            PeerShare? bestShare = null;
            var firsts = new HashSet<PeerId>();
            foreach (var admission in _waiting)
            {
                if (!firsts.Add(admission.Peer))
                {
                    continue;
                }

                var share = _peers[admission.Peer];
                if (!Fits(share, admission.Bytes))
                {
                    continue;
                }

                if (best is null || share.Bytes < bestShare!.Bytes)
                {
                    best = admission;
                    bestShare = share;
                }
            }

            if (best is null)
            {
                return;
            }

            _waiting.Remove(best);
            bestShare!.Waiting--;
            admitted.Add((best, Take(best.Peer, bestShare, best.Bytes)));
        }
    }

    /// <summary>Hands letters to the loop, one peer at a time in turn, while the loop has room.</summary>
    private void Dispatch()
    {
        while (_inLoop < LettersInLoopMax && _ready.First is { } first)
        {
            _ready.RemoveFirst();
            var share = _peers[first.Value];
            var letter = share.Letters.Dequeue();
            if (share.Letters.Count > 0)
            {
                _ready.AddLast(first.Value);
            }
            else
            {
                share.Ready = false;
                Forget(first.Value, share);
            }

            _inLoop++;
            // Pushed under the lock so that letters reach the loop in the order chosen here; the push only queues.
            _push(letter with { Paced = true });
        }
    }

    private void Forget(PeerId peer, PeerShare share)
    {
        if (share.Bytes == 0 && share.Held == 0 && share.Waiting == 0 && share.Letters.Count == 0 && !share.Ready)
        {
            _peers.Remove(peer);
        }
    }

    /// <summary>What one peer holds and has queued.</summary>
    private sealed class PeerShare
    {
        public Queue<Letter> Letters { get; } = new();

        public long Bytes { get; set; }

        public int Held { get; set; }

        public int Waiting { get; set; }

        public bool Ready { get; set; }
    }

    /// <summary>A message waiting for room.</summary>
    private sealed class Admission(PeerId peer, long bytes)
    {
        public PeerId Peer { get; } = peer;

        public long Bytes { get; } = bytes;

        public TaskCompletionSource<IDisposable?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Bytes held for one message; disposing gives them back (once).</summary>
    private sealed class Hold(FairInbox inbox, PeerId peer, long bytes) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                inbox.Give(peer, bytes);
            }
        }
    }
}
