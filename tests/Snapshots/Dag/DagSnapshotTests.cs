using System.Text;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots.Dag;

/// <summary>Golden bytes of dag-pb nodes, UnixFS imports and CAR framing.</summary>
public class DagSnapshotTests
{
    private static readonly Cid Hello = Block.Raw(Encoding.UTF8.GetBytes("hello")).Cid;

    private static Cid V0(string text) => Block.Create(Encoding.UTF8.GetBytes(text), Multicodec.DagPb, MultihashCode.Sha2_256, version: 0)
        .Match(b => b.Cid, e => throw new InvalidOperationException(e.ToString()));

    [Fact]
    public void Dag_pb_nodes_encode_links_first_then_data()
    {
        var nodes = new (string Name, DagPbNode Node)[]
        {
            ("empty node", new DagPbNode(default, null)),
            ("data only: empty UnixFS directory", new DagPbNode(default, new UnixFsData(UnixFsType.Directory, null, null, default).Encode())),
            ("file parent: two links named \"\" with Tsize", new DagPbNode(
                Prelude.Seq(new DagPbLink(Hello, "", 5), new DagPbLink(V0("world"), "", 13)),
                UnixFsData.FileParent(Prelude.Seq(5UL, 3UL)).Encode())),
            ("directory entry: named link, no Tsize, no data", new DagPbNode(Prelude.Seq1(new DagPbLink(Hello, "hello.txt", null)), null)),
        };

        var text = new StringBuilder();
        foreach (var (name, node) in nodes)
        {
            var bytes = DagPb.Encode(node);
            var cid = Cid.Compute(bytes, Multicodec.DagPb, MultihashCode.Sha2_256, version: 0).Match(c => c.ToString(), e => e.ToString());
            text.AppendLine($"{name}\n  {Convert.ToHexStringLower(bytes)}\n  {cid}");
        }

        Snapshot.Match(text.ToString());
    }

    [Fact]
    public async Task Small_imports_under_both_profiles_and_tiny_chunks()
    {
        var cases = new (string Name, byte[] Content, ImportOptions Options)[]
        {
            ("v0-2015, hello world", Encoding.UTF8.GetBytes("hello world"), ImportOptions.V0_2015),
            ("v1-2025, hello world", Encoding.UTF8.GetBytes("hello world"), ImportOptions.V1_2025),
            ("v0-2015, 10 B in 4 B chunks, 2 links", Encoding.UTF8.GetBytes("0123456789"), ImportOptions.V0_2015 with { ChunkSize = 4, MaxLinks = 2 }),
            ("v1-2025, 10 B in 4 B chunks, 2 links", Encoding.UTF8.GetBytes("0123456789"), ImportOptions.V1_2025 with { ChunkSize = 4, MaxLinks = 2 }),
        };

        var text = new StringBuilder();
        foreach (var (name, content, options) in cases)
        {
            var (result, blocks) = await UnixFsImporter.ImportBytesAsync(content, options);
            text.AppendLine($"{name}: root {result.Root}, {result.BlockCount} blocks, dag {result.DagSize} B");
            foreach (var block in blocks)
            {
                text.AppendLine($"  {block.Cid} {Convert.ToHexStringLower(block.Data.Span)}");
            }
        }

        Snapshot.Match(text.ToString());
    }

    [Fact]
    public async Task Car_of_a_two_block_dag()
    {
        var (result, blocks) = await UnixFsImporter.ImportBytesAsync(Encoding.UTF8.GetBytes("hello car"), ImportOptions.V1_2025 with { ChunkSize = 5 });
        var store = blocks.ToDictionary(b => b.Cid, b => b);
        using var buffer = new MemoryStream();
        var count = await CarWriter.WriteDagAsync(buffer, result.Root, (cid, _) => ValueTask.FromResult(store[cid]));

        var header = CarFormat.FrameHeader(new CarHeader(Prelude.Seq1(result.Root)));
        var text = $"blocks: {count}\nheader: {Convert.ToHexStringLower(header)}\ncar: {Convert.ToHexStringLower(buffer.ToArray())}\n";

        Snapshot.Match(text);
    }

    [Fact]
    public void Car_header_of_a_v0_root_matches_ipld_car()
    {
        // @ipld/car 5.4.7 wrote this header for QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH (the empty file), seen with xxd.
        const string ipldCar = "38a265726f6f747381d82a58230012" + "20bfccda787baba32b59c78450ac3d20b633360b43992c77289f9ed46d843561e6" + "6776657273696f6e01";
        var root = Cid.ParseOrThrow("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");

        Assert.Equal(ipldCar, Convert.ToHexStringLower(CarFormat.FrameHeader(new CarHeader(Prelude.Seq1(root)))));
    }
}
