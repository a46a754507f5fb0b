using Bitswap.Domain;

namespace Bitswap.Runtime.Blockstores;

/// <summary>The checks every blockstore applies before it stores a block.</summary>
internal static class BlockAdmission
{
    /// <summary>Throws <see cref="BlockRejectedException"/> when the block is too large or its data does not hash to its CID.</summary>
    public static void Check(Block block, int blockBytesMax)
    {
        if (block.Size > blockBytesMax)
            throw new BlockRejectedException($"block {block.Cid} is {block.Size} bytes, over the {blockBytesMax}-byte limit");
        // A Block is built verified, but the store is the last line of defence and a rehash is cheap next to a disk write.
        if (!block.Cid.Hash.Verifies(block.Data.Span))
            throw new BlockRejectedException($"block data does not hash to {block.Cid} (or {block.Cid.Hash.FunctionName} is not computed here)");
    }
}
