using System.Net;
using Bitswap.Domain.Multiformats;
using Bitswap.Transport.Tcp.Addressing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>Multiaddr binary and text round trips, and robustness against hostile bytes.</summary>
public class MultiaddrProperties
{
    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public bool Binary_form_round_trips(Multiaddr address) =>
        Multiaddr.FromBytes(address.ToBytes()).Match(decoded => decoded.Equals(address) && decoded.ToBytes().AsSpan().SequenceEqual(address.ToBytes()), _ => false);

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public bool Text_form_round_trips(Multiaddr address) =>
        Multiaddr.Parse(address.ToString()).Match(parsed => parsed.Equals(address) && parsed.ToString() == address.ToString(), _ => false);

    [Property(MaxTest = 1000)]
    public void Decoding_random_bytes_never_throws(byte[] bytes) => _ = Multiaddr.FromBytes(bytes);

    [Property(MaxTest = 1000, Arbitrary = [typeof(Arbitraries)])]
    public void Decoding_a_corrupted_address_never_throws(Multiaddr address, int position, byte value)
    {
        var bytes = address.ToBytes();
        bytes[(int)((uint)position % (uint)bytes.Length)] = value;
        _ = Multiaddr.FromBytes(bytes);
        _ = Multiaddr.FromBytes(bytes.AsSpan(0, (int)((uint)position % (uint)bytes.Length)));
    }

    [Property(MaxTest = 500)]
    public void Parsing_random_text_never_throws(string text) => _ = Multiaddr.Parse(text ?? "");

    [Property(MaxTest = 300, Arbitrary = [typeof(Arbitraries)])]
    public bool Reading_a_received_list_keeps_known_addresses_and_skips_unknown_codes(Multiaddr first, Multiaddr second, Multiaddr third, int unknownCode)
    {
        // 0x0300 is not a code this library knows (multicodec reserves it for nothing we parse).
        byte[] unknown = [.. Varint.Encode(0x300 + (ulong)((uint)unknownCode % 64)), 0x01, 0x02];
        Multiaddr[] sample = [first, second, third];
        var received = sample.SelectMany(a => new ReadOnlyMemory<byte>[] { a.ToBytes(), unknown }).ToList();
        var known = Multiaddr.ReadKnown(received, max: 1000);
        return known.SequenceEqual(sample);
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(Arbitraries)])]
    public bool With_peer_sets_the_trailing_peer_and_without_peer_removes_it(Multiaddr address)
    {
        var peer = new PeerId(Multihash.Compute(MultihashCode.Identity, [0x08, 0x01, 0x12, 0x20, .. new byte[32]]).Match(h => h, e => throw new InvalidOperationException(e.ToString())));
        var withPeer = address.WithPeer(peer);
        return withPeer.PeerId == peer
            && ((address.Components.Count == 1 && address.Components[0].Code == MultiaddrCode.P2p) || withPeer.WithoutPeer().Equals(address.WithoutPeer()))
            && withPeer.WithPeer(peer).Equals(withPeer)
            && withPeer.ToString().EndsWith("/p2p/" + peer, StringComparison.Ordinal);
    }

    [Property(MaxTest = 300)]
    public bool Tcp_endpoints_round_trip(byte[] seed, ushort port, bool ipv6)
    {
        var raw = new byte[ipv6 ? 16 : 4];
        seed.AsSpan(0, Math.Min(seed.Length, raw.Length)).CopyTo(raw);
        var address = new IPAddress(raw);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var endpoint = new IPEndPoint(address, port);
        var multiaddr = Multiaddr.FromEndpoint(endpoint);
        return multiaddr.TryGetTcpEndpoint(out var back) && endpoint.Equals(back)
            && multiaddr.WithPeer(PeerIdOfZeroKey()).TryGetTcpEndpoint(out var viaPeer) && endpoint.Equals(viaPeer);
    }

    [Fact]
    public void Dns_and_udp_addresses_have_no_tcp_endpoint()
    {
        Assert.False(Multiaddr.ParseOrThrow("/dns4/example.com/tcp/443").TryGetTcpEndpoint(out _));
        Assert.False(Multiaddr.ParseOrThrow("/ip4/127.0.0.1/udp/443").TryGetTcpEndpoint(out _));
        Assert.False(Multiaddr.ParseOrThrow("/ip4/127.0.0.1/tcp/443/ws").TryGetTcpEndpoint(out _));
    }

    [Fact]
    public void An_ipv4_mapped_ipv6_endpoint_becomes_ip4()
    {
        var endpoint = new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 4001);
        Assert.Equal("/ip4/10.1.2.3/tcp/4001", Multiaddr.FromEndpoint(endpoint).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("ip4/1.2.3.4")]
    [InlineData("/ip4/1.2.3")]
    [InlineData("/ip4/1.2.3.256")]
    [InlineData("/ip4/01.2.3.4444")]
    [InlineData("/ip4/1.2.3.4/tcp")]
    [InlineData("/ip4/1.2.3.4/tcp/65536")]
    [InlineData("/ip4/1.2.3.4/tcp/-1")]
    [InlineData("/ip6/1.2.3.4")]
    [InlineData("/ip6/fe80::1%eth0")]
    [InlineData("/unknown/1")]
    [InlineData("/p2p/notapeerid")]
    public void Malformed_text_is_rejected_with_a_typed_error(string text) => Assert.True(Multiaddr.Parse(text).IsLeft);

    private static PeerId PeerIdOfZeroKey() =>
        new(Multihash.Compute(MultihashCode.Identity, [0x08, 0x01, 0x12, 0x20, .. new byte[32]]).Match(h => h, e => throw new InvalidOperationException(e.ToString())));
}
