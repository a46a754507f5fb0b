namespace Bitswap.Domain.Multiformats;

/// <summary>Multicodec content codes (multiformats/multicodec table.csv) that this library names.</summary>
public static class Multicodec
{
    /// <summary>raw binary, 0x55.</summary>
    public const ulong Raw = 0x55;
    /// <summary>MerkleDAG protobuf (UnixFS), 0x70.</summary>
    public const ulong DagPb = 0x70;
    /// <summary>MerkleDAG CBOR, 0x71.</summary>
    public const ulong DagCbor = 0x71;
    /// <summary>libp2p public key (peer IDs as CIDs), 0x72.</summary>
    public const ulong Libp2pKey = 0x72;
    /// <summary>MerkleDAG JSON, 0x0129.</summary>
    public const ulong DagJson = 0x0129;
    /// <summary>Plain JSON, 0x0200.</summary>
    public const ulong Json = 0x0200;
    /// <summary>CBOR, 0x51.</summary>
    public const ulong Cbor = 0x51;

    private static readonly (ulong Code, string Name)[] Known =
    [
        (Raw, "raw"), (DagPb, "dag-pb"), (DagCbor, "dag-cbor"), (Libp2pKey, "libp2p-key"),
        (DagJson, "dag-json"), (Json, "json"), (Cbor, "cbor"),
    ];

    /// <summary>The registered name of a content code, if this library knows it.</summary>
    public static Option<string> NameOf(ulong code)
    {
        foreach (var (c, n) in Known) if (c == code) return n;
        return Option<string>.None;
    }

    /// <summary>The code for a registered name, if this library knows it.</summary>
    public static Option<ulong> CodeOf(string name)
    {
        foreach (var (c, n) in Known) if (n == name) return c;
        return Option<ulong>.None;
    }

    /// <summary>The name, or the code in hex when the name is unknown.</summary>
    public static string Describe(ulong code) => NameOf(code).IfNone(() => $"0x{code:x}");
}
