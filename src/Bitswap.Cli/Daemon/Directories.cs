using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Cli.Daemon;

/// <summary>What the RPC commands need to know of UnixFS nodes: their type, their links, and plain directories.</summary>
public static class Directories
{
    /// <summary>The UnixFS type of a block; a raw block (and any non-dag-pb block) counts as <see cref="UnixFsType.Raw"/>.</summary>
    public static UnixFsType TypeOf(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (block.Cid.Codec != Multicodec.DagPb)
        {
            return UnixFsType.Raw;
        }

        var node = Decode(block);
        return node.Data is { } data
            ? UnixFsData.Decode(data.Span).Match(d => d.Type, e => throw new RpcException(500, RpcErrorCode.Normal, $"{block.Cid}: not a UnixFS node: {e.Detail}"))
            : throw new RpcException(500, RpcErrorCode.Normal, $"{block.Cid}: dag-pb node without UnixFS data");
    }

    /// <summary>The links of a dag-pb block (none for other codecs).</summary>
    public static Seq<DagPbLink> Links(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        return block.Cid.Codec == Multicodec.DagPb ? Decode(block).Links : Seq<DagPbLink>.Empty;
    }

    /// <summary>The file bytes under a block: its length when raw, else the UnixFS filesize.</summary>
    public static long FileSize(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (block.Cid.Codec != Multicodec.DagPb)
        {
            return block.Size;
        }

        var node = Decode(block);
        return node.Data is { } data
            ? UnixFsData.Decode(data.Span).Match(d => (long)(d.FileSize ?? (ulong)d.InlineLength), _ => 0L)
            : 0;
    }

    private static DagPbNode Decode(Block block) =>
        DagPb.Decode(block.Data.Span).Match(n => n, e => throw new RpcException(500, RpcErrorCode.Normal, $"{block.Cid}: malformed dag-pb: {e.Detail}"));
}
