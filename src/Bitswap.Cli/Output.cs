using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Bitswap.Cli;

/// <summary>
/// The streams a command talks to, and the one place that decides between a human terminal view and plain JSON lines.
/// Tests pass their own writers; the real process passes the console's.
/// </summary>
/// <param name="Out">Standard output: results, JSON lines, progress.</param>
/// <param name="Error">Standard error: the one-line error, logs.</param>
/// <param name="In">Standard input, watched by <c>serve</c> for end of file; null when there is none to watch.</param>
/// <param name="OutIsTerminal">True when <paramref name="Out"/> is a terminal (progress bars and tables then).</param>
/// <param name="OpenBinaryOut">Opens standard output for raw bytes (<c>get</c> without <c>-o</c>); null when there is none.</param>
public sealed record Output(TextWriter Out, TextWriter Error, TextReader? In, bool OutIsTerminal, Func<Stream>? OpenBinaryOut = null)
{
    // Relaxed escaping keeps quotes and non-ASCII (the ellipsis of short peer IDs) readable; stdout is not HTML.
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The process's own console.</summary>
    public static Output FromConsole() => new(Console.Out, Console.Error, Console.In, !Console.IsOutputRedirected, Console.OpenStandardOutput);

    /// <summary>True when stdout is a terminal and JSON was not asked for.</summary>
    public bool Interactive(bool jsonRequested) => !jsonRequested && OutIsTerminal;

    /// <summary>Writes one JSON object as a single line on stdout and flushes it (scripts read it line by line).</summary>
    public void JsonLine(JsonObject value)
    {
        Out.WriteLine(value.ToJsonString(Compact));
        Out.Flush();
    }

    /// <summary>Writes one plain line on stdout and flushes it.</summary>
    public void Line(string text)
    {
        Out.WriteLine(text);
        Out.Flush();
    }

    /// <summary>A Spectre.Console view of stdout, for progress bars and tables on a terminal.</summary>
    public IAnsiConsole Ansi() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Out),
        Ansi = OutIsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
        ColorSystem = OutIsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        Interactive = OutIsTerminal ? InteractionSupport.Detect : InteractionSupport.No,
    });
}
