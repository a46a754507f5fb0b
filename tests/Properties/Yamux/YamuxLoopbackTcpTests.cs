using Bitswap.Transport.Tcp.Host;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Bitswap.Domain;
using Bitswap.Transport.Tcp.Yamux;
using Xunit;

namespace Bitswap.Tests.Properties.Yamux;

/// <summary>Yamux over a real loopback TCP connection, where closing the socket is what ends a pending read.</summary>
public sealed class YamuxLoopbackTcpTests
{
    [Fact]
    public async Task Four_streams_echo_over_loopback_tcp_and_close_cleanly()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var dialer = new TcpClient();
        var accepting = listener.AcceptTcpClientAsync();
        await dialer.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await accepting;

        var client = new YamuxSession(dialer.GetStream(), isClient: true, TcpHostOptions.Default);
        var server = new YamuxSession(accepted.GetStream(), isClient: false, TcpHostOptions.Default);
        client.Start();
        server.Start();
        var echo = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            for (var i = 0; i < 4; i++)
            {
                var stream = await server.AcceptStreamAsync(YamuxSessionTests.Timeout());
                echoes.Add(Task.Run(async () =>
                {
                    await stream.CopyToAsync(stream);
                    await stream.DisposeAsync();
                }));
            }

            await Task.WhenAll(echoes);
        });

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var stream = await client.OpenStreamAsync(YamuxSessionTests.Timeout());
            var message = RandomNumberGenerator.GetBytes(1024 * 1024);
            var reading = YamuxSessionTests.ReadToEndAsync(stream);
            await stream.WriteAsync(message);
            await stream.CloseWriteAsync();
            var echoed = await reading;
            return message.AsSpan().SequenceEqual(echoed);
        }));
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
        await client.CloseAsync();

        Assert.All(results, Assert.True);
        Assert.True(client.Completion.IsCompletedSuccessfully);
        await server.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(server.IsClosed);
    }
}
