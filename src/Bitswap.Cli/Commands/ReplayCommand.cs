using System.CommandLine;
using System.Text.Json.Nodes;
using Bitswap.Domain;
using Bitswap.Runtime.Recording;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap replay LOG</c>: feeds a recorded message log through the reducers and prints the decision trace: each
/// input, each effect, and the <see cref="Explain"/> effects that say why a want was sent, skipped or cancelled.
/// Text is the trace format of docs/message-log.md; <c>--json</c> prints one object per line.
/// </summary>
public static class ReplayCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var log = new Argument<string>("LOG") { Description = "A message log written with --record" };
        var json = new Option<bool>("--json") { Description = "One JSON object per input and effect" };
        var command = new Command("replay", "Replay a recorded message log and print the decision trace") { log, json };
        command.SetAction(parsed =>
        {
            var path = parsed.GetValue(log)!;
            var recorded = Read(path);
            var asJson = parsed.GetValue(json);
            if (!asJson)
            {
                output.Line($"# replay of {Path.GetFileName(path)}: node {recorded.Self}, {recorded.Inputs.Count} inputs");
            }

            var state = NodeState.Create(recorded.Self, recorded.Config);
            var explanations = 0;
            foreach (var input in recorded.Inputs)
            {
                var step = Node.Handle(state, input);
                if (asJson)
                {
                    output.JsonLine(Line(input.Now, "input", input.GetType().Name, TraceFormat.Describe(input)));
                    foreach (var effect in step.Effects)
                    {
                        output.JsonLine(EffectLine(input.Now, effect));
                    }
                }
                else
                {
                    foreach (var line in TraceFormat.Lines(input, step.Effects))
                    {
                        output.Out.WriteLine(line);
                    }
                }

                explanations += step.Effects.Count(e => e is Explain);
                state = step.State;
            }

            if (!asJson)
            {
                output.Line($"# {recorded.Inputs.Count} inputs, {explanations} explanations");
            }

            return 0;
        });
        return command;
    }

    private static MessageLog Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new CliError($"no such file: {path}");
        }

        try
        {
            using var stream = File.OpenRead(path);
            return MessageLogReader.Read(stream);
        }
        catch (Exception error) when (error is not IOException and not UnauthorizedAccessException)
        {
            throw new CliError($"{path} is not a message log: {error.Message}", error);
        }
    }

    private static JsonObject EffectLine(long now, Effect effect)
    {
        var line = Line(now, "effect", effect.GetType().Name, TraceFormat.Describe(effect));
        if (effect is Explain explain)
        {
            line["subject"] = explain.Subject;
            line["cid"] = explain.Cid?.ToString();
            line["peer"] = explain.Peer?.ToString();
            line["reason"] = explain.Reason;
        }

        return line;
    }

    private static JsonObject Line(long now, string kind, string type, string text) => new()
    {
        ["at"] = now,
        ["kind"] = kind,
        ["type"] = type,
        ["text"] = text,
    };
}
