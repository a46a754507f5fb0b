using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Bitswap.Dag;

namespace Bitswap.Cli.Daemon;

/// <summary><c>add</c> through the running daemon, as <c>ipfs add</c> does when a daemon owns the repo.</summary>
public static class RemoteAdd
{
    /// <summary>
    /// Adds the file through the daemon with the same import options (cid-version, raw-leaves, chunker=size-N,
    /// max-file-links) and returns the root CID; null when no daemon runs on the repo.
    /// </summary>
    public static async Task<string?> TryAsync(string path, ImportOptions options, string? api, string? repo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var client = await RpcClient.FindAsync(api, repo, cancellationToken).ConfigureAwait(false);
        if (client is null)
        {
            return null;
        }

        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        using var content = new MultipartFormDataContent();
        var part = new StreamContent(file);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Add(part, "file", Uri.EscapeDataString(Path.GetFileName(path)));
        var lines = await client.LinesAsync("add", Query(options), content, cancellationToken).ConfigureAwait(false);
        return lines.LastOrDefault(l => l["Hash"] is not null)?["Hash"]?.GetValue<string>()
            ?? throw new CliError("the daemon's add answer named no CID");
    }

    /// <summary>The add options as Kubo's query arguments.</summary>
    public static IEnumerable<(string Name, string Value)> Query(ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return
        [
            ("cid-version", options.CidVersion.ToString(CultureInfo.InvariantCulture)),
            ("raw-leaves", options.RawLeaves ? "true" : "false"),
            ("chunker", $"size-{options.ChunkSize.ToString(CultureInfo.InvariantCulture)}"),
            ("max-file-links", options.MaxLinks.ToString(CultureInfo.InvariantCulture)),
        ];
    }
}

/// <summary>
/// <c>add -r</c> through the running daemon: the tree goes up as one multipart body, each file part named by its path
/// under the folder's name (as kubo-rpc-client's addAll sends it), empty folders as application/x-directory parts.
/// Files are opened one at a time while the body is written, so a large tree needs no memory or handles per file.
/// </summary>
public static class RemoteAddTree
{
    /// <summary>Adds the tree through the daemon with the same import options; returns the root folder's CID, or null when no daemon runs.</summary>
    public static async Task<string?> TryAsync(string folder, ImportOptions options, string? api, string? repo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var client = await RpcClient.FindAsync(api, repo, cancellationToken).ConfigureAwait(false);
        if (client is null)
        {
            return null;
        }

        var root = new DirectoryInfo(folder);
        using var content = new TreeContent(root);
        var lines = await client.LinesAsync("add", RemoteAdd.Query(options), content, cancellationToken).ConfigureAwait(false);
        return lines.LastOrDefault(l => l["Name"]?.GetValue<string>() == root.Name)?["Hash"]?.GetValue<string>()
            ?? throw new CliError("the daemon's add answer named no root folder");
    }

    /// <summary>The multipart body of a folder tree, written lazily.</summary>
    private sealed class TreeContent : HttpContent
    {
        private readonly DirectoryInfo _root;
        private readonly string _boundary = "bitswap-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));

