using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Google.Protobuf;
using LanguageExt;

namespace Bitswap.Runtime.Network;

/// <summary>
/// The protobuf encoding the virtual network uses until <c>Bitswap.Domain.Wire.MessageCodec</c> lands on main; then
/// <see cref="VirtualNetwork"/> calls the codec instead and this file goes. Real protobuf over the spec's schema, so sizes
/// and bandwidth are realistic, but without the codec's version rules beyond where blocks go.
/// </summary>
internal static class InterimWire
{
    public static byte[] Encode(Message message, ProtocolVersion version)
    {
        var pb = new Bitswap.Domain.Wire.Pb.Message { PendingBytes = message.PendingBytes };
        if (!message.Wantlist.IsEmpty || message.Full)
        {
            pb.Wantlist = new Bitswap.Domain.Wire.Pb.Message.Types.Wantlist { Full = message.Full };
            foreach (var entry in message.Wantlist.Values)
                pb.Wantlist.Entries.Add(new Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.Entry
                {
                    Block = ByteString.CopyFrom(entry.Cid.Bytes),
                    Priority = entry.Priority,
                    Cancel = entry.Cancel,
                    WantType = (Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.WantType)entry.WantType,
                    SendDontHave = entry.SendDontHave,
                });
        }
        foreach (var block in message.Blocks.Values)
        {
            if (version == ProtocolVersion.V100)
                pb.Blocks.Add(ByteString.CopyFrom(block.Data.Span));
            else
                pb.Payload.Add(new Bitswap.Domain.Wire.Pb.Message.Types.Block
                {
                    Prefix = ByteString.CopyFrom(block.Cid.Prefix.Encode()),
                    Data = ByteString.CopyFrom(block.Data.Span),
                });
        }
        foreach (var (cid, type) in message.Presences)
            pb.BlockPresences.Add(new Bitswap.Domain.Wire.Pb.Message.Types.BlockPresence
            {
                Cid = ByteString.CopyFrom(cid.Bytes),
                Type = (Bitswap.Domain.Wire.Pb.Message.Types.BlockPresenceType)type,
            });
        return pb.ToByteArray();
    }

    public static Either<DecodeError, Message> Decode(ReadOnlySpan<byte> bytes, ProtocolVersion version, Limits limits)
    {
        if (bytes.Length > limits.MessageBytesMax)
            return new DecodeError(DecodeErrorKind.TooLarge, $"message of {bytes.Length} bytes exceeds {limits.MessageBytesMax}");
        Bitswap.Domain.Wire.Pb.Message pb;
        try
        {
            pb = Bitswap.Domain.Wire.Pb.Message.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, e.Message);
        }
        var message = Message.Empty.WithPendingBytes(pb.PendingBytes);
        if (pb.Wantlist is { } wantlist)
        {
            message = message.WithFull(wantlist.Full);
            foreach (var entry in wantlist.Entries)
            {
                var cid = Cid.FromBytes(entry.Block.Span);
                if (cid.IsLeft) return cid.LeftToSeq().Head().At("wantlist entry");
                message = message.WithEntry(new WantlistEntry(cid.RightToSeq().Head(), entry.Priority, (WantType)entry.WantType, entry.Cancel, entry.SendDontHave));
            }
        }
        foreach (var data in pb.Blocks)
        {
            var block = CheckedBlock(new CidPrefix(0, Multicodec.DagPb, (ulong)MultihashCode.Sha2_256, 32), data.Memory, limits);
            if (block.IsLeft) return block.LeftToSeq().Head();
            message = message.WithBlock(block.RightToSeq().Head());
        }
        foreach (var payload in pb.Payload)
        {
            var prefix = CidPrefix.Decode(payload.Prefix.Span);
            if (prefix.IsLeft) return prefix.LeftToSeq().Head().At("block prefix");
            var block = CheckedBlock(prefix.RightToSeq().Head(), payload.Data.Memory, limits);
            if (block.IsLeft) return block.LeftToSeq().Head();
            message = message.WithBlock(block.RightToSeq().Head());
        }
        foreach (var presence in pb.BlockPresences)
        {
            var cid = Cid.FromBytes(presence.Cid.Span);
            if (cid.IsLeft) return cid.LeftToSeq().Head().At("block presence");
            message = message.WithPresence(cid.RightToSeq().Head(), (PresenceType)presence.Type);
        }
        return message;
    }

    private static Either<DecodeError, Block> CheckedBlock(CidPrefix prefix, ReadOnlyMemory<byte> data, Limits limits)
    {
        if (data.Length > limits.BlockBytesMax)
            return new DecodeError(DecodeErrorKind.TooLarge, $"block of {data.Length} bytes exceeds {limits.BlockBytesMax}");
        var copy = data.ToArray();
        return Block.Create(copy, prefix.Codec, (MultihashCode)prefix.HashCode, prefix.Version).Bind(block => block.Cid.Prefix == prefix
            ? Prelude.Right<DecodeError, Block>(block)
            : new DecodeError(DecodeErrorKind.BadPrefix, $"block prefix {prefix} does not describe {block.Cid}"));
    }
}
