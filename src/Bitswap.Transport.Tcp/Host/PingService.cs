using Bitswap.Transport.Tcp.Yamux;

namespace Bitswap.Transport.Tcp.Host;

/// <summary>The libp2p ping protocol (libp2p/specs ping/ping.md): echo 32-byte payloads until the peer's FIN.</summary>
internal static class PingService
{
    /// <summary>The ping protocol id.</summary>
    public const string Protocol = "/ipfs/ping/1.0.0";

    private const int PayloadBytes = 32;

    /// <summary>Answers pings on an accepted stream until the peer closes it, then closes ours.</summary>
    public static async Task EchoAsync(YamuxStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[PayloadBytes];
        while (true)
        {
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    await stream.CloseWriteAsync().ConfigureAwait(false);
                    return;
                }

                read += n;
            }

            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one random payload on a negotiated ping stream and times its echo.</summary>
    public static async Task<TimeSpan?> RoundTripAsync(YamuxStream stream, CancellationToken cancellationToken)
    {
        var payload = new byte[PayloadBytes];
        System.Security.Cryptography.RandomNumberGenerator.Fill(payload);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        var echo = new byte[PayloadBytes];
        await stream.ReadExactlyAsync(echo, cancellationToken).ConfigureAwait(false);
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        await stream.CloseWriteAsync().ConfigureAwait(false);
        return echo.AsSpan().SequenceEqual(payload) ? elapsed : null;
    }
}
