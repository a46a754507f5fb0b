using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;

namespace Bitswap.RedTeam;

/// <summary>The blocks the node serves: small probes for the honest peer, 1 MiB blocks and 64 KiB blocks for attackers.</summary>
public sealed class Corpus
{
    private Corpus(string folder, IReadOnlyList<Block> probes, IReadOnlyList<Block> big, IReadOnlyList<Block> medium)
    {
        Folder = folder;
        Probes = probes;
        Big = big;
        Medium = medium;
    }

    /// <summary>The folder given to <c>bitswap serve --blocks</c>.</summary>
    public string Folder { get; }

    /// <summary>4 KiB blocks the well-behaved peer fetches over and over.</summary>
    public IReadOnlyList<Block> Probes { get; }

    /// <summary>1 MiB blocks (for peers that want them and never read).</summary>
    public IReadOnlyList<Block> Big { get; }

    /// <summary>64 KiB blocks (for many peers wanting 100 each).</summary>
    public IReadOnlyList<Block> Medium { get; }

    /// <summary>Writes the corpus (deterministic bytes) into a fresh temporary folder.</summary>
    public static Corpus Create(int probes = 32, int big = 16, int medium = 100)
    {
        var folder = Directory.CreateTempSubdirectory("bitswap-redteam-").FullName;
        var random = new Random(13);
        return new Corpus(folder, Write(folder, "probe", probes, 4 * 1024, random), Write(folder, "big", big, 1024 * 1024, random), Write(folder, "medium", medium, 64 * 1024, random));
    }

    private static List<Block> Write(string folder, string name, int count, int size, Random random)
    {
        var blocks = new List<Block>();
        for (var i = 0; i < count; i++)
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"{name}-{i:D4}")), bytes);
            blocks.Add(Block.Raw(bytes));
        }

        return blocks;
    }

    /// <summary>Removes the folder.</summary>
    public void Delete() => Directory.Delete(Folder, recursive: true);
}

/// <summary>
/// <c>bitswap serve --blocks DIR</c> as a child process (optionally under a 1 GiB GC heap limit), with its resident
/// memory polled from <c>/proc/PID/status</c> every 50 ms.
/// </summary>
public sealed class NodeUnderTest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _poll;
    private long _peakRssKiB;
    private long _lastRssKiB;

    private NodeUnderTest(Process process, PeerId peer, Multiaddr address, IPEndPoint endpoint)
    {
        _process = process;
        Peer = peer;
        Address = address;
        Endpoint = endpoint;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_stderr)
            {
                // Keep the tail only: a node under attack may log a lot.
                if (_stderr.Length > 64 * 1024)
                {
                    _stderr.Remove(0, 32 * 1024);
                }

                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _poll = PollAsync(_stop.Token);
    }

    /// <summary>The node's peer id.</summary>
    public PeerId Peer { get; }

    /// <summary>Its listen address with /p2p/.</summary>
    public Multiaddr Address { get; }

    /// <summary>Its TCP endpoint.</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>The OS process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Whether the process is still running.</summary>
    public bool Alive => !_process.HasExited;

    /// <summary>The exit code, when it has exited.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Highest VmRSS seen by the poller, in MiB.</summary>
    public double PeakRssMiB => Interlocked.Read(ref _peakRssKiB) / 1024.0;

    /// <summary>Last VmRSS seen, in MiB.</summary>
    public double RssMiB => Interlocked.Read(ref _lastRssKiB) / 1024.0;

    /// <summary>What the node wrote on stderr (its tail).</summary>
    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Forgets the peak so far (after start-up, before the attack).</summary>
    public void ResetPeak() => Interlocked.Exchange(ref _peakRssKiB, Interlocked.Read(ref _lastRssKiB));

    /// <summary>Starts the node and waits for its announcement line.</summary>
    public static async Task<NodeUnderTest> StartAsync(Corpus corpus, bool heapLimit1GiB, CancellationToken ct)
    {
        var home = Directory.CreateTempSubdirectory("bitswap-redteam-home-").FullName;
        // REDTEAM_NODE_VERBOSE=1 runs the node with --verbose (its stderr tail is then worth reading, see Stderr).
        string[] verbose = Environment.GetEnvironmentVariable("REDTEAM_NODE_VERBOSE") == "1" ? ["--verbose"] : [];
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "bitswap.dll"), "serve", "--blocks", corpus.Folder, "--key", Path.Combine(home, "key"), .. verbose])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["BITSWAP_PATH"] = home;
        if (heapLimit1GiB)
        {
            start.Environment["DOTNET_GCHeapHardLimit"] = "0x40000000";
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        try
        {
            var line = await process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"serve exited with {await ExitOf(process).ConfigureAwait(false)}: {await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false)}");
            var json = JsonNode.Parse(line)!.AsObject();
            var address = Multiaddr.ParseOrThrow(json["multiaddrs"]![0]!.GetValue<string>());
            if (!address.TryGetTcpEndpoint(out var endpoint) || endpoint is null || address.PeerId is not { } peer)
            {
                throw new InvalidOperationException($"serve announced {line}");
            }

            return new NodeUnderTest(process, peer, address, endpoint);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    private static async Task<int> ExitOf(Process process)
    {
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }

    private async Task PollAsync(CancellationToken ct)
    {
        var path = $"/proc/{_process.Id}/status";
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            do
            {
                if (ReadKiB(path, "VmRSS:") is { } rss)
                {
                    Interlocked.Exchange(ref _lastRssKiB, rss);
                    if (rss > Interlocked.Read(ref _peakRssKiB))
                    {
                        Interlocked.Exchange(ref _peakRssKiB, rss);
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    private static long? ReadKiB(string path, string field)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // The process has gone.
        }

        return null;
    }

    /// <summary>Asks the node to stop (stdin closes) and measures how long it takes; kills it after <paramref name="patience"/>.</summary>
    public async Task<(bool Clean, TimeSpan Took)> StopAsync(TimeSpan patience)
    {
        var clock = Stopwatch.StartNew();
        if (_process.HasExited)
        {
            return (false, TimeSpan.Zero);
        }

        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(patience).ConfigureAwait(false);
            return (_process.ExitCode == 0, clock.Elapsed);
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
            return (false, clock.Elapsed);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _poll.ConfigureAwait(false);
        _stop.Dispose();
        _process.Dispose();
    }
}
