using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Tests.Interop;

/// <summary>The other side of an interop test: a Helia node or a second one of ours, driven the same way.</summary>
public interface IRemotePeer : IAsyncDisposable
{
    /// <summary>Its peer ID text.</summary>
    string PeerId { get; }

    /// <summary>A dialable address ending in /p2p/….</summary>
    string Address { get; }

    /// <summary>Stores raw bytes as a raw block and returns its CID.</summary>
    Task<Cid> PutAsync(byte[] data);

    /// <summary>Fetches a block over Bitswap from connected peers.</summary>
    Task<byte[]> GetAsync(Cid cid, TimeSpan timeout);

    /// <summary>Imports a file as UnixFS (unixfs-v1-2025) and returns its root.</summary>
    Task<Cid> ImportAsync(string path);
}

/// <summary>Helia through its JSON-line driver.</summary>
public sealed class HeliaRemote(HeliaPeer helia) : IRemotePeer
{
    /// <inheritdoc />
    public string PeerId => helia.PeerId;
    /// <inheritdoc />
    public string Address => helia.Multiaddrs[0];
    /// <inheritdoc />
    public async Task<Cid> PutAsync(byte[] data) => Cid.ParseOrThrow(await helia.PutAsync(data));
    /// <inheritdoc />
    public Task<byte[]> GetAsync(Cid cid, TimeSpan timeout) => helia.GetAsync(cid.ToString(), timeout);
    /// <inheritdoc />
    public async Task<Cid> ImportAsync(string path) => Cid.ParseOrThrow(await helia.ImportAsync(path, "unixfs-v1-2025"));
    /// <inheritdoc />
    public ValueTask DisposeAsync() => helia.DisposeAsync();
}

/// <summary>A second node of ours on the TCP transport.</summary>
public sealed class CSharpRemote : IRemotePeer
{
    private readonly InteropNode _node;

    private CSharpRemote(InteropNode node) => _node = node;

    /// <summary>Starts the node.</summary>
    public static async Task<CSharpRemote> StartAsync() => new(await InteropNode.StartAsync());

    /// <inheritdoc />
    public string PeerId => _node.Peer.ToString();
    /// <inheritdoc />
    public string Address => _node.Address;

    /// <inheritdoc />
    public async Task<Cid> PutAsync(byte[] data)
    {
        var block = Block.Raw(data);
        await _node.Node.NotifyNewBlocksAsync(block);
        return block.Cid;
    }

    /// <inheritdoc />
    public async Task<byte[]> GetAsync(Cid cid, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        return (await _node.Node.GetBlockAsync(cid, cancel.Token)).Data.ToArray();
    }

    /// <inheritdoc />
    public async Task<Cid> ImportAsync(string path)
    {
        await using var file = File.OpenRead(path);
        var blocks = new List<Block>();
        var result = await UnixFsImporter.ImportAsync(file, ImportOptions.V1_2025, (b, _) => { blocks.Add(b); return ValueTask.CompletedTask; }, CancellationToken.None);
        await _node.Node.NotifyNewBlocksAsync(blocks, CancellationToken.None);
        return result.Root;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _node.DisposeAsync();
}
