using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Bench;

/// <summary>
/// The three reducer workloads, each driven from a fresh state to quiescence the way the node loop would (loads answered,
/// sends acknowledged). Built once; every run replays the same inputs, so the input count per run is fixed.
/// </summary>
public sealed class ReducerWorkloads
{
    /// <summary>Want-blocks in the server workload's single message (boxo MaxQueuedWantlistEntriesPerPeer is 1024).</summary>
    public const int ServerWants = 1024;

    /// <summary>CIDs the client workload's session wants.</summary>
    public const int ClientWants = 1000;

    /// <summary>Blocks the client-receive workload's session gets from one peer.</summary>
    public const int ClientBlocks = 1024;

    /// <summary>Connected peers in the client and node workloads.</summary>
    public const int PeerCount = 10;

    private const int BlockBytes = 4096;
    private const int NodeLocalBlocks = 320;
    private const int NodeRemoteBlocks = 256;
    private const int NodeLateBlocks = 32;

    // The client's send debounce with ten peers: 125 µs × 10 clamps up to Limits.SendDelayMinMs, so queued wants leave.
    private static readonly long SendDebounceMs = Limits.Default.SendDelayMinMs;

    // Past the DONT_HAVE timeout ceiling (Limits.DontHaveTimeoutMaxMs, 7 s) and under the rebroadcast check (15 s), so
    // session ticks and DONT_HAVE timers fire once each.
    private const long QuietMs = 8_000;

    private static readonly PeerId Self = ReducerFixtures.Peer("bench-self");

    private readonly PeerId _requester = ReducerFixtures.Peer("bench-requester");
    private readonly PeerId[] _peers = [.. Enumerable.Range(0, PeerCount).Select(i => ReducerFixtures.Peer($"bench-peer-{i}"))];
    private readonly Dictionary<Cid, Block> _serverStore;
    private readonly Message _serverWants;
    private readonly Map<Cid, int> _serverSizes;
    private readonly Seq<Cid> _clientCids;
    private readonly Dictionary<Cid, Block> _nodeStore;
    private readonly Block[] _nodeRemote;
    private readonly Block[] _nodeLate;
    private readonly Message[] _nodePeerWants;
    private readonly Block[] _clientBlocks;
    private readonly Message[] _clientPayloads;
    private readonly Map<Cid, int>[] _nodePeerSizes;

    /// <summary>Generates the blocks and prebuilds the incoming messages (building them is the peer's cost, not ours).</summary>
    public ReducerWorkloads()
    {
        var serverBlocks = ReducerFixtures.Blocks(ServerWants, BlockBytes, 1);
        _serverStore = serverBlocks.ToDictionary(b => b.Cid);
        _serverWants = Message.Empty.WithEntries(serverBlocks.Select((b, i) => WantlistEntry.WantBlock(b.Cid, ServerWants - i, sendDontHave: true)));
        _serverSizes = ReducerFixtures.LocalSizes(serverBlocks.Select(b => b.Cid), _serverStore);

        _clientCids = ReducerFixtures.Blocks(ClientWants, 64, 2).Select(b => b.Cid).ToSeq().Strict();
        _clientBlocks = ReducerFixtures.Blocks(ClientBlocks, BlockBytes, 8);
        // The peer answers in messages of 64 blocks (256 KiB), as a server filling messages under backlog does.
        _clientPayloads = [.. _clientBlocks.Chunk(64).Select(chunk => chunk.Aggregate(Message.Empty, (m, b) => m.WithBlock(b)))];

        var local = ReducerFixtures.Blocks(NodeLocalBlocks, BlockBytes, 3);
        _nodeStore = local.ToDictionary(b => b.Cid);
        _nodeRemote = ReducerFixtures.Blocks(NodeRemoteBlocks, BlockBytes, 4);
        _nodeLate = ReducerFixtures.Blocks(NodeLateBlocks, BlockBytes, 5);
        var missing = ReducerFixtures.Blocks(PeerCount, 64, 6);
        var perPeer = NodeLocalBlocks / PeerCount;
        _nodePeerWants = [.. Enumerable.Range(0, PeerCount).Select(p =>
        {
            // Each peer wants its slice of our blocks, one block we lack (DONT_HAVE), and some blocks we only get later.
            var entries = local.Skip(p * perPeer).Take(perPeer).Select((b, i) => WantlistEntry.WantBlock(b.Cid, perPeer - i, sendDontHave: true))
                .Append(WantlistEntry.WantHave(missing[p].Cid, 1, sendDontHave: true))
                .Concat(_nodeLate.Where((_, i) => i % PeerCount == p).Select(b => WantlistEntry.WantBlock(b.Cid, 1)));
            return Message.Empty.WithEntries(entries);
        })];
        _nodePeerSizes = [.. _nodePeerWants.Select(m => ReducerFixtures.LocalSizes(m.Wantlist.Keys, _nodeStore))];

        // The late blocks are in the store the loads read from, but the engine learns of them only from BlocksAdded.
        foreach (var block in _nodeLate)
        {
            _nodeStore.Add(block.Cid, block);
        }
    }

