using System.Formats.Tar;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Host;
using LanguageExt;
using Microsoft.AspNetCore.Http;

namespace Bitswap.Cli.Daemon;

/// <summary>
/// The RPC commands, with Kubo's argument names and JSON shapes (kubo core/commands/*.go, as kubo-rpc-client 7.1.0 reads
/// them). Each handler reads its <see cref="RpcRequest"/> and writes the response; failures are <see cref="RpcException"/>.
/// </summary>
public sealed class RpcCommands
{
    /// <summary>Kubo's default Datastore.StorageMax ("10GB"), reported by repo/stat.</summary>
    public const long StorageMax = 10_000_000_000;

    /// <summary>Kubo's default chunker (boxo chunk.DefaultBlockSize, 256 KiB).</summary>
    public const int DefaultChunkSize = 256 * 1024;

    /// <summary>Kubo's default links per file node (boxo ipld/unixfs/importer/helpers DefaultLinksPerBlock, 174).</summary>
    public const int DefaultMaxLinks = 174;

    /// <summary>Most entries written by one <c>get</c> of a directory tree.</summary>
    public const int TarEntriesMax = 100_000;

    /// <summary>Deepest directory nesting that <c>get</c> and path resolution follow.</summary>
    public const int DirectoryDepthMax = 64;

    /// <summary>Blocks handed to the node at a time by dag/import.</summary>
    private const int ImportBatch = 256;

    private readonly DaemonState _daemon;
    private readonly DateTime _started = DateTime.UtcNow;

    /// <summary>The commands of one daemon.</summary>
    public RpcCommands(DaemonState daemon)
    {
        _daemon = daemon;
        Table = new Dictionary<string, Func<RpcRequest, Task>>(StringComparer.Ordinal)
        {
            ["id"] = IdAsync,
            ["version"] = VersionAsync,
            ["add"] = AddAsync,
            ["cat"] = CatAsync,
            ["get"] = GetAsync,
            ["ls"] = LsAsync,
            ["block/get"] = BlockGetAsync,
            ["block/put"] = BlockPutAsync,
            ["block/stat"] = BlockStatAsync,
            ["block/rm"] = BlockRmAsync,
            ["dag/export"] = DagExportAsync,
            ["dag/import"] = DagImportAsync,
            ["bitswap/stat"] = BitswapStatAsync,
            ["bitswap/wantlist"] = BitswapWantlistAsync,
            ["bitswap/ledger"] = BitswapLedgerAsync,
            ["swarm/connect"] = SwarmConnectAsync,
            ["swarm/peers"] = SwarmPeersAsync,
            ["routing/findprovs"] = FindProvidersAsync,
            ["stats/bw"] = StatsBandwidthAsync,
            ["repo/stat"] = RepoStatAsync,
            ["shutdown"] = ShutdownAsync,
        };
    }

    /// <summary>Command name (the path after /api/v0/) to handler.</summary>
    public IReadOnlyDictionary<string, Func<RpcRequest, Task>> Table { get; }

    /// <summary>Runs one handler and turns its failure into Kubo's error body; honours the <c>timeout</c> option.</summary>
    public static async Task RunAsync(HttpContext context, Func<RpcRequest, Task> handler)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        try
        {
            if (context.Request.Query.TryGetValue("timeout", out var timeout) && timeout.Count > 0)
            {
                deadline.CancelAfter(ParseDuration(timeout[^1]!));
            }

            await handler(new RpcRequest(context, deadline.Token)).ConfigureAwait(false);
        }
        catch (RpcException error)
        {
            await RpcException.WriteAsync(context, error.Status, error.Code, error.Message).ConfigureAwait(false);
        }
        catch (BadHttpRequestException error)
        {
            // Kestrel's own refusals: 413 for a body over the bound, 400 for a broken request.
            await RpcException.WriteAsync(context, error.StatusCode, RpcErrorCode.Client, error.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await RpcException.WriteAsync(context, StatusCodes.Status500InternalServerError, RpcErrorCode.Normal, "context deadline exceeded").ConfigureAwait(false);
        }
        catch (Exception error)
        {
            await RpcException.WriteAsync(context, StatusCodes.Status500InternalServerError, RpcErrorCode.Normal, BitswapCli.Describe(error)).ConfigureAwait(false);
        }
    }

