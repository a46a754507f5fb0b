using System.Diagnostics;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain;

/// <summary>Everything that configures one node's reducers; the shell builds it from its options, the replay tool from a log header.</summary>
/// <param name="Limits">Every bound.</param>
/// <param name="Seed">The seed both reducers derive their randomness from.</param>
/// <param name="ServerEnabled">False for a client-only node (boxo WithServerEnabled(false)): the server sees no input.</param>
/// <param name="SendDontHaves">The server answers DONT_HAVE when asked to (boxo SetSendDontHaves, default on).</param>
/// <param name="SimulateDontHaves">The client simulates DONT_HAVE on unanswered want-blocks (boxo SetSimulateDontHavesOnTimeout, default on).</param>
/// <param name="RequestFilter">Peer block request filter (boxo WithPeerBlockRequestFilter); null allows everything. Not recorded in logs.</param>
/// <param name="Explain">
/// Emit <see cref="Domain.Explain"/> effects saying why each decision was made. Off by default: then no reason is even
/// formatted. Recording, replay and trace tests turn it on.
/// </param>
public sealed record NodeConfig(
    Limits Limits,
    ulong Seed,
    bool ServerEnabled = true,
    bool SendDontHaves = true,
    bool SimulateDontHaves = true,
    Func<PeerId, Cid, bool>? RequestFilter = null,
    bool Explain = false)
{
    /// <summary>Which peers get want-have broadcasts; boxo's library default is <see cref="BroadcastControl.Disabled"/>, the shell turns it on.</summary>
    public BroadcastControl BroadcastControl { get; init; } = BroadcastControl.Disabled;

    /// <summary>A node with boxo's defaults and the given seed.</summary>
    public static NodeConfig Default(ulong seed) => new(Limits.Default, seed);
}

/// <summary>The root state of a node: the server's and the client's state, side by side.</summary>
/// <param name="Server">The decision engine (serves blocks to peers).</param>
/// <param name="Client">The want side (fetches blocks from peers).</param>
/// <param name="ServerEnabled">False when the server never sees an input.</param>
/// <param name="Self">Our own peer ID.</param>
/// <param name="Config">The configuration the node was created with.</param>
public sealed record NodeState(EngineState Server, ClientState Client, bool ServerEnabled, PeerId Self, NodeConfig Config)
{
    /// <summary>A fresh node: empty ledgers, no peers, no wants.</summary>
    public static NodeState Create(PeerId self, NodeConfig config)
    {
        // Each child gets its own stream of randomness so that adding draws on one side never shifts the other's.
        var engine = EngineState.Create(self, new EngineConfig(config.Limits, Node.DeriveSeed(config.Seed, 1), config.RequestFilter, config.SendDontHaves, config.Explain));
        var client = ClientState.Create(self, new ClientConfig(config.Limits, Node.DeriveSeed(config.Seed, 2), config.SimulateDontHaves, config.Explain) { BroadcastControl = config.BroadcastControl });
        return new NodeState(engine, client, config.ServerEnabled, self, config);
    }
}

/// <summary>
/// The root reducer: routes each input to the server (when enabled) and the client, and concatenates their effects,
/// the server's first. Envelope answers go only to the side that built the envelope.
/// </summary>
public static class Node
{
    /// <summary>Feeds one input to the children and collects their effects in a fixed order.</summary>
    public static Step<NodeState, Effect> Handle(NodeState state, Input input)
    {
        switch (Route(input))
        {
            case Target.Server:
                return HandleServer(state, input);
            case Target.Client:
                return HandleClient(state, input);
            case Target.Both:
                var server = HandleServer(state, input);
                var client = HandleClient(server.State, input);
                return new Step<NodeState, Effect>(client.State, server.Effects + client.Effects);
            default:
                throw new UnreachableException($"route of {input.GetType().Name}");
        }
    }

    /// <summary>A child seed: SplitMix64 of the node seed mixed with a per-child constant, so children draw independently.</summary>
    public static ulong DeriveSeed(ulong seed, ulong child) => SplitMix64.Derive(seed, child);

    private enum Target
    {
        Server,
        Client,
        Both,
    }

    private static Target Route(Input input) => input switch
    {
        MessageSent sent => SideRoute(sent.Envelope.Side),
        MessageFailed failed => SideRoute(failed.Envelope.Side),
        BlocksLoaded loaded => SideRoute(loaded.Envelope.Side),
        // API commands about local sessions concern only the client.
        WantBlocks or CancelWants or CloseSession or ProvidersFound => Target.Client,
        PeerConnected or PeerDisconnected or MessageReceived or BlocksAdded or TimerFired => Target.Both,
        _ => throw new UnreachableException($"input {input.GetType().Name}"),
    };

    private static Target SideRoute(Side side) => side switch
    {
        Side.Server => Target.Server,
        Side.Client => Target.Client,
        _ => throw new UnreachableException($"side {side}"),
    };

    private static Step<NodeState, Effect> HandleServer(NodeState state, Input input)
    {
        if (!state.ServerEnabled)
        {
            return Step<NodeState, Effect>.Quiet(state);
        }

        var step = Engine.Handle(state.Server, input);
        return new Step<NodeState, Effect>(state with { Server = step.State }, step.Effects);
    }

    private static Step<NodeState, Effect> HandleClient(NodeState state, Input input)
    {
        var step = Client.Handle(state.Client, input);
        return new Step<NodeState, Effect>(state with { Client = step.State }, step.Effects);
    }
}