    /// <summary>The server: one peer connects and sends 1024 want-blocks; every block is loaded, packed and sent.</summary>
    public ReducerDriver<EngineState, IEngineEffect> EngineServe()
    {
        var driver = new ReducerDriver<EngineState, IEngineEffect>(EngineState.Create(Self, new EngineConfig(Limits.Default, 1)), (s, i) => Engine.Handle(s, (IEngineInput)i), _serverStore);
        driver.Post(new PeerConnected(driver.Now, _requester, ProtocolVersion.V120));
        driver.Post(new MessageReceived(driver.Now, _requester, _serverWants, _serverSizes));
        driver.Settle();
        return driver;
    }

    /// <summary>The client: ten peers connect, one session wants 1000 CIDs; every want message is sent and acknowledged.</summary>
    public ReducerDriver<ClientState, IClientEffect> ClientWant()
    {
        var driver = new ReducerDriver<ClientState, IClientEffect>(ClientState.Create(Self, new ClientConfig(Limits.Default, 1)), (s, i) => Client.Handle(s, (IClientInput)i), new Dictionary<Cid, Block>());
        foreach (var peer in _peers)
        {
            driver.Post(new PeerConnected(driver.Now, peer, ProtocolVersion.V120));
        }

        driver.Post(new WantBlocks(driver.Now, 1, _clientCids));
        driver.Settle();
        driver.Advance(SendDebounceMs);
        return driver;
    }

    /// <summary>
    /// The client receiving: one peer connects, a session wants 1024 blocks, the peer joins by a HAVE for the first, then
    /// sends all of them in messages of 64; each wanted block is delivered and cancelled elsewhere.
    /// </summary>
    public ReducerDriver<ClientState, IClientEffect> ClientReceive()
    {
        var driver = new ReducerDriver<ClientState, IClientEffect>(ClientState.Create(Self, new ClientConfig(Limits.Default, 1)), (s, i) => Client.Handle(s, (IClientInput)i), new Dictionary<Cid, Block>());
        driver.Post(new PeerConnected(driver.Now, _peers[0], ProtocolVersion.V120));
        driver.Post(new WantBlocks(driver.Now, 1, _clientBlocks.Select(b => b.Cid).ToSeq()));
        driver.Settle();
        driver.Advance(SendDebounceMs);
        driver.Post(new MessageReceived(driver.Now, _peers[0], Message.Empty.WithPresence(_clientBlocks[0].Cid, PresenceType.Have), Map<Cid, int>.Empty));
        driver.Settle();
        foreach (var payload in _clientPayloads)
        {
            driver.Advance(1);
            driver.Post(new MessageReceived(driver.Now, _peers[0], payload, Map<Cid, int>.Empty));
            driver.Settle();
        }

        return driver;
    }

    /// <summary>
    /// The root node, both sides at once: ten peers connect; a session wants 256 remote blocks; every peer asks for its
    /// slice of our blocks; peers answer HAVE then the blocks, 16 at a time, round robin; 32 blocks wanted by peers are
    /// added locally; 8 s pass (debounces, ticks and DONT_HAVE timers fire); every peer leaves.
    /// </summary>
    public ReducerDriver<NodeState, Effect> NodeMixed()
    {
        var driver = new ReducerDriver<NodeState, Effect>(NodeState.Create(Self, NodeConfig.Default(1)), Node.Handle, _nodeStore);
        foreach (var peer in _peers)
        {
            driver.Post(new PeerConnected(driver.Now, peer, ProtocolVersion.V120));
        }

        driver.Post(new WantBlocks(driver.Now, 1, _nodeRemote.Select(b => b.Cid).ToSeq()));
        driver.Settle();
        driver.Advance(SendDebounceMs);
        for (var p = 0; p < PeerCount; p++)
        {
            driver.Advance(1);
            driver.Post(new MessageReceived(driver.Now, _peers[p], _nodePeerWants[p], _nodePeerSizes[p]));
            driver.Settle();
        }

        var chunk = 0;
        foreach (var blocks in _nodeRemote.Chunk(16))
        {
            var peer = _peers[chunk++ % PeerCount];
            driver.Advance(SendDebounceMs);
            var haves = blocks.Aggregate(Message.Empty, (m, b) => m.WithPresence(b.Cid, PresenceType.Have));
            driver.Post(new MessageReceived(driver.Now, peer, haves, Map<Cid, int>.Empty));
            driver.Settle();
            driver.Advance(SendDebounceMs);
            var payload = blocks.Aggregate(Message.Empty, (m, b) => m.WithBlock(b));
            driver.Post(new MessageReceived(driver.Now, peer, payload, Map<Cid, int>.Empty));
            driver.Settle();
        }

        driver.Post(new BlocksAdded(driver.Now, _nodeLate.ToSeq()));
        driver.Settle();
        driver.Advance(QuietMs);
        foreach (var peer in _peers)
        {
            driver.Post(new PeerDisconnected(driver.Now, peer));
        }

        driver.Settle();
        return driver;
    }

