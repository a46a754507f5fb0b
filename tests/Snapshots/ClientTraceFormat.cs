using System.Globalization;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Tests.Snapshots;

/// <summary>
/// Formats a client trace deterministically, one line per input (<c>&gt;</c>) and per effect (<c>&lt;</c>), with peers and
/// CIDs replaced by short aliases so the golden file reads like a protocol log. A want's <c>p=n</c> is its rank in the
/// peer's queue (int.MaxValue minus its priority, 0 = first) and <c>dh</c> marks sendDontHave.
/// </summary>
public sealed class ClientTraceFormat(IReadOnlyDictionary<PeerId, string> peers, IReadOnlyDictionary<Cid, string> cids)
{
    private readonly StringBuilder _text = new();

    /// <summary>The trace so far.</summary>
    public override string ToString() => _text.ToString();

    /// <summary>Appends one input and its effects.</summary>
    public void Add(Input input, IEnumerable<Effect> effects)
    {
        _text.Append(CultureInfo.InvariantCulture, $"{input.Now,7} > {Input(input)}\n");
        foreach (var effect in effects) _text.Append(CultureInfo.InvariantCulture, $"        < {Effect(effect)}\n");
    }

    /// <summary>One input as text.</summary>
    public string Input(Input input) => input switch
    {
        PeerConnected c => $"PeerConnected {P(c.Peer)} {c.Version}",
        PeerDisconnected d => $"PeerDisconnected {P(d.Peer)}",
        MessageReceived r => $"MessageReceived from {P(r.Peer)} {Msg(r.Message)}{(r.LocalSizes.IsEmpty ? "" : " held=" + string.Join(",", r.LocalSizes.Keys.Select(C)))}",
        MessageSent s => $"MessageSent {s.Envelope} to {P(s.Peer)}",
        MessageFailed f => $"MessageFailed {f.Envelope} to {P(f.Peer)}: {f.Reason}",
        BlocksLoaded l => $"BlocksLoaded {l.Envelope}",
        BlocksAdded a => $"BlocksAdded {string.Join(",", a.Blocks.Select(b => C(b.Cid)))}",
        TimerFired t => $"TimerFired {Timer(t.Timer)}",
        WantBlocks w => $"WantBlocks session={w.Session} {string.Join(",", w.Cids.Select(C))}",
        CancelWants w => $"CancelWants session={w.Session} {string.Join(",", w.Cids.Select(C))}",
        CloseSession c => $"CloseSession session={c.Session}",
        ProvidersFound p => $"ProvidersFound session={p.Session} {C(p.Cid)} {string.Join(",", p.Providers.Select(P))}",
        _ => throw new System.Diagnostics.UnreachableException(input.GetType().Name),
    };

    /// <summary>One effect as text.</summary>
    public string Effect(Effect effect) => effect switch
    {
        SendMessage s => $"SendMessage {s.Envelope} to {P(s.Peer)} {Msg(s.Message)}",
        LoadBlocks l => $"LoadBlocks {l.Envelope} {string.Join(",", l.Cids.Select(C))}",
        ArmTimer a => $"ArmTimer {Timer(a.Timer)} at {a.Deadline}",
        DeliverBlock d => $"DeliverBlock session={d.Session} {C(d.Block.Cid)} from {(d.From is null ? "local" : P(d.From))}",
        FindProviders f => $"FindProviders session={f.Session} {C(f.Cid)}",
        RejectWants r => $"RejectWants session={r.Session} {string.Join(",", r.Cids.Select(C))}: {r.Reason}",
        WantsEnded w => $"WantsEnded session={w.Session} {string.Join(",", w.Cids.Select(C))}: {w.Reason}",
        Explain e => $"Explain {e.Subject} {(e.Cid is null ? "-" : C(e.Cid))} {(e.Peer is null ? "-" : P(e.Peer))}: {e.Reason}",
        _ => throw new System.Diagnostics.UnreachableException(effect.GetType().Name),
    };

    private string Msg(Message m)
    {
        var parts = new List<string>();
        parts.AddRange(m.Wantlist.Values.Select(e => e.Cancel
            ? $"cancel {C(e.Cid)}"
            : $"{(e.WantType == WantType.Block ? "want-block" : "want-have")} {C(e.Cid)} p={int.MaxValue - e.Priority}{(e.SendDontHave ? " dh" : "")}"));
        parts.AddRange(m.Blocks.Keys.Select(c => $"block {C(c)}"));
        parts.AddRange(m.Presences.Select(kv => $"{(kv.Value == PresenceType.Have ? "HAVE" : "DONT_HAVE")} {C(kv.Key)}"));
        return $"[{string.Join("; ", parts)}]{(m.Full ? " full" : "")}";
    }

    private string Timer(TimerId t) => t.Peer is null ? $"{t.Name}#{t.Key}" : $"{t.Name}@{P(t.Peer)}";

    private string P(PeerId peer) => peers.TryGetValue(peer, out var alias) ? alias : peer.Short;

    private string C(Cid cid) => cids.TryGetValue(cid, out var alias) ? alias : cid.ToString();
}
