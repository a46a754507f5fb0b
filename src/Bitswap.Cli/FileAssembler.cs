using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Microsoft.Win32.SafeHandles;

namespace Bitswap.Cli;

/// <summary>
/// Writes a UnixFS file as its blocks arrive, in any order: each block's bytes go straight to their offset in the file,
/// so a fetch needs no second pass over a store. A node's children get their offsets from its blocksizes, which are
/// checked as the exporter checks them. A chunk that appears twice in the file (the same CID under two parents) is
/// read back from <paramref name="lookup"/> when its second place is learnt after it arrived.
/// </summary>
/// <param name="handle">The file, open for writing.</param>
/// <param name="root">The file's root CID.</param>
/// <param name="lookup">Reads a block that arrived earlier (the node's store); null when it is not there.</param>
/// <param name="limits">Depth bound.</param>
public sealed class FileAssembler(SafeFileHandle handle, Cid root, Func<Cid, CancellationToken, ValueTask<Block?>> lookup, Limits limits)
{
    private readonly Dictionary<Multihash, List<Place>> _waiting = new() { [root.Hash] = [new Place(0, null, 0)] };
    private readonly HashSet<Multihash> _arrived = [];
    private long _fileBytes = -1;

    /// <summary>File bytes written so far.</summary>
    public long Written { get; private set; }

    /// <summary>The file's length, known once the root arrived.</summary>
    public long? Length => _fileBytes < 0 ? null : _fileBytes;

    /// <summary>Places an arrived block at every offset it is known to cover, and learns its children's offsets.</summary>
    public async ValueTask AddAsync(Block block, CancellationToken cancellationToken)
    {
        _arrived.Add(block.Cid.Hash);
        if (!_waiting.Remove(block.Cid.Hash, out var places))
        {
            return;
        }

        foreach (var place in places)
        {
            await PlaceAsync(block, place, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Checks that every byte of the file was placed; the file then has its announced length.</summary>
    public void Finish()
    {
        if (_waiting.Count > 0)
        {
            throw new CliError($"cannot reassemble {root}: {_waiting.Count} blocks never arrived");
        }

        if (Written != _fileBytes)
        {
            throw new CliError($"cannot reassemble {root}: wrote {Written} bytes of {_fileBytes}");
        }
    }

    private async ValueTask PlaceAsync(Block block, Place place, CancellationToken cancellationToken)
    {
        (ReadOnlyMemory<byte> Inline, LanguageExt.Seq<(Cid Cid, ulong Size)> Children) piece;
        try
        {
            piece = UnixFsExporter.Piece(block, place.Depth, place.ExpectedBytes, limits);
        }
        catch (DagException error)
        {
            throw new CliError($"cannot reassemble {root}: {error.Error.Detail}", error);
        }

        if (place.Depth == 0)
        {
            _fileBytes = (long)UnixFsExporter.FileBytesOf(piece.Inline, piece.Children);
            RandomAccess.SetLength(handle, _fileBytes);
        }

        if (!piece.Inline.IsEmpty)
        {
            await RandomAccess.WriteAsync(handle, piece.Inline, place.Offset, cancellationToken).ConfigureAwait(false);
            Written += piece.Inline.Length;
        }

        var offset = place.Offset + piece.Inline.Length;
        foreach (var (child, size) in piece.Children)
        {
            var childPlace = new Place(offset, size, place.Depth + 1);
            offset += (long)size;
            if (_arrived.Contains(child.Hash))
            {
                // The same chunk again (a file with repeated content): its bytes are in the store already.
                var again = await lookup(child, cancellationToken).ConfigureAwait(false)
                    ?? throw new CliError($"cannot reassemble {root}: block {child} arrived but is no longer held");
                await PlaceAsync(again, childPlace, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!_waiting.TryGetValue(child.Hash, out var list))
            {
                _waiting[child.Hash] = list = [];
            }

            list.Add(childPlace);
        }
    }

    private readonly record struct Place(long Offset, ulong? ExpectedBytes, int Depth);
}
