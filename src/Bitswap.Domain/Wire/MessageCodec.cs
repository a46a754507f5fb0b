using System.Buffers;
using Bitswap.Domain.Multiformats;
using Google.Protobuf;
using Pb = Bitswap.Domain.Wire.Pb;

namespace Bitswap.Domain.Wire;

/// <summary>
/// Encodes and decodes Bitswap messages (message.proto) for each protocol version, and splits messages to a size.
/// A version carries only what it can: 1.0.0 sends want-block entries, cancels, the full flag and raw blocks (field 2);
/// 1.1.0 sends blocks as prefix + data (field 3); 1.2.0 adds want-have, sendDontHave, presences and pendingBytes.
/// Decoding applies the same projection, so <c>Decode(Encode(m, v), v)</c> is what version <c>v</c> can say about <c>m</c>.
/// </summary>
public static class MessageCodec
{
    private static readonly byte[] V0Prefix = new CidPrefix(0, Multicodec.DagPb, (ulong)MultihashCode.Sha2_256, 32).Encode();

    /// <summary>The wire bytes of <paramref name="message"/> in <paramref name="version"/>, without a length prefix.</summary>
    public static byte[] Encode(Message message, ProtocolVersion version) => ToProto(message, version).ToByteArray();

    /// <summary>The length of <see cref="Encode"/>'s result, without building it.</summary>
    public static int EncodedSize(Message message, ProtocolVersion version) => ToProto(message, version).CalculateSize();

    /// <summary>Writes the wire bytes of <paramref name="message"/> into <paramref name="writer"/>, without a length prefix.</summary>
    public static void WriteTo(Message message, ProtocolVersion version, IBufferWriter<byte> writer) =>
        ToProto(message, version).WriteTo(writer);