    /// <summary>Throws when a workload stops doing its work (say, after a reducer change), so no benchmark measures nothing.</summary>
    public void Validate()
    {
        var engine = EngineServe();
        Require(engine.BlocksSent == ServerWants, $"engine sent {engine.BlocksSent} of {ServerWants} blocks");
        var client = ClientWant();
        Require(client.MessagesSent >= PeerCount, $"client sent {client.MessagesSent} messages to {PeerCount} peers");
        var receive = ClientReceive();
        Require(receive.BlocksDelivered == ClientBlocks, $"client delivered {receive.BlocksDelivered} of {ClientBlocks} blocks");
        var node = NodeMixed();
        Require(node.BlocksDelivered == NodeRemoteBlocks, $"node delivered {node.BlocksDelivered} of {NodeRemoteBlocks} blocks");
        Require(node.BlocksSent == NodeLocalBlocks + NodeLateBlocks, $"node served {node.BlocksSent} of {NodeLocalBlocks + NodeLateBlocks} blocks");
        Console.WriteLine($"// workloads: engine {engine.Inputs} inputs, {engine.MessagesSent} messages; client {client.Inputs} inputs, {client.MessagesSent} messages; node {node.Inputs} inputs, {node.MessagesSent} messages, {node.BlocksDelivered} delivered, {node.BlocksSent} served");
    }

    private static void Require(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"reducer workload broken: {failure}");
        }
    }

    /// <summary>Inputs per run of the workload a benchmark method drives, for the per-input columns.</summary>
    public int InputsOf(string benchmarkMethod) => benchmarkMethod switch
    {
        nameof(ReducerBenchmarks.EngineServe1024WantBlocks) => EngineServe().Inputs,
        nameof(ReducerBenchmarks.ClientWant1000Cids10Peers) => ClientWant().Inputs,
        nameof(ReducerBenchmarks.NodeMixedStream) => NodeMixed().Inputs,
        nameof(ReducerBenchmarks.ClientReceive1024Blocks) => ClientReceive().Inputs,
        _ => 0,
    };

    /// <summary>
    /// The units the targets count a workload in: blocks served, CIDs wanted, blocks delivered; 0 for the mixed
    /// stream, which is counted per input.
    /// </summary>
    public static int UnitsOf(string benchmarkMethod) => benchmarkMethod switch
    {
        nameof(ReducerBenchmarks.EngineServe1024WantBlocks) => ServerWants,
        nameof(ReducerBenchmarks.ClientWant1000Cids10Peers) => ClientWants,
        nameof(ReducerBenchmarks.ClientReceive1024Blocks) => ClientBlocks,
        _ => 0,
    };
}

/// <summary>
/// Throughput and allocations of the pure reducers (Engine, Client, Node), each run driving a fresh state to quiescence.
/// The Inputs/op, Time/input and Alloc/input columns divide each run by the number of inputs it handled.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PerInputConfig))]
public class ReducerBenchmarks
{
    private ReducerWorkloads _workloads = null!;

    /// <summary>Builds the blocks and messages once and checks each workload does the work it claims.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _workloads = new ReducerWorkloads();
        _workloads.Validate();
    }

    /// <summary>Engine.Handle: a 1024 want-block message from one peer, then every load answered and every send acknowledged.</summary>
    [Benchmark]
    public int EngineServe1024WantBlocks() => _workloads.EngineServe().Inputs;

    /// <summary>Client.Handle: WantBlocks of 1000 CIDs in one session with 10 connected peers, through to SendMessage and its ack.</summary>
    [Benchmark]
    public int ClientWant1000Cids10Peers() => _workloads.ClientWant().Inputs;

    /// <summary>Client.Handle: 1024 wanted blocks arriving from one peer, 64 per message, each delivered.</summary>
    [Benchmark]
    public int ClientReceive1024Blocks() => _workloads.ClientReceive().Inputs;

    /// <summary>Node.Handle: a mixed stream of connects, wants, serves, presences, blocks, adds, timers and disconnects.</summary>
    [Benchmark]
    public int NodeMixedStream() => _workloads.NodeMixed().Inputs;

    /// <summary>Adds the per-input columns.</summary>
    public sealed class PerInputConfig : ManualConfig
    {
        /// <summary>The three per-input columns.</summary>
        public PerInputConfig()
        {
            AddColumn(
                new PerInputColumn(PerInputColumn.Kind.Inputs), new PerInputColumn(PerInputColumn.Kind.Time), new PerInputColumn(PerInputColumn.Kind.Allocation),
                new PerInputColumn(PerInputColumn.Kind.UnitTime), new PerInputColumn(PerInputColumn.Kind.UnitAllocation));
        }
    }
}

