using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Google.Protobuf;
using Snapshooter.Xunit;
using Xunit;
using WirePb = Bitswap.Domain.Wire.Pb.Message;

namespace Bitswap.Tests.Snapshots;

/// <summary>Golden wire bytes of representative messages in each protocol version, and the typed errors of malformed input.</summary>
public class WireSnapshotTests
{
    private static Cid CidOf(string text) => Block.Raw(Encoding.UTF8.GetBytes(text)).Cid;

    private static readonly Block HelloV0 = Block.Create(Encoding.UTF8.GetBytes("hello"), Multicodec.DagPb, MultihashCode.Sha2_256, version: 0)
        .Match(b => b, e => throw new InvalidOperationException(e.ToString()));

    private static readonly Block WorldV1 = Block.Raw(Encoding.UTF8.GetBytes("world"));

    private static readonly (string Name, Message Message)[] Representative =
    [
        ("full wantlist: want-block + sendDontHave, want-have + sendDontHave, cancel", Message.Empty
            .WithFull(true)
            .WithEntry(WantlistEntry.WantBlock(CidOf("1"), 10, sendDontHave: true))
            .WithEntry(WantlistEntry.WantHave(CidOf("2"), 5, sendDontHave: true))
            .WithEntry(WantlistEntry.CancelOf(CidOf("3")))),
        ("empty full wantlist", Message.Empty.WithFull(true)),
        ("blocks: v0 dag-pb and v1 raw", Message.Empty.WithBlock(HelloV0).WithBlock(WorldV1)),
        ("presences: HAVE and DONT_HAVE", Message.Empty.WithPresence(CidOf("4"), PresenceType.Have).WithPresence(CidOf("5"), PresenceType.DontHave)),
        ("block, presence and pendingBytes", Message.Empty.WithBlock(WorldV1).WithPresence(CidOf("5"), PresenceType.DontHave).WithPendingBytes(262_144)),
    ];

    [Fact]
    public void Golden_bytes_in_1_0_0() => Snapshot.Match(Golden(ProtocolVersion.V100));

    [Fact]
    public void Golden_bytes_in_1_1_0() => Snapshot.Match(Golden(ProtocolVersion.V110));

    [Fact]
    public void Golden_bytes_in_1_2_0() => Snapshot.Match(Golden(ProtocolVersion.V120));

    [Fact]
    public void Malformed_input_gives_typed_errors() => Snapshot.Match(DecodeErrors());

    private static string Golden(ProtocolVersion version)
    {
        var text = new StringBuilder();
        text.AppendLine($"# {version.Id()}");
        foreach (var (name, message) in Representative)
        {
            var bytes = MessageCodec.Encode(message, version);
            var decoded = MessageCodec.Decode(bytes, version, Limits.Default).Match(m => Describe(m), e => $"ERROR {e}");
            text.AppendLine($"## {name}");
            text.AppendLine($"hex: {Convert.ToHexStringLower(bytes)}");
            text.AppendLine($"decodes to: {decoded}");
        }
        return text.ToString();
    }

    private static string Describe(Message m)
    {
        var parts = new List<string> { $"full={m.Full}" };
        parts.AddRange(m.Wantlist.Values.Select(e => e.Cancel
            ? $"cancel {e.Cid}"
            : $"want-{e.WantType.ToString().ToLowerInvariant()} {e.Cid} p={e.Priority}{(e.SendDontHave ? " sendDontHave" : "")}"));
        parts.AddRange(m.Blocks.Values.Select(b => $"block {b}"));
        parts.AddRange(m.Presences.Pairs.Select(p => $"{p.Item2} {p.Item1}"));
        parts.Add($"pendingBytes={m.PendingBytes}");
        return string.Join("; ", parts);
    }

