using LanguageExt;
using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Testing;

namespace Bitswap.Tests.Properties;

/// <summary>Fixed peers and blocks for client tests.</summary>
public static class ClientFixtures
{
    private static readonly PeerId[] PeerPool = Enumerable.Range(0, 32).Select(MakePeer).ToArray();
    private static readonly Block[] BlockPool = Enumerable.Range(0, 256).Select(i => Block.Raw(Encoding.UTF8.GetBytes($"block-{i}"))).ToArray();

    /// <summary>Our own peer id.</summary>
    public static PeerId Self { get; } = MakePeer(1000);

    /// <summary>The i-th test peer.</summary>
    public static PeerId Peer(int i) => PeerPool[i];

    /// <summary>The i-th test block.</summary>
    public static Block BlockOf(int i) => BlockPool[i];

    /// <summary>The CID of the i-th test block.</summary>
    public static Cid CidOf(int i) => BlockPool[i].Cid;

    /// <summary>CIDs of the given test blocks, in order.</summary>
    public static Seq<Cid> Cids(params int[] indexes) => indexes.Select(CidOf).ToSeq();

    private static PeerId MakePeer(int i) =>
        new(Multihash.FromDigest((ulong)MultihashCode.Sha2_256, SHA256.HashData(Encoding.UTF8.GetBytes($"peer-{i}"))));
}

/// <summary>Nodes for the reducer tests, built so each child sees exactly the configuration the test names.</summary>
public static class TestNodes
{
    /// <summary>
    /// A client-only node (the server sees no input) at <see cref="ClientFixtures.Self"/> whose client is created from
    /// <paramref name="config"/> itself, so its seed is the test's and not one derived from a node seed.
    /// </summary>
    public static NodeHarness Client(ClientConfig config, bool autoAck = true)
    {
        var node = new NodeConfig(config.Limits, config.Seed, ServerEnabled: false, SimulateDontHaves: config.SimulateDontHaves, Explain: config.Explain)
        {
            BroadcastControl = config.BroadcastControl,
        };
        var state = NodeState.Create(ClientFixtures.Self, node) with { Client = ClientState.Create(ClientFixtures.Self, config) };
        return new NodeHarness(state, autoAck: autoAck);
    }

    /// <summary>A node at <see cref="ServerWorld"/> peer 7 whose engine is created from <paramref name="config"/>, holding the given world blocks.</summary>
    public static NodeHarness Server(EngineConfig config, IEnumerable<int> store)
    {
        var self = ServerWorld.Peers[7];
        var node = new NodeConfig(config.Limits, config.Seed, SendDontHaves: config.SendDontHaves, RequestFilter: config.RequestFilter, Explain: config.Explain);
        var state = NodeState.Create(self, node) with { Server = EngineState.Create(self, config) };
        return new NodeHarness(state, store.Select(i => ServerWorld.Blocks[i]));
    }

    /// <summary>A peer sends blocks; <paramref name="held"/> lists those we already held (the store is not consulted).</summary>
    public static Seq<Effect> ReceiveBlocks(this NodeHarness node, PeerId peer, IEnumerable<Block> blocks, IEnumerable<Cid>? held = null)
    {
        var message = blocks.Aggregate(Message.Empty, (m, b) => m.WithBlock(b));
        var sizes = (held ?? []).Aggregate(Map<Cid, int>.Empty, (m, c) => m.AddOrUpdate(c, 10));
        return node.Receive(peer, message, sizes);
    }

    /// <summary>Acknowledges (or fails) the oldest envelope in flight, if any.</summary>
    public static void AckOldest(this NodeHarness node, bool failed)
    {
        if (node.InFlight.Count > 0) node.Ack(0, failed);
    }

    /// <summary>A peer sends presences.</summary>
    public static Seq<Effect> ReceivePresences(this NodeHarness node, PeerId peer, params (Cid Cid, PresenceType Type)[] presences)
    {
        var message = presences.Aggregate(Message.Empty, (m, p) => m.WithPresence(p.Cid, p.Type));
        return node.Receive(peer, message, Map<Cid, int>.Empty);
    }
}

