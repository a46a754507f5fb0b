using Stateless;
using Stateless.Graph;

namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>Where a yamux stream is in its life.</summary>
public enum YamuxStreamState
{
    /// <summary>SYN sent or received, not yet acknowledged.</summary>
    Opening,

    /// <summary>The host is running multistream-select on the stream.</summary>
    Negotiating,

    /// <summary>Both directions are open.</summary>
    Open,

    /// <summary>We sent FIN; the peer may still write.</summary>
    HalfClosedLocal,

    /// <summary>The peer sent FIN; we may still write.</summary>
    HalfClosedRemote,

    /// <summary>Both sides sent FIN.</summary>
    Closed,

    /// <summary>Either side sent RST, or the session ended.</summary>
    Reset,
}

/// <summary>Events that move a stream through its lifecycle.</summary>
public enum YamuxStreamTrigger
{
    /// <summary>The opening was acknowledged (ACK received for ours, ACK sent for theirs).</summary>
    Acknowledged,

    /// <summary>The host started protocol negotiation.</summary>
    NegotiationStarted,

    /// <summary>The host finished protocol negotiation.</summary>
    NegotiationFinished,

    /// <summary>We sent FIN.</summary>
    LocalFin,

    /// <summary>The peer sent FIN.</summary>
    RemoteFin,

    /// <summary>We sent RST, or the session ended.</summary>
    LocalReset,

    /// <summary>The peer sent RST.</summary>
    RemoteReset,
}

/// <summary>
/// The stream lifecycle. Its transitions are configured once, as a Stateless machine (queued firing, no guards: every
/// transition depends only on the trigger); that machine is the source of the committed Mermaid diagram and, walked once
/// per process, of a state × trigger table. Each stream then holds one enum and fires by a table lookup, instead of
/// building a machine of its own (about 15 KB per stream).
/// </summary>
internal sealed class StreamLifecycle
{
    private static readonly int StateCount = Enum.GetValues<YamuxStreamState>().Length;
    private static readonly int TriggerCount = Enum.GetValues<YamuxStreamTrigger>().Length;

    // Next[state, trigger]; null where the machine does not permit the trigger (Stateless would throw).
    private static readonly YamuxStreamState?[,] Next = Tabulate();

    private YamuxStreamState state = YamuxStreamState.Opening;

    /// <summary>The current state.</summary>
    public YamuxStreamState State => state;

    /// <summary>Whether the stream has ended (both FINs or a reset).</summary>
    public bool IsTerminal => State is YamuxStreamState.Closed or YamuxStreamState.Reset;

    /// <summary>Whether we may still send data.</summary>
    public bool CanWrite => State is YamuxStreamState.Opening or YamuxStreamState.Negotiating or YamuxStreamState.Open or YamuxStreamState.HalfClosedRemote;

    /// <summary>Whether the peer may still send data.</summary>
    public bool RemoteCanWrite => State is YamuxStreamState.Opening or YamuxStreamState.Negotiating or YamuxStreamState.Open or YamuxStreamState.HalfClosedLocal;

    /// <summary>Applies a trigger; triggers that do not apply in the current state are ignored by configuration.</summary>
    public void Fire(YamuxStreamTrigger trigger) =>
        state = Next[(int)state, (int)trigger]
            ?? throw new InvalidOperationException($"No valid leaving transitions are permitted from state '{state}' for trigger '{trigger}'.");

    /// <summary>The machine's Mermaid state diagram (committed as StreamLifecycle.mmd).</summary>
    public static string MermaidGraph() => Stateless.Graph.MermaidGraph.Format(Build(YamuxStreamState.Opening).GetInfo());

    // Fires every trigger from every state once on the configured machine, with the state held outside it.
    private static YamuxStreamState?[,] Tabulate()
    {
        var table = new YamuxStreamState?[StateCount, TriggerCount];
        var current = YamuxStreamState.Opening;
        var machine = Configure(new StateMachine<YamuxStreamState, YamuxStreamTrigger>(() => current, s => current = s, FiringMode.Queued));
        foreach (var from in Enum.GetValues<YamuxStreamState>())
        {
            foreach (var trigger in Enum.GetValues<YamuxStreamTrigger>())
            {
                current = from;
                if (!machine.CanFire(trigger)) continue;
                machine.Fire(trigger);
                table[(int)from, (int)trigger] = current;
            }
        }

        return table;
    }

