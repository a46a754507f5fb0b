using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>The per-message merge rules (boxo bitswap/message/message.go addEntry, AddBlock, AddBlockPresence).</summary>
public class MessageMergeTests
{
    private static readonly Block BlockA = Block.Raw(Encoding.UTF8.GetBytes("a"));
    private static readonly Cid A = BlockA.Cid;

    [Fact]
    public void Want_block_overrides_an_earlier_want_have_and_takes_its_priority()
    {
        var m = Message.Empty.WithEntry(WantlistEntry.WantHave(A, 5)).WithEntry(WantlistEntry.WantBlock(A, 9));
        Assert.Equal(WantlistEntry.WantBlock(A, 9), m.Wantlist[A]);
    }

    [Fact]
    public void Want_have_never_downgrades_a_want_block_nor_changes_its_priority()
    {
        var m = Message.Empty.WithEntry(WantlistEntry.WantBlock(A, 9)).WithEntry(WantlistEntry.WantHave(A, 1));
        Assert.Equal(WantlistEntry.WantBlock(A, 9), m.Wantlist[A]);
    }

    [Fact]
    public void Priority_changes_for_the_same_want_type()
    {
        var m = Message.Empty.WithEntry(WantlistEntry.WantHave(A, 5)).WithEntry(WantlistEntry.WantHave(A, 2));
        Assert.Equal(2, m.Wantlist[A].Priority);
    }

    [Fact]
    public void Cancel_only_goes_from_false_to_true()
    {
        var m = Message.Empty.WithEntry(WantlistEntry.CancelOf(A)).WithEntry(WantlistEntry.WantBlock(A, 3));
        Assert.True(m.Wantlist[A].Cancel);
        Assert.Single(m.Wantlist);
    }

    [Fact]
    public void Send_dont_have_only_goes_from_false_to_true()
    {
        var m = Message.Empty.WithEntry(WantlistEntry.WantBlock(A, 1, sendDontHave: true)).WithEntry(WantlistEntry.WantBlock(A, 1, sendDontHave: false));
        Assert.True(m.Wantlist[A].SendDontHave);
        var n = Message.Empty.WithEntry(WantlistEntry.WantHave(A, 1)).WithEntry(WantlistEntry.WantHave(A, 1, sendDontHave: true));
        Assert.True(n.Wantlist[A].SendDontHave);
    }

    [Fact]
    public void A_block_removes_the_presence_for_its_cid()
    {
        var m = Message.Empty.WithPresence(A, PresenceType.DontHave).WithBlock(BlockA);
        Assert.True(m.Presences.IsEmpty);
        Assert.Equal(BlockA, m.Blocks[A]);
    }

    [Fact]
    public void A_presence_is_ignored_when_the_block_is_present()
    {
        var m = Message.Empty.WithBlock(BlockA).WithPresence(A, PresenceType.Have);
        Assert.True(m.Presences.IsEmpty);
    }

    [Fact]
    public void A_later_presence_replaces_an_earlier_one()
    {
        var m = Message.Empty.WithPresence(A, PresenceType.Have).WithPresence(A, PresenceType.DontHave);
        Assert.Equal(PresenceType.DontHave, m.Presences[A]);
    }

    [Fact]
    public void Decoding_applies_the_merge_rules_to_repeated_entries_on_the_wire()
    {
        var wantlist = new Bitswap.Domain.Wire.Pb.Message.Types.Wantlist();
        foreach (var (type, priority, sendDontHave) in new[] { (1, 5, true), (0, 9, false), (1, 1, false) })
            wantlist.Entries.Add(new Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.Entry
            {
                Block = Google.Protobuf.ByteString.CopyFrom(A.Bytes),
                Priority = priority,
                WantType = (Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.WantType)type,
                SendDontHave = sendDontHave,
            });
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(new Bitswap.Domain.Wire.Pb.Message { Wantlist = wantlist });
        var decoded = MessageCodec.Decode(bytes, ProtocolVersion.V120, Limits.Default).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString()));
        Assert.Equal(new WantlistEntry(A, 9, WantType.Block, false, true), decoded.Wantlist[A]);
    }

    [Property(MaxTest = 500)]
    public Property Adding_an_entry_twice_is_the_same_as_adding_it_once() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.EntryGen.ToArbitrary(), (message, entry) =>
            message.WithEntry(entry).WithEntry(entry) == message.WithEntry(entry));

    [Property(MaxTest = 500)]
    public Property A_block_and_a_presence_for_the_same_cid_leave_only_the_block_in_either_order() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.BlockGen.ToArbitrary(), Gen.Elements(PresenceType.Have, PresenceType.DontHave).ToArbitrary(),
            (message, block, type) =>
            {
                var presenceFirst = message.WithPresence(block.Cid, type).WithBlock(block);
                var blockFirst = message.WithBlock(block).WithPresence(block.Cid, type);
                return presenceFirst == blockFirst && !blockFirst.Presences.ContainsKey(block.Cid) && blockFirst.Blocks[block.Cid].Equals(block);
            });
}
