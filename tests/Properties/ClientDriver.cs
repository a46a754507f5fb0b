using LanguageExt;
using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

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

/// <summary>
/// Drives a client in virtual time: applies inputs, keeps armed timers and fires them in deadline order, and tracks
/// envelopes in flight (acknowledged at once in auto-ack mode). Records every step and checks wire invariants as it goes:
/// at most one envelope in flight per peer, no CANCEL for a want never sent, no want-have after a want-block, the size cap.
/// </summary>
public sealed class ClientDriver
{
    private readonly List<(long Deadline, long Sequence, TimerId Timer)> _timers = [];
    private long _timerSequence;

    /// <summary>A driver over a fresh client.</summary>
    public ClientDriver(ClientConfig config, bool autoAck = true)
    {
        State = ClientState.Create(ClientFixtures.Self, config);
        AutoAck = autoAck;
    }

    /// <summary>The client state.</summary>
    public ClientState State { get; private set; }

    /// <summary>Virtual time in ms.</summary>
    public long Now { get; private set; }

    /// <summary>Acknowledge every SendMessage at once with MessageSent.</summary>
    public bool AutoAck { get; set; }

    /// <summary>Every input applied, with its effects.</summary>
    public List<(Input Input, Seq<Effect> Effects)> Trace { get; } = [];

    /// <summary>Envelopes emitted and not yet acknowledged, oldest first.</summary>
    public List<SendMessage> InFlight { get; } = [];

    /// <summary>Invariant violations seen so far.</summary>
    public List<string> Violations { get; } = [];

    /// <summary>Per connected peer, the wants it learned from our messages, minus blocks it sent us.</summary>
    public Dictionary<PeerId, Dictionary<Cid, WantType>> PeerViews { get; } = [];

    private readonly Dictionary<PeerId, System.Collections.Generic.HashSet<Cid>> _everWanted = [];
    private readonly Dictionary<PeerId, Dictionary<Cid, WantType>> _lastEmitted = [];

    /// <summary>All effects so far, in order.</summary>
    public IEnumerable<Effect> Effects => Trace.SelectMany(t => t.Effects);

    /// <summary>Messages sent so far, in order.</summary>
    public IEnumerable<SendMessage> Sends => Effects.OfType<SendMessage>();

    /// <summary>Applies one input at the current time, then auto-acks if enabled; returns this step's effects.</summary>
    public Seq<Effect> Apply(Input input)
    {
        var step = Client.Handle(State, (IClientInput)input);
        var effects = Node.Lift(step.Effects);
        State = step.State;
        Trace.Add((input, effects));
        Observe(input, effects);
        if (AutoAck)
        {
            foreach (var send in effects.OfType<SendMessage>()) Ack(send, failed: false);
        }
        return effects;
    }

    /// <summary>Acknowledges (or fails) the oldest envelope in flight, if any.</summary>
    public void AckOldest(bool failed)
    {
        if (InFlight.Count == 0) return;
        Ack(InFlight[0], failed);
    }

    /// <summary>Acknowledges every envelope in flight, including ones those acknowledgements trigger.</summary>
    public void AckAll()
    {
        var guard = 0;
        while (InFlight.Count > 0 && guard++ < 10_000) Ack(InFlight[0], failed: false);
    }

    /// <summary>Advances virtual time, firing due timers in deadline order.</summary>
    public void Advance(long ms)
    {
        var target = Now + ms;
        while (true)
        {
            var due = _timers.Where(t => t.Deadline <= target).OrderBy(t => t.Deadline).ThenBy(t => t.Sequence).FirstOrDefault();
            if (due.Timer is null) break;
            _timers.Remove(due);
            Now = Math.Max(Now, due.Deadline);
            Apply(new TimerFired(Now, due.Timer));
        }
        Now = target;
    }

    /// <summary>Timers armed and not yet fired.</summary>
    public IReadOnlyList<TimerId> ArmedTimers => _timers.Select(t => t.Timer).ToList();

    /// <summary>Connects a peer.</summary>
    public Seq<Effect> Connect(PeerId peer, ProtocolVersion version = ProtocolVersion.V120) => Apply(new PeerConnected(Now, peer, version));

    /// <summary>Disconnects a peer.</summary>
    public Seq<Effect> Disconnect(PeerId peer) => Apply(new PeerDisconnected(Now, peer));

    /// <summary>A session wants CIDs.</summary>
    public Seq<Effect> Want(long session, Seq<Cid> cids) => Apply(new WantBlocks(Now, session, cids));

    /// <summary>A session cancels CIDs.</summary>
    public Seq<Effect> Cancel(long session, Seq<Cid> cids) => Apply(new CancelWants(Now, session, cids));

    /// <summary>A peer sends blocks; <paramref name="held"/> lists those we already held.</summary>
    public Seq<Effect> ReceiveBlocks(PeerId peer, IEnumerable<Block> blocks, IEnumerable<Cid>? held = null)
    {
        var message = blocks.Aggregate(Message.Empty, (m, b) => m.WithBlock(b));
        var sizes = (held ?? []).Aggregate(Map<Cid, int>.Empty, (m, c) => m.AddOrUpdate(c, 10));
        return Apply(new MessageReceived(Now, peer, message, sizes));
    }

    /// <summary>A peer sends presences.</summary>
    public Seq<Effect> ReceivePresences(PeerId peer, params (Cid Cid, PresenceType Type)[] presences)
    {
        var message = presences.Aggregate(Message.Empty, (m, p) => m.WithPresence(p.Cid, p.Type));
        return Apply(new MessageReceived(Now, peer, message, Map<Cid, int>.Empty));
    }

    /// <summary>Messages sent to one peer, in order.</summary>
    public List<Message> SentTo(PeerId peer) => Sends.Where(s => s.Peer == peer).Select(s => s.Message).ToList();

    /// <summary>All entries sent to one peer, in order.</summary>
    public List<WantlistEntry> EntriesTo(PeerId peer) => SentTo(peer).SelectMany(m => m.Wantlist.Values).ToList();

    private void Ack(SendMessage send, bool failed)
    {
        InFlight.Remove(send);
        Apply(failed ? new MessageFailed(Now, send.Peer, send.Envelope, "test failure") : new MessageSent(Now, send.Peer, send.Envelope));
    }

    private void Observe(Input input, Seq<Effect> effects)
    {
        switch (input)
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
                InFlight.RemoveAll(s => s.Peer == d.Peer);
                break;
            case MessageReceived r when PeerViews.TryGetValue(r.Peer, out var view):
                foreach (var cid in r.Message.Blocks.Keys)
                {
                    // The peer's server drops a want once it sent the block, so a later want may start afresh.
                    view.Remove(cid);
                    _lastEmitted[r.Peer].Remove(cid);
                }
                break;
        }
        var cap = State.Config.Limits.ClientMessageBytesMax;
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case ArmTimer arm:
                    _timers.Add((arm.Deadline, _timerSequence++, arm.Timer));
                    if (arm.Deadline < Now) Violations.Add($"timer {arm.Timer} armed in the past");
                    break;
                case SendMessage send:
                    if (InFlight.Any(s => s.Peer == send.Peer)) Violations.Add($"second envelope in flight to {send.Peer.Short}");
                    InFlight.Add(send);
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
