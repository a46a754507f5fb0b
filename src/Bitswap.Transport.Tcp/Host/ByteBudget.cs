namespace Bitswap.Transport.Tcp.Host;

/// <summary>
/// A FIFO byte allowance: <see cref="WaitAsync"/> takes bytes, waiting only while too few are left, and
/// <see cref="Release"/> gives them back. Bounds a send queue by the bytes it holds rather than by its length.
/// </summary>
internal sealed class ByteBudget
{
    private readonly object _gate = new();
    private readonly Queue<Waiter> _waiters = new();
    private readonly long _capacity;
    private long _available;
    private bool _closed;

    /// <summary>A budget of <paramref name="capacity"/> bytes.</summary>
    public ByteBudget(long capacity)
    {
        _capacity = capacity;
        _available = capacity;
    }

    /// <summary>Bytes that a request for <paramref name="bytes"/> really takes: never more than the whole budget, so any request can pass.</summary>
    public long Cost(long bytes) => Math.Clamp(bytes, 1, _capacity);

    /// <summary>Takes <see cref="Cost"/>(<paramref name="bytes"/>) bytes, in arrival order; false once the budget is closed.</summary>
    public async ValueTask<bool> WaitAsync(long bytes, CancellationToken ct)
    {
        var cost = Cost(bytes);
        Waiter waiter;
        lock (_gate)
        {
            if (_closed) return false;
            if (_waiters.Count == 0 && _available >= cost)
            {
                _available -= cost;
                return true;
            }

            waiter = new Waiter(cost);
            _waiters.Enqueue(waiter);
        }

        using (ct.Register(static state => ((Waiter)state!).Signal.TrySetCanceled(), waiter))
        {
            try
            {
                return await waiter.Signal.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    // Drop this waiter from the head of the line and let the next one through if it fits.
                    waiter.Abandoned = true;
                    Give(0);
                }

                throw;
            }
        }
    }

    /// <summary>Returns bytes taken by <see cref="WaitAsync"/> (pass the same request size).</summary>
    public void Release(long bytes)
    {
        lock (_gate) Give(Cost(bytes));
    }

    /// <summary>Fails every waiter and every later request.</summary>
    public void Close()
    {
        Waiter[] waiting;
        lock (_gate)
        {
            _closed = true;
            waiting = [.. _waiters];
            _waiters.Clear();
        }

        foreach (var waiter in waiting) waiter.Signal.TrySetResult(false);
    }

    private void Give(long cost)
    {
        _available = Math.Min(_capacity, _available + cost);
        while (_waiters.TryPeek(out var next))
        {
            if (next.Abandoned || next.Signal.Task.IsCompleted)
            {
                _waiters.Dequeue();
                continue;
            }

            if (_available < next.Cost) break;
            _waiters.Dequeue();
            _available -= next.Cost;
            if (!next.Signal.TrySetResult(true))
            {
                // Cancelled meanwhile: keep the bytes.
                _available += next.Cost;
            }
        }
    }

    private sealed class Waiter(long cost)
    {
        public long Cost { get; } = cost;
        public TaskCompletionSource<bool> Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Abandoned { get; set; }
    }
}
