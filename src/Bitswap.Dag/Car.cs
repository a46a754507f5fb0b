using System.Buffers;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Dag;

/// <summary>A CAR file that cannot be read: carries the typed decode error.</summary>
public sealed class CarFormatException(DecodeError error) : Exception(error.ToString())
{
    /// <summary>What was wrong.</summary>
    public DecodeError Error { get; } = error;
}

/// <summary>The CARv1 header: version 1 and the root CIDs.</summary>
/// <param name="Roots">The roots, in order.</param>
public sealed record CarHeader(Seq<Cid> Roots);

/// <summary>
/// CARv1 framing (ipld/specs transport/car/carv1): varint(len) ‖ dag-cbor header {roots, version}, then sections of
/// varint(len) ‖ CID ‖ block bytes. The header's CBOR is written and read by hand: only the shapes CARv1 needs.
/// </summary>
public static class CarFormat
{
    private const byte CborMap = 0xa0;
    private const byte CborArray = 0x80;
    private const byte CborText = 0x60;
    private const byte CborBytes = 0x40;
    private const int CidTag = 42;
    private static readonly byte[] LinkPrefix = [0x00];

    /// <summary>The header's dag-cbor bytes (without the length prefix): keys in dag-cbor order, "roots" before "version".</summary>
    public static byte[] EncodeHeader(CarHeader header)
    {
        var output = new ArrayBufferWriter<byte>();
        WriteHead(output, 5, 2);
        WriteText(output, "roots");
        WriteHead(output, 4, (ulong)header.Roots.Count);
        foreach (var root in header.Roots)
        {
            WriteHead(output, 6, CidTag);
            // dag-cbor links are byte strings holding the multibase identity prefix 0x00 then the binary CID.
            WriteHead(output, 2, (ulong)root.ByteLength + 1);
            output.Write(LinkPrefix);
            output.Write(root.Bytes);
        }

        WriteText(output, "version");
        WriteHead(output, 0, 1);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The header with its varint length prefix, as it starts a CAR file.</summary>
    public static byte[] FrameHeader(CarHeader header)
    {
        var body = EncodeHeader(header);
        var framed = new byte[Varint.EncodedLength((ulong)body.Length) + body.Length];
        var prefix = Varint.Write(framed, (ulong)body.Length);
        body.CopyTo(framed.AsSpan(prefix));
        return framed;
    }

    /// <summary>One section: varint(len) ‖ CID ‖ data.</summary>
    public static byte[] FrameSection(Block block)
    {
        var length = block.Cid.ByteLength + block.Size;
        var framed = new byte[Varint.EncodedLength((ulong)length) + length];
        var offset = Varint.Write(framed, (ulong)length);
        block.Cid.Bytes.CopyTo(framed.AsSpan(offset));
        block.Data.Span.CopyTo(framed.AsSpan(offset + block.Cid.ByteLength));
        return framed;
    }

    /// <summary>Parses the header's dag-cbor bytes: a map with version 1 and roots (an array of CID links). Never throws.</summary>
    public static Either<DecodeError, CarHeader> DecodeHeader(ReadOnlySpan<byte> bytes)
    {
        var reader = new CborReader(bytes);
        var entries = reader.ReadHead(5);
        if (entries.IsLeft)
        {
            return entries.LeftToSeq().Head.At("CAR header");
        }

        Option<ulong> version = default;
        Option<Seq<Cid>> roots = default;
        for (ulong i = 0; i < entries.RightToSeq().Head; i++)
        {
            var key = reader.ReadText();
            if (key.IsLeft)
            {
                return key.LeftToSeq().Head.At("CAR header key");
            }

            switch (key.RightToSeq().Head)
            {
                case "version":
                    var v = reader.ReadHead(0);
                    if (v.IsLeft)
                    {
                        return v.LeftToSeq().Head.At("CAR header version");
                    }

                    version = v.RightToSeq().Head;
                    break;
                case "roots":
                    var r = ReadRoots(ref reader);
                    if (r.IsLeft)
                    {
                        return r.LeftToSeq().Head;
                    }

                    roots = r.RightToSeq().Head;
                    break;
                case var other:
                    return new DecodeError(DecodeErrorKind.BadField, $"CAR header: unexpected key '{other}'");
            }
        }

        if (!reader.AtEnd)
        {
            return new DecodeError(DecodeErrorKind.TrailingBytes, "CAR header: bytes after the map");
        }

        if (version.IsNone || version != Prelude.Some(1UL))
        {
            return new DecodeError(DecodeErrorKind.BadField, $"CAR header: version {version.Map(v => v.ToString()).IfNone("missing")}, want 1");
        }

        return roots.Match(
            rs => rs.IsEmpty
                ? Prelude.Left<DecodeError, CarHeader>(new DecodeError(DecodeErrorKind.Empty, "CAR header: no roots"))
                : Prelude.Right<DecodeError, CarHeader>(new CarHeader(rs)),
            () => new DecodeError(DecodeErrorKind.BadField, "CAR header: roots missing"));
    }

    /// <summary>Parses one section body (CID ‖ data) and checks that the data hashes to the CID. Never throws.</summary>
    public static Either<DecodeError, Block> DecodeSection(ReadOnlyMemory<byte> section) =>
        Cid.Read(section.Span).Bind(read => Block.Verified(read.Cid, section[read.Length..]));

    private static Either<DecodeError, Seq<Cid>> ReadRoots(ref CborReader reader)
    {
        var count = reader.ReadHead(4);
        if (count.IsLeft)
        {
            return count.LeftToSeq().Head.At("CAR header roots");
        }

        var n = count.RightToSeq().Head;
        if (n > (ulong)reader.Remaining)
        {
            return new DecodeError(DecodeErrorKind.Truncated, $"CAR header: {n} roots cannot fit");
        }

        var roots = new Cid[n];
        for (var i = 0; i < roots.Length; i++)
        {
            var tag = reader.ReadHead(6);
            if (tag.IsLeft || tag.RightToSeq().Head != CidTag)
            {
                return new DecodeError(DecodeErrorKind.BadCid, $"CAR header root {i}: not a CID link (tag 42)");
            }

            var bytes = reader.ReadBytes();
            if (bytes.IsLeft)
            {
                return bytes.LeftToSeq().Head.At($"CAR header root {i}");
            }

            var link = bytes.RightToSeq().Head;
            if (link.Length < 2 || link[0] != 0x00)
            {
                return new DecodeError(DecodeErrorKind.BadCid, $"CAR header root {i}: link without the 0x00 prefix");
            }

            var cid = Cid.FromBytes(link.AsSpan(1));
            if (cid.IsLeft)
            {
                return cid.LeftToSeq().Head.At($"CAR header root {i}");
            }

            roots[i] = cid.RightToSeq().Head;
        }

        return Prelude.toSeq(roots);
    }

    private static void WriteText(IBufferWriter<byte> output, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        WriteHead(output, 3, (ulong)bytes.Length);
        output.Write(bytes);
    }

    /// <summary>A CBOR head in its shortest form, as dag-cbor requires.</summary>
    private static void WriteHead(IBufferWriter<byte> output, int major, ulong value)
    {
        var type = (byte)(major << 5);
        Span<byte> head = stackalloc byte[9];
        int length;
        if (value < 24)
        {
            head[0] = (byte)(type | (byte)value);
            length = 1;
        }
        else if (value <= byte.MaxValue)
        {
            head[0] = (byte)(type | 24);
            head[1] = (byte)value;
            length = 2;
        }
        else if (value <= ushort.MaxValue)
        {
            head[0] = (byte)(type | 25);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(head[1..], (ushort)value);
            length = 3;
        }
        else if (value <= uint.MaxValue)
        {
            head[0] = (byte)(type | 26);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(head[1..], (uint)value);
            length = 5;
        }
        else
        {
            head[0] = (byte)(type | 27);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(head[1..], value);
            length = 9;
        }

        output.Write(head[..length]);
    }

    /// <summary>Reads the definite-length CBOR heads a CARv1 header uses.</summary>
    private ref struct CborReader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> bytes = bytes;
        private int position;

        public readonly bool AtEnd => position == bytes.Length;

        public readonly int Remaining => bytes.Length - position;

        public Either<DecodeError, ulong> ReadHead(int major)
        {
            if (position >= bytes.Length)
            {
                return new DecodeError(DecodeErrorKind.Truncated, "CBOR ended early");
            }

            var initial = bytes[position];
            if (initial >> 5 != major)
            {
                return new DecodeError(DecodeErrorKind.BadField, $"CBOR major type {initial >> 5}, want {major}");
            }

            var info = initial & 0x1f;
            var extra = info switch { < 24 => 0, 24 => 1, 25 => 2, 26 => 4, 27 => 8, _ => -1 };
            if (extra < 0)
            {
                return new DecodeError(DecodeErrorKind.BadField, $"CBOR additional info {info} (indefinite or reserved)");
            }

            if (position + 1 + extra > bytes.Length)
            {
                return new DecodeError(DecodeErrorKind.Truncated, "CBOR head ended early");
            }

            ulong value = info < 24 ? (ulong)info : 0;
            for (var i = 0; i < extra; i++)
            {
                value = (value << 8) | bytes[position + 1 + i];
            }

            position += 1 + extra;
            return value;
        }

        public Either<DecodeError, string> ReadText()
        {
            var length = ReadHead(3);
            if (length.IsLeft)
            {
                return length.LeftToSeq().Head;
            }

            var n = length.RightToSeq().Head;
            if (n > (ulong)Remaining)
            {
                return new DecodeError(DecodeErrorKind.Truncated, "CBOR text ended early");
            }

            var text = Encoding.UTF8.GetString(bytes.Slice(position, (int)n));
            position += (int)n;
            return text;
        }

        public Either<DecodeError, byte[]> ReadBytes()
        {
            var length = ReadHead(2);
            if (length.IsLeft)
            {
                return length.LeftToSeq().Head;
            }

            var n = length.RightToSeq().Head;
            if (n > (ulong)Remaining)
            {
                return new DecodeError(DecodeErrorKind.Truncated, "CBOR bytes ended early");
            }

            var value = bytes.Slice(position, (int)n).ToArray();
            position += (int)n;
            return value;
        }
    }
}

