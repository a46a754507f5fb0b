using Bitswap.RedTeam;
using Bitswap.Tests.Interop.Cli;
using Xunit;

namespace Bitswap.Tests.Interop.RedTeam;

/// <summary>
/// <c>bitswap get</c> against an honest <c>bitswap serve</c> in-process, the baseline of the silent-provider case. The
/// cases with a provider that answers HAVE and never sends (commit 2854830) fail until the Domain keeps the DONT_HAVE
/// timer of a want-block that was answered with HAVE; until then they live in the runner (<c>--attack silent-provider</c>).
/// </summary>
public sealed class SilentProviderTests(CorpusFixture fixture) : IClassFixture<CorpusFixture>
{
    [Fact]
    public async Task A_get_from_the_honest_serve_alone_finishes()
    {
        using var temp = CliRun.Temp();
        await using var honest = await CliServer.StartAsync("--blocks", fixture.Corpus.Folder, "--key", temp["key"]);
        var cids = fixture.Corpus.Big.Select(b => b.Cid.ToString()).ToList();

        var result = await CliRun.RunAsync(["get", "--out", temp["out"], "--timeout", "60", "--routing", "none", "--peer", honest.Address, .. cids]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.All(cids, cid => Assert.True(File.Exists(Path.Combine(temp["out"], cid)), $"{cid} missing"));
    }
}
