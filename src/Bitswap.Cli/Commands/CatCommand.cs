using System.CommandLine;
using Bitswap.Cli.Daemon;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Cli.Commands;

/// <summary>
/// <c>bitswap cat CID</c>: writes a UnixFS file to stdout. Through the running daemon when there is one (which fetches
/// missing blocks from its peers), otherwise offline from the repo, as <c>ipfs cat</c> does.
/// </summary>
public static class CatCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var path = new Argument<string>("CID") { Description = "The file's CID (or /ipfs/CID/path through directories, with a daemon)" };
        var repo = new Option<string?>("--repo") { Description = "flatfs repo (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" };
        var api = RemoteCommands.ApiOption();
        var command = new Command("cat", "Write a UnixFS file to stdout (through the daemon when one runs)") { path, repo, api };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var text = parsed.GetValue(path)!;
            using var client = await RpcClient.FindAsync(parsed.GetValue(api), parsed.GetValue(repo), cancellationToken).ConfigureAwait(false);
            await using var stdout = output.OpenBinaryOut?.Invoke() ?? throw new CliError("no standard output to write to");
            if (client is not null)
            {
                using var response = await client.PostAsync("cat", [("arg", text)], null, cancellationToken).ConfigureAwait(false);
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await body.CopyToAsync(stdout, cancellationToken).ConfigureAwait(false);
                return 0;
            }

            var cid = Arguments.ParseCid(text);
            var store = Repo.Open(parsed.GetValue(repo));
            async ValueTask<Block> Local(Cid wanted, CancellationToken ct) =>
                await store.GetAsync(wanted, ct).ConfigureAwait(false)
                ?? throw new CliError($"block {wanted} is not in the repo (offline: start `bitswap daemon` to fetch from peers)");
            await UnixFsExporter.ExportAsync(cid, Local, stdout, Limits.Default, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
