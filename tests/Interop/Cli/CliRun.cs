using System.Text;
using System.Text.Json.Nodes;
using Bitswap.Cli;

namespace Bitswap.Tests.Interop.Cli;

/// <summary>What one in-process run of the CLI printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Stdout split into non-empty lines.</summary>
    public IReadOnlyList<string> Lines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Stderr split into non-empty lines.</summary>
    public IReadOnlyList<string> ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The last stdout line as JSON.</summary>
    public JsonObject LastJson => JsonNode.Parse(Lines[^1])!.AsObject();
}

/// <summary>Runs the CLI in-process through <see cref="BitswapCli.RunAsync"/> with captured, non-terminal streams.</summary>
public static class CliRun
{
    /// <summary>Generous bound for one command in a test on a loaded machine.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>Runs one command line to its end.</summary>
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var binary = new MemoryStream();
        var output = new Output(stdout, stderr, null, OutIsTerminal: false, () => new NonClosing(binary));
        var code = await BitswapCli.RunAsync(args, output).WaitAsync(Patience);
        var text = stdout.ToString();
        if (binary.Length > 0)
        {
            text += Encoding.UTF8.GetString(binary.ToArray());
        }

        return new CliResult(code, text, stderr.ToString());
    }

    /// <summary>A fresh temporary folder, deleted by the caller's <c>using</c>.</summary>
    public static TempFolder Temp() => new();

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates the folder.</summary>
    public TempFolder() => Path = Directory.CreateTempSubdirectory("bitswap-cli-test-").FullName;

    /// <summary>The folder.</summary>
    public string Path { get; }

    /// <summary>A path inside the folder.</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <inheritdoc />
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>
/// A <c>bitswap serve</c> running in-process until disposed: its first stdout line (the JSON announcement) is parsed
/// as soon as it is written.
/// </summary>
public sealed class CliServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly FirstLineWriter _stdout = new();
    private readonly StringWriter _stderr = new();
    private readonly Task<int> _run;

    private CliServer(string[] args)
    {
        _run = BitswapCli.RunAsync(args, new Output(_stdout, _stderr, null, OutIsTerminal: false), _stop.Token);
    }

    /// <summary>The announcement: peerId, multiaddrs, cids (and roots).</summary>
    public JsonObject Announcement { get; private set; } = [];

    /// <summary>The first listen address.</summary>
    public string Address => Announcement["multiaddrs"]![0]!.GetValue<string>();

    /// <summary>Starts <c>bitswap serve ARGS</c> and waits for its announcement.</summary>
    public static async Task<CliServer> StartAsync(params string[] args)
    {
        var server = new CliServer(["serve", .. args]);
        var first = await Task.WhenAny(server._stdout.FirstLine, server._run).WaitAsync(CliRun.Patience);
        if (first == server._run)
        {
            throw new InvalidOperationException($"serve exited with {await server._run}: {server._stderr}");
        }

        server.Announcement = JsonNode.Parse(await server._stdout.FirstLine)!.AsObject();
        return server;
    }

    /// <summary>Stops the server as SIGTERM would and returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        return await _run.WaitAsync(CliRun.Patience);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_run.IsCompleted)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private sealed class FirstLineWriter : StringWriter
    {
        private readonly TaskCompletionSource<string> _line = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> FirstLine => _line.Task;

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            _line.TrySetResult(value ?? "");
        }
    }
}
