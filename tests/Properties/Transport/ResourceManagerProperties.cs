using System.Net;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Host;
using FsCheck.Xunit;
using Xunit;
using PeerIdentity = Bitswap.Transport.Tcp.Identity.Identity;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>The resource manager's accounting: budgets are never exceeded and every granted byte, stream and slot comes back.</summary>
public sealed class ResourceManagerProperties
{
    private static readonly PeerId[] Peers = [.. Enumerable.Range(0, 4).Select(_ => PeerIdentity.Generate().PeerId)];
    private static readonly IPAddress[] Addresses = [IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), IPAddress.Parse("192.0.2.7"), IPAddress.Loopback];

    private static readonly TcpHostOptions Small = new()
    {
        PeerMemoryBytesMax = 10_000,
        SystemMemoryBytesMax = 25_000,
        SystemMemoryKeptForSmallPeersBytes = 6_000,
        SmallPeerBytesMax = 2_000,
        HandshakesMax = 6,
        HandshakesPerIpMax = 2,
        ConnectionsMax = 7,
        ConnectionsPerIpMax = 3,
        IpLimitsExemptLoopback = false,
    };

    [Property(MaxTest = 500)]
    public bool Accounted_bytes_stay_within_the_budgets_and_return_to_zero_after_any_reserve_release_reset_sequence(int[] script)
    {
        using var manager = new ResourceManager(Small);
        var held = new List<(PeerId Peer, long Bytes)>();
        foreach (var step in script ?? [])
        {
            var peer = Peers[step & 3];
            var size = (step >>> 4) % 6_000;
            switch ((step >> 2) & 3)
            {
                case 0 or 1:
                    if (manager.TryReserve(peer, size) is null)
                    {
                        held.Add((peer, size));
                        // A peer past the light-peer size never dips into the part of the budget kept for light peers.
                        if (manager.MemoryOf(peer) > Small.SmallPeerBytesMax
                            && manager.SystemMemory > Small.SystemMemoryBytesMax - Small.SystemMemoryKeptForSmallPeersBytes) return false;
                    }

                    break;
                case 2 when held.Count > 0:
                    var i = (step >>> 4) % held.Count;
                    manager.Release(held[i].Peer, held[i].Bytes);
                    held.RemoveAt(i);
                    break;
                case 3:
                    // A reset: everything the peer's buffers held goes back at once.
                    foreach (var (p, bytes) in held.Where(h => h.Peer == peer)) manager.Release(p, bytes);
                    held.RemoveAll(h => h.Peer == peer);
                    break;
            }

            if (manager.SystemMemory != held.Sum(h => h.Bytes) || manager.SystemMemory > Small.SystemMemoryBytesMax) return false;
            if (Peers.Any(p => manager.MemoryOf(p) > Small.PeerMemoryBytesMax || manager.MemoryOf(p) != held.Where(h => h.Peer == p).Sum(h => h.Bytes))) return false;
        }

        foreach (var (peer, bytes) in held) manager.Release(peer, bytes);
        return manager.SystemMemory == 0 && Peers.All(p => manager.MemoryOf(p) == 0);
    }

    [Fact]
    public void A_peer_that_fills_its_share_of_the_system_budget_leaves_room_for_a_light_peer()
    {
        var options = Small with { PeerMemoryBytesMax = Small.SystemMemoryBytesMax };
        using var manager = new ResourceManager(options);
        // One heavy peer takes all it may: the system budget less the part kept for light peers.
        var heavy = 0L;
        while (manager.TryReserve(Peers[0], 1_000) is null) heavy += 1_000;
        Assert.Equal(options.SystemMemoryBytesMax - options.SystemMemoryKeptForSmallPeersBytes, heavy);
        Assert.Equal(ResetReason.SystemMemory, manager.TryReserve(Peers[0], 1_000));

        // A light peer still gets its few buffers, and no more than a light peer's share.
        Assert.Null(manager.TryReserve(Peers[1], options.SmallPeerBytesMax));
        Assert.Equal(ResetReason.SystemMemory, manager.TryReserve(Peers[1], 1));
    }

    [Property(MaxTest = 500)]
    public bool Handshakes_and_connections_stay_within_their_total_and_per_ip_caps_and_return_to_zero(int[] script)
    {
        using var manager = new ResourceManager(Small);
        var handshakes = new List<IPAddress>();
        var connections = new List<IPAddress?>();
        foreach (var step in script ?? [])
        {
            var ip = Addresses[step & 3];
            switch ((step >> 2) & 3)
            {
                case 0:
                    if (manager.TryBeginHandshake(ip) is null) handshakes.Add(ip);
                    break;
                case 1 when handshakes.Contains(ip):
                    // The handshake ends; a successful one then asks for a connection slot.
                    manager.EndHandshake(ip);
                    handshakes.Remove(ip);
                    if ((step & 64) != 0 && manager.TryOpenConnection(ip) is null) connections.Add(ip);
                    break;
                case 2:
                    if (manager.TryOpenConnection(null) is null) connections.Add(null);
                    break;
                case 3 when connections.Count > 0:
                    var i = (step >>> 4) % connections.Count;
                    manager.CloseConnection(connections[i]);
                    connections.RemoveAt(i);
                    break;
            }

            if (manager.Handshakes != handshakes.Count || handshakes.Count > Small.HandshakesMax) return false;
            if (manager.Connections != connections.Count || connections.Count > Small.ConnectionsMax) return false;
            if (Addresses.Any(a => handshakes.Count(h => h.Equals(a)) > Small.HandshakesPerIpMax)) return false;
            if (Addresses.Any(a => connections.Count(c => a.Equals(c)) > Small.ConnectionsPerIpMax)) return false;
        }

        foreach (var ip in handshakes) manager.EndHandshake(ip);
        foreach (var ip in connections) manager.CloseConnection(ip);
        return manager.Handshakes == 0 && manager.Connections == 0;
    }

    [Property(MaxTest = 300)]
    public bool Streams_per_protocol_never_exceed_their_cap_and_closing_frees_them(int[] script)
    {
        const int max = 2;
        using var manager = new ResourceManager(Small);
        var open = new List<(PeerId Peer, string Protocol)>();
        string[] protocols = ["/ipfs/ping/1.0.0", "bitswap"];
        foreach (var step in script ?? [])
        {
            var key = (Peers[step & 3], protocols[(step >> 2) & 1]);
            if ((step & 8) == 0)
            {
                if (manager.TryOpenStream(key.Item1, key.Item2, max)) open.Add(key);
            }
            else if (open.Remove(key))
            {
                manager.CloseStream(key.Item1, key.Item2);
            }

            if (open.GroupBy(o => o).Any(g => g.Count() > max)) return false;
            if (open.GroupBy(o => o).Any(g => manager.StreamsOf(g.Key.Peer, g.Key.Protocol) != g.Count())) return false;
        }

        foreach (var (peer, protocol) in open) manager.CloseStream(peer, protocol);
        return Peers.All(p => protocols.All(pr => manager.StreamsOf(p, pr) == 0));
    }

    [Fact]
    public void Loopback_skips_the_per_ip_limits_unless_told_otherwise()
    {
        using var exempt = new ResourceManager(Small with { IpLimitsExemptLoopback = true });
        for (var i = 0; i < Small.HandshakesMax; i++) Assert.Null(exempt.TryBeginHandshake(IPAddress.Loopback));
        Assert.Equal(ResetReason.Handshakes, exempt.TryBeginHandshake(IPAddress.Loopback));

        using var limited = new ResourceManager(Small);
        for (var i = 0; i < Small.HandshakesPerIpMax; i++) Assert.Null(limited.TryBeginHandshake(IPAddress.Loopback));
        Assert.Equal(ResetReason.HandshakesPerIp, limited.TryBeginHandshake(IPAddress.Loopback));
        Assert.Null(limited.TryBeginHandshake(Addresses[0]));
    }

    [Fact]
    public void A_peer_gets_at_most_its_connection_cap_and_closing_one_frees_a_slot()
    {
        using var manager = new ResourceManager(Small with { ConnectionsPerPeerMax = 2 });
        Assert.True(manager.TryAddPeerConnection(Peers[0]));
        Assert.True(manager.TryAddPeerConnection(Peers[0]));
        Assert.False(manager.TryAddPeerConnection(Peers[0]));
        Assert.True(manager.TryAddPeerConnection(Peers[1]));
        manager.RemovePeerConnection(Peers[0]);
        Assert.True(manager.TryAddPeerConnection(Peers[0]));
    }

    [Fact]
    public void Refusals_are_counted_by_reason()
    {
        using var manager = new ResourceManager(Small);
        manager.Refused(ResetReason.PeerMemory, "peer", "test");
        manager.Refused(ResetReason.PeerMemory, "peer", "test");
        manager.Refused(ResetReason.StalledMessage, "peer", "test");
        Assert.Equal(2, manager.Resets(ResetReason.PeerMemory));
        Assert.Equal(1, manager.Resets(ResetReason.StalledMessage));
        Assert.Equal(0, manager.Resets(ResetReason.Connections));
    }
}
