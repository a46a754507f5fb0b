using System.Buffers;
using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Microsoft.Win32.SafeHandles;

namespace Bitswap.Cli;

/// <summary>
/// Writes a UnixFS file as its blocks arrive, in any order: each block's bytes go straight to their offset in the file,
/// so a fetch needs neither a second pass nor a store of the blocks. A node's children get their offsets from its
/// blocksizes, checked as the exporter checks them. A chunk that appears twice in the file (the same CID under two
/// parents, as in runs of zeros) is copied from where it was first written when its second place is learnt later; the
/// inner nodes (with links) are kept, as they are few and small, so a repeated subtree is placed again.
/// </summary>
/// <param name="handle">The file, open for reading and writing.</param>
/// <param name="root">The file's root CID.</param>
/// <param name="limits">Depth bound.</param>
public sealed class FileAssembler(SafeFileHandle handle, Cid root, Limits limits)
{
    private readonly Dictionary<Multihash, List<Place>> _waiting = new() { [root.Hash] = [new Place(0, null, 0)] };
    private readonly Dictionary<Multihash, Block> _innerNodes = [];
    private readonly Dictionary<Multihash, (long Offset, int Length)> _leaves = [];
    private long _fileBytes = -1;

    /// <summary>File bytes written so far.</summary>
    public long Written { get; private set; }

    /// <summary>
    /// Places an arrived block at every offset it is known to cover, and learns its children's offsets. The block is
    /// only read during the call (it may be lent from the node's receive memory); writes go to the page cache.
    /// </summary>
    public void Add(Block block)
    {
        if (!_waiting.Remove(block.Cid.Hash, out var places))
        {
            return;
        }

        foreach (var place in places)
        {
            PlaceAt(block, place);
        }
    }

    /// <summary>Checks that every byte of the file was placed.</summary>
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

    private void PlaceAt(Block block, Place place)
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
            RandomAccess.Write(handle, piece.Inline.Span, place.Offset);
            Written += piece.Inline.Length;
        }

        if (piece.Children.IsEmpty)
        {
            _leaves.TryAdd(block.Cid.Hash, (place.Offset, piece.Inline.Length));
            return;
        }

        // The block may sit in a rented buffer that goes back to the pool after this call: keep a copy of its own.
        if (!_innerNodes.ContainsKey(block.Cid.Hash))
        {
            _innerNodes[block.Cid.Hash] = block.Detached();
        }

        var offset = place.Offset + piece.Inline.Length;
        foreach (var (child, size) in piece.Children)
        {
            var childPlace = new Place(offset, size, place.Depth + 1);
            offset += (long)size;
            if (_innerNodes.TryGetValue(child.Hash, out var inner))
            {
                PlaceAt(inner, childPlace);
            }
            else if (_leaves.TryGetValue(child.Hash, out var leaf))
            {
                if ((ulong)leaf.Length != size)
                {
                    throw new CliError($"cannot reassemble {root}: {child} holds {leaf.Length} bytes, its parent's blocksizes say {size}");
                }

                Copy(leaf.Offset, childPlace.Offset, leaf.Length);
            }
            else
            {
                if (!_waiting.TryGetValue(child.Hash, out var list))
                {
                    _waiting[child.Hash] = list = [];
                }

                list.Add(childPlace);
            }
        }
    }

    /// <summary>Copies a chunk already written to a second place in the file.</summary>
    private void Copy(long from, long to, int length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            var read = 0;
            while (read < length)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(read, length - read), from + read);
                if (n == 0)
                {
                    throw new CliError($"cannot reassemble {root}: the output file is shorter than what was written to it");
                }

                read += n;
            }

            RandomAccess.Write(handle, buffer.AsSpan(0, length), to);
            Written += length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private readonly record struct Place(long Offset, ulong? ExpectedBytes, int Depth);
}
