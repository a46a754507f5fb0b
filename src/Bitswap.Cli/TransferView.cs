using System.Text.Json.Nodes;
using Bitswap.Domain;
using Spectre.Console;

namespace Bitswap.Cli;

/// <summary>
/// Shows a DAG fetch: a Spectre.Console progress bar (blocks, bytes, rate, ETA) on a terminal, or JSON progress lines
/// (at each eighth of the announced size) for scripts, or nothing.
/// </summary>
public static class TransferView
{
    /// <summary>How <see cref="RunAsync"/> shows progress.</summary>
    public enum Mode
    {
        /// <summary>No progress, only the caller's summary.</summary>
        Quiet,

        /// <summary>A live progress bar on the terminal.</summary>
        Bar,

        /// <summary>One JSON line per eighth of the file.</summary>
        JsonLines,
    }

    /// <summary>Runs <paramref name="fetch"/>, feeding its per-block callback to the chosen view.</summary>
    public static async Task<FetchTotals> RunAsync(Output output, Mode mode, string label, Func<Action<Block>, Task<FetchTotals>> fetch)
    {
        switch (mode)
        {
            case Mode.Bar:
                FetchTotals? totals = null;
                await output.Ansi().Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                        new TransferSpeedColumn(), new RemainingTimeColumn())
                    .StartAsync(async context =>
                    {
                        var task = context.AddTask(label, maxValue: 1);
                        var blocks = 0;
                        totals = await fetch(block =>
                        {
                            if (blocks++ == 0 && DagFetch.AnnouncedFileSize(block) is { } size)
                            {
                                task.MaxValue = Math.Max(1, size);
                            }

                            task.Description = $"{label} [grey]{blocks} blocks[/]";
                            task.Value = Math.Min(task.MaxValue, task.Value + block.Size);
                        }).ConfigureAwait(false);
                        task.Value = task.MaxValue;
                    }).ConfigureAwait(false);
                return totals!;
            case Mode.JsonLines:
                long? announced = null;
                var count = 0;
                long bytes = 0;
                var nextEighth = 1;
                return await fetch(block =>
                {
                    if (count++ == 0)
                    {
                        announced = DagFetch.AnnouncedFileSize(block);
                    }

                    bytes += block.Size;
                    if (announced is { } size && size > 0 && nextEighth < 8 && bytes * 8 >= size * nextEighth)
                    {
                        output.JsonLine(new JsonObject { ["event"] = "progress", ["blocks"] = count, ["bytes"] = bytes, ["of"] = size });
                        nextEighth = (int)Math.Min(8, bytes * 8 / size + 1);
                    }
                }).ConfigureAwait(false);
            default:
                return await fetch(_ => { }).ConfigureAwait(false);
        }
    }

    /// <summary>The summary line of a fetch as JSON: <c>{"blocks","bytes","ms","MBps"}</c>.</summary>
    public static JsonObject Summary(FetchTotals totals) => new()
    {
        ["blocks"] = totals.Blocks,
        ["bytes"] = totals.Bytes,
        ["ms"] = (long)Math.Round(totals.Elapsed.TotalMilliseconds),
        ["MBps"] = Math.Round(totals.MegabytesPerSecond, 2),
    };
}
