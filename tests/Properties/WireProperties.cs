using System.Buffers;
using System.Security.Cryptography;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>CID text and bytes round trips, multihash compute and verify.</summary>
public class MultiformatProperties
{
    [Property(MaxTest = 500)]
    public Property Cid_v0_round_trips_through_text_and_bytes() =>
        Prop.ForAll(Arbitraries.CidV0Gen.ToArbitrary(), cid =>
            cid.Version == 0
            && cid.ToString().StartsWith("Qm", StringComparison.Ordinal)
            && Cid.Parse(cid.ToString()).Match(parsed => parsed == cid, _ => false)
            && Cid.FromBytes(cid.Bytes).Match(parsed => parsed == cid, _ => false));

    [Property(MaxTest = 500)]
    public Property Cid_v1_round_trips_through_base32_base58_and_bytes() =>
        Prop.ForAll(Arbitraries.CidV1Gen.ToArbitrary(), cid =>
            cid.ToString().StartsWith('b')
            && Cid.Parse(cid.ToString(MultibaseEncoding.Base32Lower)).Match(parsed => parsed == cid, _ => false)
            && Cid.Parse(cid.ToString(MultibaseEncoding.Base32Upper)).Match(parsed => parsed == cid, _ => false)
            && Cid.Parse(cid.ToString(MultibaseEncoding.Base58Btc)).Match(parsed => parsed == cid, _ => false)
            && Cid.FromBytes(cid.Bytes).Match(parsed => parsed == cid && parsed.Codec == cid.Codec && parsed.Hash.Equals(cid.Hash), _ => false));

    [Property(MaxTest = 500)]
    public Property Sha2_256_multihash_matches_the_platform_hash_and_verifies_only_its_data() =>
        Prop.ForAll(Arbitraries.BytesUpTo(512).ToArbitrary(), data =>
            Multihash.Compute(MultihashCode.Sha2_256, data).Match(
                hash => hash.Digest.SequenceEqual(SHA256.HashData(data)) && hash.Verifies(data) && !hash.Verifies(Mutated(data))
                    && Multihash.FromBytes(hash.Bytes).Match(h => h.Equals(hash), _ => false),
                _ => false));

    [Property(MaxTest = 500)]
    public Property Sha2_512_multihash_matches_the_platform_hash_and_verifies_only_its_data() =>
        Prop.ForAll(Arbitraries.BytesUpTo(512).ToArbitrary(), data =>
            Multihash.Compute(MultihashCode.Sha2_512, data).Match(
                hash => hash.Digest.SequenceEqual(SHA512.HashData(data)) && hash.Verifies(data) && !hash.Verifies(Mutated(data))
                    && Multihash.FromBytes(hash.Bytes).Match(h => h.Equals(hash), _ => false),
                _ => false));

    [Property(MaxTest = 500)]
    public Property Identity_multihash_holds_the_data_itself() =>
        Prop.ForAll(Arbitraries.BytesUpTo(200).ToArbitrary(), data =>
            Multihash.Compute(MultihashCode.Identity, data).Match(
                hash => hash.Digest.SequenceEqual(data) && hash.Verifies(data) && !hash.Verifies(Mutated(data))
                    && Multihash.FromBytes(hash.Bytes).Match(h => h.Equals(hash), _ => false),
                _ => false));

    [Property(MaxTest = 200)]
    public Property Recognised_but_uncomputed_hashes_give_UnsupportedHash() =>
        Prop.ForAll(
            Arbitraries.BytesUpTo(64).ToArbitrary(),
            Gen.Elements(MultihashCode.Sha1, MultihashCode.Sha3_256, MultihashCode.Sha3_512, MultihashCode.Blake3, MultihashCode.Blake2b256).ToArbitrary(),
            (data, code) => Multihash.Compute(code, data).Match(_ => false, e => e.Kind == DecodeErrorKind.UnsupportedHash));

    [Fact]
    public void Unregistered_hash_codes_give_UnknownHash()
    {
        var error = Multihash.Compute(0x7777UL, [1, 2, 3]).Match(_ => null, e => e);
        Assert.Equal(DecodeErrorKind.UnknownHash, error?.Kind);
    }

