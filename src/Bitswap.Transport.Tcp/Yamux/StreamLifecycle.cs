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

/// <summary>The stream lifecycle as a Stateless machine (queued firing, no guards: every transition depends only on the trigger).</summary>
internal sealed class StreamLifecycle
{
    private readonly StateMachine<YamuxStreamState, YamuxStreamTrigger> machine;

    /// <summary>Creates a lifecycle in <see cref="YamuxStreamState.Opening"/>.</summary>
    public StreamLifecycle()
    {
        machine = Build(YamuxStreamState.Opening);
    }

    /// <summary>The current state.</summary>
    public YamuxStreamState State => machine.State;

    /// <summary>Whether the stream has ended (both FINs or a reset).</summary>
    public bool IsTerminal => State is YamuxStreamState.Closed or YamuxStreamState.Reset;

    /// <summary>Whether we may still send data.</summary>
    public bool CanWrite => State is YamuxStreamState.Opening or YamuxStreamState.Negotiating or YamuxStreamState.Open or YamuxStreamState.HalfClosedRemote;

    /// <summary>Whether the peer may still send data.</summary>
    public bool RemoteCanWrite => State is YamuxStreamState.Opening or YamuxStreamState.Negotiating or YamuxStreamState.Open or YamuxStreamState.HalfClosedLocal;

    /// <summary>Applies a trigger; triggers that do not apply in the current state are ignored by configuration.</summary>
    public void Fire(YamuxStreamTrigger trigger) => machine.Fire(trigger);

    /// <summary>The machine's Mermaid state diagram (committed as StreamLifecycle.mmd).</summary>
    public static string MermaidGraph() => Stateless.Graph.MermaidGraph.Format(Build(YamuxStreamState.Opening).GetInfo());

    private static StateMachine<YamuxStreamState, YamuxStreamTrigger> Build(YamuxStreamState initial)
    {
        var m = new StateMachine<YamuxStreamState, YamuxStreamTrigger>(initial, FiringMode.Queued);

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
