using Bitswap.Dag;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties.Dag;

/// <summary>dag-pb and UnixFS codec round trips and robustness.</summary>
public class DagPbProperties
{
    [Property(MaxTest = 500)]
    public Property Dag_pb_nodes_round_trip_and_encoded_size_is_exact() =>
        Prop.ForAll(Arbitraries.DagPbNodeGen.ToArbitrary(), node =>
        {
            var bytes = DagPb.Encode(node);
            return bytes.Length == DagPb.EncodedSize(node) && DagPb.Decode(bytes).Match(decoded => decoded.Equals(node), _ => false);
        });

    [Property(MaxTest = 500)]
    public Property Dag_pb_encoding_puts_every_link_before_the_data() =>
        Prop.ForAll(Arbitraries.DagPbNodeGen.ToArbitrary(), node =>
        {
            var bytes = DagPb.Encode(node);
            // Field 2 (links) tags are 0x12, field 1 (data) is 0x0a; walk the top-level fields and check the order.
            var seenData = false;
            var position = 0;
            while (position < bytes.Length)
            {
                var tag = bytes[position++];
                var length = ReadVarint(bytes, ref position);
                if (tag == 0x0a)
                {
                    seenData = true;
                }
                else if (tag != 0x12 || seenData)
                {
                    return false;
                }

                position += (int)length;
            }

            return position == bytes.Length;
        });

    [Property(MaxTest = 5000)]
    public Property Dag_pb_decode_never_throws_on_arbitrary_bytes() =>
        Prop.ForAll(Arbitraries.BytesUpTo(300).ToArbitrary(), bytes =>
        {
            _ = DagPb.Decode(bytes);
            return true;
        });

    [Property(MaxTest = 500)]
    public Property Unixfs_data_round_trips() =>
        Prop.ForAll(Arbitraries.UnixFsDataGen.ToArbitrary(), data =>
            UnixFsData.Decode(data.Encode()).Match(decoded => decoded.Equals(data), _ => false));

    [Property(MaxTest = 5000)]
    public Property Unixfs_decode_never_throws_on_arbitrary_bytes() =>
        Prop.ForAll(Arbitraries.BytesUpTo(200).ToArbitrary(), bytes =>
        {
            _ = UnixFsData.Decode(bytes);
            return true;
        });

    private static ulong ReadVarint(byte[] bytes, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }
}
