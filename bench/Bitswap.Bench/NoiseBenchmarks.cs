using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Bitswap.Transport.Tcp.Noise;

namespace Bitswap.Bench;

/// <summary>
/// Throughput of the Noise transport: 16 MiB through a <see cref="NoiseStream"/> pair over loopback TCP, written in
/// 256 KiB calls and read into a 256 KiB buffer (encrypt → socket → decrypt, one process).
/// </summary>
[MemoryDiagnoser]
public class NoiseBenchmarks
{
    private const int ChunkBytes = 256 * 1024;
    private const int TotalBytes = 16 * 1024 * 1024;

    private readonly byte[] _chunk = new byte[ChunkBytes];
    private readonly byte[] _sink = new byte[ChunkBytes];
    private SecureChannel? _sender;
    private SecureChannel? _receiver;

    /// <summary>Connects two of our identities over loopback TCP and completes the libp2p Noise handshake.</summary>
    [GlobalSetup]
    public async Task SetupAsync()
    {
        new Random(7).NextBytes(_chunk);
        var alice = Transport.Tcp.Identity.Identity.Generate();
        var bob = Transport.Tcp.Identity.Identity.Generate();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accept = Task.Run(async () =>
        {
            var socket = await listener.AcceptSocketAsync();
            socket.NoDelay = true;
            return await NoiseHandshake.ResponderAsync(new NetworkStream(socket, ownsSocket: true), bob, CancellationToken.None);
        });
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        _sender = await NoiseHandshake.InitiatorAsync(new NetworkStream(client, ownsSocket: true), alice, bob.PeerId, CancellationToken.None);
        _receiver = await accept;
    }

    /// <summary>Closes both channels.</summary>
    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        if (_sender is not null) await _sender.DisposeAsync();
        if (_receiver is not null) await _receiver.DisposeAsync();
    }

    /// <summary>Sends 16 MiB one way and reads all of it on the other side.</summary>
    [Benchmark]
    public async Task<int> Transfer16MiB()
    {
        var send = Task.Run(async () =>
        {
            for (var sent = 0; sent < TotalBytes; sent += ChunkBytes) await _sender!.Stream.WriteAsync(_chunk);
        });
        var received = 0;
        while (received < TotalBytes)
        {
            var read = await _receiver!.Stream.ReadAsync(_sink);
            if (read == 0) throw new EndOfStreamException();
            received += read;
        }
        await send;
        return received;
    }
}