    private static string DecodeErrors()
    {
        var cid = CidOf("x");
        var text = new StringBuilder();
        void Case(string name, byte[] bytes, Limits? limits = null, ProtocolVersion version = ProtocolVersion.V120)
        {
            var result = MessageCodec.Decode(bytes, version, limits ?? Limits.Default).Match(m => $"OK {m}", e => e.ToString());
            text.AppendLine($"{name}\n  input: {Convert.ToHexStringLower(bytes.AsSpan(0, Math.Min(bytes.Length, 48)))}{(bytes.Length > 48 ? "…" : "")}\n  {result}");
        }
        byte[] Entry(byte[] cidBytes, int wantType = 0) =>
            new WirePb { Wantlist = new WirePb.Types.Wantlist { Entries = { new WirePb.Types.Wantlist.Types.Entry { Block = ByteString.CopyFrom(cidBytes), Priority = 1, WantType = (WirePb.Types.Wantlist.Types.WantType)wantType } } } }.ToByteArray();
        byte[] Payload(byte[] prefix, byte[] data) =>
            new WirePb { Payload = { new WirePb.Types.Block { Prefix = ByteString.CopyFrom(prefix), Data = ByteString.CopyFrom(data) } } }.ToByteArray();
        byte[] Presence(byte[] cidBytes, int type = 0) =>
            new WirePb { BlockPresences = { new WirePb.Types.BlockPresence { Cid = ByteString.CopyFrom(cidBytes), Type = (WirePb.Types.BlockPresenceType)type } } }.ToByteArray();

        Case("not a protobuf (field 0)", [0x00]);
        Case("truncated length-delimited field", [0x0a, 0x05, 0x0a]);
        Case("empty CID in wantlist entry 0", Entry([]));
        Case("CID version 2 in wantlist entry 0", Entry([0x02, 0x55, 0x12, 0x20, .. new byte[32]]));
        Case("truncated CIDv0 in wantlist entry 0", Entry([0x12, 0x20, 0x01]));
        Case("trailing bytes after the CID in wantlist entry 0", Entry([.. cid.Bytes, 0x00]));
        Case("unknown want type 7", Entry(cid.ToArray(), wantType: 7));
        Case("empty block prefix", Payload([], [1, 2, 3]));
        Case("v0 prefix with the raw codec", Payload([0x00, 0x55, 0x12, 0x20], [1, 2, 3]));
        Case("prefix with a non-minimal varint", Payload([0x01, 0xd5, 0x00, 0x12, 0x20], [1, 2, 3]));
        Case("prefix naming sha3-256, which is not computed", Payload([0x01, 0x55, 0x16, 0x20], [1, 2, 3]));
        Case("prefix naming an unregistered hash", Payload([0x01, 0x55, 0xf7, 0x01, 0x20], [1, 2, 3]));
        Case("prefix asking sha2-256 for a 20-byte digest", Payload([0x01, 0x55, 0x12, 0x14], [1, 2, 3]));
        Case("block over the block limit (limit 4 bytes)", Payload([0x01, 0x55, 0x12, 0x20], [1, 2, 3, 4, 5]), Limits.Default with { BlockBytesMax = 4 });
        Case("1.0.0 block over the block limit (limit 4 bytes)", new WirePb { Blocks = { ByteString.CopyFrom([1, 2, 3, 4, 5]) } }.ToByteArray(), Limits.Default with { BlockBytesMax = 4 });
        Case("empty presence CID", Presence([]));
        Case("unknown presence type 2", Presence(cid.ToArray(), type: 2));
        Case("negative pendingBytes", new WirePb { PendingBytes = -1 }.ToByteArray());
        Case("message over the message limit (limit 16 bytes)", Entry(cid.ToArray()), Limits.Default with { MessageBytesMax = 16 });
        Case("identity CID of 200 bytes still decodes", Entry(Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Identity, new byte[197])).ToArray()));
        Case("want-have over 1.0.0 is dropped, not an error", Entry(cid.ToArray(), wantType: 1), version: ProtocolVersion.V100);
        return text.ToString();
    }
}
