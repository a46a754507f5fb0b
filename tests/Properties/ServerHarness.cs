using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Tests.Properties;

/// <summary>One engine step as recorded by the harness.</summary>
/// <param name="Input">The input handled.</param>
/// <param name="Before">The state before.</param>
/// <param name="After">The state after.</param>
/// <param name="Effects">The effects produced.</param>
public sealed record EngineStep(Input Input, EngineState Before, EngineState After, Seq<Effect> Effects);

/// <summary>
/// Plays the shell around the engine for tests: a blockstore (a set of the world's blocks), the outstanding loads and
/// sends, and a clock. Every input and its effects are logged.
/// </summary>
public sealed class ServerHarness
{
    private readonly System.Collections.Generic.HashSet<Cid> _store = [];
    private readonly List<LoadBlocks> _loads = [];
    private readonly List<SendMessage> _sends = [];

    /// <summary>A harness around a fresh engine for peer 7 of the world, holding the given blocks.</summary>
    public ServerHarness(EngineConfig config, IEnumerable<int> store)
    {
        State = EngineState.Create(ServerWorld.Peers[7], config);
        foreach (var i in store) _store.Add(ServerWorld.Blocks[i].Cid);
    }

    /// <summary>The engine state now.</summary>
    public EngineState State { get; private set; }

    /// <summary>The clock.</summary>
    public long Now { get; set; }

    /// <summary>Every step so far.</summary>
    public List<EngineStep> Log { get; } = [];

    /// <summary>Loads the engine asked for and the harness has not answered.</summary>
    public IReadOnlyList<LoadBlocks> Loads => _loads;

    /// <summary>Sends the engine asked for whose fate is not reported yet.</summary>
    public IReadOnlyList<SendMessage> Sends => _sends;

    /// <summary>Every effect so far, in order.</summary>
    public IEnumerable<Effect> Effects => Log.SelectMany(s => s.Effects);

    /// <summary>Runs a generated script.</summary>
    public static ServerHarness Play(EngineScript script)
    {
        var harness = new ServerHarness(script.Knobs.ToConfig(), script.Store);
        foreach (var op in script.Ops) harness.Run(op);
        return harness;
    }

    /// <summary>True when the local store holds the block.</summary>
    public bool Holds(Cid cid) => _store.Contains(cid);

    /// <summary>Hands one input to the engine and records the step.</summary>
    public Seq<Effect> Post(Input input)
    {
        var before = State;
        var step = Engine.Handle(before, (IEngineInput)input);
        var effects = Node.Lift(step.Effects);
        State = step.State;
        foreach (var effect in effects)
        {
            if (effect is LoadBlocks load) _loads.Add(load);
            if (effect is SendMessage send) _sends.Add(send);
        }
        Log.Add(new EngineStep(input, before, step.State, effects));
        return effects;
    }

    /// <summary>A message from a peer, with the local sizes the shell would look up.</summary>
    public Seq<Effect> Receive(PeerId peer, Message message)
    {
        var sizes = message.Wantlist.Keys.Concat(message.Blocks.Keys)
            .Where(cid => _store.Contains(cid))
            .Aggregate(Map<Cid, int>.Empty, (map, cid) => map.AddOrUpdate(cid, ServerWorld.Blocks.First(b => b.Cid == cid).Size));
        return Post(new MessageReceived(Now, peer, message, sizes));
    }

    /// <summary>Adds blocks to the store and tells the engine.</summary>
    public Seq<Effect> Add(params Block[] blocks)
    {
        foreach (var b in blocks) _store.Add(b.Cid);
        return Post(new BlocksAdded(Now, blocks.ToSeq()));
    }

    /// <summary>Removes a block from the store without telling the engine (it learns when a load misses it).</summary>
    public void Delete(Cid cid) => _store.Remove(cid);

    /// <summary>Answers the outstanding load at <paramref name="index"/> with the blocks still in the store.</summary>
    public Seq<Effect> AnswerLoad(int index = 0)
    {
        var load = _loads[index];
        _loads.RemoveAt(index);
        var blocks = load.Cids.Filter(_store.Contains)
            .Fold(Map<Cid, Block>.Empty, (map, cid) => map.AddOrUpdate(cid, ServerWorld.Blocks.First(b => b.Cid == cid)));
        return Post(new BlocksLoaded(Now, load.Envelope, load.Peer, blocks));
    }

    /// <summary>Reports the send at <paramref name="index"/> as sent or failed.</summary>
    public Seq<Effect> CompleteSend(int index = 0, bool success = true)
    {
        var send = _sends[index];
        _sends.RemoveAt(index);
        return Post(success
            ? new MessageSent(Now, send.Peer, send.Envelope)
            : new MessageFailed(Now, send.Peer, send.Envelope, "stream reset"));
    }

    /// <summary>Answers every load and completes every send until the engine is idle; returns the messages sent.</summary>
    public List<SendMessage> Drain()
    {
        var sent = new List<SendMessage>();
        while (_loads.Count > 0 || _sends.Count > 0)
        {
            if (_loads.Count > 0) { AnswerLoad(); continue; }
            sent.Add(_sends[0]);
            CompleteSend();
        }
        return sent;
    }

    /// <summary>Interprets one generated step.</summary>
    public void Run(ServerOp op)
    {
        switch (op)
        {
            case ServerReceiveOp r:
                var message = Message.Empty.WithEntries(r.Entries.Select(e => e.ToEntry())).WithFull(r.Full);
                message = r.Blocks.Aggregate(message, (m, i) => m.WithBlock(ServerWorld.Blocks[i]));
                Receive(ServerWorld.Peers[r.Peer], message);
                break;
            case ServerAddBlocksOp a:
                Add(a.Blocks.Select(i => ServerWorld.Blocks[i]).ToArray());
                break;
            case ServerDeleteBlockOp d:
                Delete(ServerWorld.Blocks[d.Block].Cid);
                break;
            case ServerAnswerLoadOp l:
                if (_loads.Count > 0) AnswerLoad(l.Pick % _loads.Count);
                break;
            case ServerCompleteSendOp s:
                if (_sends.Count > 0) CompleteSend(s.Pick % _sends.Count, s.Success);
                break;
            case ServerConnectOp c:
                Post(new PeerConnected(Now, ServerWorld.Peers[c.Peer], ProtocolVersion.V120));
                break;
            case ServerDisconnectOp d:
                Post(new PeerDisconnected(Now, ServerWorld.Peers[d.Peer]));
                break;
            case ServerAdvanceOp a:
                Now += a.Ms;
                break;
            case ServerScoreTickOp:
                Post(new TimerFired(Now, EngineState.ScoreTimer));
                break;
            default:
                throw new System.Diagnostics.UnreachableException($"unknown op {op}");
        }
    }
}
