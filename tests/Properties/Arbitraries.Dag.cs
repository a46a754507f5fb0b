using Bitswap.Dag;
using Bitswap.Domain;
using FsCheck;
using FsCheck.Fluent;
using LanguageExt;

namespace Bitswap.Tests.Properties;

/// <summary>Generators for dag-pb nodes, UnixFS data, import options and CAR contents (computed on access: they use generators
/// from other partial files, whose static initialisers may not have run yet).</summary>
public static partial class Arbitraries
{
    /// <summary>A dag-pb link: any CID, a name that is absent, empty or short text, and an optional Tsize.</summary>
    public static Gen<DagPbLink> DagPbLinkGen =>
        from cid in CidGen
        from name in Gen.OneOf(Gen.Constant<string?>(null), Gen.Constant<string?>(""), Gen.Elements("a", "file.txt", "é", "链接").Select(s => (string?)s))
        from tsize in Gen.OneOf(Gen.Constant<ulong?>(null), Gen.Choose(0, int.MaxValue).Select(v => (ulong?)(ulong)v))
        select new DagPbLink(cid, name, tsize);

    /// <summary>A dag-pb node of up to 6 links and optional data of up to 200 bytes.</summary>
    public static Gen<DagPbNode> DagPbNodeGen =>
        from links in Gen.Choose(0, 6).SelectMany(n => DagPbLinkGen.ArrayOf(n))
        from hasData in Gen.Elements(true, false)
        from data in BytesUpTo(200)
        select new DagPbNode(Prelude.toSeq(links), hasData ? data : null);

    /// <summary>UnixFS data of any type with optional inline bytes, filesize and up to 5 blocksizes.</summary>
    public static Gen<UnixFsData> UnixFsDataGen =>
        from type in Gen.Elements(System.Enum.GetValues<UnixFsType>())
        from data in Gen.OneOf(Gen.Constant<byte[]?>(null), BytesUpTo(100).Select(b => b.Length == 0 ? null : (byte[]?)b))
        from fileSize in Gen.OneOf(Gen.Constant<ulong?>(null), Gen.Choose(0, int.MaxValue).Select(v => (ulong?)(ulong)v))
        from sizes in Gen.Choose(0, 5).SelectMany(n => Gen.Choose(0, int.MaxValue).Select(v => (ulong)v).ArrayOf(n))
        select new UnixFsData(type, data is null ? null : data, fileSize, Prelude.toSeq(sizes));

    /// <summary>Small import options (tiny chunks, few links) so that little data builds deep trees.</summary>
    public static Gen<ImportOptions> SmallImportOptionsGen =>
        from profile in Gen.Elements(ImportProfile.UnixFsV1_2025, ImportProfile.UnixFsV0_2015)
        from chunk in Gen.Choose(1, 64)
        from links in Gen.Choose(2, 5)
        from raw in Gen.Elements(true, false)
        from version in Gen.Elements(0, 1)
        select ImportOptions.For(profile) with { ChunkSize = chunk, MaxLinks = links, RawLeaves = raw, CidVersion = version };

    /// <summary>File content up to 2 KiB.</summary>
    public static Gen<byte[]> FileContentGen => Gen.Frequency((1, Gen.Constant(System.Array.Empty<byte>())), (6, BytesUpTo(2048)));

    /// <summary>1 to 8 distinct raw or dag-pb-coded blocks for a CAR.</summary>
    public static Gen<Block[]> CarBlocksGen =>
        Gen.Choose(1, 8).SelectMany(n => BytesUpTo(300).ArrayOf(n)).Select(datas => datas
            .Select((d, i) => Block.Create(d, i % 2 == 0 ? Bitswap.Domain.Multiformats.Multicodec.Raw : Bitswap.Domain.Multiformats.Multicodec.DagPb, Bitswap.Domain.Multiformats.MultihashCode.Sha2_256, version: 1)
                .Match(b => b, e => throw new InvalidOperationException(e.ToString())))
            .DistinctBy(b => b.Cid)
            .ToArray());
}
