using System.CommandLine;
using System.Text.Json.Nodes;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Bitswap.Transport.Tcp.Addressing;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap serve</c>: serves blocks until SIGINT/SIGTERM or stdin closes. With <c>--blocks DIR</c> every file is one
/// raw block; with paths, the files are imported as UnixFS into the repo first; with neither, the repo as it is.
/// The first stdout line is one JSON object: <c>{"peerId","multiaddrs","cids"[,"roots"]}</c>.
/// </summary>
public static class ServeCommand
{
    /// <summary>Most CIDs listed in the first line when serving a whole repo (a Kubo repo can hold millions).</summary>
    public const int ListedCidsMax = 10_000;

    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var paths = new Argument<string[]>("PATH") { Description = "Files to import (UnixFS) and serve", Arity = ArgumentArity.ZeroOrMore };
        var blocks = new Option<string?>("--blocks") { Description = "Serve every file in this folder as one raw block (CIDv1 raw sha2-256)" };
        var repo = new Option<string?>("--repo") { Description = "flatfs repo to import into and serve (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" };
        var listen = new Option<string[]>("--listen", "-l") { Description = "Multiaddr to listen on (default /ip4/127.0.0.1/tcp/0)", AllowMultipleArgumentsPerToken = false };
        var key = new Option<string?>("--key") { Description = "Identity key file (default identity.key in the bitswap home)" };
        var record = new Option<string?>("--record") { Description = "Record every node input to this message log (see bitswap replay)" };
        var profile = ProfileOption();
        var gateway = new Option<string?>("--gateway") { Description = "Also serve a trustless HTTP gateway on this multiaddr (e.g. /ip4/127.0.0.1/tcp/8080)" };
        var command = new Command("serve", "Serve blocks over Bitswap until interrupted or stdin closes") { paths, blocks, repo, listen, key, record, profile, gateway };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var files = parsed.GetValue(paths) ?? [];
            var blocksFolder = parsed.GetValue(blocks);
            if (blocksFolder is not null && files.Length > 0)
            {
                throw new CliError("give either --blocks DIR or files to import, not both");
            }

            var listenAddresses = ListenAddresses(parsed.GetValue(listen));
            var gatewayEndpoint = GatewaySetup.Endpoint(parsed.GetValue(gateway));
            var identity = PeerIdentity.LoadOrCreate(parsed.GetValue(key) ?? BitswapHome.KeyFile);
            IBlockstore store;
            var announce = new JsonObject();
            if (blocksFolder is not null)
            {
                var memory = new MemoryBlockstore();
                var cids = new JsonArray();
                foreach (var block in await ReadBlockFolderAsync(blocksFolder, cancellationToken).ConfigureAwait(false))
                {
                    await memory.PutAsync(block, cancellationToken).ConfigureAwait(false);
                    cids.Add(block.Cid.ToString());
                }

                store = memory;
                announce["cids"] = cids;
            }
            else
            {
                var flatfs = Repo.Open(parsed.GetValue(repo));
                store = flatfs;
                var roots = new JsonArray();
                var cids = new JsonArray();
                if (files.Length > 0)
                {
                    var options = Repo.Options(parsed.GetValue(profile)!, null, null, null, null);
                    foreach (var file in files)
                    {
                        var imported = await Repo.ImportFileAsync(file, options, new Listing(flatfs, cids), cancellationToken).ConfigureAwait(false);
                        roots.Add(imported.Root.ToString());
                    }
                }
                else
                {
                    await foreach (var cid in flatfs.AllKeysAsync(cancellationToken).ConfigureAwait(false))
                    {
                        if (cids.Count == ListedCidsMax)
                        {
                            announce["cidsTruncated"] = true;
                            break;
                        }

                        cids.Add(cid.ToString());
                    }
                }

                announce["cids"] = cids;
                announce["roots"] = roots;
            }

            await using var node = await LiveNode.StartAsync(identity, store, listenAddresses, context, parsed.GetValue(record), cancellationToken).ConfigureAwait(false);
            await using var httpGateway = await GatewaySetup.StartAsync(gatewayEndpoint, store, context, cancellationToken).ConfigureAwait(false);
            var first = new JsonObject
            {
                ["peerId"] = node.Self.ToString(),
                ["multiaddrs"] = new JsonArray([.. node.Host.ListenAddresses.Select(a => JsonValue.Create(a.ToString()))]),
            };
            if (httpGateway is not null)
            {
                first["gateway"] = httpGateway.Url.ToString();
            }

