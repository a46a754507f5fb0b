using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bitswap.Tests.Interop;

/// <summary>An error answer from the Helia peer (the command ran and failed).</summary>
public sealed class HeliaPeerException(string command, string error) : Exception($"Helia peer '{command}' failed: {error}")
{
    /// <summary>The command that failed.</summary>
    public string Command { get; } = command;

    /// <summary>The peer's error text.</summary>
    public string Error { get; } = error;
}

/// <summary>Roots and block CIDs that the Helia peer read from a CAR file.</summary>
public sealed record CarImportResult(IReadOnlyList<string> Roots, IReadOnlyList<string> Cids);

/// <summary>
/// A live Helia node (tests/Interop/peer/peer.mjs under Node) driven by JSON lines: one command per stdin line,
/// one answer per stdout line carrying the command's id. Kills the process on dispose.
/// </summary>
public sealed class HeliaPeer : IAsyncDisposable
{
    /// <summary>How long to wait for the ready line: a loaded 2-core machine has taken 25 s to start Helia.</summary>
    public static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromSeconds(120);

    /// <summary>How long a command may take unless its caller says otherwise.</summary>
    public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(60);

    private const int StderrLinesKept = 200;

    private readonly Process process;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> waiting = new();
    private readonly ConcurrentQueue<string> stderrTail = new();
    private readonly SemaphoreSlim writeGate = new(1, 1);
    private readonly TaskCompletionSource<JsonObject> ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task stdoutPump;
    private readonly Task stderrPump;
    private long nextId;
    private int disposed;

    private HeliaPeer(Process process)
    {
        this.process = process;
        stdoutPump = PumpStdoutAsync();
        stderrPump = PumpStderrAsync();
    }

    /// <summary>The peer's libp2p peer ID (12D3Koo…).</summary>
    public string PeerId { get; private set; } = "";

    /// <summary>The peer's listen addresses, each ending in /p2p/&lt;PeerId&gt;.</summary>
    public IReadOnlyList<string> Multiaddrs { get; private set; } = [];

    /// <summary>The script's ready line as sent (a routing server puts its <c>url</c> there).</summary>
    public JsonObject ReadyLine { get; private set; } = [];

    /// <summary>How long the peer took from process start to its ready line.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The last lines the peer wrote to stderr, for failure messages.</summary>
    public string StderrTail => string.Join('\n', stderrTail);

