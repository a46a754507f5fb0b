using Bitswap.Domain;
using Bitswap.Testing;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Network;
using Bitswap.Runtime.Recording;
using LanguageExt;
using Xunit;
using static Bitswap.Tests.Properties.ClientFixtures;

namespace Bitswap.Tests.Properties;

/// <summary>Broadcast control (boxo#937) at reducer level: who gets a session's want-have broadcast, and what is counted.</summary>
public class BroadcastControlTests
{
    private static readonly PeerId Answering = Peer(0);
    private static readonly PeerId LocalPeer = Peer(1);
    private static readonly PeerId PeeredPeer = Peer(2);

    private static NodeHarness NewDriver(BroadcastControl control, ulong seed = 7) =>
        TestNodes.Client(new ClientConfig(Limits.Default, seed, Explain: true) { BroadcastControl = control });

    /// <summary>Peers 3..9: public, never answered.</summary>
    private static readonly PeerId[] Strangers = [.. Enumerable.Range(3, 7).Select(Peer)];

    private static void ConnectAll(NodeHarness d)
    {
        d.Connect(Answering);
        d.Post(new PeerConnected(d.Now, LocalPeer, ProtocolVersion.V120, PeerTraits.Local));
        d.Post(new PeerConnected(d.Now, PeeredPeer, ProtocolVersion.V120, PeerTraits.Peered));
        foreach (var stranger in Strangers) d.Connect(stranger);
    }

    /// <summary>The peers sent a want-have for <paramref name="cid"/> that asks for no DONT_HAVE: a broadcast want.</summary>
    private static List<PeerId> BroadcastTo(NodeHarness d, Cid cid) =>
        [.. d.Sends.Where(s => s.Message.Wantlist.Values.Any(e => e.Cid == cid && !e.Cancel && e.WantType == WantType.Have && !e.SendDontHave)).Select(s => s.Peer).Distinct().Order()];

    [Fact]
    public void Without_control_a_broadcast_reaches_every_peer_and_nothing_is_skipped()
    {
        var d = NewDriver(BroadcastControl.Disabled);
        ConnectAll(d);
        d.Want(1, Cids(0));
        d.Advance(50);

        Assert.Equal(10, BroadcastTo(d, CidOf(0)).Count);
        Assert.Equal(0, d.State.Client.BroadcastSkips);
        Assert.Equal(10, d.State.Client.BroadcastsSent);
    }

    [Fact]
    public void With_control_a_broadcast_reaches_local_peered_and_answering_peers_only_and_counts_each_skip()
    {
        var d = NewDriver(BroadcastControl.Default);
        ConnectAll(d);
        d.Want(1, Cids(0));
        d.Advance(50);
        // Nobody answered yet: only the local and the peered peer.
        Assert.Equal(new[] { LocalPeer, PeeredPeer }.Order(), BroadcastTo(d, CidOf(0)));
        Assert.Equal(8, d.State.Client.BroadcastSkips);

        // A HAVE (even for a CID nobody wants any more) makes the peer a target, as any block would (boxo receiveBlocksFrom).
        d.ReceivePresences(Answering, (CidOf(0), PresenceType.Have));
        d.Want(2, Cids(1));
        d.Advance(50);
        Assert.Equal(new[] { Answering, LocalPeer, PeeredPeer }.Order(), BroadcastTo(d, CidOf(1)));
        Assert.Equal(8 + 7, d.State.Client.BroadcastSkips);
        Assert.Contains(d.Effects.OfType<Explain>(), e => e.Subject == "broadcast-skipped" && e.Reason.Contains("7 peer(s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Local_and_peered_peers_lose_their_pass_when_the_config_subjects_them_to_control()
    {
        var d = NewDriver(BroadcastControl.Default with { LocalPeers = true, PeeredPeers = true });
        ConnectAll(d);
        d.Want(1, Cids(0));
        d.Advance(50);

        Assert.Empty(BroadcastTo(d, CidOf(0)));
        Assert.Equal(10, d.State.Client.BroadcastSkips);
    }

    [Fact]
    public void MaxRandomPeers_adds_that_many_non_targets_drawn_from_the_seed()
    {
        Seq<PeerId> Picks(ulong seed)
        {
            var d = NewDriver(BroadcastControl.Default with { MaxRandomPeers = 2 }, seed);
            ConnectAll(d);
            d.Want(1, Cids(0));
            d.Advance(50);
            Assert.Equal(8 - 2, d.State.Client.BroadcastSkips);
            return BroadcastTo(d, CidOf(0)).Except([LocalPeer, PeeredPeer]).ToSeq();
        }

        var first = Picks(7);
        Assert.Equal(2, first.Count);
        Assert.Equal(first, Picks(7));
        // Other seeds pick other peers: the draw is random, not the first peers in ID order.
        Assert.Contains(Enumerable.Range(8, 20).Select(s => Picks((ulong)s)), picks => picks != first);
    }

    [Fact]
    public void MaxPeers_caps_a_broadcast_and_zero_turns_broadcasts_off()
    {
        var capped = NewDriver(BroadcastControl.Default with { LocalPeers = true, PeeredPeers = true, MaxRandomPeers = 9, MaxPeers = 3 });
        ConnectAll(capped);
        capped.Want(1, Cids(0));
        capped.Advance(50);
        Assert.Equal(3, BroadcastTo(capped, CidOf(0)).Count);

        var off = NewDriver(BroadcastControl.Default with { MaxPeers = 0 });
        ConnectAll(off);
        off.Want(1, Cids(0));
        off.Advance(50);
        Assert.Empty(BroadcastTo(off, CidOf(0)));
        Assert.True(off.State.Client.Broadcasts.IsEmpty);
    }

    [Fact]
    public void A_log_keeps_the_broadcast_control_config_and_the_peer_traits()
    {
        var config = NodeConfig.Default(5) with { BroadcastControl = BroadcastControl.Default with { MaxRandomPeers = 4 } };
        var (_, read) = LogCodec.FromHeader(LogCodec.Header(Answering, config));
        Assert.Equal(config.BroadcastControl, read.BroadcastControl);

        var connected = new PeerConnected(3, LocalPeer, ProtocolVersion.V110, PeerTraits.Local | PeerTraits.Peered);
        Assert.Equal(connected, LogCodec.Decode(LogCodec.Encode(connected), Limits.Default));

        // A log written before broadcast control replays without it.
        var old = LogCodec.Header(Answering, config);
        old.BroadcastControlJson = "";
        Assert.Equal(BroadcastControl.Disabled, LogCodec.FromHeader(old).Config.BroadcastControl);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.31.0.1", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.1.1", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("169.254.9.9", true)]
    [InlineData("::1", true)]
    [InlineData("fd00::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("203.0.113.7", false)]
    [InlineData("8.8.8.8", false)]
    [InlineData("2001:db8::1", false)]
    public void Loopback_and_private_addresses_are_local(string address, bool local) =>
        Assert.Equal(local, PeerAddresses.IsLocal(System.Net.IPAddress.Parse(address)));
}