/// <summary>A summary column dividing a benchmark's mean time or allocation by the inputs one run hands the reducer.</summary>
/// <param name="kind">Which figure the column shows.</param>
public sealed class PerInputColumn(PerInputColumn.Kind kind) : IColumn
{
    private static readonly Lazy<ReducerWorkloads> Workloads = new(() => new ReducerWorkloads());

    /// <summary>The figures a per-input column can show.</summary>
    public enum Kind
    {
        /// <summary>Inputs handled per run.</summary>
        Inputs,

        /// <summary>Mean time divided by inputs.</summary>
        Time,

        /// <summary>Allocated bytes per run divided by inputs.</summary>
        Allocation,

        /// <summary>Mean time divided by the workload's units (block served, CID wanted, block delivered).</summary>
        UnitTime,

        /// <summary>Allocated bytes per run divided by the workload's units.</summary>
        UnitAllocation,
    }

    /// <summary>The column's identity.</summary>
    public string Id => $"{nameof(PerInputColumn)}.{kind}";

    /// <summary>The header.</summary>
    public string ColumnName => kind switch
    {
        Kind.Inputs => "Inputs/op",
        Kind.Time => "Time/input",
        Kind.Allocation => "Alloc/input",
        Kind.UnitTime => "Time/unit",
        Kind.UnitAllocation => "Alloc/unit",
        _ => throw new System.Diagnostics.UnreachableException($"column {kind}"),
    };

    /// <summary>Shown even when every row has the same value.</summary>
    public bool AlwaysShow => true;

    /// <summary>A custom column.</summary>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <summary>Placed in declaration order.</summary>
    public int PriorityInCategory => (int)kind;

    /// <summary>The values are numbers.</summary>
    public bool IsNumeric => true;

    /// <summary>Inputs are a count; the others are formatted by this column.</summary>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <summary>The legend line.</summary>
    public string Legend => kind switch
    {
        Kind.Inputs => "Inputs handed to the reducer in one run (including BlocksLoaded/MessageSent answers)",
        Kind.Time => "Mean divided by Inputs/op",
        Kind.Allocation => "Allocated divided by Inputs/op",
        Kind.UnitTime => "Mean divided by the workload's units: blocks served (engine), CIDs wanted (client want), blocks delivered (client receive)",
        Kind.UnitAllocation => "Allocated divided by the same units",
        _ => throw new System.Diagnostics.UnreachableException($"column {kind}"),
    };

    /// <summary>The value for one row.</summary>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    /// <summary>The value for one row, in a style.</summary>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        var inputs = Workloads.Value.InputsOf(method);
        var report = summary[benchmarkCase];
        if (inputs == 0 || report is null)
        {
            return "-";
        }

        if (kind is Kind.UnitTime or Kind.UnitAllocation)
        {
            var units = ReducerWorkloads.UnitsOf(method);
            if (units == 0) return "-";
            if (kind == Kind.UnitTime)
                return report.ResultStatistics?.Mean is { } unitMean ? FormattableString.Invariant($"{unitMean / units / 1000:0.000} μs") : "-";
            return report.GcStats.GetBytesAllocatedPerOperation(benchmarkCase) is { } unitBytes ? FormattableString.Invariant($"{(double)unitBytes / units:0} B") : "-";
        }

        switch (kind)
        {
            case Kind.Inputs:
                return inputs.ToString(System.Globalization.CultureInfo.InvariantCulture);
            case Kind.Time:
                var mean = report.ResultStatistics?.Mean;
                return mean is null ? "-" : FormattableString.Invariant($"{mean.Value / inputs / 1000:0.000} μs");
            case Kind.Allocation:
                var bytes = report.GcStats.GetBytesAllocatedPerOperation(benchmarkCase);
                return bytes is null ? "-" : FormattableString.Invariant($"{(double)bytes.Value / inputs:0} B");
            default:
                throw new System.Diagnostics.UnreachableException($"column {kind}");
        }
    }

    /// <summary>Never a default value.</summary>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <summary>Available for the reducer benchmarks.</summary>
    public bool IsAvailable(Summary summary) => true;
}
