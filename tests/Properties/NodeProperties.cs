using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Recording;
using Bitswap.Testing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>A script of inputs for the root reducer, over a few peers, sessions and blocks.</summary>
/// <param name="Inputs">The inputs in order, with increasing <see cref="Input.Now"/>.</param>
public sealed record NodeScript(Seq<Input> Inputs)
{
    /// <inheritdoc />
    public override string ToString() => string.Join("\n", Inputs.Select(TraceFormat.Describe));
}

/// <summary>Generators of node scripts.</summary>
public static partial class Arbitraries
{
    private static readonly PeerId[] ScriptPeers = [.. Enumerable.Range(0, 3).Select(i => SessionGenerator.PeerFor(77, i))];

    private static readonly Block[] ScriptBlocks = [.. ScenarioRunner.MakeBlocks(5, 77)];

    private static Gen<Input> NodeInputGen(long now)
    {
        var peer = Gen.Elements(ScriptPeers);
        var block = Gen.Elements(ScriptBlocks);
        var cids = Gen.Elements(ScriptBlocks.Select(b => b.Cid).ToArray()).NonEmptyListOf().Select(l => l.Distinct().ToSeq());
        var session = Gen.Choose(1, 3).Select(s => (long)s);
        var entry = from cid in Gen.Elements(ScriptBlocks.Select(b => b.Cid).ToArray())
                    from type in Gen.Elements(WantType.Block, WantType.Have)
                    from cancel in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
                    from dontHave in Gen.Elements(true, false)
                    select cancel ? WantlistEntry.CancelOf(cid) : new WantlistEntry(cid, 10, type, false, dontHave);
        var message = from entries in entry.ListOf()
                      from blocks in block.ListOf()
                      from presences in Gen.Elements(ScriptBlocks.Select(b => b.Cid).ToArray()).Zip(Gen.Elements(PresenceType.Have, PresenceType.DontHave)).ListOf()
                      select presences.Aggregate(
                          blocks.Aggregate(Message.Empty.WithEntries(entries), (m, b) => m.WithBlock(b)),
                          (m, p) => m.WithPresence(p.Item1, p.Item2));
        var held = Gen.Elements(ScriptBlocks).ListOf().Select(l => l.DistinctBy(b => b.Cid).Aggregate(Map<Cid, int>.Empty, (m, b) => m.AddOrUpdate(b.Cid, b.Size)));
        return Gen.OneOf(
            peer.Select(p => (Input)new PeerConnected(now, p, ProtocolVersion.V120)),
            peer.Select(p => (Input)new PeerDisconnected(now, p)),
            session.Zip(cids).Select(t => (Input)new WantBlocks(now, t.Item1, t.Item2)),
            session.Zip(cids).Select(t => (Input)new CancelWants(now, t.Item1, t.Item2)),
            session.Select(s => (Input)new CloseSession(now, s)),
            peer.Zip(message).Zip(held).Select(t => (Input)new MessageReceived(now, t.Item1.Item1, t.Item1.Item2, t.Item2)),
            block.ListOf().Select(l => (Input)new BlocksAdded(now, l.DistinctBy(b => b.Cid).ToSeq())),
            Gen.Elements(TimerKind.EngineScore, TimerKind.Rebroadcast, TimerKind.SessionTick).Select(kind => (Input)new TimerFired(now, new TimerId(kind, 1))));
    }

    /// <summary>Scripts of up to 30 inputs, 10 ms apart.</summary>
    public static Arbitrary<NodeScript> NodeScripts() =>
        Gen.Choose(1, 30)
            .SelectMany(length => Gen.CollectToSequence(Enumerable.Range(0, length).Select(i => NodeInputGen(i * 10L))))
            .Select(inputs => new NodeScript(inputs.ToSeq()))
            .ToArbitrary();
}

/// <summary>The root reducer routes and concatenates, and nothing else.</summary>
public sealed class NodeProperties
{
    private static readonly PeerId Self = SessionGenerator.PeerFor(78, 0);

