using Bitswap.Domain.Multiformats;
using Google.Protobuf;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>UnixFS node types (ipfs/specs UNIXFS.md, field Type).</summary>
public enum UnixFsType
{
    /// <summary>Raw bytes (legacy leaves).</summary>
    Raw = 0,
    /// <summary>A directory.</summary>
    Directory = 1,
    /// <summary>A file, or a chunk of one.</summary>
    File = 2,
    /// <summary>Metadata (unused in practice).</summary>
    Metadata = 3,
    /// <summary>A symbolic link.</summary>
    Symlink = 4,
    /// <summary>A HAMT-sharded directory.</summary>
    HamtShard = 5,
}

/// <summary>The UnixFS Data message of a dag-pb node, as far as files need it.</summary>
/// <param name="Type">The node type.</param>
/// <param name="Data">Inline bytes, absent when null or empty.</param>
/// <param name="FileSize">Total file bytes under this node, when present.</param>
/// <param name="BlockSizes">File bytes under each link, in link order.</param>
public sealed record UnixFsData(UnixFsType Type, ReadOnlyMemory<byte>? Data, ulong? FileSize, Seq<ulong> BlockSizes)
{
    /// <summary>A file chunk leaf holding <paramref name="chunk"/> inline, as ipfs-unixfs writes it (filesize = chunk length).</summary>
    public static UnixFsData FileLeaf(ReadOnlyMemory<byte> chunk) =>
        new(UnixFsType.File, chunk.Length == 0 ? null : chunk, (ulong)chunk.Length, default);

    /// <summary>A file parent node: filesize is the sum of the children's file bytes.</summary>
    public static UnixFsData FileParent(Seq<ulong> blockSizes) =>
        new(UnixFsType.File, null, blockSizes.Fold(0UL, (sum, size) => sum + size), blockSizes);

    /// <summary>Bytes of inline data.</summary>
    public int InlineLength => Data?.Length ?? 0;

    /// <summary>
    /// Encodes in field-number order (Type, Data, filesize, blocksizes unpacked), which is also ipfs-unixfs's order.
    /// Empty inline data is omitted, as ipfs-unixfs does.
    /// </summary>
    public byte[] Encode()
    {
        var message = new Pb.Data { Type = (Pb.Data.Types.DataType)Type };
        if (Data is { Length: > 0 } data)
        {
            message.Data_ = UnsafeByteOperations.UnsafeWrap(data);
        }

        if (FileSize is { } fileSize)
        {
            message.Filesize = fileSize;
        }

        message.Blocksizes.AddRange(BlockSizes);
        return message.ToByteArray();
    }

    /// <summary>Decodes a UnixFS Data message. Never throws on bad input.</summary>
    public static Either<DecodeError, UnixFsData> Decode(ReadOnlySpan<byte> bytes)
    {
        Pb.Data parsed;
        try
        {
            parsed = Pb.Data.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new DecodeError(DecodeErrorKind.BadProtobuf, $"UnixFS data: {e.Message}");
        }

        if (!parsed.HasType)
        {
            return new DecodeError(DecodeErrorKind.BadField, "UnixFS data: no Type");
        }

        if (!System.Enum.IsDefined((UnixFsType)parsed.Type))
        {
            return new DecodeError(DecodeErrorKind.BadField, $"UnixFS data: unknown Type {(int)parsed.Type}");
        }

        ReadOnlyMemory<byte>? data = parsed.HasData_ ? parsed.Data_.Memory : null;
        ulong? fileSize = parsed.HasFilesize ? parsed.Filesize : null;
        return new UnixFsData((UnixFsType)parsed.Type, data, fileSize, Prelude.toSeq(parsed.Blocksizes.ToArray()));
    }

    /// <inheritdoc />
    public bool Equals(UnixFsData? other) =>
        other is not null && Type == other.Type && FileSize == other.FileSize && BlockSizes.Equals(other.BlockSizes) &&
        InlineLength == other.InlineLength && (Data ?? default).Span.SequenceEqual((other.Data ?? default).Span);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Type, FileSize, BlockSizes, InlineLength);
}
