namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>Why a yamux session or stream failed.</summary>
public enum YamuxErrorKind
{
    /// <summary>The peer sent a frame the protocol forbids (answered with GoAway(1)).</summary>
    ProtocolError,

    /// <summary>The peer sent more data than the receive window allowed (a protocol error, answered with GoAway(1)).</summary>
    ReceiveWindowExceeded,

    /// <summary>The stream was reset by either side.</summary>
    StreamReset,

    /// <summary>The local side of the stream was already closed for writing.</summary>
    StreamClosed,

    /// <summary>The session is closed.</summary>
    SessionClosed,

    /// <summary>The peer sent GoAway, so no new stream may be opened.</summary>
    GoAwayReceived,

    /// <summary>The peer ended the session with a non-zero GoAway code.</summary>
    RemoteError,

    /// <summary>A keepalive ping went unanswered.</summary>
    KeepAliveTimeout,

    /// <summary>Reading from or writing to the underlying transport failed.</summary>
    TransportFailed,

    /// <summary>A local bound (streams, queued frames, pings) was reached.</summary>
    LimitReached,
}

/// <summary>A typed yamux failure; an <see cref="IOException"/> so stream callers can treat it like any I/O error.</summary>
public sealed class YamuxException : IOException
{
    /// <summary>Creates the exception.</summary>
    public YamuxException(YamuxErrorKind kind, string message, Exception? inner = null)
        : base($"yamux {kind}: {message}", inner)
    {
        Kind = kind;
    }

    /// <summary>What went wrong.</summary>
    public YamuxErrorKind Kind { get; }

    /// <summary>Whether the failure is the peer's protocol violation.</summary>
    public bool IsProtocolError => Kind is YamuxErrorKind.ProtocolError or YamuxErrorKind.ReceiveWindowExceeded;
}
