using System.CommandLine;

namespace Bitswap.Cli.Commands;

/// <summary><c>bitswap add</c>: imports a file as UnixFS into the repo and prints its root CID.</summary>
public static class AddCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var file = new Argument<string>("FILE") { Description = "The file (or, with -r, the folder) to import" };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "Import a folder tree as UnixFS directories, HAMT-sharded past the threshold (Helia's CIDs)" };
        var profile = ServeCommand.ProfileOption();
        var chunkSize = new Option<int?>("--chunk-size") { Description = "Bytes per leaf (profile default: 1 MiB for v1, 256 KiB for v0)" };
        var rawLeaves = new Option<bool?>("--raw-leaves") { Description = "Leaves as raw blocks (true/false; profile default)" };
        var cidVersion = new Option<int?>("--cid-version") { Description = "CID version of dag-pb nodes, 0 or 1 (profile default)" };
        var maxLinks = new Option<int?>("--max-links") { Description = "Most links per node (profile default: 1024 for v1, 174 for v0)" };
        var repo = new Option<string?>("--repo") { Description = "flatfs repo (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" };
        var api = RemoteCommands.ApiOption();
        var command = new Command("add", "Import a file as UnixFS into the repo and print its root CID (through the daemon when one runs)")
        {
            file, profile, chunkSize, rawLeaves, cidVersion, maxLinks, repo, api, recursive,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var options = Repo.Options(parsed.GetValue(profile)!, parsed.GetValue(chunkSize), parsed.GetValue(rawLeaves), parsed.GetValue(cidVersion), parsed.GetValue(maxLinks));
            var path = parsed.GetValue(file)!;
            if (Directory.Exists(path))
            {
                if (!parsed.GetValue(recursive))
                {
                    throw new CliError($"{path} is a folder: use -r to add it with its contents");
                }

                if (await Daemon.RemoteAddTree.TryAsync(path, options, parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false) is { } remoteTree)
                {
                    output.Line(remoteTree);
                    return 0;
                }

                var tree = await DirectoryImport.ImportAsync(path, options, Repo.Open(parsed.GetValue(repo)), cancellationToken).ConfigureAwait(false);
                output.Line(tree.Cid.ToString());
                return 0;
            }

            if (!File.Exists(path))
            {
                throw new CliError($"no such file: {path}");
            }

            if (await Daemon.RemoteAdd.TryAsync(path, options, parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false) is { } remote)
            {
                output.Line(remote);
                return 0;
            }

            var store = Repo.Open(parsed.GetValue(repo));
            var result = await Repo.ImportFileAsync(path, options, store, cancellationToken).ConfigureAwait(false);
            output.Line(result.Root.ToString());
            return 0;
        });
        return command;
    }
}
