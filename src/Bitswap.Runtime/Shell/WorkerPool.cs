using System.Reactive.Concurrency;

namespace Bitswap.Runtime.Shell;

/// <summary>
/// Runs at most <c>workers</c> jobs at once on a scheduler and queues the rest in FIFO order (boxo's blockstore worker
/// pool, EngineBlockstoreWorkerCount). A job's failure goes to the error callback; it never stops the pool.
/// In virtual time the scheduler is the test scheduler, so jobs whose I/O completes synchronously run deterministically.
/// </summary>
internal sealed class WorkerPool
{
    private readonly IScheduler _scheduler;
    private readonly int _workers;
    private readonly Action<Exception> _onError;
    // Bounded by its producers: loads by the server's envelopes in flight (TaskWorkerCount), size lookups by the
    // mailbox slots the arrivals hold, stores by the deliveries of one turn.
    private readonly Queue<Func<CancellationToken, ValueTask>> _queue = new();
    private readonly HashSet<Task> _running = [];
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _busy;
    private bool _stopped;

    /// <summary>A pool of <paramref name="workers"/> workers on <paramref name="scheduler"/>.</summary>
    public WorkerPool(IScheduler scheduler, int workers, Action<Exception> onError)
    {
        _scheduler = scheduler;
        _workers = Math.Max(1, workers);
        _onError = onError;
    }

    /// <summary>Jobs waiting for a worker.</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Queues a job; it starts as soon as a worker is free.</summary>
    public void Enqueue(Func<CancellationToken, ValueTask> job)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            if (_busy >= _workers)
            {
                _queue.Enqueue(job);
                return;
            }

            _busy++;
        }

        Start(job);
    }

    /// <summary>Drops queued jobs, cancels running ones and waits for them to end.</summary>
    public async Task StopAsync()
    {
        Task[] running;
        lock (_gate)
        {
            _stopped = true;
            _queue.Clear();
            running = [.. _running];
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Cancelled jobs end this way on purpose.
        }
    }

    private void Start(Func<CancellationToken, ValueTask> job) =>
        _scheduler.Schedule(() =>
        {
            var task = RunAsync(job);
            if (task.IsCompleted)
            {
                return;
            }

            lock (_gate)
            {
                _running.Add(task);
            }

            task.ContinueWith(t => Forget(t), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        });

    private void Forget(Task task)
    {
        lock (_gate)
        {
            _running.Remove(task);
        }
    }

    private async Task RunAsync(Func<CancellationToken, ValueTask> job)
    {
        var next = job;
        while (next is not null)
        {
            try
            {
                await next(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                _onError(error);
            }

            lock (_gate)
            {
                if (_stopped || !_queue.TryDequeue(out next))
                {
                    _busy--;
                    next = null;
                }
            }
        }
    }
}
