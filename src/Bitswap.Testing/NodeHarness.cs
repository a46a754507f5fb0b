using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Testing;

/// <summary>One input the harness's node handled, with the states around it and its effects.</summary>
/// <param name="Input">The input.</param>
/// <param name="Before">The node's state before it.</param>
/// <param name="After">The node's state after it.</param>
/// <param name="Effects">Its effects, in order.</param>
public sealed record HarnessStep(Input Input, NodeState Before, NodeState After, Seq<Effect> Effects);

/// <summary>
/// One real <see cref="Node"/> whose remote peers are played by the test, stepped in virtual time: the single-node
/// companion of <see cref="NodeNetwork"/>, sharing its store and timer rules. The test posts inputs (a peer's message, an
/// API command) and reads the effects back; the harness keeps what a shell would: the blockstore (message sizes and loads
/// are answered from it), the armed timers (fired in deadline order by <see cref="Advance"/>; arming again moves a timer),
/// and the sends and loads not yet answered, which the test settles by hand or, with <see cref="AutoAck"/> and
/// <see cref="AutoLoad"/>, the harness settles at once. No Rx, no threads: a run is a function of its inputs.
/// </summary>
public sealed class NodeHarness
{
    private readonly Dictionary<Cid, Block> _store = [];
    private readonly PriorityQueue<TimerId, (long Deadline, long Sequence)> _timers = new();
    private readonly Dictionary<TimerId, long> _armed = [];
    private readonly List<SendMessage> _inFlight = [];
    private readonly List<LoadBlocks> _loads = [];
    private long _sequence;

    /// <summary>A harness around a node in <paramref name="state"/>, its store holding <paramref name="blocks"/>.</summary>
    public NodeHarness(NodeState state, IEnumerable<Block>? blocks = null, bool autoAck = false, bool autoLoad = false)
    {
        State = state;
        AutoAck = autoAck;
        AutoLoad = autoLoad;
        foreach (var block in blocks ?? []) _store[block.Cid] = block;
    }

    /// <summary>A harness around a fresh node.</summary>
    public NodeHarness(PeerId self, NodeConfig config, IEnumerable<Block>? blocks = null, bool autoAck = false, bool autoLoad = false)
        : this(NodeState.Create(self, config), blocks, autoAck, autoLoad)
    {
    }

    /// <summary>The node's state now.</summary>
    public NodeState State { get; private set; }

    /// <summary>The virtual clock in milliseconds; setting it moves time without firing timers (for tests that fire them by hand).</summary>
    public long Now { get; set; }

    /// <summary>Confirm every send with <see cref="MessageSent"/> as soon as the node asks for it.</summary>
    public bool AutoAck { get; set; }

    /// <summary>Answer every <see cref="LoadBlocks"/> from the store as soon as the node asks for it.</summary>
    public bool AutoLoad { get; set; }

    /// <summary>Every input handled so far, confirmations and timer firings included.</summary>
    public List<HarnessStep> Trace { get; } = [];

    /// <summary>Sends whose fate is not reported yet, oldest first.</summary>
    public IReadOnlyList<SendMessage> InFlight => _inFlight;

    /// <summary>Loads not answered yet, oldest first.</summary>
    public IReadOnlyList<LoadBlocks> Loads => _loads;

    /// <summary>The blocks the node's store holds.</summary>
    public IReadOnlyDictionary<Cid, Block> Store => _store;

    /// <summary>Timers armed and not yet fired.</summary>
    public IReadOnlyCollection<TimerId> ArmedTimers => _armed.Keys;

    /// <summary>Every effect so far, in order.</summary>
    public IEnumerable<Effect> Effects => Trace.SelectMany(s => s.Effects);

    /// <summary>Every message the node sent so far, in order.</summary>
    public IEnumerable<SendMessage> Sends => Effects.OfType<SendMessage>();

    /// <summary>Hands one input to the node, records the step and settles what the auto modes settle; returns this step's effects.</summary>
    public Seq<Effect> Post(Input input)
    {
        var before = State;
        var step = Node.Handle(before, input);
        State = step.State;
        Trace.Add(new HarnessStep(input, before, step.State, step.Effects));
        foreach (var effect in step.Effects)
        {
            switch (effect)
            {
                case SendMessage send:
                    _inFlight.Add(send);
                    break;
                case LoadBlocks load:
                    _loads.Add(load);
                    break;
                case ArmTimer arm:
                    _armed[arm.Timer] = arm.Deadline;
                    _timers.Enqueue(arm.Timer, (arm.Deadline, _sequence++));
                    break;
            }
        }
        // Settled after the whole step is recorded, so the trace reads in the order a shell would see it.
        foreach (var effect in step.Effects)
        {
            if (AutoLoad && effect is LoadBlocks load && _loads.Contains(load)) AnswerLoad(_loads.IndexOf(load));
            if (AutoAck && effect is SendMessage send && _inFlight.Contains(send)) Ack(_inFlight.IndexOf(send));
        }
        return step.Effects;
    }

    /// <summary>A peer connects now.</summary>
    public Seq<Effect> Connect(PeerId peer, ProtocolVersion version = ProtocolVersion.V120, PeerTraits traits = PeerTraits.None) =>
        Post(new PeerConnected(Now, peer, version, traits));

