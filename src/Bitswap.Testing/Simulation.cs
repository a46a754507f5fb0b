using System.Reactive.Concurrency;

namespace Bitswap.Testing;

/// <summary>A <see cref="HistoricalScheduler"/> that can tell when its next action is due, so a run can jump from action to action.</summary>
public sealed class SimulationScheduler : HistoricalScheduler
{
    /// <summary>A scheduler whose clock starts at 2026-01-01 UTC (any fixed start would do; this one reads well in logs).</summary>
    public SimulationScheduler()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>When the next scheduled action is due, or null when nothing is scheduled.</summary>
    public DateTimeOffset? NextDue => GetNext()?.DueTime;

    /// <summary>
    /// Runs scheduled actions in due order until <paramref name="done"/> holds or the clock would pass
    /// <paramref name="limit"/> from now; returns whether <paramref name="done"/> holds. Periodic timers (the engine's score
    /// timer) keep a node's queue non-empty forever, so a run always needs a goal or a limit.
    /// </summary>
    public bool RunUntil(Func<bool> done, TimeSpan limit)
    {
        var end = Now + limit;
        while (!done())
        {
            var next = NextDue;
            if (next is null || next.Value > end)
            {
                AdvanceTo(end);
                return done();
            }

            // Actions posted from outside at the current instant only run when the clock moves, so move it by one tick.
            AdvanceTo(next.Value > Now ? next.Value : Now + TimeSpan.FromTicks(1));
        }

        return true;
    }

    /// <summary>Runs every action due within <paramref name="span"/> from now and moves the clock there.</summary>
    public void RunFor(TimeSpan span) => RunUntil(() => false, span);
}