    /// <summary>
    /// Parses wire bytes received over <paramref name="version"/>. Never throws: every fault is a typed error naming where it was.
    /// Blocks are read from both field 2 (hashed as dag-pb sha2-256 CIDv0) and field 3 (CID from the prefix and the data's hash)
    /// whatever the version; what the version cannot carry (want-have, sendDontHave, presences, pendingBytes below 1.2.0) is dropped.
    /// </summary>
    public static Either<DecodeError, Message> Decode(ReadOnlySpan<byte> bytes, ProtocolVersion version, Limits limits)
    {
        if (bytes.Length > limits.MessageBytesMax)
            return new DecodeError(DecodeErrorKind.TooLarge, $"message of {bytes.Length} bytes exceeds {limits.MessageBytesMax}");
        Pb.Message proto;
        try
        {
            proto = Pb.Message.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, e.Message);
        }
        return FromProto(proto, version, limits);
    }

    /// <summary>Parses wire bytes held in a (possibly segmented) sequence, as <see cref="Decode(ReadOnlySpan{byte}, ProtocolVersion, Limits)"/> does.</summary>
    public static Either<DecodeError, Message> Decode(ReadOnlySequence<byte> bytes, ProtocolVersion version, Limits limits)
    {
        if (bytes.Length > limits.MessageBytesMax)
            return new DecodeError(DecodeErrorKind.TooLarge, $"message of {bytes.Length} bytes exceeds {limits.MessageBytesMax}");
        Pb.Message proto;
        try
        {
            proto = Pb.Message.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, e.Message);
        }
        return FromProto(proto, version, limits);
    }

    /// <summary>
    /// Splits <paramref name="message"/> into parts that each encode in <paramref name="version"/> to at most
    /// <paramref name="maxBytes"/> (an item too large on its own goes alone in its own part). Every entry, block and presence
    /// lands in exactly one part, in the order cancels, wants, presences, blocks. Only the first part keeps
    /// <see cref="Message.Full"/> (later parts are deltas) and only the last carries <see cref="Message.PendingBytes"/>.
    /// </summary>
    public static Seq<Message> Split(Message message, ProtocolVersion version, int maxBytes)
    {
        if (EncodedSize(message, version) <= maxBytes) return Prelude.Seq1(message);

        var pendingCost = version.SupportsHave() && message.PendingBytes != 0
            ? 1 + CodedOutputStream.ComputeInt32Size(message.PendingBytes)
            : 0;
        var parts = Seq<Message>.Empty;
        var current = Message.Empty.WithFull(message.Full);
        var wantlistContent = message.Full ? 2 : 0;
        var otherBytes = 0;
        var itemCount = 0;

        int SizeOf(int wantlist, int other) =>
            (wantlist > 0 ? 1 + CodedOutputStream.ComputeLengthSize(wantlist) + wantlist : 0) + other + pendingCost;

        void Place(int wantlistCost, int otherCost, Func<Message, Message> add)
        {
            if (itemCount > 0 && SizeOf(wantlistContent + wantlistCost, otherBytes + otherCost) > maxBytes)
            {
                parts = parts.Add(current);
                current = Message.Empty;
                wantlistContent = 0;
                otherBytes = 0;
                itemCount = 0;
            }
            current = add(current);
            wantlistContent += wantlistCost;
            otherBytes += otherCost;
            itemCount++;
        }

        var entries = message.Wantlist.Values.Where(e => e.Cancel).Concat(message.Wantlist.Values.Where(e => !e.Cancel));
        foreach (var entry in entries)
        {
            var cost = ToProto(entry, version) is { } pb ? 1 + CodedOutputStream.ComputeMessageSize(pb) : 0;
            Place(cost, 0, m => m.WithEntry(entry));
        }
        foreach (var (cid, type) in message.Presences)
        {
            var cost = version.SupportsHave() ? 1 + CodedOutputStream.ComputeMessageSize(ToProto(cid, type)) : 0;
            Place(0, cost, m => m.WithPresence(cid, type));
        }
        foreach (var block in message.Blocks.Values)
        {
            var cost = version == ProtocolVersion.V100
                ? 1 + CodedOutputStream.ComputeBytesSize(Wrap(block.Data))
                : 1 + CodedOutputStream.ComputeMessageSize(ToProto(block));
            Place(0, cost, m => m.WithBlock(block));
        }
        parts = parts.Add(current.WithPendingBytes(message.PendingBytes));
        return parts;
    }

    private static ByteString Wrap(ReadOnlyMemory<byte> bytes) => UnsafeByteOperations.UnsafeWrap(bytes);

    private static Pb.Message ToProto(Message message, ProtocolVersion version)
    {
        var proto = new Pb.Message();
        var entries = message.Wantlist.Values.Select(e => ToProto(e, version)).Where(e => e is not null).Select(e => e!).ToArray();
        if (entries.Length > 0 || message.Full)
        {
            var wantlist = new Pb.Message.Types.Wantlist { Full = message.Full };
            wantlist.Entries.AddRange(entries);
            proto.Wantlist = wantlist;
        }
        if (version == ProtocolVersion.V100)
        {
            foreach (var block in message.Blocks.Values) proto.Blocks.Add(Wrap(block.Data));
        }
        else
        {
            foreach (var block in message.Blocks.Values) proto.Payload.Add(ToProto(block));
        }
        if (version.SupportsHave())
        {
            foreach (var (cid, type) in message.Presences) proto.BlockPresences.Add(ToProto(cid, type));
            proto.PendingBytes = message.PendingBytes;
        }
        return proto;
    }

    /// <summary>The wire entry, or null when the version cannot carry it (a want-have below 1.2.0).</summary>
    private static Pb.Message.Types.Wantlist.Types.Entry? ToProto(WantlistEntry entry, ProtocolVersion version)
    {
        // boxo message.go Cancel(): a cancel carries only the CID, with priority 0 and type Block.
        if (entry.Cancel) return new Pb.Message.Types.Wantlist.Types.Entry { Block = Wrap(entry.Cid.Memory), Cancel = true };
        if (!version.SupportsHave() && entry.WantType == WantType.Have) return null;
        return new Pb.Message.Types.Wantlist.Types.Entry
        {
            Block = Wrap(entry.Cid.Memory),
            Priority = entry.Priority,
            WantType = entry.WantType == WantType.Have ? Pb.Message.Types.Wantlist.Types.WantType.Have : Pb.Message.Types.Wantlist.Types.WantType.Block,
            SendDontHave = version.SupportsHave() && entry.SendDontHave,
        };
    }

    private static Pb.Message.Types.Block ToProto(Block block) => new()
    {
        Prefix = block.Cid.Version == 0 ? Wrap(V0Prefix) : Wrap(block.Cid.Prefix.Encode()),
        Data = Wrap(block.Data),
    };

    private static Pb.Message.Types.BlockPresence ToProto(Cid cid, PresenceType type) => new()
    {
        Cid = Wrap(cid.Memory),
        Type = type == PresenceType.Have ? Pb.Message.Types.BlockPresenceType.Have : Pb.Message.Types.BlockPresenceType.DontHave,
    };

    private static Either<DecodeError, Message> FromProto(Pb.Message proto, ProtocolVersion version, Limits limits)
    {
        var message = Message.Empty;
        var supportsHave = version.SupportsHave();
        if (proto.Wantlist is { } wantlist)
        {
            message = message.WithFull(wantlist.Full);
            for (var i = 0; i < wantlist.Entries.Count; i++)
            {
                var pb = wantlist.Entries[i];
                var cid = Cid.FromBytes(pb.Block.Span);
                if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadCid, $"wantlist entry {i}");
                var wantType = pb.WantType switch
                {
                    Pb.Message.Types.Wantlist.Types.WantType.Block => WantType.Block,
                    Pb.Message.Types.Wantlist.Types.WantType.Have => WantType.Have,
                    _ => (WantType?)null,
                };
                if (wantType is not { } type)
                    return new DecodeError(DecodeErrorKind.BadField, $"wantlist entry {i}: unknown want type {(int)pb.WantType}");
                if (!supportsHave && type == WantType.Have && !pb.Cancel) continue;
                var entry = pb.Cancel
                    ? WantlistEntry.CancelOf(Right(cid))
                    : new WantlistEntry(Right(cid), pb.Priority, type, false, supportsHave && pb.SendDontHave);
                message = message.WithEntry(entry);
            }
        }
        for (var i = 0; i < proto.Blocks.Count; i++)
        {
            var data = proto.Blocks[i].Memory;
            if (data.Length > limits.BlockBytesMax)
                return new DecodeError(DecodeErrorKind.TooLarge, $"1.0.0 block {i}: {data.Length} bytes exceeds {limits.BlockBytesMax}");
            // bitswap 1.0.0 blocks are always dag-pb sha2-256 CIDv0 (spec; boxo message.go newMessageFromProto).
            var cid = new CidPrefix(0, Multicodec.DagPb, (ulong)MultihashCode.Sha2_256, 32).Sum(data.Span);
            if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadPrefix, $"1.0.0 block {i}");
            message = message.WithBlock(Block.Trusted(Right(cid), data));
        }
        for (var i = 0; i < proto.Payload.Count; i++)
        {
            var pb = proto.Payload[i];
            var prefix = CidPrefix.Decode(pb.Prefix.Span);
            if (prefix.IsLeft) return Located(prefix, DecodeErrorKind.BadPrefix, $"block {i}");
            var data = pb.Data.Memory;
            if (data.Length > limits.BlockBytesMax)
                return new DecodeError(DecodeErrorKind.TooLarge, $"block {i}: {data.Length} bytes exceeds {limits.BlockBytesMax}");
            // Keep the hash's own kind (UnsupportedHash, UnknownHash, BadDigestLength): the prefix parsed, the data could not be hashed by it.
            var cid = Right(prefix).Sum(data.Span);
            if (cid.IsLeft) return Located(cid, null, $"block {i}");
            message = message.WithBlock(Block.Trusted(Right(cid), data));
        }
        for (var i = 0; i < proto.BlockPresences.Count; i++)
        {
            var pb = proto.BlockPresences[i];
            var cid = Cid.FromBytes(pb.Cid.Span);
            if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadCid, $"block presence {i}");
            var presence = pb.Type switch
            {
                Pb.Message.Types.BlockPresenceType.Have => PresenceType.Have,
                Pb.Message.Types.BlockPresenceType.DontHave => PresenceType.DontHave,
                _ => (PresenceType?)null,
            };
            if (presence is not { } type)
                return new DecodeError(DecodeErrorKind.BadField, $"block presence {i}: unknown presence type {(int)pb.Type}");
            if (supportsHave) message = message.WithPresence(Right(cid), type);
        }
        if (proto.PendingBytes < 0)
            return new DecodeError(DecodeErrorKind.BadField, $"pendingBytes {proto.PendingBytes} is negative");
        return supportsHave ? message.WithPendingBytes(proto.PendingBytes) : message;
    }

    private static T Right<T>(Either<DecodeError, T> either) =>
        either.Match(value => value, error => throw new System.Diagnostics.UnreachableException($"checked IsRight: {error}"));

    private static DecodeError Located<T>(Either<DecodeError, T> failed, DecodeErrorKind? kind, string where)
    {
        var inner = failed.Match(_ => throw new System.Diagnostics.UnreachableException("checked IsLeft"), error => error);
        return kind is { } k && k != inner.Kind
            ? new DecodeError(k, $"{where}: {inner.Detail} ({inner.Kind})")
            : new DecodeError(inner.Kind, $"{where}: {inner.Detail}");
    }
}
