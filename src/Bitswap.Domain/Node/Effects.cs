using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>What a reducer asks the shell to do, as data. The shell's interpreter is the only code that performs them.</summary>
public abstract record Effect;

/// <summary>An effect the server (<see cref="Engine"/>) emits; only <see cref="Effect"/> records implement it, so <see cref="Node"/> lifts it by a cast.</summary>
public interface IEngineEffect;

/// <summary>An effect the client (<see cref="Client"/>) emits; only <see cref="Effect"/> records implement it, so <see cref="Node"/> lifts it by a cast.</summary>
public interface IClientEffect;

/// <summary>Send a message to a peer; the shell answers with <see cref="MessageSent"/> or <see cref="MessageFailed"/>.</summary>
public sealed record SendMessage(PeerId Peer, EnvelopeId Envelope, Message Message) : Effect, IEngineEffect, IClientEffect, IPeerWantsEffect;

/// <summary>Read these blocks for an envelope being built; the shell answers with <see cref="BlocksLoaded"/>.</summary>
public sealed record LoadBlocks(EnvelopeId Envelope, PeerId Peer, Seq<Cid> Cids) : Effect, IEngineEffect;

/// <summary>Fire <see cref="TimerFired"/> for this timer at <paramref name="Deadline"/> (milliseconds on the shell's clock).</summary>
public sealed record ArmTimer(TimerId Timer, long Deadline) : Effect, IEngineEffect, IClientEffect, IPeerWantsEffect;

/// <summary>Hand a wanted block to a local session (the API's waiters). <paramref name="From"/> is null for a block added locally.</summary>
public sealed record DeliverBlock(long Session, Block Block, PeerId? From) : Effect, IClientEffect;

/// <summary>Ask the routing port for providers of a CID on behalf of a session; it answers with <see cref="ProvidersFound"/>.</summary>
public sealed record FindProviders(long Session, Cid Cid) : Effect, IClientEffect;

/// <summary>Fail some of a session's wants (e.g. a want refused by a bound); the API completes their waiters with an error.</summary>
public sealed record RejectWants(long Session, Seq<Cid> Cids, string Reason) : Effect, IClientEffect;

/// <summary>Why a session's wants ended without a block.</summary>
public enum WantEndReason
{
    /// <summary>The session cancelled them (<see cref="CancelWants"/>).</summary>
    Cancelled,
    /// <summary>The session closed (<see cref="CloseSession"/>).</summary>
    SessionClosed,
}

/// <summary>
/// A session's wants ended without a block: every CID the session still wanted when it cancelled them or closed. The API
/// fails those callers' waiters; a CID delivered or rejected earlier is not listed.
/// </summary>
public sealed record WantsEnded(long Session, Seq<Cid> Cids, WantEndReason Reason) : Effect, IClientEffect;

/// <summary>
/// Record why the node decided something (a want sent, skipped or cancelled; a task dropped). The shell only logs it
/// and the replay tool prints it; it changes nothing. Emitted only when <see cref="NodeConfig.Explain"/> is on.
/// </summary>
public sealed record Explain(string Subject, Cid? Cid, PeerId? Peer, string Reason) : Effect, IEngineEffect, IClientEffect, IPeerWantsEffect;