    /// <summary>Parses a Go duration as go-ipfs-cmds' timeout option takes it (<c>500ms</c>, <c>10s</c>, <c>1m</c>, <c>1h</c>).</summary>
    public static TimeSpan ParseDuration(string text)
    {
        var units = new (string Suffix, double Ms)[] { ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000) };
        foreach (var (suffix, ms) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) &&
                double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) &&
                value > 0 && double.IsFinite(value) && value * ms < int.MaxValue)
            {
                return TimeSpan.FromMilliseconds(value * ms);
            }
        }

        throw RpcException.Client($"invalid timeout \"{text}\": use a Go duration such as 500ms, 10s or 1m");
    }

    // ------------------------------------------------------------------ node

    private Task IdAsync(RpcRequest request)
    {
        var self = _daemon.Node.Self;
        if (request.Args.Count > 0 && RpcRequest.ParsePeer(request.Args[0]) != self)
        {
            throw RpcException.Normal($"no information about peer {request.Args[0]}: this node keeps no peerstore");
        }

        return request.JsonAsync(new JsonObject
        {
            ["ID"] = self.ToString(),
            ["PublicKey"] = Convert.ToBase64String(_daemon.Identity.PublicKeyProtobuf),
            ["Addresses"] = Strings(_daemon.Node.Host.ListenAddresses.Select(a => a.ToString())),
            ["AgentVersion"] = new TcpHostOptions().AgentVersion,
            ["Protocols"] = Strings(["/ipfs/bitswap", "/ipfs/bitswap/1.0.0", "/ipfs/bitswap/1.1.0", "/ipfs/bitswap/1.2.0", TcpHost.IdentifyProtocol, TcpHost.PingProtocol]),
        });
    }

    private static Task VersionAsync(RpcRequest request) => request.JsonAsync(new JsonObject
    {
        ["Version"] = new TcpHostOptions().AgentVersion.Split('/')[^1],
        ["Commit"] = "",
        ["Repo"] = "16",
        ["System"] = $"{RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}/{OperatingSystemName()}",
        ["Golang"] = RuntimeInformation.FrameworkDescription,
    });

    private Task ShutdownAsync(RpcRequest request)
    {
        _daemon.RequestStop();
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ files

    private async Task AddAsync(RpcRequest request)
    {
        var options = AddOptions(request);
        if (request.Option("hash") is { } hash && hash != "sha2-256")
        {
            throw RpcException.Client($"hash {hash} is not supported: only sha2-256");
        }

        if (request.Flag("only-hash") == true)
        {
            throw RpcException.Client("only-hash is not supported");
        }

        var progress = request.Flag("progress") == true;
        var wrap = request.Flag("wrap-with-directory") == true;
        var lines = new List<JsonNode>();
        var tree = new AddTree();
        var files = 0;
        var sink = new AnnouncingStore(_daemon);
        await foreach (var (name, isDirectory, body) in request.PartsAsync().WithCancellation(request.Cancellation).ConfigureAwait(false))
        {
            if (isDirectory)
            {
                tree.AddFolder(name);
                continue;
            }

            var counted = new CountingStream(body, progress ? lines : null, name);
            ImportResult result;
            try
            {
                result = await Repo.ImportAsync(counted, options, sink, request.Cancellation).ConfigureAwait(false);
            }
            catch (CliError error)
            {
                throw RpcException.Client(error.Message, error);
            }

            files++;
            var path = name.Length == 0 ? result.Root.ToString() : string.Join('/', AddTree.Segments(name));
            if (progress)
            {
                lines.Add(new JsonObject { ["Name"] = path, ["Bytes"] = counted.Total });
            }

            // Kubo's AddEvent: Name, Hash, Size (the cumulative DAG size, as a string).
            lines.Add(new JsonObject { ["Name"] = path, ["Hash"] = result.Root.ToString(), ["Size"] = result.DagSize.ToString(CultureInfo.InvariantCulture) });
            tree.AddFile(path, new DirectoryEntry(path, result.Root, result.DagSize, IsDirectory: false));
        }

        if (files == 0 && !tree.HasFolders)
        {
            throw RpcException.Client("argument \"path\" is required");
        }

        // Folders are built once all their files are in, deepest first, each reported as Kubo reports it.
        await tree.BuildAsync(options, sink.PutAsync, (path, entry) => lines.Add(Event(path, entry)), request.Cancellation).ConfigureAwait(false);
        if (wrap)
        {
            var top = tree.TopEntries;
            var duplicate = top.GroupBy(e => e.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                throw RpcException.Normal($"directory already has entry by the name \"{duplicate.Key}\"");
            }

            var (directory, size) = UnixFsDirectory.Encode(top, options.CidVersion);
            await sink.PutAsync(directory, request.Cancellation).ConfigureAwait(false);
            lines.Add(Event("", new DirectoryEntry("", directory.Cid, size, IsDirectory: true)));
        }

        await request.LinesAsync(lines).ConfigureAwait(false);

        static JsonObject Event(string path, DirectoryEntry entry) =>
            new() { ["Name"] = path, ["Hash"] = entry.Cid.ToString(), ["Size"] = entry.DagSize.ToString(CultureInfo.InvariantCulture) };
    }

    /// <summary>Kubo's add options: CIDv0, 256 KiB chunks, dag-pb leaves, 174 links; cid-version=1 turns raw leaves on.</summary>
    public static ImportOptions AddOptions(RpcRequest request)
    {
        var cidVersion = request.Number("cid-version") ?? 0;
        if (cidVersion is not (0 or 1))
        {
            throw RpcException.Client($"unknown CID version {cidVersion}");
        }

        var chunkSize = DefaultChunkSize;
        if (request.Option("chunker") is { } chunker && chunker != "default")
        {
            if (!chunker.StartsWith("size-", StringComparison.Ordinal) ||
                !int.TryParse(chunker.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out chunkSize) ||
                chunkSize < 1 || chunkSize > ImportOptions.ChunkSizeMax)
            {
                throw RpcException.Client($"chunker \"{chunker}\" is not supported: use size-N with 1 <= N <= {ImportOptions.ChunkSizeMax}");
            }
        }

        var maxLinks = request.Number("max-file-links") ?? DefaultMaxLinks;
        if (maxLinks is < 2 or > 65_536)
        {
            throw RpcException.Client($"max-file-links must be between 2 and 65536, got {maxLinks}");
        }

        var rawLeaves = request.Flag("raw-leaves") ?? cidVersion == 1;
        var profile = cidVersion == 1 ? ImportProfile.UnixFsV1_2025 : ImportProfile.UnixFsV0_2015;
        return new ImportOptions(profile, chunkSize, rawLeaves, (int)cidVersion, (int)maxLinks);
    }

    private async Task CatAsync(RpcRequest request)
    {
        var cid = await ResolveAsync(request.Arg(0, "ipfs-path"), request.Cancellation).ConfigureAwait(false);
        var root = await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
        if (Directories.TypeOf(root) is UnixFsType.Directory or UnixFsType.HamtShard)
        {
            throw RpcException.Normal("this dag node is a directory");
        }

        var offset = request.Number("offset") ?? 0;
        var length = request.Number("length");
        if (offset < 0 || length < 0)
        {
            throw RpcException.Client("offset and length must not be negative");
        }

        request.Context.Response.ContentType = "text/plain";
        request.Context.Response.Headers["X-Stream-Output"] = "1";
        await using var slice = new SliceStream(request.Context.Response.Body, offset, length);
        await UnixFsExporter.ExportAsync(cid, _daemon.GetBlockAsync, slice, _daemon.Limits, request.Cancellation).ConfigureAwait(false);
    }

    private async Task GetAsync(RpcRequest request)
    {
        var path = request.Arg(0, "ipfs-path");
        var cid = await ResolveAsync(path, request.Cancellation).ConfigureAwait(false);
        var root = await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
        var name = path.TrimEnd('/').Split('/')[^1];
        request.Context.Response.ContentType = "application/x-tar";
        request.Context.Response.Headers["X-Stream-Output"] = "1";
        var scratch = Directory.CreateTempSubdirectory("bitswap-daemon-get-");
        try
        {
            await using var tar = new TarWriter(request.Context.Response.Body, TarEntryFormat.Pax, leaveOpen: true);
            var entries = 0;
            await WriteTarAsync(tar, name, cid, root, 0, scratch.FullName, () => ++entries, request.Cancellation).ConfigureAwait(false);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private async Task WriteTarAsync(TarWriter tar, string name, Cid cid, Block block, int depth, string scratch, Func<int> count, CancellationToken cancellationToken)
    {
        if (count() > TarEntriesMax || depth > DirectoryDepthMax)
        {
            throw RpcException.Normal($"the tree is larger than {TarEntriesMax} entries or deeper than {DirectoryDepthMax}");
        }

        switch (Directories.TypeOf(block))
        {
            case UnixFsType.Directory:
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name), cancellationToken).ConfigureAwait(false);
                foreach (var link in Directories.Links(block))
                {
                    var child = await _daemon.GetBlockAsync(link.Hash, cancellationToken).ConfigureAwait(false);
                    await WriteTarAsync(tar, $"{name}/{link.Name}", link.Hash, child, depth + 1, scratch, count, cancellationToken).ConfigureAwait(false);
                }

                break;
            case UnixFsType.HamtShard:
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name), cancellationToken).ConfigureAwait(false);
                await foreach (var link in UnixFsHamt.EntriesAsync(block, _daemon.GetBlockAsync, cancellationToken).ConfigureAwait(false))
                {
                    var child = await _daemon.GetBlockAsync(link.Hash, cancellationToken).ConfigureAwait(false);
                    await WriteTarAsync(tar, $"{name}/{link.Name}", link.Hash, child, depth + 1, scratch, count, cancellationToken).ConfigureAwait(false);
                }

                break;
            default:
                // A tar entry states its size first, so the file is assembled in a scratch file, then copied.
                var file = Path.Combine(scratch, "entry");
                await using (var output = new FileStream(file, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous | FileOptions.DeleteOnClose))
                {
                    await UnixFsExporter.ExportAsync(cid, _daemon.GetBlockAsync, output, _daemon.Limits, cancellationToken).ConfigureAwait(false);
                    output.Position = 0;
                    var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = output };
                    await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                }

                break;
        }
    }

    private async Task LsAsync(RpcRequest request)
    {
        var objects = new JsonArray();
        foreach (var path in request.Args.Count > 0 ? request.Args : [request.Arg(0, "ipfs-path")])
        {
            var cid = await ResolveAsync(path, request.Cancellation).ConfigureAwait(false);
            var block = await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
            var entries = Directories.TypeOf(block) == UnixFsType.HamtShard
                ? await UnixFsHamt.EntriesAsync(block, _daemon.GetBlockAsync, request.Cancellation).Take(TarEntriesMax).ToListAsync(request.Cancellation).ConfigureAwait(false)
                : [.. Directories.Links(block)];
            var links = new JsonArray();
            foreach (var link in entries.OrderBy(l => l.Name, StringComparer.Ordinal))
            {
                var child = await _daemon.GetBlockAsync(link.Hash, request.Cancellation).ConfigureAwait(false);
                var type = Directories.TypeOf(child);
                links.Add(new JsonObject
                {
                    ["Name"] = link.Name ?? "",
                    ["Hash"] = link.Hash.ToString(),
                    ["Size"] = type is UnixFsType.Directory or UnixFsType.HamtShard ? 0 : Directories.FileSize(child),
                    // Kubo reports unixfs_pb Data.DataType; a raw leaf is a file.
                    ["Type"] = (int)(type == UnixFsType.Raw ? UnixFsType.File : type),
                    ["Target"] = "",
                });
            }

            objects.Add(new JsonObject { ["Hash"] = path, ["Links"] = links });
        }

        await request.JsonAsync(new JsonObject { ["Objects"] = objects }).ConfigureAwait(false);
    }

    /// <summary>Resolves <c>CID</c>, <c>/ipfs/CID</c> or <c>CID/a/b</c> through plain UnixFS directories.</summary>
    private async Task<Cid> ResolveAsync(string path, CancellationToken cancellationToken)
    {
        var text = path.Trim();
        if (text.StartsWith("/ipfs/", StringComparison.Ordinal))
        {
            text = text["/ipfs/".Length..];
        }
        else if (text.StartsWith('/'))
        {
            throw RpcException.Normal($"invalid path \"{path}\": only /ipfs/ paths and CIDs are supported");
        }

        var segments = text.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            throw RpcException.Normal($"invalid path \"{path}\": no CID");
        }

        if (segments.Length > DirectoryDepthMax)
        {
            throw RpcException.Normal($"invalid path \"{path}\": deeper than {DirectoryDepthMax}");
        }

        var cid = RpcRequest.ParseCid(segments[0]);
        foreach (var segment in segments.Skip(1))
        {
            var block = await _daemon.GetBlockAsync(cid, cancellationToken).ConfigureAwait(false);
            switch (Directories.TypeOf(block))
            {
                case UnixFsType.Directory:
                    cid = Directories.Links(block).FirstOrDefault(l => l.Name == segment)?.Hash
                        ?? throw RpcException.Normal($"no link named \"{segment}\" under {cid}");
                    break;
                case UnixFsType.HamtShard:
                    DagPbLink? found = null;
                    await foreach (var link in UnixFsHamt.EntriesAsync(block, _daemon.GetBlockAsync, cancellationToken).ConfigureAwait(false))
                    {
                        if (link.Name == segment)
                        {
                            found = link;
                            break;
                        }
                    }

                    cid = found?.Hash ?? throw RpcException.Normal($"no link named \"{segment}\" under {cid}");
                    break;
                default:
                    throw RpcException.Normal($"no link named \"{segment}\" under {cid}: it is not a directory");
            }
        }

        return cid;
    }

    // ------------------------------------------------------------------ blocks

    private async Task BlockGetAsync(RpcRequest request)
    {
        var cid = RpcRequest.ParseCid(request.Arg(0, "cid"));
        var block = await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
        request.Context.Response.ContentType = "application/octet-stream";
        await request.Context.Response.Body.WriteAsync(block.Data, request.Cancellation).ConfigureAwait(false);
    }

    private async Task BlockStatAsync(RpcRequest request)
    {
        var cid = RpcRequest.ParseCid(request.Arg(0, "cid"));
        var block = await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
        await request.JsonAsync(new JsonObject { ["Key"] = cid.ToString(), ["Size"] = block.Size }).ConfigureAwait(false);
    }

    private async Task BlockPutAsync(RpcRequest request)
    {
        var (codec, version) = BlockFormat(request);
        if (request.Option("mhtype") is { } mhtype && mhtype != "sha2-256")
        {
            throw RpcException.Client($"mhtype {mhtype} is not supported: only sha2-256");
        }

        var limit = _daemon.Limits.BlockBytesMax;
        var lines = new List<JsonNode>();
        var blocks = new List<Block>();
        await foreach (var (_, _, body) in request.PartsAsync().WithCancellation(request.Cancellation).ConfigureAwait(false))
        {
            var data = await ReadBoundedAsync(body, limit, request.Cancellation).ConfigureAwait(false)
                ?? throw RpcException.Normal($"produced block is over {limit} bytes: big blocks can't be exchanged with other peers");
            var block = Block.Create(data, codec, MultihashCode.Sha2_256, version).Match(b => b, e => throw RpcException.Normal(e.Detail));
            blocks.Add(block);
            lines.Add(new JsonObject { ["Key"] = block.Cid.ToString(), ["Size"] = block.Size });
        }

        if (blocks.Count == 0)
        {
            throw RpcException.Client("argument \"data\" is required");
        }

        await _daemon.Node.Node.NotifyNewBlocksAsync(blocks, request.Cancellation).ConfigureAwait(false);
        await request.LinesAsync(lines).ConfigureAwait(false);
    }

    /// <summary>block/put's codec: cid-codec (default raw, CIDv1), or the legacy format option (v0 is dag-pb CIDv0).</summary>
    private static (ulong Codec, int Version) BlockFormat(RpcRequest request)
    {
        if (request.Option("format") is { } format)
        {
            return format switch
            {
                "v0" => (Multicodec.DagPb, 0),
                "raw" => (Multicodec.Raw, 1),
                "protobuf" or "dag-pb" => (Multicodec.DagPb, 1),
                "cbor" or "dag-cbor" => (Multicodec.DagCbor, 1),
                "dag-json" => (Multicodec.DagJson, 1),
                _ => throw RpcException.Client($"unknown block format \"{format}\""),
            };
        }

        return (request.Option("cid-codec") ?? "raw") switch
        {
            "raw" => (Multicodec.Raw, 1),
            "dag-pb" => (Multicodec.DagPb, 1),
            "dag-cbor" => (Multicodec.DagCbor, 1),
            "dag-json" => (Multicodec.DagJson, 1),
            var other => throw RpcException.Client($"unknown cid-codec \"{other}\""),
        };
    }

    private async Task BlockRmAsync(RpcRequest request)
    {
        var cids = request.Args.Select(RpcRequest.ParseCid).ToList();
        if (cids.Count == 0)
        {
            throw RpcException.Client("argument \"cid\" is required");
        }

        var force = request.Flag("force") == true;
        var quiet = request.Flag("quiet") == true;
        var lines = new List<JsonNode>();
        foreach (var cid in cids)
        {
            var removed = await _daemon.Repo.DeleteAsync(cid, request.Cancellation).ConfigureAwait(false);
            if (!removed && !force)
            {
                lines.Add(new JsonObject { ["Hash"] = cid.ToString(), ["Error"] = $"ipld: could not find {cid}" });
            }
            else if (!quiet)
            {
                lines.Add(new JsonObject { ["Hash"] = cid.ToString() });
            }
        }

        await request.LinesAsync(lines).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ CAR

    private async Task DagExportAsync(RpcRequest request)
    {
        var cid = await ResolveAsync(request.Arg(0, "root"), request.Cancellation).ConfigureAwait(false);
        await _daemon.GetBlockAsync(cid, request.Cancellation).ConfigureAwait(false);
        request.Context.Response.ContentType = "application/vnd.ipld.car";
        request.Context.Response.Headers["X-Stream-Output"] = "1";
        await CarWriter.WriteDagAsync(request.Context.Response.Body, cid, _daemon.GetBlockAsync, _daemon.Limits, request.Cancellation).ConfigureAwait(false);
    }

    private async Task DagImportAsync(RpcRequest request)
    {
        var pinRoots = request.Flag("pin-roots") ?? true;
        var stats = request.Flag("stats") == true;
        var roots = new List<Cid>();
        long blockCount = 0, blockBytes = 0;
        var parts = 0;
        await foreach (var (_, _, body) in request.PartsAsync().WithCancellation(request.Cancellation).ConfigureAwait(false))
        {
            parts++;
            CarReader reader;
            try
            {
                reader = await CarReader.OpenAsync(body, _daemon.Limits, request.Cancellation).ConfigureAwait(false);
            }
            catch (CarFormatException error)
            {
                throw RpcException.Normal($"invalid CAR: {error.Message}", error);
            }

            roots.AddRange(reader.Roots);
            var batch = new List<Block>(ImportBatch);
            await foreach (var block in reader.ReadBlocksAsync(request.Cancellation).ConfigureAwait(false))
            {
                batch.Add(block);
                blockCount++;
                blockBytes += block.Size;
                if (batch.Count == ImportBatch)
                {
                    await _daemon.Node.Node.NotifyNewBlocksAsync(batch, request.Cancellation).ConfigureAwait(false);
                    batch = new List<Block>(ImportBatch);
                }
            }

            await _daemon.Node.Node.NotifyNewBlocksAsync(batch, request.Cancellation).ConfigureAwait(false);
        }

        if (parts == 0)
        {
            throw RpcException.Client("argument \"path\" is required");
        }

        var lines = new List<JsonNode>();
        if (pinRoots)
        {
            // We keep no pins; a root that is present counts as pinned, a missing one says so as Kubo does.
            foreach (var root in roots.Distinct())
            {
                var held = await _daemon.Repo.HasAsync(root, request.Cancellation).ConfigureAwait(false);
                lines.Add(new JsonObject
                {
                    ["Root"] = new JsonObject
                    {
                        ["Cid"] = Link(root),
                        ["PinErrorMsg"] = held ? "" : $"block was not found locally (offline): ipld: could not find {root}",
                    },
                });
            }
        }

        if (stats)
        {
            lines.Add(new JsonObject { ["Stats"] = new JsonObject { ["BlockCount"] = blockCount, ["BlockBytesCount"] = blockBytes } });
        }

        await request.LinesAsync(lines).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ bitswap

    private Task BitswapStatAsync(RpcRequest request)
    {
        var stat = _daemon.Node.Node.Stat();
        return request.JsonAsync(new JsonObject
        {
            ["ProvideBufLen"] = 0,
            ["Wantlist"] = new JsonArray([.. stat.Wantlist.Select(c => (JsonNode)Link(c))]),
            ["Peers"] = Strings(stat.Peers.Select(p => p.ToString())),
            ["BlocksReceived"] = stat.BlocksReceived,
            ["BlocksSent"] = stat.BlocksSent,
            ["DataReceived"] = stat.DataReceived,
            ["DataSent"] = stat.DataSent,
            ["DupBlksReceived"] = stat.DupBlksReceived,
            ["DupDataReceived"] = stat.DupDataReceived,
            ["MessagesReceived"] = stat.MessagesReceived,
        });
    }

    private Task BitswapWantlistAsync(RpcRequest request)
    {
        var node = _daemon.Node.Node;
        var keys = request.Option("peer") is { } peer ? node.WantlistForPeer(RpcRequest.ParsePeer(peer)) : node.GetWantlist();
        return request.JsonAsync(new JsonObject { ["Keys"] = new JsonArray([.. keys.Select(c => (JsonNode)Link(c))]) });
    }

    private Task BitswapLedgerAsync(RpcRequest request)
    {
        var peer = RpcRequest.ParsePeer(request.Arg(0, "peer"));
        var receipt = _daemon.Node.Node.LedgerForPeer(peer);
        return request.JsonAsync(new JsonObject
        {
            ["Peer"] = receipt.Peer.ToString(),
            ["Value"] = double.IsFinite(receipt.Value) ? receipt.Value : 0,
            ["Sent"] = receipt.Sent,
            ["Recv"] = receipt.Recv,
            ["Exchanged"] = receipt.Exchanged,
        });
    }

    // ------------------------------------------------------------------ swarm and routing

    private async Task SwarmConnectAsync(RpcRequest request)
    {
        var texts = request.Args;
        if (texts.Count == 0)
        {
            throw RpcException.Client("argument \"address\" is required");
        }

        var strings = new JsonArray();
        foreach (var text in texts)
        {
            Transport.Tcp.Addressing.Multiaddr address;
            try
            {
                address = Arguments.ParsePeerAddress(text);
            }
            catch (CliError error)
            {
                throw RpcException.Normal(error.Message, error);
            }

            try
            {
                var peer = await _daemon.Node.Host.DialAsync(address, request.Cancellation).ConfigureAwait(false);
                _daemon.Dialed(peer, address);
                strings.Add($"connect {peer} success");
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                throw RpcException.Normal($"connect {address.PeerId} failure: {BitswapCli.Describe(error)}", error);
            }
        }

        await request.JsonAsync(new JsonObject { ["Strings"] = strings }).ConfigureAwait(false);
    }

    private Task SwarmPeersAsync(RpcRequest request)
    {
        var peers = new JsonArray();
        foreach (var peer in _daemon.Node.Host.ConnectedPeers.OrderBy(p => p.ToString(), StringComparer.Ordinal))
        {
            // TcpHost's public API names connected peers but not their remote addresses; we know the ones we dialed.
            peers.Add(new JsonObject
            {
                ["Addr"] = _daemon.DialedAddress(peer)?.ToString() ?? "",
                ["Peer"] = peer.ToString(),
                ["Latency"] = "",
                ["Muxer"] = "",
                ["Streams"] = null,
            });
        }

        return request.JsonAsync(new JsonObject { ["Peers"] = peers });
    }

    private async Task FindProvidersAsync(RpcRequest request)
    {
        var cid = RpcRequest.ParseCid(request.Arg(0, "key"));
        request.Context.Response.ContentType = "application/json";
        request.Context.Response.Headers["X-Chunked-Output"] = "1";
        if (_daemon.Routing is not { } routing)
        {
            // No routing configured: no provider records to stream.
            return;
        }

        // Kubo streams routing.QueryEvent lines; a provider is Type 4 (go-libp2p-kad-dht routing.Provider) with one response.
        foreach (var record in await routing.FindProvidersAsync(cid, request.Cancellation).ConfigureAwait(false))
        {
            var line = new JsonObject
            {
                ["Extra"] = "",
                ["ID"] = "",
                ["Responses"] = new JsonArray(new JsonObject
                {
                    ["Addrs"] = new JsonArray([.. record.Addrs.Select(a => JsonValue.Create(a))]),
                    ["ID"] = record.Id.ToString(),
                }),
                ["Type"] = 4,
            };
            await request.Context.Response.WriteAsync(line.ToJsonString() + "\n", request.Cancellation).ConfigureAwait(false);
        }
    }

    private Task StatsBandwidthAsync(RpcRequest request)
    {
        var stats = _daemon.Node.Host.Stats;
        // Kubo's rates are libp2p meters' moving averages; ours are the averages since the daemon started.
        var seconds = Math.Max(1e-3, (DateTime.UtcNow - _started).TotalSeconds);
        return request.JsonAsync(new JsonObject
        {
            ["TotalIn"] = stats.BytesReceived,
            ["TotalOut"] = stats.BytesSent,
            ["RateIn"] = stats.BytesReceived / seconds,
            ["RateOut"] = stats.BytesSent / seconds,
        });
    }

    private Task RepoStatAsync(RpcRequest request)
    {
        long size = 0, count = 0;
        foreach (var file in new DirectoryInfo(_daemon.RepoPath).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            request.Cancellation.ThrowIfCancellationRequested();
            size += file.Length;
            if (file.Name.EndsWith(".data", StringComparison.Ordinal))
            {
                count++;
            }
        }

        return request.JsonAsync(new JsonObject
        {
            ["RepoSize"] = size,
            ["StorageMax"] = StorageMax,
            ["NumObjects"] = count,
            ["RepoPath"] = Path.GetDirectoryName(Path.GetFullPath(_daemon.RepoPath).TrimEnd(Path.DirectorySeparatorChar)),
            ["Version"] = "fs-repo@16",
        });
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>A CID as IPLD's JSON link, <c>{"/": "cid"}</c>.</summary>
    public static JsonObject Link(Cid cid) => new() { ["/"] = cid.ToString() };

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)JsonValue.Create(v))]);

    private static string OperatingSystemName() =>
        OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsWindows() ? "windows" : "unknown";

    private static async Task<byte[]?> ReadBoundedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>Puts blocks through the node, so peers that want them are served as they are stored.</summary>
    private sealed class AnnouncingStore(DaemonState daemon) : IBlockstore
    {
        public ValueTask<bool> HasAsync(Cid cid, CancellationToken cancellationToken = default) => daemon.Repo.HasAsync(cid, cancellationToken);

        public ValueTask<int?> GetSizeAsync(Cid cid, CancellationToken cancellationToken = default) => daemon.Repo.GetSizeAsync(cid, cancellationToken);

        public ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken = default) => daemon.Repo.GetAsync(cid, cancellationToken);

        public ValueTask PutAsync(Block block, CancellationToken cancellationToken = default) =>
            new(daemon.Node.Node.NotifyNewBlocksAsync([block], cancellationToken));

        public ValueTask<bool> DeleteAsync(Cid cid, CancellationToken cancellationToken = default) => daemon.Repo.DeleteAsync(cid, cancellationToken);

        public IAsyncEnumerable<Cid> AllKeysAsync(CancellationToken cancellationToken = default) => daemon.Repo.AllKeysAsync(cancellationToken);
    }
}