        public TreeContent(DirectoryInfo root)
        {
            _root = root;
            Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={_boundary}");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            var index = 0;
            await WriteFolderAsync(stream, _root, _root.Name, () => index++, 0, cancellationToken).ConfigureAwait(false);
            await WriteAsync(stream, $"\r\n--{_boundary}--\r\n", cancellationToken).ConfigureAwait(false);
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        private async Task WriteFolderAsync(Stream stream, DirectoryInfo folder, string path, Func<int> next, int depth, CancellationToken cancellationToken)
        {
            if (depth > DirectoryImport.DepthMax)
            {
                throw new CliError($"{folder.FullName}: deeper than {DirectoryImport.DepthMax} folders");
            }

            var items = folder.EnumerateFileSystemInfos().Where(i => !i.Name.StartsWith('.')).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
            if (items.Count == 0)
            {
                await PartHeaderAsync(stream, path, "dir", "application/x-directory", next(), cancellationToken).ConfigureAwait(false);
                return;
            }

            foreach (var item in items)
            {
                if (item.LinkTarget is not null)
                {
                    throw new CliError($"{item.FullName} is a symbolic link: not supported");
                }

                if (item is DirectoryInfo sub)
                {
                    await WriteFolderAsync(stream, sub, $"{path}/{sub.Name}", next, depth + 1, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                await PartHeaderAsync(stream, $"{path}/{item.Name}", "file", "application/octet-stream", next(), cancellationToken).ConfigureAwait(false);
                await using (var file = new FileStream(item.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
                {
                    await file.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        private async Task PartHeaderAsync(Stream stream, string path, string field, string type, int index, CancellationToken cancellationToken)
        {
            var name = index == 0 ? field : $"{field}-{index}";
            var separator = index == 0 ? "" : "\r\n";
            await WriteAsync(
                stream,
                $"{separator}--{_boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{Uri.EscapeDataString(path)}\"\r\nContent-Type: {type}\r\n\r\n",
                cancellationToken).ConfigureAwait(false);
        }

        private static Task WriteAsync(Stream stream, string text, CancellationToken cancellationToken) =>
            stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken).AsTask();
    }
}

/// <summary><c>get</c> through the running daemon: a file or a tree with Kubo's <c>get</c> (tar), stdout with <c>cat</c>, a CAR with <c>dag/export</c>.</summary>
public static class RemoteGet
{
    /// <summary>Writes the file (or CAR) under <paramref name="cid"/> to <paramref name="file"/>, or stdout when null; prints a summary.</summary>
    public static async Task<int> RunAsync(Output output, RpcClient client, string cid, string? file, string? car, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(client);
        var clock = Stopwatch.StartNew();
        if (car is null && file is not null)
        {
            var written = await ExtractAsync(client, cid, file, cancellationToken).ConfigureAwait(false);
            output.JsonLine(new JsonObject
            {
                ["cid"] = cid,
                ["bytes"] = written,
                ["ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
                ["via"] = client.Address.ToString(),
            });
            return 0;
        }

        var target = car;
        using var response = await client.PostAsync(car is null ? "cat" : "dag/export", [("arg", cid)], null, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        long bytes;
        if (target is null)
        {
            await using var stdout = output.OpenBinaryOut?.Invoke() ?? throw new CliError("no standard output to write to");
            bytes = await CopyAsync(body, stdout, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await using var stream = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            bytes = await CopyAsync(body, stream, cancellationToken).ConfigureAwait(false);
        }

        var summary = new JsonObject
        {
            ["cid"] = cid,
            ["bytes"] = bytes,
            ["ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
            ["via"] = client.Address.ToString(),
        };
        if (target is null)
        {
            output.Error.WriteLine(summary.ToJsonString());
        }
        else
        {
            output.JsonLine(summary);
        }

        return 0;
    }

    /// <summary>
    /// Asks the daemon for the tar of <paramref name="cid"/> (Kubo's get) and rebuilds it at <paramref name="target"/>: a
    /// file becomes that file, a directory that folder with its tree. Returns the file bytes written.
    /// </summary>
    private static async Task<long> ExtractAsync(RpcClient client, string cid, string target, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsync("get", [("arg", cid)], null, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var reader = new System.Formats.Tar.TarReader(body);
        var root = Path.GetFullPath(target);
        long total = 0;
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            // Entry names are CID[/path]; the CID part becomes the target. Nothing may land outside it.
            var slash = entry.Name.IndexOf('/', StringComparison.Ordinal);
            var rest = slash < 0 ? "" : entry.Name[(slash + 1)..];
            var path = Path.GetFullPath(Path.Combine(root, rest));
            if (path != root && !path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new CliError($"the daemon's archive names a path outside the target: {entry.Name}");
            }

            switch (entry.EntryType)
            {
                case System.Formats.Tar.TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    break;
                case System.Formats.Tar.TarEntryType.RegularFile or System.Formats.Tar.TarEntryType.V7RegularFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                    {
                        if (entry.DataStream is { } data)
                        {
                            total += await CopyAsync(data, stream, cancellationToken).ConfigureAwait(false);
                        }
                    }

                    break;
                default:
                    throw new CliError($"the daemon's archive holds an entry of type {entry.EntryType}: {entry.Name}");
            }
        }

        return total;
    }

    private static async Task<long> CopyAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            total += read;
        }

        return total;
    }
}
