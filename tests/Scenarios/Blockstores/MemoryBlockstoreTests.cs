using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Xunit;
using static Bitswap.Tests.Scenarios.Blockstores.BlockstoreTestKit;

namespace Bitswap.Tests.Scenarios.Blockstores;

public sealed class MemoryBlockstoreTests
{
    [Fact]
    public async Task Put_then_get_returns_the_same_block()
    {
        var store = new MemoryBlockstore();
        var block = RawBlock("hello world");
        await store.PutAsync(block);
        Assert.True(await store.HasAsync(block.Cid));
        Assert.Equal(block.Size, await store.GetSizeAsync(block.Cid));
        Assert.Equal(block, await store.GetAsync(block.Cid));
    }

    [Fact]
    public async Task A_missing_block_is_absent_everywhere()
    {
        var store = new MemoryBlockstore();
        var block = RawBlock("never stored");
        Assert.False(await store.HasAsync(block.Cid));
        Assert.Null(await store.GetSizeAsync(block.Cid));
        Assert.Null(await store.GetAsync(block.Cid));
        Assert.False(await store.DeleteAsync(block.Cid));
    }

    [Fact]
    public async Task A_block_is_found_by_its_v0_and_v1_cids_and_carries_the_cid_asked_for()
    {
        var store = new MemoryBlockstore();
        var v1 = Block.Create("dag-pb bytes"u8.ToArray(), Multicodec.DagPb).Match(b => b, e => throw new InvalidOperationException(e.ToString()));
        await store.PutAsync(v1);
        var v0 = V0Of(v1);
        var fromV0 = await store.GetAsync(v0);
        Assert.NotNull(fromV0);
        Assert.Equal(v0, fromV0.Cid);
        Assert.True(fromV0.Data.Span.SequenceEqual(v1.Data.Span));
    }

    [Fact]
    public void A_block_cannot_be_built_from_data_that_does_not_hash_to_its_cid_so_no_store_can_be_given_one()
    {
        // Stores trust the Block type (hash once, where data enters the process); this is the check they rely on.
        var genuine = RawBlock("genuine");
        var verified = Block.Verified(genuine.Cid, "tampered"u8.ToArray());
        Assert.True(verified.IsLeft);
        Assert.Contains("hashes to", verified.LeftToSeq().Head().ToString());
    }

    [Fact]
    public async Task A_block_over_the_size_limit_is_rejected_unless_the_limit_is_raised()
    {
        var big = RawBlock(1, 4097);
        var strict = new MemoryBlockstore(Limits.Default with { BlockBytesMax = 4096 });
        await Assert.ThrowsAsync<BlockRejectedException>(() => strict.PutAsync(big).AsTask());
        var relaxed = new MemoryBlockstore(Limits.Default with { BlockBytesMax = 8192 });
        await relaxed.PutAsync(big);
        Assert.True(await relaxed.HasAsync(big.Cid));
    }

    [Fact]
    public async Task Delete_removes_the_block_and_put_is_idempotent()
    {
        var store = new MemoryBlockstore();
        var block = RawBlock("twice");
        await store.PutAsync(block);
        await store.PutAsync(block);
        Assert.Equal(1, store.Count);
        Assert.True(await store.DeleteAsync(block.Cid));
        Assert.False(await store.HasAsync(block.Cid));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task All_keys_lists_every_cid_as_put_in_byte_order()
    {
        var store = new MemoryBlockstore();
        var blocks = Enumerable.Range(0, 20).Select(i => RawBlock(i, 100)).ToArray();
        foreach (var block in blocks) await store.PutAsync(block);
        Assert.Equal(blocks.Select(b => b.Cid).Order(), await AllKeys(store));
    }

    [Fact]
    public async Task Concurrent_puts_and_gets_from_many_tasks_agree()
    {
        var store = new MemoryBlockstore();
        var blocks = Enumerable.Range(0, 256).Select(i => RawBlock(i, 512)).ToArray();
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < blocks.Length; i += 16) await store.PutAsync(blocks[i]);
            foreach (var block in blocks)
            {
                var got = await store.GetAsync(block.Cid);
                if (got is not null) Assert.Equal(block, got);
            }
        }));
        await Task.WhenAll(workers);
        foreach (var block in blocks) Assert.Equal(block, await store.GetAsync(block.Cid));
        Assert.Equal(blocks.Length, store.Count);
    }
}