/// <summary>Writes a CARv1 stream: the header, then one section per block.</summary>
public sealed class CarWriter
{
    private readonly Stream output;
    private bool headerWritten;

    /// <summary>A writer over <paramref name="output"/> for a CAR with these roots.</summary>
    public CarWriter(Stream output, Seq<Cid> roots)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (roots.IsEmpty)
        {
            throw new ArgumentException("A CAR needs at least one root.", nameof(roots));
        }

        this.output = output;
        Header = new CarHeader(roots);
    }

    /// <summary>The header this writer writes.</summary>
    public CarHeader Header { get; }

    /// <summary>Blocks written so far.</summary>
    public int BlockCount { get; private set; }

    /// <summary>Writes one block (the header first, if it is not written yet).</summary>
    public async ValueTask WriteAsync(Block block, CancellationToken cancellationToken = default)
    {
        await WriteHeaderAsync(cancellationToken);
        await output.WriteAsync(CarFormat.FrameSection(block), cancellationToken);
        BlockCount++;
    }

    /// <summary>Writes the header if it is not written yet (a CAR with no blocks is just its header).</summary>
    public async ValueTask WriteHeaderAsync(CancellationToken cancellationToken = default)
    {
        if (!headerWritten)
        {
            await output.WriteAsync(CarFormat.FrameHeader(Header), cancellationToken);
            headerWritten = true;
        }
    }

    /// <summary>Writes a CAR of the given blocks in order; returns how many were written.</summary>
    public static async Task<int> WriteAsync(Stream output, Seq<Cid> roots, IAsyncEnumerable<Block> blocks, CancellationToken cancellationToken = default)
    {
        var writer = new CarWriter(output, roots);
        await writer.WriteHeaderAsync(cancellationToken);
        await foreach (var block in blocks.WithCancellation(cancellationToken))
        {
            await writer.WriteAsync(block, cancellationToken);
        }

        await output.FlushAsync(cancellationToken);
        return writer.BlockCount;
    }

    /// <summary>Writes the DAG under <paramref name="root"/> (walked breadth-first, each block once) as a CAR with that root.</summary>
    public static Task<int> WriteDagAsync(Stream output, Cid root, BlockGetter getBlock, Limits? limits = null, CancellationToken cancellationToken = default) =>
        WriteAsync(output, Prelude.Seq1(root), DagWalker.WalkAsync(root, getBlock, limits, cancellationToken), cancellationToken);
}

