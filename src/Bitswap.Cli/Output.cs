using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bitswap.Cli;

/// <summary>Decides between a human terminal view and plain JSON lines, and writes JSON the same way everywhere.</summary>
public static class Output
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    /// <summary>True when stdout is a terminal and JSON was not asked for.</summary>
    public static bool Interactive(bool jsonRequested) => !jsonRequested && !Console.IsOutputRedirected;

    /// <summary>Writes one JSON object as a single line on stdout and flushes it (scripts read it line by line).</summary>
    public static void JsonLine(JsonObject value)
    {
        Console.Out.WriteLine(value.ToJsonString(Compact));
        Console.Out.Flush();
    }
}
