using System.CommandLine;
using Bitswap.Dag;
using Bitswap.Domain;

namespace Bitswap.Cli.Commands;

/// <summary><c>bitswap car export|import</c>: CARv1 files to and from a repo.</summary>
public static class CarCommand
{
    /// <summary>Builds the command with its two subcommands.</summary>
    public static Command Create(Output output)
    {
        var car = new Command("car", "CARv1 export and import");
        car.Subcommands.Add(Export(output));
        car.Subcommands.Add(Import(output));
        return car;
    }

    private static Command Export(Output output)
    {
        var cid = new Argument<string>("CID") { Description = "The root of the DAG to export" };
        var repo = new Option<string?>("--repo") { Description = "flatfs repo (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" };
        var file = new Option<string>("-o", "--output") { Description = "The CAR file to write", Required = true };
        var command = new Command("export", "Write the DAG under a root as a CARv1 file") { cid, repo, file };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var root = Arguments.ParseCid(parsed.GetValue(cid)!);
            var store = Repo.Open(parsed.GetValue(repo));
            var count = 0;
            try
            {
                await GetCommand.WriteFileAsync(parsed.GetValue(file)!, async stream =>
                    count = await CarWriter.WriteDagAsync(stream, root, DagFetch.From(store), Limits.Default, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            }
            catch (DagException error)
            {
                throw new CliError($"cannot export {root}: {error.Error.Detail}", error);
            }

            output.Line($"{root} {count} blocks");
            return 0;
        });
        return command;
    }

    private static Command Import(Output output)
    {
        var file = new Argument<string>("FILE") { Description = "The CAR file to read" };
        var repo = new Option<string?>("--repo") { Description = "flatfs repo (default $BITSWAP_PATH/blocks or ~/.bitswap/blocks)" };
        var command = new Command("import", "Verify every block of a CARv1 file, store them and print the roots") { file, repo };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            using var context = CliContext.Create(output, parsed);
            var path = parsed.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new CliError($"no such file: {path}");
            }

            var store = Repo.Open(parsed.GetValue(repo));
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            try
            {
                var reader = await CarReader.OpenAsync(stream, Limits.Default, cancellationToken).ConfigureAwait(false);
                await foreach (var block in reader.ReadBlocksAsync(cancellationToken).ConfigureAwait(false))
                {
                    await store.PutAsync(block, cancellationToken).ConfigureAwait(false);
                }

                foreach (var root in reader.Roots)
                {
                    output.Line(root.ToString());
                }
            }
            catch (CarFormatException error)
            {
                throw new CliError($"corrupt CAR {path}: {error.Error.Detail}", error);
            }

            return 0;
        });
        return command;
    }
}