/// <summary>
/// Reads a CARv1 stream: validates the header, then yields each section's block after checking its hash. Lengths are
/// bounded by <see cref="Limits.CarHeaderBytesMax"/> and <see cref="Limits.CarSectionBytesMax"/>; anything malformed
/// is a <see cref="CarFormatException"/> carrying a typed <see cref="DecodeError"/>.
/// </summary>
public sealed class CarReader
{
    private readonly Stream input;
    private readonly Limits limits;

    private CarReader(Stream input, Limits limits, CarHeader header)
    {
        this.input = input;
        this.limits = limits;
        Header = header;
    }

    /// <summary>The validated header.</summary>
    public CarHeader Header { get; }

    /// <summary>The roots the header names.</summary>
    public Seq<Cid> Roots => Header.Roots;

    /// <summary>Reads and validates the header.</summary>
    public static async Task<CarReader> OpenAsync(Stream input, Limits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        limits ??= Limits.Default;
        var length = await ReadLengthAsync(input, cancellationToken)
            ?? throw new CarFormatException(new DecodeError(DecodeErrorKind.Empty, "CAR: no header"));
        if (length == 0 || length > (ulong)limits.CarHeaderBytesMax)
        {
            throw new CarFormatException(new DecodeError(DecodeErrorKind.TooLarge, $"CAR header of {length} bytes (limit {limits.CarHeaderBytesMax})"));
        }

        var bytes = await ReadExactlyAsync(input, (int)length, "CAR header", cancellationToken);
        var header = CarFormat.DecodeHeader(bytes).Match(h => h, e => throw new CarFormatException(e));
        return new CarReader(input, limits, header);
    }

