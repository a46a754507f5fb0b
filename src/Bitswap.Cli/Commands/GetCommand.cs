using System.CommandLine;
using System.Text.Json.Nodes;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Spectre.Console;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap get</c>: connects to peers and fetches. With <c>--out DIR</c> it fetches exactly the given blocks, one file
/// each; otherwise it fetches the whole DAG of the single root through one session and reassembles the file (to
/// <c>-o FILE</c> or stdout) or writes a CARv1 (<c>--car</c>).
/// </summary>
public static class GetCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var cids = new Argument<string[]>("CID") { Description = "What to fetch", Arity = ArgumentArity.OneOrMore };
        var peers = new Option<string[]>("--peer", "-p") { Description = "Peer multiaddr ending in /p2p/<id> (repeatable); without it, through the running daemon, else providers come from --routing" };
        var repo = new Option<string?>("--repo") { Description = "With no --peer: the repo whose daemon fetches (default $BITSWAP_PATH/blocks)" };
        var api = RemoteCommands.ApiOption();
        var routing = RoutingSetup.Option();
        var gatewayUrls = RoutingSetup.GatewayOption();
        var outDir = new Option<string?>("--out") { Description = "Fetch exactly these blocks and write each to DIR/<cid>" };
        var outFile = new Option<string?>("-o", "--output") { Description = "Write the reassembled file here (default stdout)" };
        var car = new Option<string?>("--car") { Description = "Write the DAG as a CARv1 file instead of reassembling" };
        var timeout = new Option<double>("--timeout") { Description = "Give up when no block arrives for this many seconds", DefaultValueFactory = _ => 30 };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON line even on a terminal" };
        var record = new Option<string?>("--record") { Description = "Record every node input to this message log (see bitswap replay)" };
        var command = new Command("get", "Fetch blocks or a whole file from peers") { cids, peers, outDir, outFile, car, timeout, json, record, repo, api, routing, gatewayUrls };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var wanted = parsed.GetValue(cids)!.Select(Arguments.ParseCid).ToList();
            var addresses = (parsed.GetValue(peers) ?? []).Select(Arguments.ParsePeerAddress).ToList();
            var gateways = RoutingSetup.GatewayUrls(parsed.GetValue(gatewayUrls));
            var routingArguments = parsed.GetValue(routing);
            var idle = Arguments.Seconds(parsed.GetValue(timeout));
            var folder = parsed.GetValue(outDir);
            var file = parsed.GetValue(outFile);
            var carFile = parsed.GetValue(car);
            if (folder is null && wanted.Count != 1)
            {
                throw new CliError($"a DAG fetch takes one root CID, got {wanted.Count} (use --out DIR for several blocks)");
            }

            if ((folder is not null ? 1 : 0) + (file is not null ? 1 : 0) + (carFile is not null ? 1 : 0) > 1)
            {
                throw new CliError("choose one of --out DIR, -o FILE and --car FILE");
            }

            if (addresses.Count == 0 && gateways.Count == 0 && routingArguments is not { Length: > 0 } && folder is null)
            {
                // As `ipfs get` does: the running daemon fetches (from its peers) and streams the result.
                using var daemon = await Daemon.RpcClient.FindAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
                if (daemon is not null)
                {
                    return await Daemon.RemoteGet.RunAsync(output, daemon, wanted[0].ToString(), file, carFile, cancellationToken).ConfigureAwait(false);
                }
            }

            // No daemon: providers come from delegated routing (unless it is off), beside any --peer and --gateway.
            using var client = RoutingSetup.CreateClient(routingArguments, addresses.Count > 0 || gateways.Count > 0, context);
            if (addresses.Count == 0 && client is null && gateways.Count == 0)
            {
                throw new CliError("routing is off (--routing none) and no daemon runs: give --peer MULTIADDR");
            }

            // Fetched blocks wait on disk, not in memory, until the file is reassembled: a file may be larger than RAM.
            var scratch = BitswapHome.NewScratch("get");
            try
            {
                return await RunAsync(output, context, parsed, wanted, addresses, client, gateways, idle, folder, file, carFile, scratch.FullName, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                scratch.Delete(recursive: true);
            }
        });
        return command;

        async Task<int> RunAsync(
            Output output, CliContext context, System.CommandLine.ParseResult parsed, List<Cid> wanted, List<Transport.Tcp.Addressing.Multiaddr> addresses,
            Routing.DelegatedRoutingClient? client, IReadOnlyList<Uri> gateways, TimeSpan idle, string? folder, string? file, string? carFile, string scratch, CancellationToken cancellationToken)
        {
            // Written straight to -o FILE, blocks need no store at all; for stdout, CAR or --out they wait in a scratch flatfs
            // (on disk, not in memory: a file may be larger than RAM).
            var direct = file is not null && folder is null;
            IBlockstore store = direct
                ? new MemoryBlockstore()
                : FlatFsBlockstore.Open(Path.Combine(scratch, "blocks"), FlatFsOptions.Default with { FlushToDisk = false });
            Routing.RoutingProviderFinder? finder = null;
            var identity = PeerIdentity.Generate();
            // HTTP retrieval beside Bitswap when gateways may come up: given with --gateway or announced through routing.
            await using var http = gateways.Count == 0 && client is null ? null : new Routing.HttpNet.HttpGatewayNetwork(identity.PeerId, null, context.Logs);
            var gatewayPeers = gateways.Select(url => (url, http!.AddGateway(url))).ToList();
            // The peers and gateways the user named are peered: broadcasts always reach them (until the transport reports
            // addresses, a peer found otherwise counts as remote).
            var peered = addresses.Select(a => a.PeerId).OfType<PeerId>().Concat(gatewayPeers.Select(g => g.Item2)).ToHashSet();
            await using var node = await LiveNode.StartAsync(
                identity, store, [], context, parsed.GetValue(record), cancellationToken, storeReceived: !direct,
                providers: host => finder = RoutingSetup.Finder(client, host, context, http),
                network: host => http is null ? host : new Routing.HttpNet.CompositeNetwork(host, http), peered: peered).ConfigureAwait(false);
            if (http is not null) node.Metrics.Track(http.Metrics);
            // One clock from the start of the dial to the last byte written, as the Helia harness measures.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            if (addresses.Count > 0)
            {
                await ConnectAsync(node, addresses, idle, cancellationToken).ConfigureAwait(false);
            }

            var gatewaysUp = 0;
            if (http is not null && gatewayPeers.Count > 0)
            {
                var (up, failures) = await RoutingSetup.ConnectGatewaysAsync(http, gatewayPeers, idle, cancellationToken).ConfigureAwait(false);
                gatewaysUp = up;
                if (up == 0 && addresses.Count == 0 && client is null)
                {
                    throw new CliError(string.Join("; ", failures));
                }
            }

            if (finder is not null)
            {
                // One eager lookup of the root, so the first block does not wait for the session's first search (1 s).
                var (connected, failures) = await RoutingSetup.ConnectProvidersAsync(node, finder, wanted[0], idle, context, cancellationToken, http).ConfigureAwait(false);
                if (connected == 0 && addresses.Count == 0 && gatewaysUp == 0)
                {
                    throw new CliError(string.Join("; ", failures));
                }
            }

            var dialMs = clock.Elapsed.TotalMilliseconds;
            double? firstBlockMs = null;
            var toStdout = folder is null && file is null && carFile is null;
            var interactive = output.Interactive(parsed.GetValue(json)) && !toStdout;
            FetchTotals totals;
            if (folder is not null)
            {
                totals = await FetchBlocksAsync(node, wanted, folder, idle, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var root = wanted[0];
                using var session = node.Node.NewSession();
                if (file is not null)
                {
                    // The file is written as blocks arrive, each at its offset: no second pass over the store.
                    totals = await WriteFileAsync(file, handle =>
                    {
                        var assembler = new FileAssembler(handle, root, Limits.Default);
                        return FetchWithViewAsync(session, root, assembler.Add, assembler.Finish);
                    }).ConfigureAwait(false);
                }
                else
                {
                    totals = await FetchWithViewAsync(session, root, null, null).ConfigureAwait(false);
                    await WriteResultAsync(output, store, root, null, carFile, cancellationToken).ConfigureAwait(false);
                }
            }

            var summary = TransferView.Summary(totals with { Elapsed = clock.Elapsed });
            summary["dialMs"] = Math.Round(dialMs, 1);
            summary["firstBlockMs"] = firstBlockMs is null ? null : Math.Round(firstBlockMs.Value, 1);
            // What a cold start costs: time the process spent compiling methods, all threads, since it began.
            summary["jitMs"] = Math.Round(System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds, 1);
            summary["jitMethods"] = System.Runtime.JitInfo.GetCompiledMethodCount();
            // And what it allocated and collected, since it began.
            summary["allocatedMB"] = Math.Round(GC.GetTotalAllocatedBytes() / 1e6, 1);
            summary["gcs"] = $"{GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}";
            summary["gcPauseMs"] = Math.Round(GC.GetTotalPauseDuration().TotalMilliseconds, 1);
            if (toStdout)
            {
                // The file went to stdout; the summary must not mix into it.
                output.Error.WriteLine(summary.ToJsonString());
            }
            else if (interactive)
            {
                output.Ansi().MarkupLine(
                    $"[green]fetched[/] {totals.Blocks} blocks, {totals.Bytes:N0} bytes in {totals.Elapsed.TotalSeconds:0.00} s ([bold]{totals.MegabytesPerSecond:0.0} MB/s[/])");
            }
            else
            {
                output.JsonLine(summary);
            }

            return 0;

            async Task<FetchTotals> FetchWithViewAsync(Runtime.BitswapSession session, Cid root, Action<Block>? place, Action? finish)
            {
                var fetched = await TransferView.RunAsync(output, interactive ? TransferView.Mode.Bar : TransferView.Mode.Quiet, $"get {Short(root)}",
                    onBlock => DagFetch.FetchAsync(session, root, idle, block =>
                    {
                        firstBlockMs ??= clock.Elapsed.TotalMilliseconds;
                        onBlock(block);
                    }, Limits.Default, cancellationToken, place)).ConfigureAwait(false);
                finish?.Invoke();
                return fetched;
            }
        }
    }

    /// <summary>Writes a file through a random-access handle; a failed write leaves no partial file behind.</summary>
    public static async Task<T> WriteFileAsync<T>(string path, Func<Microsoft.Win32.SafeHandles.SafeFileHandle, Task<T>> write)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var partial = full + ".partial";
        try
        {
            T result;
            using (var handle = File.OpenHandle(partial, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                result = await write(handle).ConfigureAwait(false);
            }

            File.Move(partial, full, overwrite: true);
            return result;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>Dials every peer; fails only when none answers (each failure is named in the error).</summary>
    public static async Task ConnectAsync(LiveNode node, IReadOnlyList<Transport.Tcp.Addressing.Multiaddr> addresses, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var dialing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        dialing.CancelAfter(timeout);
        var failures = new List<string>();
        var connected = 0;
        foreach (var address in addresses)
        {
            try
            {
                await node.DialAsync(address, dialing.Token).ConfigureAwait(false);
                connected++;
            }
            catch (CliError error)
            {
                failures.Add(error.Message);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add($"cannot reach {address}: no answer within {timeout.TotalSeconds:0.#} s");
            }
        }

        if (connected == 0)
        {
            throw new CliError(string.Join("; ", failures));
        }
    }

    private static async Task<FetchTotals> FetchBlocksAsync(LiveNode node, IReadOnlyList<Cid> wanted, string folder, TimeSpan idle, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var session = node.Node.NewSession();
        var remaining = wanted.Distinct().ToHashSet();
        var count = 0;
        long bytes = 0;
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        quiet.CancelAfter(idle);
        try
        {
            await foreach (var block in session.GetBlocksAsync(remaining.ToList(), quiet.Token).ConfigureAwait(false))
            {
                quiet.CancelAfter(idle);
                remaining.Remove(block.Cid);
                await File.WriteAllBytesAsync(Path.Combine(folder, block.Cid.ToString()), block.Data, cancellationToken).ConfigureAwait(false);
                count++;
                bytes += block.Size;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliError($"timed out: no block for {idle.TotalSeconds:0.#} s; still missing {string.Join(", ", remaining.Take(3))}{(remaining.Count > 3 ? ", …" : "")}");
        }

        return new FetchTotals(count, bytes, System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    private static async Task WriteResultAsync(Output output, IBlockstore store, Cid root, string? file, string? carFile, CancellationToken cancellationToken)
    {
        var getter = DagFetch.From(store);
        if (carFile is not null)
        {
            await WriteFileAsync(carFile, stream => CarWriter.WriteDagAsync(stream, root, getter, Limits.Default, cancellationToken)).ConfigureAwait(false);
        }
        else if (file is not null)
        {
            await WriteFileAsync(file, stream => ExportAsync(root, getter, stream, cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            var stdout = output.OpenBinaryOut?.Invoke() ?? throw new CliError("no standard output to write the file to: use -o FILE");
            await using (stdout.ConfigureAwait(false))
            {
                await ExportAsync(root, getter, stdout, cancellationToken).ConfigureAwait(false);
                await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reassembles a UnixFS file; a malformed DAG is one line.</summary>
    public static async Task ExportAsync(Cid root, BlockGetter getter, Stream destination, CancellationToken cancellationToken)
    {
        try
        {
            await UnixFsExporter.ExportAsync(root, getter, destination, Limits.Default, cancellationToken).ConfigureAwait(false);
        }
        catch (DagException error)
        {
            throw new CliError($"cannot reassemble {root}: {error.Error.Detail}", error);
        }
    }

    /// <summary>Writes a file through <paramref name="write"/>; a failed write leaves no partial file behind.</summary>
    public static async Task WriteFileAsync(string path, Func<Stream, Task> write)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var partial = full + ".partial";
        try
        {
            await using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                await write(stream).ConfigureAwait(false);
            }

            File.Move(partial, full, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>The last 8 characters of a CID, as traces print them.</summary>
    public static string Short(Cid cid)
    {
        var text = cid.ToString();
        return text.Length <= 8 ? text : text[^8..];
    }
}
