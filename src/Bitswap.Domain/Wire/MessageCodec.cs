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
    /// Bytes of <paramref name="message"/>'s frame (length prefix and protobuf) that are not block data: the size of the
    /// framing buffer <see cref="WriteFrameSegments"/> needs.
    /// </summary>
    public static int FramingBytes(Message message, ProtocolVersion version)
    {
        var size = EncodedSize(message, version);
        var data = 0;
        foreach (var block in message.Blocks.Values) data += block.Data.Length;
        return Varint.EncodedLength((ulong)size) + size - data;
    }

    /// <summary>
    /// Lays out <paramref name="message"/>'s frame for a scatter-gather write without copying block data: the length prefix
    /// and every protobuf byte that is not block data go into <paramref name="framing"/> (exactly
    /// <see cref="FramingBytes"/> long), and <paramref name="segments"/> receives, in wire order, slices of it interleaved
    /// with each block's own Data. Their concatenation equals the length prefix followed by <see cref="Encode"/>'s bytes.
    /// Returns the encoded size (without the prefix), or <see cref="DecodeErrorKind.TooLarge"/> (nothing written) over
    /// <paramref name="maxBytes"/>.
    /// </summary>
    public static Either<DecodeError, int> WriteFrameSegments(Message message, ProtocolVersion version, int maxBytes, Memory<byte> framing, ICollection<ReadOnlyMemory<byte>> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var proto = ToProto(message, version);
        var size = proto.CalculateSize();
        if (size > maxBytes)
            return new DecodeError(DecodeErrorKind.TooLarge, $"message of {size} bytes exceeds {maxBytes}; split it first");
        if (framing.Length != FramingBytes(message, version))
            throw new ArgumentException($"the framing buffer must be exactly {FramingBytes(message, version)} bytes", nameof(framing));

        // Fields 1 (wantlist), then the blocks (2 or 3), then 4 (presences) and 5 (pendingBytes): Encode's order.
        var head = new Pb.Message { Wantlist = proto.Wantlist };
        var tail = new Pb.Message { PendingBytes = proto.PendingBytes };
        tail.BlockPresences.AddRange(proto.BlockPresences);
        var span = framing.Span;
        var used = Varint.Write(span, (ulong)size);
        var headSize = head.CalculateSize();
        head.WriteTo(span.Slice(used, headSize));
        used += headSize;
        var segmentStart = 0;
        foreach (var block in message.Blocks.Values)
        {
            var data = block.Data;
            if (version == ProtocolVersion.V100)
            {
                span[used++] = 0x12; // field 2, length-delimited
                used += Varint.Write(span[used..], (ulong)data.Length);
            }
            else
            {
                var prefix = block.Cid.Version == 0 ? V0Prefix : block.Cid.Prefix.Encode();
                var dataField = data.Length == 0 ? 0 : 1 + Varint.EncodedLength((ulong)data.Length) + data.Length;
                var inner = 1 + Varint.EncodedLength((ulong)prefix.Length) + prefix.Length + dataField;
                span[used++] = 0x1a; // field 3, length-delimited
                used += Varint.Write(span[used..], (ulong)inner);
                span[used++] = 0x0a; // Block.prefix
                used += Varint.Write(span[used..], (ulong)prefix.Length);
                prefix.CopyTo(span[used..]);
                used += prefix.Length;
                if (data.Length == 0) continue; // proto3 leaves an empty bytes field out
                span[used++] = 0x12; // Block.data
                used += Varint.Write(span[used..], (ulong)data.Length);
            }

            segments.Add(framing[segmentStart..used]);
            segmentStart = used;
            if (data.Length > 0) segments.Add(data);
        }

        var tailSize = tail.CalculateSize();
        tail.WriteTo(span.Slice(used, tailSize));
        used += tailSize;
        if (used > segmentStart) segments.Add(framing[segmentStart..used]);
        return size;
    }

    /// <summary>
    /// Parses wire bytes received over <paramref name="version"/>. Never throws: every fault is a typed error naming where it was.
    /// Blocks are read from both field 2 (hashed as dag-pb sha2-256 CIDv0) and field 3 (CID from the prefix and the data's hash)
    /// whatever the version; what the version cannot carry (want-have, sendDontHave, presences, pendingBytes below 1.2.0) is dropped.
    /// The blocks own a copy of their bytes; <see cref="DecodeSlices"/> decodes without copying.
    /// </summary>
    public static Either<DecodeError, Message> Decode(ReadOnlySpan<byte> bytes, ProtocolVersion version, Limits limits) =>
        bytes.Length > limits.MessageBytesMax
            ? TooLarge(bytes.Length, limits)
            : DecodeSlices(bytes.ToArray(), version, limits);

    /// <summary>Parses wire bytes held in a (possibly segmented) sequence, as <see cref="Decode(ReadOnlySpan{byte}, ProtocolVersion, Limits)"/> does.</summary>
    public static Either<DecodeError, Message> Decode(ReadOnlySequence<byte> bytes, ProtocolVersion version, Limits limits) =>
        bytes.Length > limits.MessageBytesMax
            ? TooLarge(bytes.Length, limits)
            : DecodeSlices(bytes.ToArray(), version, limits);

    /// <summary>
    /// Parses wire bytes as <see cref="Decode(ReadOnlySpan{byte}, ProtocolVersion, Limits)"/> does, without copying block data:
    /// every block's <see cref="Block.Data"/> is a slice of <paramref name="bytes"/>, so the caller must keep that memory
    /// unchanged for as long as the blocks live. Each block is hashed exactly once, here, by its prefix; CIDs are copied.
    /// </summary>
    public static Either<DecodeError, Message> DecodeSlices(ReadOnlyMemory<byte> bytes, ProtocolVersion version, Limits limits)
    {
        if (bytes.Length > limits.MessageBytesMax) return TooLarge(bytes.Length, limits);
        var parts = new WireParts(limits.WantlistEntriesPerPeerMax);
        if (ParseMessage(bytes, parts) is { } malformed) return new DecodeError(DecodeErrorKind.BadProtobuf, malformed);
        parts.Finish();
        return FromParts(parts, version, limits);
    }

    private static DecodeError TooLarge(long length, Limits limits) =>
        new(DecodeErrorKind.TooLarge, $"message of {length} bytes exceeds {limits.MessageBytesMax}");

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
        var entries = message.WantsInWireOrder.Select(e => ToProto(e, version)).Where(e => e is not null).Select(e => e!).ToArray();
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

    // The fields of message.proto as read off the wire, before any meaning is given to them. Wantlist entries are kept to
    // the per-peer cap as they are read (boxo keeps at most MaxQueuedWantlistEntriesPerPeer wants of a message,
    // bitswap-reference.md; which ones is ours: the highest priorities, earliest first among equals, as the ledger's
    // overflow rule prefers): a 4 MB message of 100,000 entries never becomes 100,000 CIDs, only a scan.
    private sealed class WireParts(int wantsMax)
    {
        // Lowest priority first, and among equals the latest on the wire: the want to drop when a better one comes.
        private static readonly Comparer<(int Priority, int Index)> DropFirst =
            Comparer<(int Priority, int Index)>.Create((a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : b.Index.CompareTo(a.Index));

        private readonly PriorityQueue<WireEntry, (int Priority, int Index)> _wants = new(DropFirst);
        private readonly List<WireEntry> _cancels = [];
        private int _seen;

        public bool HasWantlist;
        public bool Full;
        public List<WireEntry> Entries { get; private set; } = [];
        public List<ReadOnlyMemory<byte>> RawBlocks { get; } = [];
        public List<(ReadOnlyMemory<byte> Prefix, ReadOnlyMemory<byte> Data)> Payload { get; } = [];
        public List<(ReadOnlyMemory<byte> Cid, int Type)> Presences { get; } = [];
        public int PendingBytes;

        // Wants are kept in a heap of at most wantsMax, so a flood costs a scan and O(log cap) per entry, never a list
        // of every entry. Cancels past the cap are dropped: a peer cannot have more wants to cancel than the cap let it keep.
        public void AddEntry(WireEntry entry)
        {
            var indexed = entry with { Index = _seen++ };
            if (entry.Cancel)
            {
                if (_cancels.Count < wantsMax) _cancels.Add(indexed);
                return;
            }

            if (wantsMax <= 0) return;
            var key = (indexed.Priority, indexed.Index);
            if (_wants.Count < wantsMax) _wants.Enqueue(indexed, key);
            else if (_wants.TryPeek(out _, out var lowest) && DropFirst.Compare(key, lowest) > 0) _wants.EnqueueDequeue(indexed, key);
        }

        // The kept cancels and wants, in wire order.
        public void Finish() =>
            Entries = [.. _cancels.Concat(_wants.UnorderedItems.Select(item => item.Element)).OrderBy(e => e.Index)];
    }

    private record struct WireEntry(ReadOnlyMemory<byte> Cid, int Priority, bool Cancel, int WantType, bool SendDontHave, int Index = 0);

    // Returns null when the bytes are a well-formed Message, else what Google.Protobuf would have complained about.
    private static string? ParseMessage(ReadOnlyMemory<byte> bytes, WireParts parts)
    {
        var reader = new WireReader(bytes);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType, out var error)) return error;
            switch ((field, wireType))
            {
                case (1, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var wantlist, out error)) return error;
                    parts.HasWantlist = true;
                    if (ParseWantlist(wantlist, parts) is { } bad) return bad;
                    break;
                case (2, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var raw, out error)) return error;
                    parts.RawBlocks.Add(raw);
                    break;
                case (3, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var block, out error)) return error;
                    if (ParseBlock(block, parts) is { } badBlock) return badBlock;
                    break;
                case (4, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var presence, out error)) return error;
                    if (ParsePresence(presence, parts) is { } badPresence) return badPresence;
                    break;
                case (5, WireReader.Varint):
                    if (!reader.TryReadVarint(out var pending, out error)) return error;
                    parts.PendingBytes = (int)pending;
                    break;
                default:
                    if (!reader.TrySkip(field, wireType, out error)) return error;
                    break;
            }
        }

        return null;
    }

    private static string? ParseWantlist(ReadOnlyMemory<byte> bytes, WireParts parts)
    {
        var reader = new WireReader(bytes);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType, out var error)) return error;
            switch ((field, wireType))
            {
                case (1, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var entry, out error)) return error;
                    if (ParseEntry(entry, parts) is { } bad) return bad;
                    break;
                case (2, WireReader.Varint):
                    if (!reader.TryReadVarint(out var full, out error)) return error;
                    parts.Full = full != 0;
                    break;
                default:
                    if (!reader.TrySkip(field, wireType, out error)) return error;
                    break;
            }
        }

        return null;
    }

    private static string? ParseEntry(ReadOnlyMemory<byte> bytes, WireParts parts)
    {
        var reader = new WireReader(bytes);
        var entry = new WireEntry(ReadOnlyMemory<byte>.Empty, 0, false, 0, false);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType, out var error)) return error;
            ulong value;
            switch ((field, wireType))
            {
                case (1, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out var cid, out error)) return error;
                    entry = entry with { Cid = cid };
                    break;
                case (2, WireReader.Varint):
                    if (!reader.TryReadVarint(out value, out error)) return error;
                    entry = entry with { Priority = (int)value };
                    break;
                case (3, WireReader.Varint):
                    if (!reader.TryReadVarint(out value, out error)) return error;
                    entry = entry with { Cancel = value != 0 };
                    break;
                case (4, WireReader.Varint):
                    if (!reader.TryReadVarint(out value, out error)) return error;
                    entry = entry with { WantType = (int)value };
                    break;
                case (5, WireReader.Varint):
                    if (!reader.TryReadVarint(out value, out error)) return error;
                    entry = entry with { SendDontHave = value != 0 };
                    break;
                default:
                    if (!reader.TrySkip(field, wireType, out error)) return error;
                    break;
            }
        }

        parts.AddEntry(entry);
        return null;
    }

    private static string? ParseBlock(ReadOnlyMemory<byte> bytes, WireParts parts)
    {
        var reader = new WireReader(bytes);
        var prefix = ReadOnlyMemory<byte>.Empty;
        var data = ReadOnlyMemory<byte>.Empty;
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType, out var error)) return error;
            switch ((field, wireType))
            {
                case (1, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out prefix, out error)) return error;
                    break;
                case (2, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out data, out error)) return error;
                    break;
                default:
                    if (!reader.TrySkip(field, wireType, out error)) return error;
                    break;
            }
        }

        parts.Payload.Add((prefix, data));
        return null;
    }

    private static string? ParsePresence(ReadOnlyMemory<byte> bytes, WireParts parts)
    {
        var reader = new WireReader(bytes);
        var cid = ReadOnlyMemory<byte>.Empty;
        var type = 0;
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType, out var error)) return error;
            switch ((field, wireType))
            {
                case (1, WireReader.LengthDelimited):
                    if (!reader.TryReadBytes(out cid, out error)) return error;
                    break;
                case (2, WireReader.Varint):
                    if (!reader.TryReadVarint(out var value, out error)) return error;
                    type = (int)value;
                    break;
                default:
                    if (!reader.TrySkip(field, wireType, out error)) return error;
                    break;
            }
        }

        parts.Presences.Add((cid, type));
        return null;
    }

    private static Either<DecodeError, Message> FromParts(WireParts parts, ProtocolVersion version, Limits limits)
    {
        // Entries, blocks and presences are gathered first and each map is built in one bulk pass (a node per entry, not a
        // path and a message copy per entry); the result is what adding them one by one in wire order would give.
        var message = Message.Empty;
        var supportsHave = version.SupportsHave();
        var entries = new List<WantlistEntry>(parts.Entries.Count);
        var blocks = new List<Block>(parts.RawBlocks.Count + parts.Payload.Count);
        var presences = new List<(Cid, PresenceType)>(supportsHave ? parts.Presences.Count : 0);
        if (parts.HasWantlist)
        {
            message = message.WithFull(parts.Full);
            var seen = new System.Collections.Generic.HashSet<Cid>(parts.Entries.Count);
            var order = new List<Cid>(parts.Entries.Count);
            for (var i = 0; i < parts.Entries.Count; i++)
            {
                var pb = parts.Entries[i];
                var cid = Cid.FromBytes(pb.Cid.Span);
                if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadCid, $"wantlist entry {i}");
                var wantType = pb.WantType switch
                {
                    0 => WantType.Block,
                    1 => WantType.Have,
                    _ => (WantType?)null,
                };
                if (wantType is not { } type)
                    return new DecodeError(DecodeErrorKind.BadField, $"wantlist entry {i}: unknown want type {pb.WantType}");
                if (!supportsHave && type == WantType.Have && !pb.Cancel) continue;
                var entry = pb.Cancel
                    ? WantlistEntry.CancelOf(Right(cid))
                    : new WantlistEntry(Right(cid), pb.Priority, type, false, supportsHave && pb.SendDontHave);
                if (seen.Add(entry.Cid)) order.Add(entry.Cid);
                entries.Add(entry);
            }
            message = message.WithEntries(entries) with { WireOrder = order.ToSeq().Strict() };
        }
        for (var i = 0; i < parts.RawBlocks.Count; i++)
        {
            var data = parts.RawBlocks[i];
            if (data.Length > limits.BlockBytesMax)
                return new DecodeError(DecodeErrorKind.TooLarge, $"1.0.0 block {i}: {data.Length} bytes exceeds {limits.BlockBytesMax}");
            // bitswap 1.0.0 blocks are always dag-pb sha2-256 CIDv0 (spec; boxo message.go newMessageFromProto).
            var cid = new CidPrefix(0, Multicodec.DagPb, (ulong)MultihashCode.Sha2_256, 32).Sum(data.Span);
            if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadPrefix, $"1.0.0 block {i}");
            blocks.Add(Block.Trusted(Right(cid), data));
        }
        for (var i = 0; i < parts.Payload.Count; i++)
        {
            var (prefixBytes, data) = parts.Payload[i];
            var prefix = CidPrefix.Decode(prefixBytes.Span);
            if (prefix.IsLeft) return Located(prefix, DecodeErrorKind.BadPrefix, $"block {i}");
            if (data.Length > limits.BlockBytesMax)
                return new DecodeError(DecodeErrorKind.TooLarge, $"block {i}: {data.Length} bytes exceeds {limits.BlockBytesMax}");
            // Keep the hash's own kind (UnsupportedHash, UnknownHash, BadDigestLength): the prefix parsed, the data could not be hashed by it.
            var cid = Right(prefix).Sum(data.Span);
            if (cid.IsLeft) return Located(cid, null, $"block {i}");
            blocks.Add(Block.Trusted(Right(cid), data));
        }
        for (var i = 0; i < parts.Presences.Count; i++)
        {
            var (cidBytes, presenceType) = parts.Presences[i];
            var cid = Cid.FromBytes(cidBytes.Span);
            if (cid.IsLeft) return Located(cid, DecodeErrorKind.BadCid, $"block presence {i}");
            var presence = presenceType switch
            {
                0 => PresenceType.Have,
                1 => PresenceType.DontHave,
                _ => (PresenceType?)null,
            };
            if (presence is not { } type)
                return new DecodeError(DecodeErrorKind.BadField, $"block presence {i}: unknown presence type {presenceType}");
            if (supportsHave) presences.Add((Right(cid), type));
        }
        if (parts.PendingBytes < 0)
            return new DecodeError(DecodeErrorKind.BadField, $"pendingBytes {parts.PendingBytes} is negative");
        if (blocks.Count == 0 && presences.Count == 0) return supportsHave ? message.WithPendingBytes(parts.PendingBytes) : message;
        var payload = Message.Of(blocks, presences, supportsHave ? parts.PendingBytes : 0);
        return message with { Blocks = payload.Blocks, Presences = payload.Presences, PendingBytes = payload.PendingBytes };
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
