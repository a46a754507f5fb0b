using System.Threading.Channels;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Transport.Tcp.Addressing;
using Bitswap.Transport.Tcp.Host;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.RedTeam;

/// <summary>
/// A provider that answers every want with HAVE and never sends a block: a stuck or lying peer, built on our own
/// <see cref="TcpHost"/> (so identify and stream negotiation are honest; only the Bitswap answers lie).
/// </summary>
public sealed class SilentProvider : IAsyncDisposable
{
    private readonly TcpHost _host;
    private readonly Channel<(PeerId Peer, Message Message)> _answers = Channel.CreateBounded<(PeerId, Message)>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly IDisposable _subscription;
    private readonly Task _pump;
    private long _wantsSeen;

    private SilentProvider(TcpHost host)
    {
        _host = host;
        _subscription = host.Events.Subscribe(OnEvent);
        _pump = PumpAsync();
    }

    /// <summary>Its listen address with /p2p/.</summary>
    public Multiaddr Address => _host.ListenAddresses[0];

    /// <summary>Want entries it has answered with HAVE.</summary>
    public long WantsSeen => Interlocked.Read(ref _wantsSeen);

    /// <summary>Starts listening on loopback.</summary>
    public static async Task<SilentProvider> StartAsync() => new(await TcpHost.StartAsync(PeerIdentity.Generate(), new TcpHostOptions()).ConfigureAwait(false));

    private void OnEvent(NetworkEvent networkEvent)
    {
        if (networkEvent is not MessageArrived arrived)
        {
            return;
        }

        arrived.Lease?.Dispose();
        var wanted = arrived.Message.Wantlist.Values.Where(e => !e.Cancel).Select(e => e.Cid).ToList();
        if (wanted.Count == 0)
        {
            return;
        }

        Interlocked.Add(ref _wantsSeen, wanted.Count);
        var answer = wanted.Aggregate(Message.Empty, (m, cid) => m.WithPresence(cid, PresenceType.Have));
        _answers.Writer.TryWrite((arrived.Peer, answer));
    }

    private async Task PumpAsync()
    {
        await foreach (var (peer, message) in _answers.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await _host.SendAsync(peer, message).ConfigureAwait(false);
            }
            catch (NetworkException)
            {
                // The fetcher left.
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _subscription.Dispose();
        _answers.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        await _host.DisposeAsync().ConfigureAwait(false);
    }
}
