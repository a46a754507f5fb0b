using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>The kinds of timer the reducers arm; each kind has at most one deadline per node, per peer or per session.</summary>
public enum TimerKind
{
    /// <summary>The engine's usefulness-score period (boxo scoreledger), one per node.</summary>
    EngineScore,
    /// <summary>The client's rebroadcast check (boxo rebroadcastInterval), one per node.</summary>
    Rebroadcast,
    /// <summary>A peer queue's send debounce (boxo minSendMessageDelay), one per peer.</summary>
    SendDebounce,
    /// <summary>A peer queue's DONT_HAVE timeout (boxo dontHaveTimeoutMgr), one per peer.</summary>
    DontHave,
    /// <summary>A session's idle tick (boxo session idleTick), one per session.</summary>
    SessionTick,
}

/// <summary>
/// Names a timer. Reducers arm timers with <see cref="ArmTimer"/> and get them back as <see cref="TimerFired"/>;
/// a reducer ignores a firing it no longer expects (its state says so), so timers are never cancelled for correctness.
/// </summary>
/// <param name="Kind">The kind of timer.</param>
/// <param name="Key">The session a <see cref="TimerKind.SessionTick"/> belongs to; 0 for the other kinds.</param>
/// <param name="Peer">The peer a per-peer timer is about, if any.</param>
public sealed record TimerId(TimerKind Kind, long Key = 0, PeerId? Peer = null)
{
    /// <summary>The kind's stable name, as written in logs and traces ("engine-score", "session-tick", ...).</summary>
    public string Name => NameOf(Kind);

    /// <summary>The stable name of a timer kind, as logs record it.</summary>
    public static string NameOf(TimerKind kind) => kind switch
    {
        TimerKind.EngineScore => "engine-score",
        TimerKind.Rebroadcast => "rebroadcast",
        TimerKind.SendDebounce => "send-debounce",
        TimerKind.DontHave => "dont-have",
        TimerKind.SessionTick => "session-tick",
        _ => throw new System.Diagnostics.UnreachableException($"timer kind {kind}"),
    };

    /// <summary>The timer kind a logged name stands for; None for a name no reducer arms.</summary>
    public static Option<TimerKind> KindOf(string name) => name switch
    {
        "engine-score" => TimerKind.EngineScore,
        "rebroadcast" => TimerKind.Rebroadcast,
        "send-debounce" => TimerKind.SendDebounce,
        "dont-have" => TimerKind.DontHave,
        "session-tick" => TimerKind.SessionTick,
        _ => Option<TimerKind>.None,
    };

    /// <inheritdoc />
    public override string ToString() => Peer is null ? $"{Name}#{Key}" : $"{Name}#{Key}@{Peer.Short}";
}

/// <summary>Which reducer owns an envelope: the server (decision engine) or the client (want queues).</summary>
public enum Side
{
    /// <summary>Sent by the decision engine: blocks and presences.</summary>
    Server,
    /// <summary>Sent by the client: wantlists.</summary>
    Client,
}

/// <summary>Identifies one outgoing message so the shell can report its fate back as <see cref="MessageSent"/> or <see cref="MessageFailed"/>.</summary>
/// <param name="Side">The reducer that built it.</param>
/// <param name="Sequence">A number unique within that side, counting up from 1.</param>
public readonly record struct EnvelopeId(Side Side, long Sequence)
{
    /// <inheritdoc />
    public override string ToString() => $"{(Side == Side.Server ? "s" : "c")}{Sequence}";
}

/// <summary>
/// Everything a node reacts to, as a closed hierarchy. Facts (from the network, the blockstore, the clock) are named in the
/// past tense; commands (from the API) in the imperative. Every input carries <see cref="Now"/>: milliseconds on the
/// shell's clock (virtual in tests), the only time the domain ever sees.
/// </summary>
/// <param name="Now">Milliseconds on the shell's clock when the input was taken.</param>
public abstract record Input(long Now);

/// <summary>An input the server (<see cref="Engine"/>) handles; <see cref="Node"/> routes only these to it.</summary>
public interface IEngineInput
{
    /// <summary>Milliseconds on the shell's clock when the input was taken.</summary>
    long Now { get; }
}

/// <summary>An input the client (<see cref="Client"/>) handles; <see cref="Node"/> routes only these to it.</summary>
public interface IClientInput
{
    /// <summary>Milliseconds on the shell's clock when the input was taken.</summary>
    long Now { get; }
}

/// <summary>A peer connected and speaks this Bitswap version; <paramref name="Traits"/> say whether it is local or peered (broadcast control).</summary>
public sealed record PeerConnected(long Now, PeerId Peer, ProtocolVersion Version, PeerTraits Traits = PeerTraits.None) : Input(Now), IEngineInput, IClientInput;

/// <summary>A peer disconnected; its ledger, queue and wants are dropped.</summary>
public sealed record PeerDisconnected(long Now, PeerId Peer) : Input(Now), IEngineInput, IClientInput;

/// <summary>
/// A decoded message arrived. <paramref name="LocalSizes"/> holds, for every CID in the message's wantlist and blocks
/// that the local blockstore holds, its size; a CID absent from it is not held (a size of 0 counts as absent, as in boxo).
/// The shell looks these up before posting, so the domain never does I/O.
/// </summary>
public sealed record MessageReceived(long Now, PeerId Peer, Message Message, Map<Cid, int> LocalSizes) : Input(Now), IEngineInput, IClientInput;

/// <summary>The shell handed the envelope to the network successfully.</summary>
public sealed record MessageSent(long Now, PeerId Peer, EnvelopeId Envelope) : Input(Now), IEngineInput, IClientInput;

/// <summary>The shell could not send the envelope.</summary>
public sealed record MessageFailed(long Now, PeerId Peer, EnvelopeId Envelope, string Reason) : Input(Now), IEngineInput, IClientInput;

/// <summary>Answers <see cref="LoadBlocks"/>: the blocks that were still in the blockstore (a missing CID vanished meanwhile).</summary>
public sealed record BlocksLoaded(long Now, EnvelopeId Envelope, PeerId Peer, Map<Cid, Block> Blocks) : Input(Now), IEngineInput;

/// <summary>New blocks are in the local blockstore (boxo's NotifyNewBlocks): serve peers that want them, wake local waiters.</summary>
public sealed record BlocksAdded(long Now, Seq<Block> Blocks) : Input(Now), IEngineInput, IClientInput;

/// <summary>A timer armed with <see cref="ArmTimer"/> is due.</summary>
public sealed record TimerFired(long Now, TimerId Timer) : Input(Now), IEngineInput, IClientInput;

/// <summary>Command: a session wants these blocks. Session 0 is never used; the shell numbers sessions from 1.</summary>
public sealed record WantBlocks(long Now, long Session, Seq<Cid> Cids) : Input(Now), IClientInput;

/// <summary>Command: a session no longer wants these blocks.</summary>
public sealed record CancelWants(long Now, long Session, Seq<Cid> Cids) : Input(Now), IClientInput;

/// <summary>Command: a session ended; all its wants are cancelled.</summary>
public sealed record CloseSession(long Now, long Session) : Input(Now), IClientInput;

/// <summary>The routing port found providers for a CID a session asked about (<see cref="FindProviders"/>); they are connected.</summary>
public sealed record ProvidersFound(long Now, long Session, Cid Cid, Seq<PeerId> Providers) : Input(Now), IClientInput;
