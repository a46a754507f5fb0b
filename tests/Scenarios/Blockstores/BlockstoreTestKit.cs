using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Tests.Scenarios.Blockstores;

/// <summary>Blocks and scratch directories for blockstore tests.</summary>
internal static class BlockstoreTestKit
{
    public static Block RawBlock(string text) => Block.Raw(Encoding.UTF8.GetBytes(text));

    public static Block RawBlock(int index, int size)
    {
        var data = new byte[size];
        new Random(index).NextBytes(data);
        return Block.Raw(data);
    }

    public static Cid V0Of(Block block) => Cid.V0(block.Cid.Hash).Match(c => c, e => throw new InvalidOperationException(e.ToString()));

    public static async Task<List<Cid>> AllKeys(Bitswap.Runtime.Blockstores.IBlockstore store)
    {
        var keys = new List<Cid>();
        await foreach (var cid in store.AllKeysAsync()) keys.Add(cid);
        return keys;
    }
}

/// <summary>A directory under the temp folder, deleted when the test ends.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bitswap-flatfs-" + Guid.NewGuid().ToString("N"));
    }

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