    /// <summary>The routing the node promises (no envelope answers are generated): a timer goes to the side its kind belongs to.</summary>
    private static bool ToServer(Input input) => input is IEngineInput && input is not TimerFired { Timer.Kind: not TimerKind.EngineScore };

    private static bool ToClient(Input input) => input is IClientInput && input is not TimerFired { Timer.Kind: TimerKind.EngineScore };

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public bool Node_effects_are_the_servers_then_the_clients(NodeScript script)
    {
        var config = NodeConfig.Default(5) with { Explain = true };
        var node = NodeState.Create(Self, config);
        var server = node.Server;
        var client = node.Client;
        foreach (var input in script.Inputs)
        {
            var step = Node.Handle(node, input);
            var serverStep = ToServer(input) ? Engine.Handle(server, (IEngineInput)input) : Step<EngineState, IEngineEffect>.Quiet(server);
            var clientStep = ToClient(input) ? Client.Handle(client, (IClientInput)input) : Step<ClientState, IClientEffect>.Quiet(client);
            if (!step.Effects.SequenceEqual(Node.Lift(serverStep.Effects) + Node.Lift(clientStep.Effects)))
            {
                return false;
            }

            (node, server, client) = (step.State, serverStep.State, clientStep.State);
        }

        return true;
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public bool A_node_without_server_never_changes_the_server_state(NodeScript script)
    {
        var node = NodeState.Create(Self, NodeConfig.Default(6) with { ServerEnabled = false });
        var initialServer = node.Server;
        var client = node.Client;
        foreach (var input in script.Inputs)
        {
            var step = Node.Handle(node, input);
            var clientStep = ToClient(input) ? Client.Handle(client, (IClientInput)input) : Step<ClientState, IClientEffect>.Quiet(client);
            if (!step.Effects.SequenceEqual(Node.Lift(clientStep.Effects)) || !ReferenceEquals(step.State.Server, initialServer))
            {
                return false;
            }

            (node, client) = (step.State, clientStep.State);
        }

        return true;
    }

    [Xunit.Fact]
    public void Server_envelope_answers_never_reach_the_client()
    {
        var peer = SessionGenerator.PeerFor(78, 1);
        var node = Node.Handle(NodeState.Create(Self, NodeConfig.Default(8)), new PeerConnected(0, peer, ProtocolVersion.V120)).State;
        var loaded = Node.Handle(node, new BlocksLoaded(1, new EnvelopeId(Side.Server, 1), peer, Map<Cid, Block>.Empty));
        var sent = Node.Handle(loaded.State, new MessageSent(1, peer, new EnvelopeId(Side.Server, 1)));

        Xunit.Assert.True(loaded.Effects.IsEmpty);
        Xunit.Assert.True(sent.Effects.IsEmpty);
        Xunit.Assert.Same(node.Client, sent.State.Client);
    }

    [Xunit.Fact]
    public void Session_commands_never_reach_the_server()
    {
        var cid = ServerWorld.Blocks[0].Cid;
        var node = NodeState.Create(Self, NodeConfig.Default(9));
        var after = node;
        foreach (var input in new Input[] { new WantBlocks(0, 1, Seq.create(cid)), new CancelWants(0, 1, Seq.create(cid)), new CloseSession(0, 1) })
            after = Node.Handle(after, input).State;

        Xunit.Assert.Same(node.Server, after.Server);
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public bool The_same_inputs_give_the_same_trace(NodeScript script) => TraceOf(script) == TraceOf(script);

    private static string TraceOf(NodeScript script)
    {
        var node = NodeState.Create(Self, NodeConfig.Default(7));
        var lines = new List<string>();
        foreach (var input in script.Inputs)
        {
            var step = Node.Handle(node, input);
            lines.AddRange(TraceFormat.Lines(input, step.Effects));
            node = step.State;
        }

        return string.Join("\n", lines);
    }
}
