using Xunit;
using Bitswap.Domain;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Network;
using Bitswap.Testing;
using Xunit.Abstractions;

namespace Bitswap.Tests.Scenarios;

/// <summary>
/// A virtual-time world for one test: a scheduler, a virtual network, a generator of nodes. Every run is reproducible
/// from <see cref="Seed"/>, which a failing test prints.
/// </summary>
internal sealed class World : IAsyncDisposable
{
    private readonly ITestOutputHelper? _output;

    public World(
        ulong seed,
        ITestOutputHelper? output = null,
        TimeSpan? latency = null,
        Func<int, BitswapOptions>? options = null,
        Func<int, ProtocolVersion>? versions = null)
    {
        Seed = seed;
        _output = output;
        Scheduler = new SimulationScheduler();
        Network = new VirtualNetwork(Scheduler, new VirtualNetworkOptions
        {
            Latency = new LatencyModel.Fixed(latency ?? TimeSpan.FromMilliseconds(10)),
            Seed = unchecked((int)seed),
        });
        Generator = new SessionGenerator(Network, Scheduler, seed, options, versions);
        _output?.WriteLine($"seed {seed}");
    }

    public ulong Seed { get; }

    public SimulationScheduler Scheduler { get; }

    public VirtualNetwork Network { get; }

    public SessionGenerator Generator { get; }

    /// <summary>Makes n connected instances and lets their connections settle.</summary>
    public IReadOnlyList<Instance> Instances(int count)
    {
        var instances = Generator.Instances(count);
        Settle();
        return instances;
    }

    /// <summary>Runs what is due in the next millisecond: posted inputs, connection events.</summary>
    public void Settle() => Scheduler.RunFor(TimeSpan.FromMilliseconds(1));

    /// <summary>Runs until the task completes or the virtual limit passes; fails with the seed when it does not complete.</summary>
    public async Task<T> Run<T>(Task<T> task, TimeSpan? limit = null)
    {
        Scheduler.RunUntil(() => task.IsCompleted, limit ?? TimeSpan.FromMinutes(2));
        Assert.True(task.IsCompleted, $"seed {Seed}: the task did not complete within the virtual limit");
        return await task;
    }

    /// <summary>Runs until the task completes.</summary>
    public async Task Run(Task task, TimeSpan? limit = null)
    {
        Scheduler.RunUntil(() => task.IsCompleted, limit ?? TimeSpan.FromMinutes(2));
        Assert.True(task.IsCompleted, $"seed {Seed}: the task did not complete within the virtual limit");
        await task;
    }

    /// <summary>Adds blocks to an instance through the API (store, wake waiters, serve peers).</summary>
    public Task Add(Instance instance, params Block[] blocks) => Run(instance.Node.NotifyNewBlocksAsync(blocks));

    /// <summary>Makes blocks of seeded random data, 800 B first and 8000 B after, as boxo's benchmarks.</summary>
    public IReadOnlyList<Block> Blocks(int count) => ScenarioRunner.MakeBlocks(count, Seed);

    /// <summary>A block of the given size and seeded data.</summary>
    public Block BlockOfSize(int size, int salt = 0)
    {
        var data = new byte[size];
        new Random(unchecked((int)Seed) + salt).NextBytes(data);
        return Block.Raw(data);
    }

    public ValueTask DisposeAsync() => Generator.DisposeAsync();
}
