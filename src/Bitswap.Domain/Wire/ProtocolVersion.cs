namespace Bitswap.Domain.Wire;

/// <summary>The Bitswap protocol spoken with a peer; it decides what a message can carry.</summary>
public enum ProtocolVersion
{
    /// <summary><c>/ipfs/bitswap/1.0.0</c> and the plain <c>/ipfs/bitswap</c>: blocks in field 2, CIDv0 only.</summary>
    V100,
    /// <summary><c>/ipfs/bitswap/1.1.0</c>: blocks as prefix + data, so CIDv1 works.</summary>
    V110,
    /// <summary><c>/ipfs/bitswap/1.2.0</c>: adds want-have, sendDontHave, HAVE/DONT_HAVE and pendingBytes.</summary>
    V120,
}

/// <summary>Protocol ids and what each version supports.</summary>
public static class Protocols
{
    /// <summary><c>/ipfs/bitswap/1.2.0</c>.</summary>
    public const string Bitswap120 = "/ipfs/bitswap/1.2.0";
    /// <summary><c>/ipfs/bitswap/1.1.0</c>.</summary>
    public const string Bitswap110 = "/ipfs/bitswap/1.1.0";
    /// <summary><c>/ipfs/bitswap/1.0.0</c>.</summary>
    public const string Bitswap100 = "/ipfs/bitswap/1.0.0";
    /// <summary>The unversioned <c>/ipfs/bitswap</c>, treated as 1.0.0.</summary>
    public const string BitswapLegacy = "/ipfs/bitswap";

    /// <summary>Protocol ids in preference order (boxo bsnet internal/default.go).</summary>
    public static readonly IReadOnlyList<string> All = [Bitswap120, Bitswap110, Bitswap100, BitswapLegacy];

    /// <summary>The version a protocol id names, if it is a Bitswap id.</summary>
    public static ProtocolVersion? FromId(string id) => id switch
    {
        Bitswap120 => ProtocolVersion.V120,
        Bitswap110 => ProtocolVersion.V110,
        Bitswap100 or BitswapLegacy => ProtocolVersion.V100,
        _ => null,
    };

    /// <summary>The canonical protocol id of a version.</summary>
    public static string Id(this ProtocolVersion version) => version switch
    {
        ProtocolVersion.V120 => Bitswap120,
        ProtocolVersion.V110 => Bitswap110,
        ProtocolVersion.V100 => Bitswap100,
        _ => throw new System.Diagnostics.UnreachableException($"version {version}"),
    };

    /// <summary>True from 1.2.0 on: the peer understands want-have and answers with HAVE/DONT_HAVE.</summary>
    public static bool SupportsHave(this ProtocolVersion version) => version >= ProtocolVersion.V120;
}
