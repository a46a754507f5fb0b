using System.Diagnostics;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Testing;

/// <summary>One input a node handled and the effects it gave, as <see cref="NodeNetwork.Trace"/> records them.</summary>
/// <param name="Node">The node that handled the input.</param>
/// <param name="Input">The input.</param>
/// <param name="Effects">Its effects, in order.</param>
public sealed record NodeStep(PeerId Node, Input Input, Seq<Effect> Effects);

/// <summary>
/// Several <see cref="Node"/> reducers stepped directly in virtual time, the way quinn-proto's test <c>Pair</c> drives two
/// endpoints: no Rx, no threads, no sockets. It plays each node's shell: messages reach the receiver after the link latency
/// (with the sizes the receiver holds, as <see cref="MessageReceived.LocalSizes"/> requires) and are confirmed to the sender
/// at once; loads are answered from the node's store; timers fire at their deadline (arming a timer again moves it); a
/// delivered block is stored and announced with <see cref="BlocksAdded"/>. Events run in (time, sequence) order, so a run
/// is a function of its inputs.
/// </summary>
/// <param name="latencyMs">One-way delay of every link, in virtual milliseconds.</param>
public sealed class NodeNetwork(long latencyMs = 10)
{
    private readonly Dictionary<PeerId, NodeSlot> _nodes = [];
    private readonly PriorityQueue<(PeerId Node, Input Input), (long Time, long Sequence)> _events = new();
    private long _sequence;

    /// <summary>The virtual clock in milliseconds.</summary>
    public long Now { get; private set; }

    /// <summary>Every input handled so far, with its effects.</summary>
    public List<NodeStep> Trace { get; } = [];

    /// <summary>Messages handed to the network so far.</summary>
    public int MessagesSent { get; private set; }

    /// <summary>The nodes, by peer ID.</summary>
    public IReadOnlyCollection<PeerId> Nodes => _nodes.Keys;

    /// <summary>Adds a node with its configuration and the blocks its store starts with.</summary>
    public PeerId Add(PeerId self, NodeConfig config, IEnumerable<Block>? blocks = null)
    {
        var slot = new NodeSlot(NodeState.Create(self, config));
        foreach (var block in blocks ?? []) slot.Store[block.Cid] = block;
        _nodes.Add(self, slot);
        return self;
    }

    /// <summary>The state of a node now.</summary>
    public NodeState StateOf(PeerId node) => _nodes[node].State;

    /// <summary>The blocks a node holds now.</summary>
    public IReadOnlyDictionary<Cid, Block> StoreOf(PeerId node) => _nodes[node].Store;

    /// <summary>Blocks delivered to a node's sessions, in order, with the session.</summary>
    public IReadOnlyList<(long Session, Block Block)> DeliveredTo(PeerId node) => _nodes[node].Delivered;

    /// <summary>Connects two nodes: each learns of the other now, speaking <paramref name="version"/>.</summary>
    public void Connect(PeerId a, PeerId b, ProtocolVersion version = ProtocolVersion.V120)
    {
        Post(a, new PeerConnected(Now, b, version));
        Post(b, new PeerConnected(Now, a, version));
    }

    /// <summary>Disconnects two nodes.</summary>
    public void Disconnect(PeerId a, PeerId b)
    {
        Post(a, new PeerDisconnected(Now, b));
        Post(b, new PeerDisconnected(Now, a));
    }

    /// <summary>A session of <paramref name="node"/> wants these CIDs.</summary>
    public void Want(PeerId node, long session, Seq<Cid> cids) => Post(node, new WantBlocks(Now, session, cids));

    /// <summary>Adds blocks to a node's store and tells it.</summary>
    public void AddBlocks(PeerId node, Seq<Block> blocks)
    {
        foreach (var block in blocks) _nodes[node].Store[block.Cid] = block;
        Post(node, new BlocksAdded(Now, blocks));
    }

    /// <summary>Hands an input to a node now and schedules what its effects lead to.</summary>
    public Seq<Effect> Post(PeerId node, Input input)
    {
        var slot = _nodes[node];
        var step = Node.Handle(slot.State, input);
        slot.State = step.State;
        Trace.Add(new NodeStep(node, input, step.Effects));
        foreach (var effect in step.Effects) Interpret(node, slot, effect);
        return step.Effects;
    }

    /// <summary>Runs events due up to <paramref name="ms"/> from now, then sets the clock there.</summary>
    public void Run(long ms)
    {
        var until = Now + ms;
        RunWhile(() => true, until);
        Now = Math.Max(Now, until);
    }

    /// <summary>Runs events until <paramref name="done"/> holds or none is due by <paramref name="limitMs"/> from now; true when done.</summary>
    public bool RunUntil(Func<bool> done, long limitMs)
    {
        RunWhile(() => !done(), Now + limitMs);
        return done();
    }

    private void RunWhile(Func<bool> go, long until)
    {
        while (go() && _events.TryPeek(out var next, out var at) && at.Time <= until)
        {
            _events.Dequeue();
            Now = Math.Max(Now, at.Time);
            var slot = _nodes[next.Node];
            // A timer armed again moved: only the firing at its latest deadline is delivered, as the shell's scheduler does.
            if (next.Input is TimerFired fired && (!slot.Timers.TryGetValue(fired.Timer, out var deadline) || deadline != at.Time)) continue;
            if (next.Input is TimerFired due) slot.Timers.Remove(due.Timer);
            Post(next.Node, next.Input with { Now = Now });
        }
    }

    private void Schedule(long time, PeerId node, Input input) => _events.Enqueue((node, input), (time, _sequence++));

    private void Interpret(PeerId node, NodeSlot slot, Effect effect)
    {
        switch (effect)
        {
            case SendMessage send:
                MessagesSent++;
                Schedule(Now, node, new MessageSent(Now, send.Peer, send.Envelope));
                if (_nodes.TryGetValue(send.Peer, out var receiver))
                    Schedule(Now + latencyMs, send.Peer, new MessageReceived(Now + latencyMs, node, send.Message, ShellStore.SizesHeld(receiver.Store, send.Message)));
                break;
            case LoadBlocks load:
                Schedule(Now, node, new BlocksLoaded(Now, load.Envelope, load.Peer, ShellStore.Loaded(slot.Store, load.Cids)));
                break;
            case ArmTimer arm:
                slot.Timers[arm.Timer] = arm.Deadline;
                Schedule(Math.Max(Now, arm.Deadline), node, new TimerFired(arm.Deadline, arm.Timer));
                break;
            case DeliverBlock deliver:
                slot.Delivered.Add((deliver.Session, deliver.Block));
                if (slot.Store.TryAdd(deliver.Block.Cid, deliver.Block))
                    Schedule(Now, node, new BlocksAdded(Now, Seq1(deliver.Block)));
                break;
            case FindProviders or RejectWants or WantsEnded or Explain:
                // Recorded in the trace; no provider search runs here (every node is connected by the test).
                break;
            default:
                throw new UnreachableException($"effect {effect.GetType().Name}");
        }
    }

    private static Seq<Block> Seq1(Block block) => Seq<Block>.Empty.Add(block);

    /// <summary>What the test network keeps per node: the reducer state, its store, armed timers and deliveries.</summary>
    private sealed class NodeSlot(NodeState state)
    {
        public NodeState State { get; set; } = state;
        public Dictionary<Cid, Block> Store { get; } = [];
        public Dictionary<TimerId, long> Timers { get; } = [];
        public List<(long Session, Block Block)> Delivered { get; } = [];
    }
}