    private static byte[] Mutated(byte[] data)
    {
        if (data.Length == 0) return [0];
        var copy = (byte[])data.Clone();
        copy[copy.Length / 2] ^= 0x01;
        return copy;
    }
}

/// <summary>Codec round trips, robustness against hostile bytes, splitting and framing.</summary>
public class WireProperties
{
    [Fact]
    public void Decoding_keeps_the_wantlist_in_wire_order_and_encoding_writes_it_back_in_that_order()
    {
        var cids = Enumerable.Range(0, 6).Select(i => Block.Raw(new[] { (byte)i }).Cid).ToArray();
        var wire = new[] { cids[4], cids[1], cids[5], cids[0], cids[3], cids[2] };
        var message = Message.Empty.WithEntries(wire.Select(cid => WantlistEntry.WantBlock(cid, 1)).ToArray()) with { WireOrder = wire.ToSeq() };

        var decoded = MessageCodec.Decode(MessageCodec.Encode(message, ProtocolVersion.V120), ProtocolVersion.V120, Limits.Default);

        var back = decoded.Match(m => m, e => throw new InvalidOperationException(e.ToString()));
        Assert.Equal(wire, back.WireOrder.ToArray());
        Assert.Equal(message, back);
    }

    private static readonly Limits Limits = Limits.Default;

