using System.Diagnostics;
using Bitswap.RedTeam;
using Bitswap.Tests.Interop.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.RedTeam;

/// <summary>
/// <c>bitswap get</c> given a provider that answers HAVE and never sends (a C# peer) and an honest <c>bitswap serve</c>:
/// the fetch finishes, whichever peer is named first, instead of waiting on the silent one.
/// </summary>
public sealed class SilentProviderTests(CorpusFixture fixture, ITestOutputHelper output) : IClassFixture<CorpusFixture>
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_get_finishes_beside_a_provider_that_says_have_and_never_sends(bool silentFirst)
    {
        using var temp = CliRun.Temp();
        await using var honest = await CliServer.StartAsync("--blocks", fixture.Corpus.Folder, "--key", temp["key"]);
        await using var silent = await SilentProvider.StartAsync();
        var peers = silentFirst ? new[] { silent.Address.ToString(), honest.Address } : [honest.Address, silent.Address.ToString()];
        var cids = fixture.Corpus.Big.Select(b => b.Cid.ToString()).ToList();
        var clock = Stopwatch.StartNew();

        var result = await CliRun.RunAsync(["get", "--out", temp["out"], "--timeout", "60", "--routing", "none", "--peer", peers[0], "--peer", peers[1], .. cids]);
        output.WriteLine($"silent {(silentFirst ? "first" : "last")}: {clock.Elapsed.TotalSeconds:0.0} s, the silent peer saw {silent.WantsSeen} wants");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.All(cids, cid => Assert.True(File.Exists(Path.Combine(temp["out"], cid)), $"{cid} missing"));
        Assert.True(silent.WantsSeen > 0, "the silent peer was never asked, so the case proves nothing");
    }
}