    private static StateMachine<YamuxStreamState, YamuxStreamTrigger> Build(YamuxStreamState initial) =>
        Configure(new StateMachine<YamuxStreamState, YamuxStreamTrigger>(initial, FiringMode.Queued));

    private static StateMachine<YamuxStreamState, YamuxStreamTrigger> Configure(StateMachine<YamuxStreamState, YamuxStreamTrigger> m)
    {
        m.Configure(YamuxStreamState.Opening)
            .Permit(YamuxStreamTrigger.Acknowledged, YamuxStreamState.Open)
            .Permit(YamuxStreamTrigger.NegotiationStarted, YamuxStreamState.Negotiating)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Permit(YamuxStreamTrigger.LocalFin, YamuxStreamState.HalfClosedLocal)
            .Permit(YamuxStreamTrigger.RemoteFin, YamuxStreamState.HalfClosedRemote)
            .Permit(YamuxStreamTrigger.LocalReset, YamuxStreamState.Reset)
            .Permit(YamuxStreamTrigger.RemoteReset, YamuxStreamState.Reset);

        // Data may flow before the ACK arrives, so negotiation can start while the stream is still Opening.
        m.Configure(YamuxStreamState.Negotiating)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Ignore(YamuxStreamTrigger.NegotiationStarted)
            .Permit(YamuxStreamTrigger.NegotiationFinished, YamuxStreamState.Open)
            .Permit(YamuxStreamTrigger.LocalFin, YamuxStreamState.HalfClosedLocal)
            .Permit(YamuxStreamTrigger.RemoteFin, YamuxStreamState.HalfClosedRemote)
            .Permit(YamuxStreamTrigger.LocalReset, YamuxStreamState.Reset)
            .Permit(YamuxStreamTrigger.RemoteReset, YamuxStreamState.Reset);

        m.Configure(YamuxStreamState.Open)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Permit(YamuxStreamTrigger.NegotiationStarted, YamuxStreamState.Negotiating)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Permit(YamuxStreamTrigger.LocalFin, YamuxStreamState.HalfClosedLocal)
            .Permit(YamuxStreamTrigger.RemoteFin, YamuxStreamState.HalfClosedRemote)
            .Permit(YamuxStreamTrigger.LocalReset, YamuxStreamState.Reset)
            .Permit(YamuxStreamTrigger.RemoteReset, YamuxStreamState.Reset);

        m.Configure(YamuxStreamState.HalfClosedLocal)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Ignore(YamuxStreamTrigger.NegotiationStarted)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Ignore(YamuxStreamTrigger.LocalFin)
            .Permit(YamuxStreamTrigger.RemoteFin, YamuxStreamState.Closed)
            .Permit(YamuxStreamTrigger.LocalReset, YamuxStreamState.Reset)
            .Permit(YamuxStreamTrigger.RemoteReset, YamuxStreamState.Reset);

        m.Configure(YamuxStreamState.HalfClosedRemote)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Ignore(YamuxStreamTrigger.NegotiationStarted)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Permit(YamuxStreamTrigger.LocalFin, YamuxStreamState.Closed)
            .Ignore(YamuxStreamTrigger.RemoteFin)
            .Permit(YamuxStreamTrigger.LocalReset, YamuxStreamState.Reset)
            .Permit(YamuxStreamTrigger.RemoteReset, YamuxStreamState.Reset);

        m.Configure(YamuxStreamState.Closed)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Ignore(YamuxStreamTrigger.NegotiationStarted)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Ignore(YamuxStreamTrigger.LocalFin)
            .Ignore(YamuxStreamTrigger.RemoteFin)
            .Ignore(YamuxStreamTrigger.LocalReset)
            .Ignore(YamuxStreamTrigger.RemoteReset);

        m.Configure(YamuxStreamState.Reset)
            .Ignore(YamuxStreamTrigger.Acknowledged)
            .Ignore(YamuxStreamTrigger.NegotiationStarted)
            .Ignore(YamuxStreamTrigger.NegotiationFinished)
            .Ignore(YamuxStreamTrigger.LocalFin)
            .Ignore(YamuxStreamTrigger.RemoteFin)
            .Ignore(YamuxStreamTrigger.LocalReset)
            .Ignore(YamuxStreamTrigger.RemoteReset);

        return m;
    }
}