    [Property(MaxTest = 500)]
    public Property Round_trip_keeps_what_each_version_can_carry() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.VersionGen.ToArbitrary(), (message, version) =>
        {
            var decoded = MessageCodec.Decode(MessageCodec.Encode(message, version), version, Limits);
            var expected = WireProjection.ProjectTo(message, version);
            return decoded.Match(d => d == expected, e => false)
                .Label($"{version}: {message} decoded to {decoded}, expected {expected}");
        });

    [Property(MaxTest = 300)]
    public Property Encoded_size_and_buffer_writer_agree_with_encode() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.VersionGen.ToArbitrary(), (message, version) =>
        {
            var bytes = MessageCodec.Encode(message, version);
            var writer = new ArrayBufferWriter<byte>();
            MessageCodec.WriteTo(message, version, writer);
            return MessageCodec.EncodedSize(message, version) == bytes.Length && writer.WrittenSpan.SequenceEqual(bytes);
        });

    [Property(MaxTest = 10_000)]
    public Property Decode_never_throws_on_arbitrary_bytes() =>
        Prop.ForAll(Arbitraries.BytesUpTo(400).ToArbitrary(), Arbitraries.VersionGen.ToArbitrary(), (bytes, version) =>
            DecodeIsStable(bytes, version));

    [Property(MaxTest = 3_000)]
    public Property Decode_never_throws_on_mutated_valid_encodings() =>
        Prop.ForAll(MutatedEncodingGen.ToArbitrary(), Arbitraries.VersionGen.ToArbitrary(), (bytes, version) =>
            DecodeIsStable(bytes, version));

    [Property(MaxTest = 10_000)]
    public Property The_slicing_decoder_accepts_exactly_the_protobuf_that_Google_Protobuf_accepts() =>
        Prop.ForAll(Arbitraries.BytesUpTo(400).ToArbitrary(), Arbitraries.VersionGen.ToArbitrary(), (bytes, version) =>
            AgreesWithGoogleProtobuf(bytes, version));

    [Property(MaxTest = 3_000)]
    public Property The_slicing_decoder_agrees_with_Google_Protobuf_on_mutated_encodings() =>
        Prop.ForAll(MutatedEncodingGen.ToArbitrary(), Arbitraries.VersionGen.ToArbitrary(), AgreesWithGoogleProtobuf);

    [Property(MaxTest = 500)]
    public Property Decoding_repeated_cids_gives_what_adding_the_parts_one_by_one_in_wire_order_gives() =>
        Prop.ForAll(RepeatedCidsGen.ToArbitrary(), Arbitraries.VersionGen.ToArbitrary(), (wire, version) =>
        {
            var (proto, entries, blocks, presences) = wire;
            var decoded = MessageCodec.Decode(Google.Protobuf.MessageExtensions.ToByteArray(proto), version, Limits).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString()));
            var supportsHave = version.SupportsHave();
            var expected = Message.Empty.WithFull(proto.Wantlist.Full);
            foreach (var entry in entries)
                if (supportsHave || entry.WantType == WantType.Block || entry.Cancel) expected = expected.WithEntry(supportsHave ? entry : entry with { SendDontHave = false });
            foreach (var block in blocks) expected = expected.WithBlock(block);
            if (supportsHave)
            {
                foreach (var (cid, type) in presences) expected = expected.WithPresence(cid, type);
                expected = expected.WithPendingBytes(proto.PendingBytes);
            }

            return decoded == expected && decoded.Full == expected.Full;
        });

    // A wire message whose wants, blocks and presences keep naming the same few CIDs, built through Google.Protobuf.
    private static readonly Gen<(Bitswap.Domain.Wire.Pb.Message, List<WantlistEntry>, List<Block>, List<(Cid, PresenceType)>)> RepeatedCidsGen =
        from pool in Arbitraries.BlockGen.ListOf(3)
        let want = from block in Gen.Elements<Block>(pool) from kind in Gen.Choose(0, 3) from priority in Gen.Choose(1, 9) select (block, kind, priority)
        let presence = from block in Gen.Elements<Block>(pool) from type in Gen.Elements(PresenceType.Have, PresenceType.DontHave) select (block, type)
        from wants in Gen.Choose(0, 12).SelectMany(n => want.ListOf(n))
        from sent in Gen.Choose(0, 6).SelectMany(n => Gen.Elements<Block>(pool).ListOf(n))
        from said in Gen.Choose(0, 6).SelectMany(n => presence.ListOf(n))
        from full in Gen.Elements(true, false)
        from pending in Gen.Choose(0, 1000)
        select Build(wants, sent, said, full, pending);

    private static (Bitswap.Domain.Wire.Pb.Message, List<WantlistEntry>, List<Block>, List<(Cid, PresenceType)>) Build(
        IEnumerable<(Block, int, int)> wants, IEnumerable<Block> sent, IEnumerable<(Block, PresenceType)> said, bool full, int pending)
    {
        var proto = new Bitswap.Domain.Wire.Pb.Message { Wantlist = new() { Full = full }, PendingBytes = pending };
        var entries = new List<WantlistEntry>();
        foreach (var (block, kind, priority) in wants)
        {
            // kind: 0 want-block, 1 want-have, 2 want-block with send-dont-have, 3 cancel.
            var type = kind == 1 ? WantType.Have : WantType.Block;
            proto.Wantlist.Entries.Add(new Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.Entry
            {
                Block = Google.Protobuf.ByteString.CopyFrom(block.Cid.Bytes),
                Priority = priority,
                Cancel = kind == 3,
                WantType = type == WantType.Have ? Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.WantType.Have : Bitswap.Domain.Wire.Pb.Message.Types.Wantlist.Types.WantType.Block,
                SendDontHave = kind == 2,
            });
            entries.Add(kind == 3 ? WantlistEntry.CancelOf(block.Cid) : new WantlistEntry(block.Cid, priority, type, false, kind == 2));
        }

        foreach (var block in sent)
            proto.Payload.Add(new Bitswap.Domain.Wire.Pb.Message.Types.Block { Prefix = Google.Protobuf.ByteString.CopyFrom(block.Cid.Prefix.Encode()), Data = Google.Protobuf.ByteString.CopyFrom(block.Data.Span) });
        foreach (var (block, type) in said)
            proto.BlockPresences.Add(new Bitswap.Domain.Wire.Pb.Message.Types.BlockPresence
            {
                Cid = Google.Protobuf.ByteString.CopyFrom(block.Cid.Bytes),
                Type = type == PresenceType.Have ? Bitswap.Domain.Wire.Pb.Message.Types.BlockPresenceType.Have : Bitswap.Domain.Wire.Pb.Message.Types.BlockPresenceType.DontHave,
            });
        return (proto, entries, [.. sent], [.. said.Select(p => (p.Item1.Cid, p.Item2))]);
    }

    [Property(MaxTest = 300)]
    public Property Decoded_blocks_are_slices_of_the_received_buffer_not_copies() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.VersionGen.ToArbitrary(), (message, version) =>
        {
            var bytes = MessageCodec.Encode(message, version);
            return MessageCodec.DecodeSlices(bytes, version, Limits).Match(
                decoded => decoded.Blocks.Values.All(b => b.Size == 0
                    || (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(b.Data, out var segment) && ReferenceEquals(segment.Array, bytes))),
                _ => false);
        });

    [Property(MaxTest = 300)]
    public Property Frame_segments_concatenate_to_the_length_prefix_and_the_encoding() =>
        Prop.ForAll(Arbitraries.WireMessage(), Arbitraries.VersionGen.ToArbitrary(), (message, version) =>
        {
            var framing = new byte[MessageCodec.FramingBytes(message, version)];
            var segments = new List<ReadOnlyMemory<byte>>();
            var size = MessageCodec.WriteFrameSegments(message, version, int.MaxValue, framing, segments);
            var joined = segments.SelectMany(m => m.ToArray()).ToArray();
            return size.Match(n => n, _ => -1) == MessageCodec.EncodedSize(message, version)
                && joined.AsSpan().SequenceEqual(Framing.Frame(MessageCodec.Encode(message, version)));
        });

    [Fact]
    public void A_block_whose_data_was_tampered_decodes_under_the_cid_of_its_real_bytes()
    {
        // Bitswap 1.1+ sends a prefix, not a CID: the CID is what the bytes hash to, so altered bytes can never pass for
        // the block that was asked for.
        var wanted = Block.Raw("the real block"u8.ToArray());
        var honest = MessageCodec.Encode(Message.Empty.WithBlock(wanted), ProtocolVersion.V120);
        var tampered = (byte[])honest.Clone();
        tampered[^1] ^= 0x01;

        var decoded = MessageCodec.DecodeSlices(tampered, ProtocolVersion.V120, Limits).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString()));

        var block = Assert.Single(decoded.Blocks.Values);
        Assert.NotEqual(wanted.Cid, block.Cid);
        Assert.Equal(Block.Raw(block.Data.ToArray()).Cid, block.Cid);
    }

    [Property(MaxTest = 500)]
    public Property Split_keeps_every_item_once_and_parts_within_the_limit() =>
        Prop.ForAll(SplitCaseGen.ToArbitrary(), c =>
        {
            var (message, version, maxBytes) = c;
            var parts = MessageCodec.Split(message, version, maxBytes).ToList();
            var entries = parts.SelectMany(p => p.Wantlist.Values).ToList();
            var blocks = parts.SelectMany(p => p.Blocks.Values).ToList();
            var presences = parts.SelectMany(p => p.Presences.Pairs).ToList();
            var itemsOf = (Message p) => p.Wantlist.Count + p.Blocks.Count + p.Presences.Count;
            return (parts.Count >= 1).Label("at least one part")
                .And(entries.Count == message.Wantlist.Count && entries.ToHashSet().SetEquals(message.Wantlist.Values)).Label("entries once")
                .And(blocks.Count == message.Blocks.Count && blocks.ToHashSet().SetEquals(message.Blocks.Values)).Label("blocks once")
                .And(presences.Count == message.Presences.Count && presences.ToHashSet().SetEquals(message.Presences.Pairs)).Label("presences once")
                .And(parts.All(p => MessageCodec.EncodedSize(p, version) <= maxBytes || itemsOf(p) == 1)).Label("parts within the limit")
                .And(parts[0].Full == message.Full && parts.Skip(1).All(p => !p.Full)).Label("full only first")
                .And(parts[^1].PendingBytes == message.PendingBytes && parts.SkipLast(1).All(p => p.PendingBytes == 0)).Label("pending on the last")
                .And(parts.Count == 1 || parts.All(p => itemsOf(p) > 0)).Label("no empty parts");
        });

    [Property(MaxTest = 500)]
    public Property Framed_messages_read_back_in_order_from_any_segmentation() =>
        Prop.ForAll(FramingCaseGen.ToArbitrary(), c =>
        {
            var (payloads, cuts) = c;
            var writer = new ArrayBufferWriter<byte>();
            foreach (var payload in payloads) Framing.WriteFrame(writer, payload);
            var buffer = Segmented(writer.WrittenSpan.ToArray(), cuts);
            var read = new List<byte[]>();
            while (Framing.TryReadFrame(ref buffer, 4096, out var frame, out var error) == FrameStatus.Frame)
                read.Add(frame.ToArray());
            return buffer.IsEmpty && read.Count == payloads.Length && Enumerable.Zip(read, payloads, (r, p) => r.AsSpan().SequenceEqual(p)).All(same => same);
        });

    [Property(MaxTest = 500)]
    public Property A_truncated_frame_needs_more_and_leaves_the_buffer_alone() =>
        Prop.ForAll(Arbitraries.BytesUpTo(600).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (payload, cutSeed) =>
        {
            var framed = Framing.Frame(payload);
            var cut = cutSeed % framed.Length;
            var buffer = new ReadOnlySequence<byte>(framed, 0, cut);
            var before = buffer;
            var status = Framing.TryReadFrame(ref buffer, 4096, out _, out var error);
            return status == FrameStatus.NeedMore && error is null && buffer.Equals(before);
        });

    [Property(MaxTest = 300)]
    public Property A_frame_over_the_limit_is_a_TooLarge_error() =>
        Prop.ForAll(Gen.Choose(1, 1 << 20).ToArbitrary(), excess =>
        {
            const int max = 1024;
            var buffer = new ReadOnlySequence<byte>(Varint.Encode((ulong)(max + excess)));
            var status = Framing.TryReadFrame(ref buffer, max, out _, out var error);
            return status == FrameStatus.Error && error?.Kind == DecodeErrorKind.TooLarge;
        });

    [Fact]
    public void Non_minimal_and_overlong_length_prefixes_are_errors()
    {
        var nonMinimal = new ReadOnlySequence<byte>(Convert.FromHexString("810000"));
        Assert.Equal(FrameStatus.Error, Framing.TryReadFrame(ref nonMinimal, 4096, out _, out var e1));
        Assert.Equal(DecodeErrorKind.VarintNonMinimal, e1?.Kind);
        var overlong = new ReadOnlySequence<byte>(Convert.FromHexString("80808080808080808001"));
        Assert.Equal(FrameStatus.Error, Framing.TryReadFrame(ref overlong, int.MaxValue, out _, out var e2));
        Assert.Equal(DecodeErrorKind.VarintOverlong, e2?.Kind);
    }

    [Fact]
    public void Write_message_refuses_a_message_over_the_limit_and_writes_nothing()
    {
        var message = Message.Empty.WithBlock(Block.Raw(new byte[2000]));
        var writer = new ArrayBufferWriter<byte>();
        var result = Framing.WriteMessage(writer, message, ProtocolVersion.V120, 1000);
        Assert.True(result.IsLeft);
        Assert.Equal(0, writer.WrittenCount);
        var ok = Framing.WriteMessage(writer, message, ProtocolVersion.V120, 4096);
        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        Assert.Equal(FrameStatus.Frame, Framing.TryReadFrame(ref buffer, 4096, out var frame, out _));
        Assert.Equal(writer.WrittenCount, ok.Match(n => n, _ => -1));
        Assert.Equal(message, MessageCodec.Decode(frame, ProtocolVersion.V120, Limits).Match(m => m, e => throw new Xunit.Sdk.XunitException(e.ToString())));
    }

    /// <summary>Our decoder reports BadProtobuf exactly when Google.Protobuf's generated parser throws.</summary>
    private static bool AgreesWithGoogleProtobuf(byte[] bytes, ProtocolVersion version)
    {
        bool googleAccepts;
        try
        {
            Bitswap.Domain.Wire.Pb.Message.Parser.ParseFrom(bytes);
            googleAccepts = true;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            googleAccepts = false;
        }

        var decoded = MessageCodec.DecodeSlices(bytes, version, Limits);
        var ours = decoded.Match(_ => true, e => e.Kind != DecodeErrorKind.BadProtobuf);
        return ours == googleAccepts
            ? true
            : throw new Xunit.Sdk.XunitException($"Google.Protobuf {(googleAccepts ? "accepts" : "rejects")} {Convert.ToHexString(bytes)}; we say {decoded}");
    }

    /// <summary>Decoding returns a value, and a successful decode re-encodes to something that decodes to its own projection.</summary>
    private static bool DecodeIsStable(byte[] bytes, ProtocolVersion version) =>
        MessageCodec.Decode(bytes, version, Limits).Match(
            message => MessageCodec.Decode(MessageCodec.Encode(message, version), version, Limits)
                .Match(again => again == WireProjection.ProjectTo(message, version), _ => false),
            error => !string.IsNullOrEmpty(error.Detail));

    private static readonly Gen<byte[]> MutatedEncodingGen =
        from message in Arbitraries.MessageGen
        from version in Arbitraries.VersionGen
        let encoded = MessageCodec.Encode(message, version)
        from mutation in Gen.Choose(0, 3)
        from position in Gen.Choose(0, Math.Max(encoded.Length - 1, 0))
        from value in Arbitraries.ByteGen
        select Mutate(encoded, mutation, position, value);

    private static byte[] Mutate(byte[] encoded, int mutation, int position, byte value)
    {
        if (encoded.Length == 0) return [value];
        var copy = (byte[])encoded.Clone();
        switch (mutation)
        {
            case 0: copy[position] = value; return copy;
            case 1: copy[position] ^= (byte)(1 << (value % 8)); return copy;
            case 2: return copy[..position];
            case 3: return [.. copy[..position], value, .. copy[position..]];
            default: throw new System.Diagnostics.UnreachableException($"mutation {mutation}");
        }
    }

    private static readonly Gen<(Message Message, ProtocolVersion Version, int MaxBytes)> SplitCaseGen =
        from message in Arbitraries.MessageGen
        from version in Arbitraries.VersionGen
        from maxBytes in Gen.Choose(40, 1500)
        select (message, version, maxBytes);

    private static readonly Gen<(byte[][] Payloads, int[] Cuts)> FramingCaseGen =
        from payloads in Gen.Choose(0, 6).SelectMany(n => Arbitraries.BytesUpTo(300).ArrayOf(n))
        from cuts in Gen.Choose(0, 5).SelectMany(n => Gen.Choose(0, 2000).ArrayOf(n))
        select (payloads, cuts);

    private static ReadOnlySequence<byte> Segmented(byte[] bytes, int[] cuts)
    {
        var points = cuts.Where(c => c > 0 && c < bytes.Length).Distinct().Order().Append(bytes.Length).ToArray();
        if (bytes.Length == 0) return ReadOnlySequence<byte>.Empty;
        var start = 0;
        Segment? first = null, last = null;
        foreach (var end in points)
        {
            var memory = bytes.AsMemory(start, end - start);
            if (first is null) first = last = new Segment(memory, 0);
            else last = last!.Append(memory);
            start = end;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

/// <summary>What a protocol version can say about a message: the expected result of a round trip.</summary>
public static class WireProjection
{
    /// <summary>
    /// The message as a peer on <paramref name="version"/> receives it: cancels carry only their CID; below 1.2.0 want-haves,
    /// sendDontHave, presences and pendingBytes vanish; on 1.0.0 every block is re-identified as dag-pb sha2-256 CIDv0 of its data.
    /// </summary>
    public static Message ProjectTo(Message message, ProtocolVersion version)
    {
        var has = version.SupportsHave();
        var entries = message.Wantlist.Values
            .Where(e => e.Cancel || has || e.WantType == WantType.Block)
            .Select(e => e.Cancel ? WantlistEntry.CancelOf(e.Cid) : e with { SendDontHave = has && e.SendDontHave });
        var projected = Message.Empty.WithFull(message.Full).WithEntries(entries);
        foreach (var block in message.Blocks.Values)
            projected = projected.WithBlock(version == ProtocolVersion.V100 ? AsV0(block) : block);
        if (has)
        {
            foreach (var (cid, type) in message.Presences) projected = projected.WithPresence(cid, type);
            projected = projected.WithPendingBytes(message.PendingBytes);
        }
        return projected;
    }

    private static Block AsV0(Block block) =>
        Block.Create(block.Data, Multicodec.DagPb, MultihashCode.Sha2_256, version: 0).Match(b => b, e => throw new InvalidOperationException(e.ToString()));
}
