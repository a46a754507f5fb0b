namespace Bitswap.Transport.Tcp.Yamux;

/// <summary>
/// Takes a stream's incoming bytes straight from the session's read loop, in place of the stream's read buffer: the loop
/// reads each Data frame's payload directly into memory the receiver hands out, with no hop to another task. Called only
/// from the read loop (or, once, from <see cref="YamuxStream.AttachReceiver"/> for bytes that arrived before it), never
/// concurrently. Implementations must not throw: a bad message is handled by resetting the stream.
/// </summary>
public interface IYamuxReceiver
{
    /// <summary>Memory for the next bytes of the current Data frame: between 1 and <paramref name="available"/> bytes.</summary>
    Memory<byte> GetReceiveMemory(int available);

    /// <summary>The first <paramref name="count"/> bytes of the memory last handed out were filled.</summary>
    void OnReceived(int count);

    /// <summary>The peer finished writing (FIN, <paramref name="failure"/> null) or the stream died (reset, session end).</summary>
    void OnEnded(YamuxException? failure);

    /// <summary>
    /// Completes when the receiver can take more bytes. The read loop awaits it after each Data frame it fed, so a receiver
    /// whose consumer is busy holds back reads on its connection (back-pressure on that peer only) instead of blocking a thread.
    /// </summary>
    ValueTask ReadyAsync() => default;
}
