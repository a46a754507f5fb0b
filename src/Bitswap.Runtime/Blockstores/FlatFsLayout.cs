using LanguageExt;
using Bitswap.Domain.Multiformats;

namespace Bitswap.Runtime.Blockstores;

/// <summary>
/// Kubo's default flatfs layout (ipfs/go-ds-flatfs shard.go, Kubo's default datastore spec): a block lives at
/// <c>&lt;shard&gt;/&lt;KEY&gt;.data</c>, where KEY is its multihash in upper-case RFC 4648 base32 without padding and the
/// shard is the two characters before KEY's last one (<c>next-to-last/2</c>).
/// </summary>
public static class FlatFsLayout
{
    /// <summary>The file at the store's root that names the sharding function.</summary>
    public const string ShardingFileName = "SHARDING";

    /// <summary>The only sharding function supported: Kubo's default (go-ds-flatfs IPFS_DEF_SHARD).</summary>
    public const string NextToLast2 = "/repo/flatfs/shard/v1/next-to-last/2";

    /// <summary>The extension of every block file.</summary>
    public const string BlockExtension = ".data";

    /// <summary>Shard directories are this many characters long.</summary>
    public const int ShardLength = 2;

    /// <summary>The flatfs key of a multihash: upper-case base32, no padding (Kubo's dshelp.MultihashToDsKey without the slash).</summary>
    public static string KeyOf(Multihash hash) => Multibase.Base32Upper(hash.Bytes);

    /// <summary>The shard of a key: the two characters before the last, left-padded with '_' for keys under three characters (go-ds-flatfs NextToLast).</summary>
    public static string ShardOf(string key)
    {
        var padded = key.Length >= ShardLength + 1 ? key : new string('_', ShardLength + 1 - key.Length) + key;
        return padded.Substring(padded.Length - ShardLength - 1, ShardLength);
    }

    /// <summary>The block file of a multihash relative to the store root, with '/' separators.</summary>
    public static string RelativePathOf(Multihash hash)
    {
        var key = KeyOf(hash);
        return $"{ShardOf(key)}/{key}{BlockExtension}";
    }

    /// <summary>The multihash a block file's name encodes, or None for names that are not block files.</summary>
    public static Option<Multihash> HashOfFileName(string fileName)
    {
        if (!fileName.EndsWith(BlockExtension, StringComparison.Ordinal)) return Option<Multihash>.None;
        var key = fileName[..^BlockExtension.Length];
        // Keys are written upper-case; a lower-case name is not ours and would alias another file on case-insensitive disks.
        if (key.Length == 0 || key.Any(char.IsAsciiLetterLower)) return Option<Multihash>.None;
        return Multibase.DecodeBase32(key).Bind(bytes => Multihash.FromBytes(bytes)).ToOption();
    }

    /// <summary>True when a SHARDING file's text names next-to-last/2, read as leniently as go-ds-flatfs (surrounding space and a missing prefix are fine).</summary>
    public static bool IsNextToLast2(string shardingText)
    {
        var parts = shardingText.Trim().Split('/');
        var tail = parts.Length > 3 ? parts[^3..] : parts;
        return tail switch
        {
            ["v1", "next-to-last", "2"] => true,
            ["next-to-last", "2"] => true,
            _ => false,
        };
    }
}
