using System.CommandLine;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Cli.Commands;

/// <summary><c>bitswap id</c>: prints our peer ID (creating the key on first use).</summary>
public static class IdCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(Output output)
    {
        var key = new Option<string?>("--key") { Description = "Identity key file (default identity.key in the bitswap home)" };
        var command = new Command("id", "Print our peer ID") { key };
        command.SetAction(parsed =>
        {
            var path = parsed.GetValue(key) ?? BitswapHome.KeyFile;
            PeerIdentity identity;
            try
            {
                identity = PeerIdentity.LoadOrCreate(path);
            }
            catch (Exception error) when (error is not IOException and not UnauthorizedAccessException)
            {
                throw new CliError($"{path} is not a libp2p private key: {error.Message}", error);
            }

            output.Line(identity.PeerId.ToString());
            return 0;
        });
        return command;
    }
}
