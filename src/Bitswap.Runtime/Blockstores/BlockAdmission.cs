using Bitswap.Domain;

namespace Bitswap.Runtime.Blockstores;

/// <summary>The checks every blockstore applies before it stores a block.</summary>
internal static class BlockAdmission
{
    /// <summary>Throws <see cref="BlockRejectedException"/> when the block is too large.</summary>
    /// <remarks>
    /// The hash is not checked again: a <see cref="Block"/> can only be built by hashing its data (<see cref="Block.Create"/>,
    /// <see cref="Block.Verified"/>) or by the wire decoder right after it hashed the bytes, so every block is verified once,
    /// where it enters the process. Re-hashing here cost about a fifth of a transfer's CPU.
    /// </remarks>
    public static void Check(Block block, int blockBytesMax)
    {
        if (block.Size > blockBytesMax)
            throw new BlockRejectedException($"block {block.Cid} is {block.Size} bytes, over the {blockBytesMax}-byte limit");
    }
}
