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
/// The root reducer: routes each input to the server (when enabled), the client or both, lifts their effects into the
/// root's and concatenates them, the server's first. Routing is decided here once: envelope answers go only to the side
/// that built the envelope, a timer only to the side its kind belongs to, and each child sees only its own input type.
/// </summary>
public static class Node
{
    /// <summary>Feeds one input to the children and collects their effects in a fixed order.</summary>
    public static Step<NodeState, Effect> Handle(NodeState state, Input input)
    {
        switch (Route(input))
        {
            case Target.None:
                return Step<NodeState, Effect>.Quiet(state);
            case Target.Server:
            {
                var (next, server) = HandleServer(state, (IEngineInput)input);
                return new Step<NodeState, Effect>(next, Lift(server, null));
            }
            case Target.Client:
            {
                var (next, client) = HandleClient(state, (IClientInput)input);
                return new Step<NodeState, Effect>(next, Lift(Seq<IEngineEffect>.Empty, client));
            }
            case Target.Both:
            {
                var (afterServer, server) = HandleServer(state, (IEngineInput)input);
                var (next, client) = HandleClient(afterServer, (IClientInput)input);
                return new Step<NodeState, Effect>(next, Lift(server, client));
            }
            default:
                throw new UnreachableException($"route of {input.GetType().Name}");
        }
    }

    /// <summary>A child seed: SplitMix64 of the node seed mixed with a per-child constant, so children draw independently.</summary>
    public static ulong DeriveSeed(ulong seed, ulong child) => SplitMix64.Derive(seed, child);

    private enum Target
    {
        None,
        Server,
        Client,
        Both,
    }

    private static Target Route(Input input) => input switch
    {
        MessageSent sent => SideRoute(sent.Envelope.Side),
        MessageFailed failed => SideRoute(failed.Envelope.Side),
        // Only the server loads blocks; an answer naming a client envelope has no reader.
        BlocksLoaded loaded => loaded.Envelope.Side == Side.Server ? Target.Server : Target.None,
        // The engine arms only the score timer; every other kind is the client's.
        TimerFired fired => fired.Timer.Kind == TimerKind.EngineScore ? Target.Server : Target.Client,
        IEngineInput and IClientInput => Target.Both,
        IClientInput => Target.Client,
        IEngineInput => Target.Server,
        _ => throw new UnreachableException($"input {input.GetType().Name}"),
    };

    private static Target SideRoute(Side side) => side switch
    {
        Side.Server => Target.Server,
        Side.Client => Target.Client,
        _ => throw new UnreachableException($"side {side}"),
    };

    private static (NodeState State, Seq<IEngineEffect> Effects) HandleServer(NodeState state, IEngineInput input)
    {
        if (!state.ServerEnabled)
        {
            return (state, Seq<IEngineEffect>.Empty);
        }

        var step = Engine.Handle(state.Server, input);
        return (state with { Server = step.State }, step.Effects);
    }

    private static (NodeState State, List<IClientEffect>? Effects) HandleClient(NodeState state, IClientInput input)
    {
        var (client, effects) = Client.Run(state.Client, input);
        return (state with { Client = client }, effects);
    }

    /// <summary>The server's effects as root effects, for a driver that steps <see cref="Engine"/> alone.</summary>
    public static Seq<Effect> Lift(Seq<IEngineEffect> effects) => Lift(effects, null);

    /// <summary>The client's effects as root effects, for a driver that steps <see cref="Client"/> alone.</summary>
    public static Seq<Effect> Lift(Seq<IClientEffect> effects) => Lift(Seq<IEngineEffect>.Empty, [.. effects]);

    /// <summary>The children's effects as root effects, the server's first, in one sequence (one array for both).</summary>
    private static Seq<Effect> Lift(Seq<IEngineEffect> server, List<IClientEffect>? client)
    {
        var count = server.Count + (client?.Count ?? 0);
        if (count == 0) return Seq<Effect>.Empty;
        var lifted = new Effect[count];
        var i = 0;
        // Only Effect records implement the children's effect interfaces, so the casts cannot fail.
        if (!server.IsEmpty)
            foreach (var effect in server) lifted[i++] = (Effect)effect;
        if (client is not null)
            foreach (var effect in client) lifted[i++] = (Effect)effect;
        return Prelude.toSeq(lifted);
    }
}