    /// <summary>The directory holding peer.mjs, found by walking up from the test assembly to the repository root.</summary>
    public static string PeerDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Bitswap.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "Interop", "peer");
            }
        }

        throw new InvalidOperationException($"No Bitswap.sln above {AppContext.BaseDirectory}: cannot find tests/Interop/peer.");
    }

    /// <summary>Starts `node peer.mjs` and waits for its ready line.</summary>
    public static Task<HeliaPeer> StartAsync(TimeSpan? readyTimeout = null, CancellationToken cancellationToken = default) =>
        StartAsync(keyType: null, readyTimeout, cancellationToken);

    /// <summary>Starts `node peer.mjs` with a libp2p identity of <paramref name="keyType"/> (Ed25519, RSA, secp256k1; PEER_KEY_TYPE) and waits for its ready line.</summary>
    public static Task<HeliaPeer> StartAsync(string? keyType, TimeSpan? readyTimeout = null, CancellationToken cancellationToken = default) =>
        StartScriptAsync("peer.mjs", keyType is null ? null : new Dictionary<string, string> { ["PEER_KEY_TYPE"] = keyType }, readyTimeout, cancellationToken);

    /// <summary>
    /// Starts another JSON-lines script of the peer folder (e.g. <c>routing.mjs</c>, <c>gateway-client.mjs</c>) with extra
    /// environment variables and waits for its ready line (<see cref="ReadyLine"/>).
    /// </summary>
    public static async Task<HeliaPeer> StartScriptAsync(
        string script, IReadOnlyDictionary<string, string>? environment, TimeSpan? readyTimeout = null, CancellationToken cancellationToken = default)
    {
        var directory = PeerDirectory();
        if (!Directory.Exists(Path.Combine(directory, "node_modules")))
        {
            throw new InvalidOperationException(
                $"{directory}/node_modules is missing: run ./test.sh, which runs npm ci in tests/Interop/peer.");
        }

        var startInfo = new ProcessStartInfo("node", [script])
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) startInfo.Environment[name] = value;
        var stopwatch = Stopwatch.StartNew();
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("node did not start.");
        var peer = new HeliaPeer(process);
        try
        {
            var readyLine = await peer.ready.Task.WaitAsync(readyTimeout ?? DefaultReadyTimeout, cancellationToken);
            peer.StartupTime = stopwatch.Elapsed;
            peer.ReadyLine = readyLine;
            peer.PeerId = readyLine["peerId"]?.GetValue<string>() ?? "";
            peer.Multiaddrs = readyLine["multiaddrs"]?.AsArray().Select(a => a!.GetValue<string>()).ToArray() ?? [];
            return peer;
        }
        catch (Exception e)
        {
            var tail = peer.StderrTail;
            await peer.DisposeAsync();
            throw new InvalidOperationException($"Helia peer did not become ready: {e.Message}\nstderr:\n{tail}", e);
        }
    }

    /// <summary>Sends a command and returns its answer, or throws <see cref="HeliaPeerException"/> on an error answer.</summary>
    public async Task<JsonObject> CallAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(command, arguments, timeout, cancellationToken);
        return answer["error"] is { } error ? throw new HeliaPeerException(command, error.ToString()) : answer;
    }

    /// <summary>Sends a command and returns its raw answer, error answers included.</summary>
    public async Task<JsonObject> SendAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        var id = Interlocked.Increment(ref nextId);
        var request = arguments?.DeepClone().AsObject() ?? [];
        request["id"] = id;
        request["cmd"] = command;
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        waiting[id] = answer;
        try
        {
            await writeGate.WaitAsync(cancellationToken);
            try
            {
                await process.StandardInput.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken);
                await process.StandardInput.FlushAsync(cancellationToken);
            }
            finally
            {
                writeGate.Release();
            }

            return await answer.Task.WaitAsync(timeout ?? DefaultCommandTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Helia peer gave no answer to '{command}' within {timeout ?? DefaultCommandTimeout}.\nstderr:\n{StderrTail}");
        }
        finally
        {
            waiting.TryRemove(id, out _);
        }
    }

    /// <summary>Stores a block; returns its CID (raw: CIDv1; dag-pb: CIDv0 unless cidVersion is 1).</summary>
    public async Task<string> PutAsync(ReadOnlyMemory<byte> data, string codec = "raw", int? cidVersion = null)
    {
        var args = new JsonObject { ["data"] = Convert.ToBase64String(data.Span), ["codec"] = codec };
        if (cidVersion is { } v)
        {
            args["cidVersion"] = v;
        }

        return (await CallAsync("put", args))["cid"]!.GetValue<string>();
    }

    /// <summary>Gets a block, from the local store or over bitswap from connected peers.</summary>
    public async Task<byte[]> GetAsync(string cid, TimeSpan timeout)
    {
        var answer = await CallAsync("get", new JsonObject { ["cid"] = cid, ["timeoutMs"] = (long)timeout.TotalMilliseconds }, timeout + TimeSpan.FromSeconds(30));
        return Convert.FromBase64String(answer["data"]!.GetValue<string>());
    }

    /// <summary>Whether the local blockstore holds a block.</summary>
    public async Task<bool> HasAsync(string cid) => (await CallAsync("has", new JsonObject { ["cid"] = cid }))["has"]!.GetValue<bool>();

    /// <summary>Dials a multiaddr (with /p2p/…); returns the remote peer ID.</summary>
    public async Task<string> DialAsync(string multiaddr) =>
        (await CallAsync("dial", new JsonObject { ["multiaddr"] = multiaddr }))["peerId"]!.GetValue<string>();

    /// <summary>Closes every connection to a peer.</summary>
    public Task HangUpAsync(string peerId) => CallAsync("hangup", new JsonObject { ["peerId"] = peerId });

    /// <summary>Our own wantlist (null peer) or a peer's wantlist as our ledger sees it; sorted CIDs.</summary>
    public async Task<IReadOnlyList<string>> WantlistAsync(string? peerId = null)
    {
        var args = peerId is null ? null : new JsonObject { ["peerId"] = peerId };
        return Strings((await CallAsync("wantlist", args))["cids"]);
    }

    /// <summary>Connected peer IDs, sorted.</summary>
    public async Task<IReadOnlyList<string>> PeersAsync() => Strings((await CallAsync("peers"))["peers"]);

    /// <summary>The protocols a connected peer advertised in identify, sorted.</summary>
    public async Task<IReadOnlyList<string>> ProtocolsAsync(string peerId) =>
        Strings((await CallAsync("protocols", new JsonObject { ["peerId"] = peerId }))["protocols"]);

    /// <summary>Imports a file with Helia's UnixFS importer under an IPIP-499 profile; returns the root CID.</summary>
    public async Task<string> ImportAsync(string path, string profile, int? chunkSize = null, bool? rawLeaves = null, int? cidVersion = null, int? maxLinks = null)
    {
        var args = new JsonObject { ["path"] = path, ["profile"] = profile };
        if (chunkSize is { } c)
        {
            args["chunkSize"] = c;
        }

        if (rawLeaves is { } r)
        {
            args["rawLeaves"] = r;
        }

        if (cidVersion is { } v)
        {
            args["cidVersion"] = v;
        }

        if (maxLinks is { } m)
        {
            args["maxLinks"] = m;
        }

        return (await CallAsync("import", args, TimeSpan.FromMinutes(3)))["cid"]!.GetValue<string>();
    }

    /// <summary>Reads a UnixFS file's bytes (offline: local blocks only; otherwise fetching over bitswap).</summary>
    public async Task<byte[]> CatAsync(string cid, bool offline = false, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var answer = await CallAsync("cat", new JsonObject { ["cid"] = cid, ["offline"] = offline, ["timeoutMs"] = (long)limit.TotalMilliseconds }, limit + TimeSpan.FromSeconds(30));
        return Convert.FromBase64String(answer["data"]!.GetValue<string>());
    }

    /// <summary>Writes the DAG under a root as a CARv1 file (depth-first, link order, de-duplicated).</summary>
    public Task CarExportAsync(string cid, string path) =>
        CallAsync("car-export", new JsonObject { ["cid"] = cid, ["path"] = path }, TimeSpan.FromMinutes(2));

    /// <summary>Reads a CARv1 file with @ipld/car and stores its blocks with @helia/car.</summary>
    public async Task<CarImportResult> CarImportAsync(string path)
    {
        var answer = await CallAsync("car-import", new JsonObject { ["path"] = path }, TimeSpan.FromMinutes(2));
        return new CarImportResult(Strings(answer["roots"]), Strings(answer["cids"]));
    }

    /// <summary>Asks the peer to stop, then waits for the process to exit (killing it if it lingers).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                await process.StandardInput.WriteLineAsync("""{"id":0,"cmd":"stop"}""");
                await process.StandardInput.FlushAsync();
                process.StandardInput.Close();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException)
        {
            // The process is gone or hung: killing it below is the answer either way.
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            await Task.WhenAll(stdoutPump, stderrPump);
            foreach (var pending in waiting.Values)
            {
                pending.TrySetException(new ObjectDisposedException(nameof(HeliaPeer)));
            }

            process.Dispose();
            writeGate.Dispose();
        }
    }

    private static string[] Strings(JsonNode? node) =>
        node?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? [];

    private async Task PumpStdoutAsync()
    {
        await Task.Yield();
        try
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (JsonNode.Parse(line) is not JsonObject message)
                {
                    continue;
                }

                if (message["event"]?.GetValue<string>() == "ready")
                {
                    ready.TrySetResult(message);
                }
                else if (message["id"] is JsonValue idValue && idValue.TryGetValue<long>(out var id) && waiting.TryGetValue(id, out var pending))
                {
                    pending.TrySetResult(message);
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonException or ObjectDisposedException)
        {
            ready.TrySetException(e);
        }

        ready.TrySetException(new IOException("The Helia peer closed its stdout."));
        foreach (var pending in waiting.Values)
        {
            pending.TrySetException(new IOException($"The Helia peer exited.\nstderr:\n{StderrTail}"));
        }
    }

    private async Task PumpStderrAsync()
    {
        await Task.Yield();
        try
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                stderrTail.Enqueue(line);
                while (stderrTail.Count > StderrLinesKept && stderrTail.TryDequeue(out _))
                {
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The process went away; what was read so far is the tail.
        }
    }
}
