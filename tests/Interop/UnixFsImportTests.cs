using Bitswap.Dag;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using LanguageExt;
using Xunit;

namespace Bitswap.Tests.Interop;

/// <summary>One Helia peer shared by the UnixFS and CAR interop tests, plus a scratch directory.</summary>
public sealed class HeliaDagFixture : IAsyncLifetime
{
    /// <summary>The running peer.</summary>
    public HeliaPeer Peer { get; private set; } = null!;

    /// <summary>A directory for files and CARs, deleted afterwards.</summary>
    public string Scratch { get; } = Directory.CreateTempSubdirectory("bitswap-dag-interop-").FullName;

    /// <summary>Writes <paramref name="size"/> seeded pseudo-random bytes to a scratch file.</summary>
    public (string Path, byte[] Content) WriteFile(int size, int seed)
    {
        var content = new byte[size];
        new Random(seed).NextBytes(content);
        var path = Path.Combine(Scratch, $"file-{size}-{seed}.bin");
        File.WriteAllBytes(path, content);
        return (path, content);
    }

    /// <inheritdoc />
    public async Task InitializeAsync() => Peer = await HeliaPeer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await Peer.DisposeAsync();
        Directory.Delete(Scratch, recursive: true);
    }
}

/// <summary>Our UnixFS importer and CAR codec against Helia's (ipfs-unixfs-importer 17.1.1, @ipld/car 5.4.7).</summary>
public class UnixFsImportTests(HeliaDagFixture helia) : IClassFixture<HeliaDagFixture>
{
    public static TheoryData<string, int> ProfileSizes() => new()
    {
        { "unixfs-v1-2025", 0 },
        { "unixfs-v1-2025", 1 },
        { "unixfs-v1-2025", 300 * 1024 },
        { "unixfs-v1-2025", 3 * 1024 * 1024 },
        { "unixfs-v1-2025", 2 * 1024 * 1024 },
        { "unixfs-v0-2015", 0 },
        { "unixfs-v0-2015", 1 },
        { "unixfs-v0-2015", 300 * 1024 },
        { "unixfs-v0-2015", 3 * 1024 * 1024 },
    };

    [Theory]
    [MemberData(nameof(ProfileSizes))]
    public async Task Root_cid_matches_helia_for_the_profile(string profile, int size)
    {
        var (path, content) = helia.WriteFile(size, seed: size);
        var options = ImportOptions.For(ProfileOf(profile));

        var ours = await UnixFsImporter.ImportBytesAsync(content, options);
        var theirs = await helia.Peer.ImportAsync(path, profile);

        Assert.Equal(theirs, ours.Result.Root.ToString());
    }

    public static TheoryData<string, int, int, int, bool, int> CustomOptions() => new()
    {
        // Three layers: 308 leaves of 1000 B, 28 parents of 11 links, 3, then the root.
        { "unixfs-v0-2015", 300 * 1024 + 7, 1000, 11, false, 0 },
        // A full last group and a lone straggler: 7 leaves with 3 links per node.
        { "unixfs-v1-2025", 7 * 4096, 4096, 3, true, 1 },
        // dag-pb leaves with CIDv1 and an exact multiple of the chunk size.
        { "unixfs-v1-2025", 64 * 1024, 8192, 5, false, 1 },
        // Raw leaves under CIDv0 parents.
        { "unixfs-v0-2015", 50_000, 3000, 4, true, 0 },
    };

    [Theory]
    [MemberData(nameof(CustomOptions))]
    public async Task Root_cid_matches_helia_for_explicit_options(string profile, int size, int chunkSize, int maxLinks, bool rawLeaves, int cidVersion)
    {
        var (path, content) = helia.WriteFile(size, seed: chunkSize);
        var options = ImportOptions.For(ProfileOf(profile)) with { ChunkSize = chunkSize, MaxLinks = maxLinks, RawLeaves = rawLeaves, CidVersion = cidVersion };

        var ours = await UnixFsImporter.ImportBytesAsync(content, options);
        var theirs = await helia.Peer.ImportAsync(path, profile, chunkSize, rawLeaves, cidVersion, maxLinks);

        Assert.Equal(theirs, ours.Result.Root.ToString());
    }

    [Fact]
    public async Task Helia_reads_our_car_of_our_import_and_cats_the_file()
    {
        var (_, content) = helia.WriteFile(100 * 1024 + 3, seed: 42);
        var options = ImportOptions.V0_2015 with { ChunkSize = 2000, MaxLinks = 8 };
        var (result, blocks) = await UnixFsImporter.ImportBytesAsync(content, options);
        var carPath = Path.Combine(helia.Scratch, "ours.car");
        await using (var file = File.Create(carPath))
        {
            var store = blocks.ToDictionary(b => b.Cid, b => b);
            await CarWriter.WriteDagAsync(file, result.Root, (cid, _) => ValueTask.FromResult(store[cid]));
        }

        var read = await helia.Peer.CarImportAsync(carPath);
        var cat = await helia.Peer.CatAsync(result.Root.ToString(), offline: true);

        Assert.Equal([result.Root.ToString()], read.Roots);
        Assert.Equal(blocks.Map(b => b.Cid.ToString()).Distinct().Order(), read.Cids.Order());
        Assert.Equal(content, cat);
    }

    [Fact]
    public async Task We_read_helias_car_of_its_import_with_the_same_root_and_blocks()
    {
        var (path, content) = helia.WriteFile(200 * 1024 + 11, seed: 7);
        var root = await helia.Peer.ImportAsync(path, "unixfs-v1-2025", chunkSize: 4096, maxLinks: 6);
        var carPath = Path.Combine(helia.Scratch, "theirs.car");
        await helia.Peer.CarExportAsync(root, carPath);

        (Seq<Cid> Roots, Seq<Block> Blocks) car;
        await using (var file = File.OpenRead(carPath))
        {
            car = await CarReader.ReadAllAsync(file);
        }

        var ours = await UnixFsImporter.ImportBytesAsync(content, ImportOptions.V1_2025 with { ChunkSize = 4096, MaxLinks = 6 });
        var store = car.Blocks.ToDictionary(b => b.Cid, b => b);
        var exported = await UnixFsExporter.ReadAllAsync(car.Roots.Head, (cid, _) => ValueTask.FromResult(store[cid]));

        Assert.Equal(root, car.Roots.Single().ToString());
        Assert.Equal(ours.Blocks.Map(b => b.Cid).Distinct().Order(), car.Blocks.Map(b => b.Cid).Order());
        Assert.Equal(content, exported);
    }

    private static ImportProfile ProfileOf(string name) => name switch
    {
        "unixfs-v1-2025" => ImportProfile.UnixFsV1_2025,
        "unixfs-v0-2015" => ImportProfile.UnixFsV0_2015,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown profile"),
    };
}
