using Bitswap.Dag;
using Bitswap.Domain;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop;

/// <summary>Whole-file transfers between two of our nodes over real TCP.</summary>
public sealed class TcpTransferTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(16)]
    public async Task A_UnixFS_file_moves_byte_identical_between_two_CSharp_nodes(int mebibytes)
    {
        var content = new byte[mebibytes * 1024 * 1024];
        new Random(mebibytes).NextBytes(content);
        var (import, blocks) = await UnixFsImporter.ImportBytesAsync(content, ImportOptions.V1_2025);
        await using var seed = await InteropNode.StartAsync();
        await using var leech = await InteropNode.StartAsync();
        await seed.Node.NotifyNewBlocksAsync([.. blocks], CancellationToken.None);
        await leech.Host.DialAsync(seed.Host.ListenAddresses[0]);
        using var session = leech.Node.NewSession();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        var bytes = await UnixFsExporter.ReadAllAsync(import.Root, (cid, ct) => new ValueTask<Block>(session.GetBlockAsync(cid, ct)))
            .WaitAsync(TimeSpan.FromMinutes(3));

        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        Assert.True(content.AsSpan().SequenceEqual(bytes), "the reassembled file differs");
        output.WriteLine($"C# -> C#: {mebibytes} MiB in {elapsed.TotalSeconds:F2} s = {mebibytes * 1.048576 / elapsed.TotalSeconds:F1} MB/s; dups {leech.Node.Stat().DupBlksReceived}");
    }
}
