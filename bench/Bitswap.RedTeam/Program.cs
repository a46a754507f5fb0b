using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bitswap.RedTeam;

// bitswap-redteam: runs one attack at a time against a fresh `bitswap serve` child process while a well-behaved peer
// fetches from it, and prints what the node's memory and the honest peer's latency did.
var attackNames = "all";
var duration = TimeSpan.FromSeconds(20);
var json = false;
var heapLimit = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--attack" when i + 1 < args.Length:
            attackNames = args[++i];
            break;
        case "--duration" when i + 1 < args.Length:
            duration = TimeSpan.FromSeconds(double.Parse(args[++i], CultureInfo.InvariantCulture));
            break;
        case "--json":
            json = true;
            break;
        case "--heap-limit-1g":
            heapLimit = true;
            break;
        case "--list":
            foreach (var attack in Attacks.All)
            {
                Console.WriteLine($"{attack.Name,-20} {attack.Description}");
            }

            Console.WriteLine($"{"silent-provider",-20} bitswap get with a provider that answers HAVE and never sends, beside an honest serve");
            return 0;
        default:
            Console.Error.WriteLine("usage: bitswap-redteam [--attack NAME[,NAME…]|all] [--duration SECONDS] [--heap-limit-1g] [--json] [--list]");
            return 2;
    }
}

var wanted = attackNames == "all"
    ? [.. Attacks.All.Select(a => a.Name), "silent-provider"]
    : attackNames.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var unknown = wanted.Where(n => n != "silent-provider" && Attacks.All.All(a => a.Name != n)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"unknown attack: {string.Join(", ", unknown)} (see --list)");
    return 2;
}

var corpus = Corpus.Create();
var results = new List<RedTeamResult>();
SilentResult? silent = null;
try
{
    foreach (var name in wanted)
    {
        if (name == "silent-provider")
        {
            silent = await SilentRun.RunAsync(corpus, heapLimit);
            Console.Error.WriteLine($"silent-provider: {silent}");
            continue;
        }

        var result = await RedTeamRun.RunAsync(Attacks.All.First(a => a.Name == name), corpus, duration, heapLimit);
        results.Add(result);
        Console.Error.WriteLine(result.Row());
    }
}
finally
{
    corpus.Delete();
}

if (json)
{
    Console.WriteLine(JsonSerializer.Serialize(new { results, silent }));
}
else
{
    Console.WriteLine(RedTeamResult.Table(results, duration, heapLimit));
    if (silent is not null)
    {
        Console.WriteLine();
        Console.WriteLine(silent.Table());
    }
}

return results.All(r => r.Survived) ? 0 : 1;

