using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Bitswap.Cli;
using Bitswap.Tests.Interop.Cli;

namespace Bitswap.Tests.Interop.Daemon;

/// <summary>
/// A <c>bitswap daemon --json</c> running in-process on its own home folder (key, <c>blocks/</c>, <c>api</c>) with
/// loopback libp2p and API ports chosen by the OS, until disposed (as SIGTERM would stop it).
/// </summary>
public sealed class DaemonRun : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly FirstLineWriter _stdout = new();
    private readonly StringWriter _stderr = new();
    private readonly Task<int> _run;

    private DaemonRun(string home, string[] extra)
    {
        Home = home;
        string[] args =
        [
            "daemon", "--repo", Repo, "--key", Path.Combine(home, "identity.key"),
            "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "/ip4/127.0.0.1/tcp/0", "--json", .. extra,
        ];
        _run = BitswapCli.RunAsync(args, new Output(_stdout, _stderr, null, OutIsTerminal: false), _stop.Token);
    }

    /// <summary>The daemon's home folder.</summary>
    public string Home { get; }

    /// <summary>Its flatfs repo (pass as <c>--repo</c> to CLI commands so they find this daemon).</summary>
    public string Repo => Path.Combine(Home, "blocks");

    /// <summary>The start-up line: peerId, multiaddrs, api, metrics, repo.</summary>
    public JsonObject Announcement { get; private set; } = [];

    /// <summary>Our peer ID.</summary>
    public string PeerId => Announcement["peerId"]!.GetValue<string>();

    /// <summary>The libp2p address to dial.</summary>
    public string SwarmAddress => Announcement["multiaddrs"]![0]!.GetValue<string>();

    /// <summary>The RPC API base URL, http://127.0.0.1:PORT.</summary>
    public string ApiUrl
    {
        get
        {
            var parts = Announcement["api"]!.GetValue<string>().Split('/');
            return $"http://{parts[2]}:{parts[4]}";
        }
    }

    /// <summary>Starts a daemon in <paramref name="home"/> and waits for its start-up line.</summary>
    public static async Task<DaemonRun> StartAsync(string home, params string[] extra)
    {
        var daemon = new DaemonRun(home, extra);
        var first = await Task.WhenAny(daemon._stdout.FirstLine, daemon._run).WaitAsync(CliRun.Patience);
        if (first == daemon._run)
        {
            throw new InvalidOperationException($"daemon exited with {await daemon._run}: {daemon._stderr}");
        }

        daemon.Announcement = JsonNode.Parse(await daemon._stdout.FirstLine)!.AsObject();
        return daemon;
    }

    /// <summary>Stops the daemon as SIGTERM would and returns its exit code.</summary>
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

    /// <summary>The folder holding the kubo-rpc-client session script, found above the test assembly.</summary>
    public static string ClientDirectory() => Path.Combine(Path.GetDirectoryName(HeliaPeer.PeerDirectory())!, "rpc-client");

    /// <summary>Runs <c>node session.mjs ARGS</c> and returns its stdout; throws with its stderr when it fails.</summary>
    public static async Task<string> RunClientAsync(params string[] args)
    {
        var directory = ClientDirectory();
        if (!Directory.Exists(Path.Combine(directory, "node_modules")))
        {
            throw new InvalidOperationException($"{directory}/node_modules is missing: run ./test.sh, which runs npm ci there.");
        }

        var start = new ProcessStartInfo("node", ["session.mjs", .. args])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var patience = new CancellationTokenSource(CliRun.Patience);
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"session.mjs did not finish: {await stderr}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"session.mjs exited with {process.ExitCode}: {await stderr}");
        }

        return await stdout;
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
