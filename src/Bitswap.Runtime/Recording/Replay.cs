using LanguageExt;
using Bitswap.Domain;

namespace Bitswap.Runtime.Recording;

/// <summary>Replays a message log through the same reducers, producing the same trace the live node printed.</summary>
public static class Replay
{
    /// <summary>The trace of a log: for each input its line, then one line per effect (see <see cref="TraceFormat"/>).</summary>
    public static string Run(MessageLog log)
    {
        var writer = new StringWriter { NewLine = "\n" };
        Run(log, writer);
        return writer.ToString();
    }

    /// <summary>Replays a log, writing its trace to <paramref name="trace"/>; returns the final state.</summary>
    public static NodeState Run(MessageLog log, TextWriter trace)
    {
        var state = NodeState.Create(log.Self, log.Config);
        foreach (var input in log.Inputs)
        {
            var step = Node.Handle(state, input);
            foreach (var line in TraceFormat.Lines(input, step.Effects))
            {
                trace.WriteLine(line);
            }

            state = step.State;
        }

        return state;
    }

    /// <summary>Reads a log from a stream and replays it.</summary>
    public static string Run(Stream log) => Run(MessageLogReader.Read(log));
}
