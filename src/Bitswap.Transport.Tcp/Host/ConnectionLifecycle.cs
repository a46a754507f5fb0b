using Stateless;
using Stateless.Graph;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>The states of one libp2p connection.</summary>
public enum ConnectionState
{
    /// <summary>A TCP connect is under way (outbound only).</summary>
    Dialing,
    /// <summary>TCP is up; multistream-select, Noise and Yamux are being negotiated.</summary>
    Upgrading,
    /// <summary>Secure and multiplexed: streams may be opened.</summary>
    Open,
    /// <summary>A GoAway was sent or received; no new streams.</summary>
    Closing,
    /// <summary>The socket is closed.</summary>
    Closed,
}

/// <summary>What moves a connection between states.</summary>
public enum ConnectionTrigger
{
    /// <summary>The TCP socket connected or was accepted.</summary>
    SocketUp,
    /// <summary>Noise and Yamux are negotiated.</summary>
    Upgraded,
    /// <summary>We or the peer asked to close.</summary>
    Close,
    /// <summary>The socket is gone (a clean close or a failure).</summary>
    Terminated,
}

/// <summary>
/// The connection lifecycle as a Stateless machine in queued firing mode. Guards are pure; the host observes
/// <see cref="State"/> and acts. Its Mermaid graph is committed as ConnectionLifecycle.mmd and snapshot-tested.
/// </summary>
public sealed class ConnectionLifecycle
{
    private readonly StateMachine<ConnectionState, ConnectionTrigger> _machine;

    /// <summary>A machine starting in <see cref="ConnectionState.Dialing"/> (outbound) or <see cref="ConnectionState.Upgrading"/> (inbound).</summary>
    public ConnectionLifecycle(bool outbound)
    {
        _machine = new StateMachine<ConnectionState, ConnectionTrigger>(
            outbound ? ConnectionState.Dialing : ConnectionState.Upgrading, FiringMode.Queued);
        _machine.Configure(ConnectionState.Dialing)
            .Permit(ConnectionTrigger.SocketUp, ConnectionState.Upgrading)
            .Permit(ConnectionTrigger.Terminated, ConnectionState.Closed)
            .Permit(ConnectionTrigger.Close, ConnectionState.Closed);
        _machine.Configure(ConnectionState.Upgrading)
            .Ignore(ConnectionTrigger.SocketUp)
            .Permit(ConnectionTrigger.Upgraded, ConnectionState.Open)
            .Permit(ConnectionTrigger.Close, ConnectionState.Closed)
            .Permit(ConnectionTrigger.Terminated, ConnectionState.Closed);
        _machine.Configure(ConnectionState.Open)
            .Permit(ConnectionTrigger.Close, ConnectionState.Closing)
            .Permit(ConnectionTrigger.Terminated, ConnectionState.Closed);
        _machine.Configure(ConnectionState.Closing)
            .Ignore(ConnectionTrigger.Close)
            .Permit(ConnectionTrigger.Terminated, ConnectionState.Closed);
        _machine.Configure(ConnectionState.Closed)
            .Ignore(ConnectionTrigger.Close)
            .Ignore(ConnectionTrigger.Terminated);
    }

    /// <summary>The current state.</summary>
    public ConnectionState State => _machine.State;

    /// <summary>True when streams may be opened.</summary>
    public bool IsOpen => _machine.State == ConnectionState.Open;

    /// <summary>Fires a trigger if the current state permits it; returns whether it did.</summary>
    public bool TryFire(ConnectionTrigger trigger)
    {
        lock (_machine)
        {
            if (!_machine.CanFire(trigger)) return false;
            _machine.Fire(trigger);
            return true;
        }
    }

    /// <summary>The machine as a Mermaid state diagram.</summary>
    public static string MermaidGraph() => Stateless.Graph.MermaidGraph.Format(new ConnectionLifecycle(outbound: true)._machine.GetInfo());
}
