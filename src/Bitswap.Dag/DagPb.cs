using Bitswap.Domain.Multiformats;
using Google.Protobuf;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>A dag-pb link: the child's CID, an optional name and the optional total size of the child's DAG.</summary>
/// <param name="Hash">The child's CID.</param>
/// <param name="Name">The link name; UnixFS file nodes use the empty string.</param>
/// <param name="Tsize">Encoded bytes of the whole DAG under the child, when known.</param>
public sealed record DagPbLink(Cid Hash, string? Name, ulong? Tsize);

/// <summary>A dag-pb node: ordered links and optional data (for UnixFS, an encoded UnixFS Data message).</summary>
/// <param name="Links">Links in order.</param>
/// <param name="Data">The data field, absent when null.</param>
public sealed record DagPbNode(Seq<DagPbLink> Links, ReadOnlyMemory<byte>? Data)
{
    /// <inheritdoc />
    public bool Equals(DagPbNode? other) =>
        other is not null && Links.Equals(other.Links) && Data.HasValue == other.Data.HasValue &&
        (!Data.HasValue || Data.Value.Span.SequenceEqual(other.Data!.Value.Span));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Links, Data?.Length ?? -1);
}

/// <summary>The dag-pb codec (ipld/specs block-layer/codecs/dag-pb.md) with its canonical byte order.</summary>
public static class DagPb
{
    /// <summary>
    /// Encodes a node canonically: each link as Hash(1), Name(2), Tsize(3), all links (field 2) before Data (field 1).
    /// Google.Protobuf would write Data first (field-number order), which gives different bytes and so a different CID.
    /// </summary>
    public static byte[] Encode(DagPbNode node)
    {
        var bytes = new byte[EncodedSize(node)];
        var output = new CodedOutputStream(bytes);
        foreach (var link in node.Links)
        {
            output.WriteTag(2, WireFormat.WireType.LengthDelimited);
            output.WriteLength(LinkSize(link));
            WriteLink(output, link);
        }

        if (node.Data is { } data)
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(UnsafeByteOperations.UnsafeWrap(data));
        }

        output.Flush();
        return bytes;
    }

    /// <summary>The exact size of <see cref="Encode"/>'s output.</summary>
    public static int EncodedSize(DagPbNode node)
    {
        var size = 0;
        foreach (var link in node.Links)
        {
            var linkSize = LinkSize(link);
            size += 1 + CodedOutputStream.ComputeLengthSize(linkSize) + linkSize;
        }

        if (node.Data is { } data)
        {
            size += 1 + CodedOutputStream.ComputeLengthSize(data.Length) + data.Length;
        }

        return size;
    }

    /// <summary>Decodes a dag-pb block; every link must carry a valid CID. Never throws on bad input.</summary>
    public static Either<DecodeError, DagPbNode> Decode(ReadOnlySpan<byte> bytes)
    {
        Pb.PBNode parsed;
        try
        {
            parsed = Pb.PBNode.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, $"dag-pb node: {e.Message}");
        }

        var links = new DagPbLink[parsed.Links.Count];
        for (var i = 0; i < links.Length; i++)
        {
            var link = parsed.Links[i];
            if (!link.HasHash)
            {
                return new DecodeError(DecodeErrorKind.BadField, $"dag-pb link {i}: no Hash");
            }

            var cid = Cid.FromBytes(link.Hash.Span);
            if (cid.IsLeft)
            {
                return cid.LeftToSeq().Head.At($"dag-pb link {i}");
            }

            links[i] = new DagPbLink(cid.RightToSeq().Head, link.HasName ? link.Name : null, link.HasTsize ? link.Tsize : null);
        }

        ReadOnlyMemory<byte>? data = parsed.HasData ? parsed.Data.Memory : null;
        return new DagPbNode(Prelude.toSeq(links), data);
    }

    private static int LinkSize(DagPbLink link)
    {
        var size = 1 + CodedOutputStream.ComputeLengthSize(link.Hash.ByteLength) + link.Hash.ByteLength;
        if (link.Name is { } name)
        {
            size += 1 + CodedOutputStream.ComputeStringSize(name);
        }

        if (link.Tsize is { } tsize)
        {
            size += 1 + CodedOutputStream.ComputeUInt64Size(tsize);
        }

        return size;
    }

    private static void WriteLink(CodedOutputStream output, DagPbLink link)
    {
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(link.Hash.Memory));
        if (link.Name is { } name)
        {
            output.WriteTag(2, WireFormat.WireType.LengthDelimited);
            output.WriteString(name);
        }

        if (link.Tsize is { } tsize)
        {
            output.WriteTag(3, WireFormat.WireType.Varint);
            output.WriteUInt64(tsize);
        }
    }
}
