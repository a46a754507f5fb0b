using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;
using Xunit;

namespace Bitswap.Tests.Properties.Dag;

/// <summary>CARv1 round trips, hash checks and robustness against corrupt input.</summary>
public class CarProperties
{
    private static byte[] Write(Seq<Cid> roots, IEnumerable<Block> blocks)
    {
        using var buffer = new MemoryStream();
        CarWriter.WriteAsync(buffer, roots, blocks.ToAsyncEnumerable()).GetAwaiter().GetResult();
        return buffer.ToArray();
    }

    private static (Seq<Cid> Roots, Seq<Block> Blocks) Read(byte[] car, Limits? limits = null)
    {
        using var buffer = new MemoryStream(car, writable: false);
        return CarReader.ReadAllAsync(buffer, limits).GetAwaiter().GetResult();
    }

    [Property(MaxTest = 500)]
    public Property Blocks_and_roots_round_trip_in_order() =>
        Prop.ForAll(Arbitraries.CarBlocksGen.ToArbitrary(), Arbitraries.CidGen.ToArbitrary(), (blocks, extraRoot) =>
        {
            var roots = Prelude.Seq(blocks[0].Cid, extraRoot);
            var (readRoots, readBlocks) = Read(Write(roots, blocks));
            return readRoots == roots && readBlocks.SequenceEqual(blocks);
        });

    [Property(MaxTest = 500)]
    public Property Header_round_trips_through_its_cbor() =>
        Prop.ForAll(Gen.Choose(1, 5).SelectMany(n => Arbitraries.CidGen.ArrayOf(n)).ToArbitrary(), roots =>
            CarFormat.DecodeHeader(CarFormat.EncodeHeader(new CarHeader(Prelude.toSeq(roots))))
                .Match(h => h.Roots.SequenceEqual(roots), _ => false));

    [Property(MaxTest = 2000)]
    public Property Any_single_byte_change_is_a_typed_error_or_a_still_valid_car() =>
        Prop.ForAll(Arbitraries.CarBlocksGen.ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), Arbitraries.ByteGen.ToArbitrary(), (blocks, where, flip) =>
        {
            var car = Write(Prelude.Seq1(blocks[0].Cid), blocks);
            car[where % car.Length] ^= (byte)(flip | 1);
            try
            {
                var (_, readBlocks) = Read(car);
                // A change that still parses must still give hash-checked blocks (a flip in a CID's codec can rename a block).
                return readBlocks.ForAll(b => Block.Verified(b.Cid, b.Data).IsRight);
            }
            catch (CarFormatException)
            {
                return true;
            }
        });

    [Property(MaxTest = 2000)]
    public Property Truncating_a_car_is_a_typed_error_or_a_prefix_of_its_blocks() =>
        Prop.ForAll(Arbitraries.CarBlocksGen.ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (blocks, cut) =>
        {
            var car = Write(Prelude.Seq1(blocks[0].Cid), blocks);
            var truncated = car.AsSpan(0, cut % car.Length).ToArray();
            try
            {
                var (_, readBlocks) = Read(truncated);
                return blocks.Take(readBlocks.Count).SequenceEqual(readBlocks);
            }
            catch (CarFormatException)
            {
                return true;
            }
        });

    [Property(MaxTest = 5000)]
    public Property Header_and_section_decoders_never_throw() =>
        Prop.ForAll(Arbitraries.BytesUpTo(200).ToArbitrary(), bytes =>
        {
            _ = CarFormat.DecodeHeader(bytes);
            _ = CarFormat.DecodeSection(bytes);
            return true;
        });

    [Fact]
    public void A_block_whose_bytes_do_not_match_its_cid_is_a_hash_mismatch()
    {
        var good = Block.Raw("good"u8.ToArray());
        var car = Write(Prelude.Seq1(good.Cid), [good]);
        car[^1] ^= 0xff;

        var error = Assert.Throws<CarFormatException>(() => Read(car));

        Assert.Equal(DecodeErrorKind.HashMismatch, error.Error.Kind);
    }

    [Fact]
    public void A_section_over_the_limit_is_refused_before_it_is_read()
    {
        var big = Block.Raw(new byte[4096]);
        var car = Write(Prelude.Seq1(big.Cid), [big]);

        var error = Assert.Throws<CarFormatException>(() => Read(car, Limits.Default with { CarSectionBytesMax = 1024 }));

        Assert.Equal(DecodeErrorKind.TooLarge, error.Error.Kind);
    }

    [Fact]
    public void A_header_with_the_wrong_version_or_no_roots_is_refused()
    {
        var root = Block.Raw("r"u8.ToArray()).Cid;
        var header = CarFormat.EncodeHeader(new CarHeader(Prelude.Seq1(root)));
        var version2 = header.ToArray();
        version2[^1] = 0x02;
        byte[] noRoots = [0xa2, 0x65, .. "roots"u8, 0x80, 0x67, .. "version"u8, 0x01];

        Assert.Equal(DecodeErrorKind.BadField, CarFormat.DecodeHeader(version2).Match(_ => default, e => e.Kind));
        Assert.Equal(DecodeErrorKind.Empty, CarFormat.DecodeHeader(noRoots).Match(_ => default, e => e.Kind));
        Assert.Equal(DecodeErrorKind.TrailingBytes, CarFormat.DecodeHeader([.. header, 0x00]).Match(_ => default, e => e.Kind));
    }

    [Fact]
    public void An_empty_stream_is_not_a_car()
    {
        var error = Assert.Throws<CarFormatException>(() => Read([]));

        Assert.Equal(DecodeErrorKind.Empty, error.Error.Kind);
    }
}