            foreach (var (name, value) in announce.ToList())
            {
                announce.Remove(name);
                first[name] = value;
            }

            output.JsonLine(first);
            await WaitForStopAsync(output.In, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>The <c>--profile</c> option shared by the importing commands.</summary>
    public static Option<string> ProfileOption()
    {
        var option = new Option<string>("--profile")
        {
            Description = "UnixFS CID profile (IPIP-499)",
            DefaultValueFactory = _ => "unixfs-v1-2025",
        };
        option.AcceptOnlyFromAmong("unixfs-v1-2025", "unixfs-v0-2015");
        return option;
    }

    /// <summary>Parses listen multiaddrs; none means loopback with an OS-chosen port.</summary>
    public static IReadOnlyList<Multiaddr> ListenAddresses(string[]? texts) =>
        texts is { Length: > 0 } ? [.. texts.Select(Arguments.ParseMultiaddr)] : [Transport.Tcp.Host.TcpHostOptions.LoopbackAnyPort];

    /// <summary>Every file of a folder as a raw block, in ordinal file-name order.</summary>
    public static async Task<IReadOnlyList<Block>> ReadBlockFolderAsync(string folder, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(folder))
        {
            throw new CliError($"no such folder: {folder}");
        }

        var limit = Limits.Default.BlockBytesMax;
        var blocks = new List<Block>();
        foreach (var file in Directory.GetFiles(folder).OrderBy(Path.GetFileName, StringComparer.Ordinal))
        {
            var length = new FileInfo(file).Length;
            if (length > limit)
            {
                throw new CliError($"{file} has {length} bytes; a block holds at most {limit}");
            }

            blocks.Add(Block.Raw(await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false)));
        }

        return blocks;
    }

    /// <summary>Returns when <paramref name="cancellationToken"/> fires or <paramref name="input"/> reaches its end.</summary>
    public static async Task WaitForStopAsync(TextReader? input, CancellationToken cancellationToken)
    {
        var interrupted = Task.Delay(Timeout.Infinite, cancellationToken);
        if (input is null)
        {
            await interrupted.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            return;
        }

        // Console.In reads block their thread whatever the API says (its async reads complete synchronously), so the
        // end-of-input watch gets a dedicated thread and races the signal. After a signal that thread stays parked in
        // read() until the process exits a moment later; nothing else waits for it.
        var endOfInput = Task.Factory.StartNew(
            () =>
            {
                while (input.ReadLine() is not null)
                {
                    // Lines on stdin mean nothing; only its end stops the server.
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        await Task.WhenAny(endOfInput, interrupted).ConfigureAwait(false);
    }

    /// <summary>A blockstore that lists the CIDs put through it, in order, once each.</summary>
    private sealed class Listing(IBlockstore inner, JsonArray cids) : IBlockstore
    {
        private readonly System.Collections.Generic.HashSet<Cid> _listed = [];

        public ValueTask<bool> HasAsync(Cid cid, CancellationToken cancellationToken = default) => inner.HasAsync(cid, cancellationToken);

        public ValueTask<int?> GetSizeAsync(Cid cid, CancellationToken cancellationToken = default) => inner.GetSizeAsync(cid, cancellationToken);

        public ValueTask<Block?> GetAsync(Cid cid, CancellationToken cancellationToken = default) => inner.GetAsync(cid, cancellationToken);

        public ValueTask PutAsync(Block block, CancellationToken cancellationToken = default)
        {
            if (_listed.Add(block.Cid))
            {
                cids.Add(block.Cid.ToString());
            }

            return inner.PutAsync(block, cancellationToken);
        }

        public ValueTask<bool> DeleteAsync(Cid cid, CancellationToken cancellationToken = default) => inner.DeleteAsync(cid, cancellationToken);

        public IAsyncEnumerable<Cid> AllKeysAsync(CancellationToken cancellationToken = default) => inner.AllKeysAsync(cancellationToken);
    }
}
