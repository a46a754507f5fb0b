using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;
using FsCheck;
using FsCheck.Fluent;

namespace Bitswap.Tests.Properties;

/// <summary>Generators for the libp2p transport: multiaddrs built component by component in binary form.</summary>
public static partial class Arbitraries
{
    private static readonly MultiaddrCode[] MarkerCodes =
    [
        MultiaddrCode.P2pCircuit, MultiaddrCode.Tls, MultiaddrCode.Noise, MultiaddrCode.QuicV1,
        MultiaddrCode.WebTransport, MultiaddrCode.Ws, MultiaddrCode.Wss,
    ];

    /// <summary>One binary multiaddr component (code and value, length-prefixed where the protocol says so).</summary>
    public static Gen<byte[]> MultiaddrComponentBytes() =>
        Gen.OneOf(
            BytesOf(4).Select(v => Component(MultiaddrCode.Ip4, v, prefixed: false)),
            BytesOf(16).Select(v => Component(MultiaddrCode.Ip6, v, prefixed: false)),
            Gen.Choose(0, 65535).Select(p => Component(MultiaddrCode.Tcp, [(byte)(p >> 8), (byte)p], prefixed: false)),
            Gen.Choose(0, 65535).Select(p => Component(MultiaddrCode.Udp, [(byte)(p >> 8), (byte)p], prefixed: false)),
            Gen.Elements(MultiaddrCode.Dns, MultiaddrCode.Dns4, MultiaddrCode.Dns6, MultiaddrCode.DnsAddr)
                .SelectMany(_ => DnsName(), (code, name) => Component(code, System.Text.Encoding.UTF8.GetBytes(name), prefixed: true)),
            PeerIdBytes().Select(v => Component(MultiaddrCode.P2p, v, prefixed: true)),
            Gen.Elements(MarkerCodes).Select(code => Component(code, [], prefixed: false)));

    /// <summary>A binary multiaddr of one to six components.</summary>
    public static Gen<byte[]> MultiaddrBytes() =>
        Gen.Choose(1, 6).SelectMany(n => MultiaddrComponentBytes().ArrayOf(n), (_, parts) => parts.SelectMany(p => p).ToArray());

    /// <summary>Valid multiaddrs.</summary>
    public static Arbitrary<Multiaddr> Multiaddrs() =>
        MultiaddrBytes().Select(bytes => Multiaddr.FromBytes(bytes).Match(m => m, e => throw new InvalidOperationException(e.ToString()))).ToArbitrary();

    /// <summary>Peer ID multihashes: inlined Ed25519 keys or sha2-256 digests.</summary>
    public static Gen<byte[]> PeerIdBytes() =>
        Gen.OneOf(
            BytesOf(32).Select(key => Multihash.FromDigest((ulong)MultihashCode.Identity, [0x08, 0x01, 0x12, 0x20, .. key]).ToArray()),
            BytesOf(32).Select(digest => Multihash.FromDigest((ulong)MultihashCode.Sha2_256, digest).ToArray()));

    private static Gen<string> DnsName() =>
        Gen.Choose(1, 39).SelectMany(n => Gen.Elements("abcdefghijklmnopqrstuvwxyz0123456789-.".ToCharArray()).ArrayOf(n)).Select(c => new string(c));

    private static byte[] Component(MultiaddrCode code, byte[] value, bool prefixed) =>
        [.. Varint.Encode((ulong)code), .. prefixed ? Varint.Encode((ulong)value.Length) : [], .. value];
}
