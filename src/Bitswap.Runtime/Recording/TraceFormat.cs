using LanguageExt;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Runtime.Recording;

/// <summary>
/// The trace text format (docs/message-log.md): one line per input, <c>@NOW &lt; Input fields</c>, followed by one line
/// per effect it produced, <c>@NOW &gt; Effect fields</c>. Peers print in their short form, CIDs as the last 8
/// characters of their string form, so lines stay readable; every field is printed in a fixed order, so equal runs
/// give byte-identical traces.
/// </summary>
public static class TraceFormat
{
    /// <summary>The lines for one turn of the loop.</summary>
    public static IEnumerable<string> Lines(Input input, Seq<Effect> effects)
    {
        var now = input.Now.ToString(CultureInfo.InvariantCulture);
        yield return $"@{now} < {Describe(input)}";
        foreach (var effect in effects)
        {
            yield return $"@{now} > {Describe(effect)}";
        }
    }

    /// <summary>One input, without its time.</summary>
    public static string Describe(Input input) => input switch
    {
        PeerConnected e => $"PeerConnected {P(e.Peer)} {V(e.Version)}",
        PeerDisconnected e => $"PeerDisconnected {P(e.Peer)}",
        MessageReceived e => $"MessageReceived {P(e.Peer)} {Describe(e.Message)} held=[{string.Join(",", e.LocalSizes.Select(kv => $"{C(kv.Key)}/{kv.Value}"))}]",
        MessageSent e => $"MessageSent {P(e.Peer)} {e.Envelope}",
        MessageFailed e => $"MessageFailed {P(e.Peer)} {e.Envelope} \"{e.Reason}\"",
        BlocksLoaded e => $"BlocksLoaded {P(e.Peer)} {e.Envelope} [{string.Join(",", e.Blocks.Values.Select(B))}]",
        BlocksAdded e => $"BlocksAdded [{string.Join(",", e.Blocks.Select(B))}]",
        TimerFired e => $"TimerFired {e.Timer}",
        WantBlocks e => $"WantBlocks s{e.Session} [{string.Join(",", e.Cids.Select(C))}]",
        CancelWants e => $"CancelWants s{e.Session} [{string.Join(",", e.Cids.Select(C))}]",
        CloseSession e => $"CloseSession s{e.Session}",
        ProvidersFound e => $"ProvidersFound s{e.Session} {C(e.Cid)} [{string.Join(",", e.Providers.Select(P))}]",
        _ => throw new UnreachableException($"input {input.GetType().Name}"),
    };

    /// <summary>One effect.</summary>
    public static string Describe(Effect effect) => effect switch
    {
        SendMessage e => $"SendMessage {P(e.Peer)} {e.Envelope} {Describe(e.Message)}",
        LoadBlocks e => $"LoadBlocks {P(e.Peer)} {e.Envelope} [{string.Join(",", e.Cids.Select(C))}]",
        ArmTimer e => $"ArmTimer {e.Timer} at {e.Deadline.ToString(CultureInfo.InvariantCulture)}",
        DeliverBlock e => $"DeliverBlock s{e.Session} {B(e.Block)} from {(e.From is null ? "local" : P(e.From))}",
        FindProviders e => $"FindProviders s{e.Session} {C(e.Cid)}",
        RejectWants e => $"RejectWants s{e.Session} [{string.Join(",", e.Cids.Select(C))}] \"{e.Reason}\"",
        WantsEnded e => $"WantsEnded s{e.Session} [{string.Join(",", e.Cids.Select(C))}] {e.Reason}",
        Explain e => $"Explain {e.Subject} {(e.Cid is null ? "-" : C(e.Cid))} {(e.Peer is null ? "-" : P(e.Peer))} \"{e.Reason}\"",
        _ => throw new UnreachableException($"effect {effect.GetType().Name}"),
    };

    /// <summary>A message: its parts in a fixed order, empty parts left out.</summary>
    public static string Describe(Message message)
    {
        var text = new StringBuilder("{");
        if (message.Full)
        {
            text.Append(" full");
        }

        var wants = message.Wantlist.Values.Where(e => !e.Cancel).ToList();
        if (wants.Count > 0)
        {
            text.Append(" want=[").AppendJoin(",", wants.Select(W)).Append(']');
        }

        var cancels = message.Wantlist.Values.Where(e => e.Cancel).ToList();
        if (cancels.Count > 0)
        {
            text.Append(" cancel=[").AppendJoin(",", cancels.Select(e => C(e.Cid))).Append(']');
        }

        if (!message.Blocks.IsEmpty)
        {
            text.Append(" blocks=[").AppendJoin(",", message.Blocks.Values.Select(B)).Append(']');
        }

        if (!message.Presences.IsEmpty)
        {
            text.Append(" presences=[")
                .AppendJoin(",", message.Presences.Select(kv => $"{C(kv.Key)}:{(kv.Value == PresenceType.Have ? "HAVE" : "DONT_HAVE")}"))
                .Append(']');
        }

        if (message.PendingBytes != 0)
        {
            text.Append(" pending=").Append(message.PendingBytes.ToString(CultureInfo.InvariantCulture));
        }

        return text.Append(" }").ToString();
    }

    private static string W(WantlistEntry entry) =>
        $"{C(entry.Cid)}:{(entry.WantType == WantType.Block ? "B" : "H")}{entry.Priority.ToString(CultureInfo.InvariantCulture)}{(entry.SendDontHave ? "!" : "")}";

    private static string B(Block block) => $"{C(block.Cid)}/{block.Size.ToString(CultureInfo.InvariantCulture)}";

    private static string C(Cid cid)
    {
        var text = cid.ToString();
        return text.Length <= 8 ? text : text[^8..];
    }

    private static string P(PeerId peer) => peer.Short;

    private static string V(ProtocolVersion version) => version switch
    {
        ProtocolVersion.V100 => "1.0.0",
        ProtocolVersion.V110 => "1.1.0",
        ProtocolVersion.V120 => "1.2.0",
        _ => throw new UnreachableException($"version {version}"),
    };
}
