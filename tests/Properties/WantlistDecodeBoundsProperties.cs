using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>A wantlist larger than the per-peer cap is cut to the cap while it is decoded, keeping the highest priorities.</summary>
public sealed class WantlistDecodeBoundsProperties
{
    private static readonly Cid[] Cids = [.. Enumerable.Range(0, 3_000).Select(i => Block.Raw(BitConverter.GetBytes(i)).Cid)];

    [Property(MaxTest = 200)]
    public bool Decoding_keeps_at_most_the_cap_of_wants_and_they_are_the_highest_priorities(int[] priorities, byte capSeed, byte cancelSeed)
    {
        var limits = Limits.Default with { WantlistEntriesPerPeerMax = 1 + capSeed % 64 };
        var wants = (priorities ?? []).Take(Cids.Length).Select((p, i) => WantlistEntry.WantBlock(Cids[i], p)).ToArray();
        var cancels = Cids.Skip(wants.Length).Take(cancelSeed % 80).Select(WantlistEntry.CancelOf).ToArray();
        var message = Message.Empty.WithEntries(wants.Concat(cancels));
        var bytes = MessageCodec.Encode(message, ProtocolVersion.V120);

        var decoded = MessageCodec.DecodeSlices(bytes, ProtocolVersion.V120, limits).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString()));

        var keptWants = decoded.Wantlist.Values.Where(e => !e.Cancel).ToArray();
        var keptCancels = decoded.Wantlist.Values.Count(e => e.Cancel);
        var cap = limits.WantlistEntriesPerPeerMax;
        if (keptWants.Length != Math.Min(cap, wants.Length) || keptCancels != Math.Min(cap, cancels.Length)) return false;
        // No dropped want outranks a kept one.
        var lowestKept = keptWants.Length == 0 ? int.MaxValue : keptWants.Min(e => e.Priority);
        var dropped = wants.Where(w => !decoded.Wantlist.ContainsKey(w.Cid));
        return dropped.All(d => d.Priority <= lowestKept);
    }

    [Fact]
    public void A_4_MB_flood_of_95000_wants_decodes_to_the_cap()
    {
        var limits = Limits.Default;
        // Entries built on the wire directly: field 1 (wantlist) holding 95,000 entries (just under 4 MiB), each a distinct CID and a priority.
        using var entries = new MemoryStream();
        for (var i = 0; i < 95_000; i++)
        {
            var cid = Block.Raw(BitConverter.GetBytes(i)).Cid.ToArray();
            entries.Write([0x0a, (byte)(cid.Length + 4), 0x0a, (byte)cid.Length]);
            entries.Write(cid);
            entries.Write([0x10, (byte)(i % 100)]);
        }

        var wantlist = entries.ToArray();
        var message = new List<byte> { 0x0a };
        message.AddRange(Varint.Encode((ulong)wantlist.Length));
        message.AddRange(wantlist);

        var decoded = MessageCodec.DecodeSlices(message.ToArray(), ProtocolVersion.V120, limits);

        Assert.True(decoded.IsRight, decoded.Match(_ => "", e => e.ToString()));
        decoded.IfRight(m => Assert.Equal(limits.WantlistEntriesPerPeerMax, m.Wantlist.Count));
    }
}
