using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Blockstores;
using Xunit;
using static Bitswap.Tests.Scenarios.Blockstores.BlockstoreTestKit;

namespace Bitswap.Tests.Scenarios.Blockstores;

public sealed class FlatFsBlockstoreTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string Root => _scratch.Path;

    [Fact]
    public void A_new_store_writes_the_kubo_sharding_file()
    {
        FlatFsBlockstore.Open(Root);
        Assert.Equal(FlatFsLayout.NextToLast2 + "\n", File.ReadAllText(Path.Combine(Root, "SHARDING")));
    }

    [Fact]
    public async Task Put_then_get_round_trips_and_survives_reopening()
    {
        var block = RawBlock("hello world");
        var store = FlatFsBlockstore.Open(Root);
        await store.PutAsync(block);
        Assert.True(await store.HasAsync(block.Cid));
        Assert.Equal(block.Size, await store.GetSizeAsync(block.Cid));
        Assert.Equal(block, await store.GetAsync(block.Cid));

        var reopened = FlatFsBlockstore.Open(Root);
        Assert.Equal(block, await reopened.GetAsync(block.Cid));
    }

    [Fact]
    public async Task A_missing_block_is_absent_everywhere()
    {
        var store = FlatFsBlockstore.Open(Root);
        var block = RawBlock("never stored");
        Assert.False(await store.HasAsync(block.Cid));
        Assert.Null(await store.GetSizeAsync(block.Cid));
        Assert.Null(await store.GetAsync(block.Cid));
        Assert.False(await store.DeleteAsync(block.Cid));
    }

    [Fact]
    public async Task Delete_removes_the_file()
    {
        var store = FlatFsBlockstore.Open(Root);
        var block = RawBlock("short-lived");
        await store.PutAsync(block);
        Assert.True(await store.DeleteAsync(block.Cid));
        Assert.False(File.Exists(store.PathOf(block.Cid.Hash)));
        Assert.Null(await store.GetAsync(block.Cid));
    }

    [Fact]
    public async Task A_batch_put_writes_every_block_and_leaves_no_temp_file()
    {
        var store = FlatFsBlockstore.Open(Root);
        var blocks = Enumerable.Range(0, 40).Select(i => RawBlock(i, 100 + i)).ToArray();
        await store.PutManyAsync(blocks);
        foreach (var block in blocks) Assert.Equal(block, await store.GetAsync(block.Cid));
        Assert.Empty(Directory.EnumerateFiles(Root, ".put-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_block_over_the_size_limit_is_rejected()
    {
        var store = FlatFsBlockstore.Open(Root, new FlatFsOptions { BlockBytesMax = 1024 });
        await Assert.ThrowsAsync<BlockRejectedException>(() => store.PutAsync(RawBlock(7, 1025)).AsTask());
    }

    [Fact]
    public async Task A_file_corrupted_on_disk_reads_as_absent_and_is_counted_with_hash_on_read()
    {
        var store = FlatFsBlockstore.Open(Root, new FlatFsOptions { HashOnRead = true });
        var block = RawBlock("will rot");
        await store.PutAsync(block);
        await File.WriteAllBytesAsync(store.PathOf(block.Cid.Hash), "bit rot"u8.ToArray());
        Assert.Null(await store.GetAsync(block.Cid));
        Assert.Equal(1, store.CorruptReads);
    }

    // Vectors computed by hand from the bytes: sha2-256("hello world") = b94d27b9…, multihash 1220b94d…; the empty block's
    // file QV/CIQOHMGEIKMPYHAUTL57JSEZN64SIJ5OIHSGJG4TJSSJLGI3PBJLQVI.data is present in every fresh Kubo repo.
    [Theory]
    [InlineData("hello world", "32", "CIQLSTJHXGJU2PQIUUXFFV62PWV7VREE57RXUU4A52IIR55M4LX432I")]
    [InlineData("", "QV", "CIQOHMGEIKMPYHAUTL57JSEZN64SIJ5OIHSGJG4TJSSJLGI3PBJLQVI")]
    public async Task Blocks_are_stored_at_kubo_key_and_shard(string text, string shard, string key)
    {
        var block = RawBlock(text);
        Assert.Equal(key, FlatFsLayout.KeyOf(block.Cid.Hash));
        Assert.Equal(shard, FlatFsLayout.ShardOf(key));
        Assert.Equal($"{shard}/{key}.data", FlatFsLayout.RelativePathOf(block.Cid.Hash));

        var store = FlatFsBlockstore.Open(Root);
        await store.PutAsync(block);
        Assert.Equal(block.Data.ToArray(), await File.ReadAllBytesAsync(Path.Combine(Root, shard, key + ".data")));
    }

    [Theory]
    [InlineData("ABCDEF", "DE")]
    [InlineData("ABC", "AB")]
    [InlineData("AB", "_A")]
    [InlineData("A", "__")]
    public void The_shard_is_the_two_characters_before_the_last_padded_with_underscores(string key, string shard) =>
        Assert.Equal(shard, FlatFsLayout.ShardOf(key));

    [Fact]
    public async Task A_kubo_blocks_folder_is_served()
    {
        // The CIDv0 and CIDv1 of "hello world" as raw bytes, both computed from the multihash 1220b94d….
        // Lay the folder out the way Kubo does, without this store's help.
        Directory.CreateDirectory(Path.Combine(Root, "32"));
        await File.WriteAllTextAsync(Path.Combine(Root, "SHARDING"), "/repo/flatfs/shard/v1/next-to-last/2\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "_README"), "kubo's readme");
        await File.WriteAllTextAsync(Path.Combine(Root, "diskUsage.cache"), "{}");
        await File.WriteAllBytesAsync(Path.Combine(Root, "32", "CIQLSTJHXGJU2PQIUUXFFV62PWV7VREE57RXUU4A52IIR55M4LX432I.data"), "hello world"u8.ToArray());

        var store = FlatFsBlockstore.Open(Root);
        var v0 = Cid.ParseOrThrow("QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4");
        var block = await store.GetAsync(v0);
        Assert.NotNull(block);
        Assert.Equal(v0, block.Cid);
        Assert.Equal("hello world", Encoding.UTF8.GetString(block.Data.Span));
        Assert.Equal([Cid.ParseOrThrow("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")], await AllKeys(store));
    }

    [Fact]
    public void Opening_a_store_with_another_sharding_function_fails()
    {
        Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Root, "SHARDING"), "/repo/flatfs/shard/v1/prefix/2\n");
        Assert.Throws<InvalidDataException>(() => FlatFsBlockstore.Open(Root));
    }

    [Fact]
    public void Opening_a_non_empty_folder_without_a_sharding_file_fails()
    {
        Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Root, "unrelated.txt"), "not a blockstore");
        Assert.Throws<InvalidDataException>(() => FlatFsBlockstore.Open(Root));
    }

    [Fact]
    public void Opening_a_missing_folder_without_create_fails() =>
        Assert.Throws<DirectoryNotFoundException>(() => FlatFsBlockstore.Open(Root, new FlatFsOptions { CreateIfMissing = false }));

    [Fact]
    public async Task A_write_interrupted_by_a_crash_leaves_no_block_and_its_temp_file_is_removed_on_open()
    {
        var store = FlatFsBlockstore.Open(Root);
        var block = RawBlock("half written");
        var target = store.PathOf(block.Cid.Hash);
        var shard = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(shard);
        // What a process killed between write and rename leaves behind: a partial temp file next to where the block would go.
        var temp = Path.Combine(shard, ".put-0123456789abcdef0123456789abcdef.tmp");
        await File.WriteAllBytesAsync(temp, block.Data[..4].ToArray());
        var kuboTemp = Path.Combine(shard, "put-123456");
        await File.WriteAllBytesAsync(kuboTemp, [1, 2, 3]);

        Assert.False(await store.HasAsync(block.Cid));
        var reopened = FlatFsBlockstore.Open(Root);
        Assert.False(File.Exists(temp));
        Assert.True(File.Exists(kuboTemp), "Kubo's own temp files belong to Kubo");
        Assert.False(await reopened.HasAsync(block.Cid));
        Assert.Null(await reopened.GetAsync(block.Cid));
        Assert.Empty(await AllKeys(reopened));
    }

    [Fact]
    public async Task All_keys_are_raw_cidv1s_even_for_blocks_put_as_dag_pb()
    {
        var store = FlatFsBlockstore.Open(Root);
        var raw = Enumerable.Range(0, 30).Select(i => RawBlock(i, 64)).ToArray();
        var dagPb = Block.Create("a dag-pb node"u8.ToArray(), Multicodec.DagPb, version: 0).Match(b => b, e => throw new InvalidOperationException(e.ToString()));
        foreach (var block in raw.Append(dagPb)) await store.PutAsync(block);
        var keys = await AllKeys(store);
        var expected = raw.Select(b => b.Cid).Append(Cid.V1(Multicodec.Raw, dagPb.Cid.Hash)).ToHashSet();
        Assert.Equal(expected.Count, keys.Count);
        Assert.True(expected.SetEquals(keys));
        Assert.All(keys, k => Assert.Equal(Multicodec.Raw, k.Codec));
    }

    [Fact]
    public async Task Concurrent_puts_and_gets_from_many_tasks_agree_with_few_file_handles()
    {
        var store = FlatFsBlockstore.Open(Root, new FlatFsOptions { OpenFilesMax = 4, FlushToDisk = false });
        var blocks = Enumerable.Range(0, 200).Select(i => RawBlock(i, 1000 + i)).ToArray();
        // Every block is put by two tasks at once, and every task reads everything while others write.
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = w % 8; i < blocks.Length; i += 8) await store.PutAsync(blocks[i]);
            foreach (var block in blocks)
            {
                var got = await store.GetAsync(block.Cid);
                if (got is not null) Assert.Equal(block, got);
            }
        }));
        await Task.WhenAll(workers);
        foreach (var block in blocks) Assert.Equal(block, await store.GetAsync(block.Cid));
        Assert.Equal(0, store.CorruptReads);
        Assert.Equal(blocks.Length, (await AllKeys(store)).Count);
        Assert.Empty(Directory.EnumerateFiles(Root, ".put-*", SearchOption.AllDirectories));
    }
}
