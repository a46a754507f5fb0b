using Bitswap.Transport.Tcp.Host;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots.Transport;

/// <summary>The committed diagram of the connection lifecycle must match the machine.</summary>
public class ConnectionLifecycleSnapshotTests
{
    [Fact]
    public void Connection_lifecycle_diagram_matches_the_snapshot()
    {
        var graph = ConnectionLifecycle.MermaidGraph();
        Snapshot.Match(graph);
        var committed = Path.Combine(RepoRoot(), "src/Bitswap.Transport.Tcp/Host/ConnectionLifecycle.mmd");
        Assert.Equal(File.ReadAllText(committed).TrimEnd(), graph.TrimEnd());
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Bitswap.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Bitswap.sln not found above the test assembly");
    }
}
