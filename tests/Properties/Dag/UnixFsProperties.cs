using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties.Dag;

/// <summary>Importer and exporter invariants over small chunks and narrow trees.</summary>
public class UnixFsProperties
{
    private static BlockGetter From(IEnumerable<Block> blocks)
    {
        var store = blocks.GroupBy(b => b.Cid.Hash).ToDictionary(g => g.Key, g => g.First());
        return (cid, _) => store.TryGetValue(cid.Hash, out var block)
            ? ValueTask.FromResult(block)
            : ValueTask.FromException<Block>(new KeyNotFoundException(cid.ToString()));
    }

    [Property(MaxTest = 300)]
    public Property Export_of_an_import_gives_back_the_bytes() =>
        Prop.ForAll(Arbitraries.FileContentGen.ToArbitrary(), Arbitraries.SmallImportOptionsGen.ToArbitrary(), (content, options) =>
        {
            var (result, blocks) = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            var exported = UnixFsExporter.ReadAllAsync(result.Root, From(blocks)).GetAwaiter().GetResult();
            return exported.AsSpan().SequenceEqual(content) && result.FileSize == content.Length && result.Root.Equals(blocks.Last.Cid);
        });

    [Property(MaxTest = 300)]
    public Property Import_is_deterministic_and_the_dag_size_adds_up() =>
        Prop.ForAll(Arbitraries.FileContentGen.ToArbitrary(), Arbitraries.SmallImportOptionsGen.ToArbitrary(), (content, options) =>
        {
            var first = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            var second = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            var distinctBytes = first.Blocks.DistinctBy(b => b.Cid).Sum(b => (long)b.Size);
            // Tsize counts a repeated subtree each time it is linked, so it is at least the distinct bytes.
            return first.Result == second.Result && first.Blocks.SequenceEqual(second.Blocks) && first.Result.DagSize >= distinctBytes;
        });

    [Property(MaxTest = 300)]
    public Property Every_node_respects_max_links_and_leaves_respect_the_chunk_size() =>
        Prop.ForAll(Arbitraries.FileContentGen.ToArbitrary(), Arbitraries.SmallImportOptionsGen.ToArbitrary(), (content, options) =>
        {
            var (_, blocks) = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            return blocks.ForAll(block => block.Cid.Codec == Multicodec.Raw
                ? block.Size <= options.ChunkSize && block.Cid.Version == 1
                : block.Cid.Version == options.CidVersion && DagPb.Decode(block.Data.Span).Match(
                    node => node.Links.Count <= options.MaxLinks && node.Links.ForAll(l => l.Name == "" && l.Tsize.HasValue),
                    _ => false));
        });

    [Property(MaxTest = 200)]
    public Property Walk_visits_every_distinct_block_of_the_import_once() =>
        Prop.ForAll(Arbitraries.FileContentGen.ToArbitrary(), Arbitraries.SmallImportOptionsGen.ToArbitrary(), (content, options) =>
        {
            var (result, blocks) = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            var walked = DagWalker.WalkAsync(result.Root, From(blocks)).ToBlockingEnumerable().ToArray();
            return walked.Length == walked.DistinctBy(b => b.Cid.Hash).Count()
                && walked.Select(b => b.Cid).Order().SequenceEqual(blocks.Select(b => b.Cid).Distinct().Order())
                && walked[0].Cid.Equals(result.Root);
        });

    [Property(MaxTest = 300)]
    public Property A_corrupted_parent_never_exports_wrong_bytes() =>
        Prop.ForAll(Gen.Choose(17, 600).SelectMany(Arbitraries.BytesOf).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), Arbitraries.ByteGen.ToArbitrary(), (content, where, flip) =>
        {
            // Over one chunk, so the root is a parent without inline bytes: corrupting inline bytes would just be another file.
            var options = ImportOptions.V0_2015 with { ChunkSize = 16, MaxLinks = 3 };
            var (result, blocks) = UnixFsImporter.ImportBytesAsync(content, options).GetAwaiter().GetResult();
            var root = blocks.Last;
            var bytes = root.Data.ToArray();
            bytes[where % bytes.Length] ^= (byte)(flip | 1);
            // Re-hash the corrupted node under the root's CID kind, so only the structure checks can catch it.
            var corrupted = Block.Create(bytes, Multicodec.DagPb, MultihashCode.Sha2_256, root.Cid.Version).Match(b => b, e => throw new InvalidOperationException(e.ToString()));
            var getter = From(blocks.Filter(b => !b.Cid.Equals(root.Cid)).Add(corrupted));
            try
            {
                var exported = UnixFsExporter.ReadAllAsync(corrupted.Cid, getter).GetAwaiter().GetResult();
                // Some flips leave a valid file (e.g. inside a CID's digest the child is then missing and throws; in Tsize
                // nothing reads it): then the bytes must be the original content.
                return exported.AsSpan().SequenceEqual(content);
            }
            catch (DagException)
            {
                return true;
            }
            catch (KeyNotFoundException)
            {
                return true;
            }
        });

    [Fact]
    public async Task Empty_file_cids_are_the_well_known_ones()
    {
        // Helia's importer (ipfs-unixfs-importer 17.1.1) gives these for an empty file; QmbFMke… is also Kubo's empty file.
        var v0 = await UnixFsImporter.ImportBytesAsync(ReadOnlyMemory<byte>.Empty, ImportOptions.V0_2015);
        var v1 = await UnixFsImporter.ImportBytesAsync(ReadOnlyMemory<byte>.Empty, ImportOptions.V1_2025);

        Assert.Equal("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", v0.Result.Root.ToString());
        Assert.Equal("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", v1.Result.Root.ToString());
    }

    [Fact]
    public async Task A_directory_node_is_a_typed_error_not_a_file()
    {
        var directory = Block.Create(Convert.FromHexString("0a020801"), Multicodec.DagPb, MultihashCode.Sha2_256, version: 0)
            .Match(b => b, e => throw new InvalidOperationException(e.ToString()));

        var error = await Assert.ThrowsAsync<DagException>(() => UnixFsExporter.ReadAllAsync(directory.Cid, From([directory])));

        Assert.Equal(DecodeErrorKind.BadField, error.Error.Kind);
    }

    [Fact]
    public async Task A_dag_deeper_than_the_limit_is_a_typed_error()
    {
        var leaf = Block.Raw("x"u8.ToArray());
        var blocks = new List<Block> { leaf };
        var child = leaf;
        for (var depth = 0; depth < 6; depth++)
        {
            var node = new DagPbNode(LanguageExt.Prelude.Seq1(new DagPbLink(child.Cid, "", (ulong)child.Size)), UnixFsData.FileParent(LanguageExt.Prelude.Seq1(1UL)).Encode());
            child = Block.Create(DagPb.Encode(node), Multicodec.DagPb).Match(b => b, e => throw new InvalidOperationException(e.ToString()));
            blocks.Add(child);
        }

        var limits = Limits.Default with { DagDepthMax = 3 };
        var exportError = await Assert.ThrowsAsync<DagException>(() => UnixFsExporter.ReadAllAsync(child.Cid, From(blocks), limits));
        var walkError = await Assert.ThrowsAsync<DagException>(async () =>
        {
            await foreach (var _ in DagWalker.WalkAsync(child.Cid, From(blocks), limits))
            {
            }
        });

        Assert.Equal(DecodeErrorKind.TooLarge, exportError.Error.Kind);
        Assert.Equal(DecodeErrorKind.TooLarge, walkError.Error.Kind);
        Assert.Equal("x"u8.ToArray(), await UnixFsExporter.ReadAllAsync(child.Cid, From(blocks)));
    }
}
