using Bitswap.RedTeam;
using Xunit;
using Xunit.Abstractions;

namespace Bitswap.Tests.Interop.RedTeam;

/// <summary>The corpus the red-team tests serve, written once per test class.</summary>
public sealed class CorpusFixture : IDisposable
{
    /// <summary>Small: the attacks here need the probes and a few large blocks.</summary>
    public Corpus Corpus { get; } = Corpus.Create(probes: 8, big: 4, medium: 8);

    /// <inheritdoc />
    public void Dispose() => Corpus.Delete();
}

/// <summary>
/// Short red-team cases against a real <c>bitswap serve</c> process (bench/Bitswap.RedTeam has the long ones): while
/// hostile peers attack for a few seconds, the node survives, a well-behaved peer keeps being served (and a fresh one
/// is served afterwards), and the node's resident memory stays within the 300 MB.
/// </summary>
public sealed class RedTeamTests(CorpusFixture fixture, ITestOutputHelper output) : IClassFixture<CorpusFixture>
{
    private const double ResidentMiBMax = 300;

    [Theory]
    [InlineData("garbage")]
    [InlineData("noise-tamper")]
    [InlineData("yamux-errors")]
    [InlineData("never-read")]
    [InlineData("identify-push")]
    [InlineData("want-flood-one")]
    [InlineData("want-flood")]
    [InlineData("partial-messages")]
    [InlineData("slow-handshake")]
    public async Task The_node_survives_and_serves_a_well_behaved_peer_during_the_attack(string name)
    {
        var attack = Attacks.All.Single(a => a.Name == name);
        await using var node = await NodeUnderTest.StartAsync(fixture.Corpus, heapLimit1GiB: false, CancellationToken.None);
        var context = new AttackContext(node, fixture.Corpus);
        using var attackStop = new CancellationTokenSource();
        using var honestStop = new CancellationTokenSource();
        var attacking = Task.Run(() => attack.RunAsync(context, attackStop.Token));
        // The honest peer starts with the attack, and its window ends 4 s after the attack reached the node: some attackers
        // build their messages first (four 4 MB wantlists take seconds on a loaded machine), and the window must overlap it.
        var window = Task.Run(async () =>
        {
            var waiting = System.Diagnostics.Stopwatch.StartNew();
            while (context.Connections == 0 && !attacking.IsCompleted && waiting.Elapsed < TimeSpan.FromSeconds(30))
                await Task.Delay(20);
            honestStop.CancelAfter(TimeSpan.FromSeconds(4));
        });

        var honest = await HonestPeer.RunAsync(node, fixture.Corpus, honestStop.Token);
        await window;
        var alive = node.Alive;
        var servesAfter = alive && await HonestPeer.StillServesAsync(node, fixture.Corpus.Probes[1], TimeSpan.FromSeconds(30));
        await attackStop.CancelAsync();
        await attacking.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"{name}: peak {node.PeakRssMiB:0} MiB, {honest.LatenciesMs.Count} served, {honest.Failures} failed, attackers {context.Connections} connections, {context.Rejected} rejected");

        Assert.True(alive, node.Stderr);
        Assert.True(context.Connections > 0, "the attack never reached the node");
        Assert.True(honest.LatenciesMs.Count > 0, "the well-behaved peer was never served during the attack");
        Assert.Equal(0, honest.Failures);
        Assert.True(servesAfter, "a fresh peer is not served after the attack");
        Assert.True(node.PeakRssMiB <= ResidentMiBMax, $"peak resident memory {node.PeakRssMiB:0} MiB");
    }

    [Fact]
    public async Task The_node_stops_cleanly_while_a_wantlist_flood_goes_on()
    {
        var attack = Attacks.All.Single(a => a.Name == "want-flood-one");
        await using var node = await NodeUnderTest.StartAsync(fixture.Corpus, heapLimit1GiB: false, CancellationToken.None);
        var context = new AttackContext(node, fixture.Corpus);
        using var attackStop = new CancellationTokenSource();
        var attacking = Task.Run(() => attack.RunAsync(context, attackStop.Token));
        await Task.Delay(TimeSpan.FromSeconds(3));

        // Closing stdin asks serve to stop; the flood goes on meanwhile. Thirty seconds is far above the node's own bound.
        var (clean, took) = await node.StopAsync(TimeSpan.FromSeconds(30));
        await attackStop.CancelAsync();
        await attacking.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"stopped in {took.TotalSeconds:0.0} s under a flood of {context.SentBytes >> 20} MiB");

        Assert.True(context.SentBytes > 0, "the flood never started");
        Assert.True(clean, $"serve did not exit cleanly under the flood: {node.Stderr}");
    }
}