    /// <summary>Yields every block in file order, hash-checked, until the stream ends.</summary>
    public async IAsyncEnumerable<Block> ReadBlocksAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var index = 0;
        while (await ReadLengthAsync(input, cancellationToken) is { } length)
        {
            if (length == 0 || length > (ulong)limits.CarSectionBytesMax)
            {
                throw new CarFormatException(new DecodeError(DecodeErrorKind.TooLarge, $"CAR section {index} of {length} bytes (limit {limits.CarSectionBytesMax})"));
            }

            var section = await ReadExactlyAsync(input, (int)length, $"CAR section {index}", cancellationToken);
            yield return CarFormat.DecodeSection(section).Match(b => b, e => throw new CarFormatException(e.At($"CAR section {index}")));
            index++;
        }
    }

    /// <summary>Reads a whole CAR into memory: its roots and blocks in file order.</summary>
    public static async Task<(Seq<Cid> Roots, Seq<Block> Blocks)> ReadAllAsync(Stream input, Limits? limits = null, CancellationToken cancellationToken = default)
    {
        var reader = await OpenAsync(input, limits, cancellationToken);
        var blocks = new List<Block>();
        await foreach (var block in reader.ReadBlocksAsync(cancellationToken))
        {
            blocks.Add(block);
        }

        return (reader.Roots, Prelude.toSeq(blocks));
    }

    /// <summary>A varint, or null at a clean end of stream.</summary>
    private static async ValueTask<ulong?> ReadLengthAsync(Stream input, CancellationToken cancellationToken)
    {
        var buffer = new byte[Varint.MaxBytes];
        for (var i = 0; i < buffer.Length; i++)
        {
            var read = await input.ReadAsync(buffer.AsMemory(i, 1), cancellationToken);
            if (read == 0)
            {
                return i == 0 ? null : throw new CarFormatException(new DecodeError(DecodeErrorKind.Truncated, "CAR: stream ended inside a length"));
            }

            if ((buffer[i] & 0x80) == 0)
            {
                return Varint.DecodeExact(buffer.AsSpan(0, i + 1)).Match(v => v, e => throw new CarFormatException(e.At("CAR length")));
            }
        }

        throw new CarFormatException(new DecodeError(DecodeErrorKind.VarintOverlong, "CAR: length varint over 9 bytes"));
    }

    private static async ValueTask<byte[]> ReadExactlyAsync(Stream input, int length, string what, CancellationToken cancellationToken)
    {
        var bytes = new byte[length];
        var filled = 0;
        while (filled < length)
        {
            var read = await input.ReadAsync(bytes.AsMemory(filled), cancellationToken);
            if (read == 0)
            {
                throw new CarFormatException(new DecodeError(DecodeErrorKind.Truncated, $"{what}: stream ended after {filled} of {length} bytes"));
            }

            filled += read;
        }

        return bytes;
    }
}
