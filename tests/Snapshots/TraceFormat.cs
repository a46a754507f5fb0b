using System.Diagnostics;
using System.Globalization;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Tests.Snapshots;

/// <summary>
/// Prints reducer inputs and effects one per line, deterministically (maps print in key order, numbers in the invariant
/// culture), for golden traces. CIDs print as their last 8 characters and peers as their short form, or as names given
/// to the constructor.
/// </summary>
public sealed class TraceFormat
{
    private readonly Map<PeerId, string> _peerNames;

    /// <summary>A formatter that names some peers (others print in their short form).</summary>
    public TraceFormat(params (PeerId Peer, string Name)[] names) =>
        _peerNames = names.Aggregate(Map<PeerId, string>.Empty, (map, n) => map.AddOrUpdate(n.Peer, n.Name));

    /// <summary>One input: <c>t=… &gt; Kind details</c>.</summary>
    public string Input(Input input) => $"t={input.Now.ToString(CultureInfo.InvariantCulture)} > " + input switch
    {
        PeerConnected c => $"PeerConnected {Peer(c.Peer)} {c.Version}",
        PeerDisconnected d => $"PeerDisconnected {Peer(d.Peer)}",
        MessageReceived m => $"MessageReceived from {Peer(m.Peer)} {Message(m.Message)}{Sizes(m.LocalSizes)}",
        MessageSent s => $"MessageSent {s.Envelope} to {Peer(s.Peer)}",
        MessageFailed f => $"MessageFailed {f.Envelope} to {Peer(f.Peer)}: {f.Reason}",
        BlocksLoaded l => $"BlocksLoaded {l.Envelope} for {Peer(l.Peer)} [{string.Join(", ", l.Blocks.Values.Select(Block))}]",
        BlocksAdded a => $"BlocksAdded [{string.Join(", ", a.Blocks.Select(Block))}]",
        TimerFired t => $"TimerFired {Timer(t.Timer)}",
        WantBlocks w => $"WantBlocks session={w.Session} [{Cids(w.Cids)}]",
        CancelWants c => $"CancelWants session={c.Session} [{Cids(c.Cids)}]",
        CloseSession c => $"CloseSession session={c.Session}",
        ProvidersFound p => $"ProvidersFound session={p.Session} {Cid(p.Cid)} [{string.Join(", ", p.Providers.Select(Peer))}]",
        _ => throw new UnreachableException($"unknown input {input.GetType().Name}"),
    };

    /// <summary>One effect: <c>  &lt; Kind details</c>.</summary>
    public string Effect(Effect effect) => "  < " + effect switch
    {
        SendMessage s => $"SendMessage {s.Envelope} to {Peer(s.Peer)} {Message(s.Message)}",
        LoadBlocks l => $"LoadBlocks {l.Envelope} for {Peer(l.Peer)} [{Cids(l.Cids)}]",
        ArmTimer a => $"ArmTimer {Timer(a.Timer)} at {a.Deadline.ToString(CultureInfo.InvariantCulture)}",
        DeliverBlock d => $"DeliverBlock session={d.Session} {Block(d.Block)} from {(d.From is null ? "local" : Peer(d.From))}",
        FindProviders f => $"FindProviders session={f.Session} {Cid(f.Cid)}",
        RejectWants r => $"RejectWants session={r.Session} [{Cids(r.Cids)}]: {r.Reason}",
        WantsEnded w => $"WantsEnded session={w.Session} [{Cids(w.Cids)}]: {w.Reason}",
        Explain x => $"Explain {x.Subject}{(x.Cid is null ? "" : " " + Cid(x.Cid))}{(x.Peer is null ? "" : " " + Peer(x.Peer))}: {x.Reason}",
        _ => throw new UnreachableException($"unknown effect {effect.GetType().Name}"),
    };

    /// <summary>An input followed by its effects, one per line.</summary>
    public IEnumerable<string> Step(Input input, Seq<Effect> effects) => new[] { Input(input) }.Concat(effects.Select(Effect));

    /// <summary>A message: wants, blocks, presences and pendingBytes, leaving out what is empty.</summary>
    public string Message(Message m)
    {
        var parts = new List<string>();
        if (!m.Wantlist.IsEmpty || m.Full) parts.Add($"wants{(m.Full ? "(full)" : "")}=[{string.Join(", ", m.Wantlist.Values.Select(Entry))}]");
        if (!m.Blocks.IsEmpty) parts.Add($"blocks=[{string.Join(", ", m.Blocks.Values.Select(Block))}]");
        if (!m.Presences.IsEmpty) parts.Add($"presences=[{string.Join(", ", m.Presences.Select(p => $"{Cid(p.Key)}:{(p.Value == PresenceType.Have ? "HAVE" : "DONT_HAVE")}"))}]");
        if (m.PendingBytes != 0) parts.Add($"pending={m.PendingBytes.ToString(CultureInfo.InvariantCulture)}");
        return parts.Count == 0 ? "(empty)" : string.Join(" ", parts);
    }

    /// <summary>A wantlist entry: <c>block …cid p3 dh</c> or <c>cancel …cid</c>.</summary>
    public string Entry(WantlistEntry e) => e.Cancel
        ? $"cancel {Cid(e.Cid)}"
        : $"{(e.WantType == WantType.Block ? "block" : "have")} {Cid(e.Cid)} p{e.Priority.ToString(CultureInfo.InvariantCulture)}{(e.SendDontHave ? " dh" : "")}";

    /// <summary>A block: its CID and size.</summary>
    public string Block(Block b) => $"{Cid(b.Cid)} {b.Size.ToString(CultureInfo.InvariantCulture)}B";

    /// <summary>A CID as its last 8 characters.</summary>
    public static string Cid(Cid cid)
    {
        var text = cid.ToString();
        return text.Length <= 8 ? text : "…" + text[^8..];
    }

    /// <summary>A peer by name, else its short form.</summary>
    public string Peer(PeerId peer) => _peerNames.Find(peer).IfNone(peer.Short);

    private static string Cids(Seq<Cid> cids) => string.Join(", ", cids.Select(Cid));

    private string Timer(TimerId timer) =>
        $"{timer.Name}#{timer.Key.ToString(CultureInfo.InvariantCulture)}{(timer.Peer is null ? "" : "@" + Peer(timer.Peer))}";

    private static string Sizes(Map<Cid, int> sizes) =>
        sizes.IsEmpty ? "" : $" local=[{string.Join(", ", sizes.Select(s => $"{Cid(s.Key)}={s.Value.ToString(CultureInfo.InvariantCulture)}"))}]";
}
