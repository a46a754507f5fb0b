using Bitswap.Cli;
using Xunit;

namespace Bitswap.Tests.Interop.Cli;

/// <summary>Starts one Helia peer for the CID equality tests.</summary>
public sealed class HeliaFixture : IAsyncLifetime
{
    /// <summary>The running peer.</summary>
    public HeliaPeer Peer { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => Peer = await HeliaPeer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Peer.DisposeAsync();
}

/// <summary><c>bitswap add</c> gives the root CID Helia's importer gives for the same bytes and profile.</summary>
public sealed class HeliaCidEqualityTests(HeliaFixture helia) : IClassFixture<HeliaFixture>
{
    [Theory]
    [InlineData("unixfs-v1-2025", 1_000)]
    [InlineData("unixfs-v1-2025", 1_048_577)]
    [InlineData("unixfs-v1-2025", 5_000_000)]
    [InlineData("unixfs-v0-2015", 1_000)]
    [InlineData("unixfs-v0-2015", 1_048_577)]
    [InlineData("unixfs-v0-2015", 5_000_000)]
    public async Task Add_gives_the_same_root_cid_as_helia(string profile, int size)
    {
        using var temp = CliRun.Temp();
        var bytes = new byte[size];
        using (var content = new PseudoRandomStream(size, (ulong)size))
        {
            content.ReadExactly(bytes);
        }

        await File.WriteAllBytesAsync(temp["file.bin"], bytes);

        var ours = await CliRun.RunAsync("add", temp["file.bin"], "--profile", profile, "--repo", temp["repo"]);
        var theirs = await helia.Peer.ImportAsync(temp["file.bin"], profile);

        Assert.True(ours.ExitCode == 0, ours.Stderr);
        Assert.Equal(theirs, Assert.Single(ours.Lines));
    }
}