    /// <summary>A peer disconnects now; its sends still in flight stay for the test to settle, as a shell would report them.</summary>
    public Seq<Effect> Disconnect(PeerId peer) => Post(new PeerDisconnected(Now, peer));

    /// <summary>A session wants these CIDs.</summary>
    public Seq<Effect> Want(long session, Seq<Cid> cids) => Post(new WantBlocks(Now, session, cids));

    /// <summary>A session no longer wants these CIDs.</summary>
    public Seq<Effect> Cancel(long session, Seq<Cid> cids) => Post(new CancelWants(Now, session, cids));

    /// <summary>A message from a peer; <paramref name="sizes"/> defaults to what the store holds, as the shell looks it up.</summary>
    public Seq<Effect> Receive(PeerId peer, Message message, Map<Cid, int>? sizes = null) =>
        Post(new MessageReceived(Now, peer, message, sizes ?? ShellStore.SizesHeld(_store, message)));

    /// <summary>Adds blocks to the store and tells the node.</summary>
    public Seq<Effect> Add(params Block[] blocks)
    {
        foreach (var block in blocks) _store[block.Cid] = block;
        return Post(new BlocksAdded(Now, blocks.ToSeq()));
    }

    /// <summary>Removes a block from the store without telling the node (it learns when a load misses it).</summary>
    public void Delete(Cid cid) => _store.Remove(cid);

    /// <summary>True when the store holds the block.</summary>
    public bool Holds(Cid cid) => _store.ContainsKey(cid);

    /// <summary>Answers the outstanding load at <paramref name="index"/> with the blocks still in the store.</summary>
    public Seq<Effect> AnswerLoad(int index = 0)
    {
        var load = _loads[index];
        _loads.RemoveAt(index);
        return Post(new BlocksLoaded(Now, load.Envelope, load.Peer, ShellStore.Loaded(_store, load.Cids)));
    }

    /// <summary>Reports the send at <paramref name="index"/> as sent, or as failed.</summary>
    public Seq<Effect> Ack(int index = 0, bool failed = false)
    {
        var send = _inFlight[index];
        _inFlight.RemoveAt(index);
        return Post(failed ? new MessageFailed(Now, send.Peer, send.Envelope, "test failure") : new MessageSent(Now, send.Peer, send.Envelope));
    }

    /// <summary>Confirms every send in flight, including ones those confirmations lead to.</summary>
    public void AckAll()
    {
        var guard = 0;
        while (_inFlight.Count > 0 && guard++ < 10_000) Ack();
    }

    /// <summary>Answers every load and confirms every send until the node asks for neither; returns the messages confirmed.</summary>
    public List<SendMessage> Drain()
    {
        var sent = new List<SendMessage>();
        while (_loads.Count > 0 || _inFlight.Count > 0)
        {
            if (_loads.Count > 0)
            {
                AnswerLoad();
                continue;
            }
            sent.Add(_inFlight[0]);
            Ack();
        }
        return sent;
    }

    /// <summary>Moves the clock <paramref name="ms"/> on, firing the timers due by then in deadline order.</summary>
    public void Advance(long ms)
    {
        var until = Now + ms;
        while (_timers.TryPeek(out var timer, out var at) && at.Deadline <= until)
        {
            _timers.Dequeue();
            // A timer armed again moved: only the firing at its latest deadline is delivered, as the shell's scheduler does.
            if (!_armed.TryGetValue(timer, out var deadline) || deadline != at.Deadline) continue;
            _armed.Remove(timer);
            Now = Math.Max(Now, at.Deadline);
            Post(new TimerFired(Now, timer));
        }
        Now = Math.Max(Now, until);
    }

    /// <summary>Messages sent to one peer, in order.</summary>
    public List<Message> SentTo(PeerId peer) => Sends.Where(s => s.Peer == peer).Select(s => s.Message).ToList();

    /// <summary>All wantlist entries sent to one peer, in order.</summary>
    public List<WantlistEntry> EntriesTo(PeerId peer) => SentTo(peer).SelectMany(m => m.Wantlist.Values).ToList();
}

/// <summary>The blockstore lookups a shell makes for a node, shared by <see cref="NodeNetwork"/> and <see cref="NodeHarness"/>.</summary>
internal static class ShellStore
{
    /// <summary>The sizes the store holds for the CIDs a message names (what the shell looks up before posting it).</summary>
    public static Map<Cid, int> SizesHeld(IReadOnlyDictionary<Cid, Block> store, Message message)
    {
        var sizes = Map<Cid, int>.Empty;
        foreach (var cid in message.Wantlist.Keys.Concat(message.Blocks.Keys))
            if (store.TryGetValue(cid, out var block)) sizes = sizes.AddOrUpdate(cid, block.Size);
        return sizes;
    }

    /// <summary>The blocks of <paramref name="cids"/> still in the store, as <see cref="BlocksLoaded"/> carries them.</summary>
    public static Map<Cid, Block> Loaded(IReadOnlyDictionary<Cid, Block> store, Seq<Cid> cids)
    {
        var blocks = Map<Cid, Block>.Empty;
        foreach (var cid in cids)
            if (store.TryGetValue(cid, out var block)) blocks = blocks.AddOrUpdate(cid, block);
        return blocks;
    }
}