namespace Bitswap.RedTeam
{
    /// <summary>What one attack did to the node and to the well-behaved peer.</summary>
    public sealed record RedTeamResult(
        string Attack, double BaselineMiB, double PeakMiB, double P50Ms, double P95Ms, double MaxMs, int Served, int Failed,
        int DialsOk, int DialsFailed, bool Survived, bool StillServes, double ShutdownS, bool CleanShutdown, long AttackerConnections,
        long AttackerRejected, long AttackerMiB, string? Error)
    {
        /// <summary>One markdown row.</summary>
        public string Row() => string.Create(CultureInfo.InvariantCulture,
            $"| {Attack} | {PeakMiB:0} | {BaselineMiB:0} | {P50Ms:0} | {P95Ms:0} | {MaxMs:0} | {Served}/{Served + Failed} | {DialsOk}/{DialsOk + DialsFailed} | {(Survived ? "yes" : "**no**")} | {(StillServes ? "yes" : "**no**")} | {ShutdownS:0.0}{(CleanShutdown ? "" : " (killed)")} | {AttackerConnections}/{AttackerRejected}/{AttackerMiB} | {Error ?? ""} |");

        /// <summary>The markdown table of a run.</summary>
        public static string Table(IEnumerable<RedTeamResult> results, TimeSpan duration, bool heapLimit)
        {
            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"Each attack ran {duration.TotalSeconds:0} s against a fresh `bitswap serve`{(heapLimit ? " under DOTNET_GCHeapHardLimit=1 GiB" : "")}; the honest peer fetched a 4 KiB block about every 100 ms (10 s timeout) and dialled a fresh connection every 2 s.");
            text.AppendLine();
            text.AppendLine("| attack | peak RSS MiB | idle RSS MiB | honest p50 ms | p95 ms | max ms | served | fresh dials | survived | serves after | shutdown s | attacker conns/rejected/MiB sent | error |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|");
            foreach (var result in results)
            {
                text.AppendLine(result.Row());
            }

            return text.ToString();
        }
    }

    /// <summary>Runs one attack against a fresh node.</summary>
    public static class RedTeamRun
    {
        /// <summary>Starts a node, lets the attack and the honest peer run for <paramref name="duration"/>, then stops the node while the attack goes on.</summary>
        public static async Task<RedTeamResult> RunAsync(Attack attack, Corpus corpus, TimeSpan duration, bool heapLimit)
        {
            await using var node = await NodeUnderTest.StartAsync(corpus, heapLimit, CancellationToken.None);
            // Let start-up allocations settle so that the peak is the attack's.
            await Task.Delay(1000);
            var baseline = node.RssMiB;
            node.ResetPeak();
            var context = new AttackContext(node, corpus);
            using var attackStop = new CancellationTokenSource();
            using var honestStop = new CancellationTokenSource(duration);
            var attacking = Task.Run(() => attack.RunAsync(context, attackStop.Token));
            string? error = null;
            var honest = await HonestPeer.RunAsync(node, corpus, honestStop.Token);
            var survived = node.Alive;
            var stillServes = survived && await HonestPeer.StillServesAsync(node, corpus.Probes[0], TimeSpan.FromSeconds(10));
            var peak = node.PeakRssMiB;
            // Shutdown under pressure: the attackers are still at it.
            var (clean, took) = await node.StopAsync(TimeSpan.FromSeconds(30));
            await attackStop.CancelAsync();
            try
            {
                await attacking.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                error = $"attacker: {e.GetType().Name}: {e.Message}";
            }

            if (Environment.GetEnvironmentVariable("REDTEAM_NODE_VERBOSE") == "1")
            {
                // Give the process's last lines a moment to arrive, then show how its close went.
                await Task.Delay(500);
                foreach (var line in node.Stderr.Split('\n').Where(l => l.Contains("closed", StringComparison.Ordinal)))
                {
                    Console.Error.WriteLine($"{attack.Name}: {line.Trim()}");
                }
            }

            if (!survived)
            {
                error = $"node exited with {node.ExitCode}: {LastLine(node.Stderr)}";
            }

            foreach (var incident in honest.Incidents)
            {
                Console.Error.WriteLine($"{attack.Name}: honest peer at {incident}");
            }

            return new RedTeamResult(attack.Name, baseline, peak, honest.Quantile(0.5), honest.Quantile(0.95), honest.Max, honest.LatenciesMs.Count, honest.Failures,
                honest.DialsOk, honest.DialsFailed, survived, stillServes, took.TotalSeconds, clean, context.Connections, context.Rejected, context.SentBytes >> 20, error);
        }

        private static string LastLine(string text) =>
            text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
    }

    /// <summary>How long <c>bitswap get</c> took without and with a silent provider.</summary>
    public sealed record SilentResult(
        double HonestOnlyS, double SilentFirstS, double SilentLastS, bool SilentFirstOk, bool SilentLastOk,
        double InProcessFirstS, double InProcessLastS, bool InProcessFirstOk, bool InProcessLastOk, long WantsSeenBySilent)
    {
        /// <summary>A small markdown table.</summary>
        public string Table() => string.Create(CultureInfo.InvariantCulture, $"""
            `bitswap get --out DIR` of 16 blocks of 1 MiB (`--timeout 30`): a silent provider answers every want, want-blocks included, with HAVE and never sends. In a child process the honest serve (another process) tends to answer first; in-process (as tests/Interop/RedTeam runs it) the silent peer, in the same process, answers first.

            | providers | get | seconds | finished |
            |---|---|---:|---|
            | honest only | child process | {HonestOnlyS:0.0} | yes |
            | silent, then honest | child process | {SilentFirstS:0.0} | {Yes(SilentFirstOk)} |
            | honest, then silent | child process | {SilentLastS:0.0} | {Yes(SilentLastOk)} |
            | silent, then honest | in-process | {InProcessFirstS:0.0} | {Yes(InProcessFirstOk)} |
            | honest, then silent | in-process | {InProcessLastS:0.0} | {Yes(InProcessLastOk)} |
            """);

        private static string Yes(bool ok) => ok ? "yes" : "**no**";
    }

    /// <summary>The silent-provider case: <c>bitswap get</c> child processes against an honest serve and a silent C# peer.</summary>
    public static class SilentRun
    {
        /// <summary>Three gets: honest only, silent first, silent last.</summary>
        public static async Task<SilentResult> RunAsync(Corpus corpus, bool heapLimit)
        {
            await using var node = await NodeUnderTest.StartAsync(corpus, heapLimit, CancellationToken.None);
            await using var liar = await SilentProvider.StartAsync();
            var cids = corpus.Big.Select(b => b.Cid.ToString()).ToArray();
            var (honestOnly, _) = await GetAsync([node.Address.ToString()], cids, TimeSpan.FromSeconds(120));
            var (first, firstOk) = await GetAsync([liar.Address.ToString(), node.Address.ToString()], cids, TimeSpan.FromSeconds(120));
            var (last, lastOk) = await GetAsync([node.Address.ToString(), liar.Address.ToString()], cids, TimeSpan.FromSeconds(120));
            var (inFirst, inFirstOk) = await GetInProcessAsync([liar.Address.ToString(), node.Address.ToString()], cids);
            var (inLast, inLastOk) = await GetInProcessAsync([node.Address.ToString(), liar.Address.ToString()], cids);
            return new SilentResult(honestOnly.TotalSeconds, first.TotalSeconds, last.TotalSeconds, firstOk, lastOk,
                inFirst.TotalSeconds, inLast.TotalSeconds, inFirstOk, inLastOk, liar.WantsSeen);
        }

        /// <summary>The arguments of <c>bitswap get</c> into <paramref name="folder"/>.</summary>
        private static List<string> GetArguments(string folder, IReadOnlyList<string> peers, IReadOnlyList<string> cids)
        {
            var arguments = new List<string> { "get", "--out", Path.Combine(folder, "out"), "--timeout", "30", "--routing", "none" };
            foreach (var peer in peers)
            {
                arguments.AddRange(["--peer", peer]);
            }

            arguments.AddRange(cids);
            return arguments;
        }

        /// <summary>Runs <c>bitswap get</c> inside this process (beside the silent peer) and returns its wall time and whether it succeeded.</summary>
        public static async Task<(TimeSpan Took, bool Ok)> GetInProcessAsync(IReadOnlyList<string> peers, IReadOnlyList<string> cids)
        {
            var folder = Directory.CreateTempSubdirectory("bitswap-redteam-get-").FullName;
            var home = Environment.GetEnvironmentVariable("BITSWAP_PATH");
            try
            {
                Environment.SetEnvironmentVariable("BITSWAP_PATH", folder);
                var clock = Stopwatch.StartNew();
                var code = await Bitswap.Cli.BitswapCli.RunAsync([.. GetArguments(folder, peers, cids)], new Bitswap.Cli.Output(new StringWriter(), new StringWriter(), null, OutIsTerminal: false));
                return (clock.Elapsed, code == 0 && cids.All(c => File.Exists(Path.Combine(folder, "out", c))));
            }
            finally
            {
                Environment.SetEnvironmentVariable("BITSWAP_PATH", home);
                Directory.Delete(folder, recursive: true);
            }
        }

        /// <summary>Runs <c>bitswap get --out DIR --peer …</c> and returns its wall time and whether it succeeded.</summary>
        public static async Task<(TimeSpan Took, bool Ok)> GetAsync(IReadOnlyList<string> peers, IReadOnlyList<string> cids, TimeSpan patience)
        {
            var folder = Directory.CreateTempSubdirectory("bitswap-redteam-get-").FullName;
            try
            {
                List<string> arguments = [Path.Combine(AppContext.BaseDirectory, "bitswap.dll"), .. GetArguments(folder, peers, cids)];
                var start = new ProcessStartInfo("dotnet", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
                start.Environment["BITSWAP_PATH"] = folder;
                var clock = Stopwatch.StartNew();
                using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                try
                {
                    await process.WaitForExitAsync().WaitAsync(patience);
                }
                catch (TimeoutException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }

                await Task.WhenAll(stdout, stderr);
                return (clock.Elapsed, process.ExitCode == 0 && cids.All(c => File.Exists(Path.Combine(folder, "out", c))));
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