/// <summary>
/// The client's wire invariants, checked over a harness trace: at most one client envelope in flight per peer, no CANCEL
/// for a want never sent, no want-have after a want-block, no full wantlist, the size cap, no timer armed in the past.
/// Also rebuilds each connected peer's view of our wants from the messages it was sent.
/// </summary>
public sealed class ClientWireCheck
{
    private readonly Dictionary<PeerId, System.Collections.Generic.HashSet<Cid>> _everWanted = [];
    private readonly Dictionary<PeerId, Dictionary<Cid, WantType>> _lastEmitted = [];
    private readonly List<SendMessage> _inFlight = [];

    /// <summary>Invariant violations seen in the trace.</summary>
    public List<string> Violations { get; } = [];

    /// <summary>Per connected peer, the wants it learned from our messages, minus blocks it sent us.</summary>
    public Dictionary<PeerId, Dictionary<Cid, WantType>> PeerViews { get; } = [];

    /// <summary>Checks every step a harness recorded.</summary>
    public static ClientWireCheck Of(NodeHarness node)
    {
        var check = new ClientWireCheck();
        foreach (var step in node.Trace) check.Observe(step);
        return check;
    }

    private void Observe(HarnessStep step)
    {
        switch (step.Input)
        {
            case PeerConnected c when !PeerViews.ContainsKey(c.Peer):
                PeerViews[c.Peer] = [];
                _everWanted[c.Peer] = [];
                _lastEmitted[c.Peer] = [];
                break;
            case PeerDisconnected d:
                PeerViews.Remove(d.Peer);
                _everWanted.Remove(d.Peer);
                _lastEmitted.Remove(d.Peer);
                // A queue dropped with its peer no longer waits on its envelope; a new one may leave after a reconnect.
                _inFlight.RemoveAll(s => s.Peer == d.Peer);
                break;
            case MessageReceived r when PeerViews.TryGetValue(r.Peer, out var view):
                foreach (var cid in r.Message.Blocks.Keys)
                {
                    // The peer's server drops a want once it sent the block, so a later want may start afresh.
                    view.Remove(cid);
                    _lastEmitted[r.Peer].Remove(cid);
                }
                break;
            case MessageSent s:
                _inFlight.RemoveAll(f => f.Envelope == s.Envelope);
                break;
            case MessageFailed f:
                _inFlight.RemoveAll(x => x.Envelope == f.Envelope);
                break;
        }
        var cap = step.After.Client.Config.Limits.ClientMessageBytesMax;
        foreach (var effect in step.Effects)
        {
            switch (effect)
            {
                case ArmTimer arm:
                    if (arm.Deadline < step.Input.Now) Violations.Add($"timer {arm.Timer} armed in the past");
                    break;
                case SendMessage send when send.Envelope.Side == Side.Client:
                    if (_inFlight.Any(s => s.Peer == send.Peer)) Violations.Add($"second envelope in flight to {send.Peer.Short}");
                    _inFlight.Add(send);
                    if (send.Message.Full) Violations.Add("client sent a full wantlist");
                    if (send.Message.Wantlist.Count > 1 && PeerWants.EstimatedMessageBytes(send.Message) > cap)
                        Violations.Add($"message of {PeerWants.EstimatedMessageBytes(send.Message)} B over the cap {cap}");
                    if (!_everWanted.TryGetValue(send.Peer, out var wanted) || !_lastEmitted.TryGetValue(send.Peer, out var last))
                    {
                        Violations.Add($"message to unconnected peer {send.Peer.Short}");
                        break;
                    }
                    // The peer's view counts a message from the moment it leaves: a failed one may still have been read.
                    foreach (var entry in send.Message.Wantlist.Values)
                    {
                        if (entry.Cancel) PeerViews[send.Peer].Remove(entry.Cid);
                        else PeerViews[send.Peer][entry.Cid] = entry.WantType;
                    }
                    foreach (var entry in send.Message.Wantlist.Values)
                    {
                        if (entry.Cancel)
                        {
                            if (!wanted.Contains(entry.Cid)) Violations.Add($"CANCEL of {entry.Cid} never sent to {send.Peer.Short}");
                            last.Remove(entry.Cid);
                            continue;
                        }
                        if (entry.WantType == WantType.Have && last.TryGetValue(entry.Cid, out var before) && before == WantType.Block)
                            Violations.Add($"want-have after want-block for {entry.Cid} to {send.Peer.Short}");
                        wanted.Add(entry.Cid);
                        last[entry.Cid] = entry.WantType;
                    }
                    break;
            }
        }
    }
}
