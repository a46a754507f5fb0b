using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bitswap.Domain.Multiformats;
using LanguageExt;

namespace Bitswap.Transport.Tcp.Addressing;

/// <summary>The multiaddr protocol codes this library reads and writes (multiformats/multiaddr protocols.csv).</summary>
public enum MultiaddrCode : ulong
{
    /// <summary>IPv4 address, 4 bytes.</summary>
    Ip4 = 4,
    /// <summary>TCP port, 2 bytes big-endian.</summary>
    Tcp = 6,
    /// <summary>IPv6 address, 16 bytes.</summary>
    Ip6 = 41,
    /// <summary>DNS name for either family, length-prefixed UTF-8.</summary>
    Dns = 53,
    /// <summary>DNS name resolving to IPv4, length-prefixed UTF-8.</summary>
    Dns4 = 54,
    /// <summary>DNS name resolving to IPv6, length-prefixed UTF-8.</summary>
    Dns6 = 55,
    /// <summary>DNSADDR (TXT-record indirection), length-prefixed UTF-8.</summary>
    DnsAddr = 56,
    /// <summary>UDP port, 2 bytes big-endian.</summary>
    Udp = 273,
    /// <summary>Circuit relay marker, no value.</summary>
    P2pCircuit = 290,
    /// <summary>Peer ID, length-prefixed multihash; text alias <c>/ipfs/</c>.</summary>
    P2p = 421,
    /// <summary>TLS marker, no value.</summary>
    Tls = 448,
    /// <summary>Noise marker, no value.</summary>
    Noise = 454,
    /// <summary>QUIC v1 marker, no value.</summary>
    QuicV1 = 461,
    /// <summary>WebTransport marker, no value.</summary>
    WebTransport = 465,
    /// <summary>WebSocket marker, no value.</summary>
    Ws = 477,
    /// <summary>Secure WebSocket marker, no value.</summary>
    Wss = 478,
}

/// <summary>One protocol and its binary value inside a multiaddr.</summary>
/// <param name="Code">The protocol.</param>
/// <param name="Value">The binary value (empty for marker protocols; without the length prefix for variable ones).</param>
public sealed record MultiaddrComponent(MultiaddrCode Code, ReadOnlyMemory<byte> Value)
{
    /// <summary>Value equality by code and bytes.</summary>
    public bool Equals(MultiaddrComponent? other) => other is not null && Code == other.Code && Value.Span.SequenceEqual(other.Value.Span);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Code);
        hash.AddBytes(Value.Span);
        return hash.ToHashCode();
    }
}

/// <summary>
/// A self-describing network address (multiformats/multiaddr): binary form = components <c>uvarint(code) ‖ value</c>,
/// text form <c>/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…</c>. DNS names are kept as names, never resolved here.
/// Equality is by the binary form.
/// </summary>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    /// <summary>Largest binary multiaddr accepted; far above any real address, low enough to bound a hostile list.</summary>
    public const int BytesMax = 1024;

    /// <summary>Longest DNS name accepted (RFC 1035 limits a name to 255 octets).</summary>
    public const int DnsNameBytesMax = 255;

    private readonly byte[] _bytes;

    private Multiaddr(byte[] bytes, Seq<MultiaddrComponent> components)
    {
        _bytes = bytes;
        Components = components;
    }

    /// <summary>The components in order.</summary>
    public Seq<MultiaddrComponent> Components { get; }

    private MultiaddrComponent? LastComponent => Components.IsEmpty ? null : Components[Components.Count - 1];

    /// <summary>The peer ID of a trailing <c>/p2p/…</c> component, if any.</summary>
    public PeerId? PeerId =>
        LastComponent is { Code: MultiaddrCode.P2p } last
            ? Domain.Multiformats.PeerId.FromBytes(last.Value.Span).Match(p => p, _ => (PeerId?)null)
            : null;

    /// <summary>Parses the text form (<c>/ip4/…/tcp/…</c>); <c>/ipfs/</c> is read as <c>/p2p/</c>.</summary>
    public static Either<DecodeError, Multiaddr> Parse(string text)
    {
        if (string.IsNullOrEmpty(text)) return new DecodeError(DecodeErrorKind.Empty, "empty multiaddr");
        if (text.Length > 4 * BytesMax) return new DecodeError(DecodeErrorKind.TooLarge, "multiaddr text too long");
        if (text[0] != '/') return new DecodeError(DecodeErrorKind.BadField, "a multiaddr starts with '/'");
        var parts = text.TrimEnd('/').Split('/');
        var components = new List<MultiaddrComponent>();
        var i = 1;
        while (i < parts.Length)
        {
            var name = parts[i++];
            if (!TryCodeOfName(name, out var code)) return new DecodeError(DecodeErrorKind.BadField, $"unknown multiaddr protocol '{name}'");
            if (IsMarker(code))
            {
                components.Add(new MultiaddrComponent(code, ReadOnlyMemory<byte>.Empty));
                continue;
            }
            if (i >= parts.Length) return new DecodeError(DecodeErrorKind.Truncated, $"/{name} needs a value");
            var value = ParseValue(code, parts[i++]);
            if (value.IsLeft) return value.LeftToSeq().Head().At($"/{name}");
            components.Add(new MultiaddrComponent(code, value.RightToSeq().Head()));
        }
        if (components.Count == 0) return new DecodeError(DecodeErrorKind.Empty, "multiaddr has no components");
        var built = Build(components);
        return built.Bytes.Length <= BytesMax
            ? built
            : new DecodeError(DecodeErrorKind.TooLarge, $"multiaddr of {built.Bytes.Length} bytes exceeds {BytesMax}");
    }

    /// <summary>Parses text or throws <see cref="FormatException"/>; for literals in code and tests.</summary>
    public static Multiaddr ParseOrThrow(string text) =>
        Parse(text).Match(m => m, e => throw new FormatException($"bad multiaddr '{text}': {e}"));

    /// <summary>Parses the binary form; fails on codes this library does not know, since their value size is unknown.</summary>
    public static Either<DecodeError, Multiaddr> FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return new DecodeError(DecodeErrorKind.Empty, "empty multiaddr");
        if (bytes.Length > BytesMax) return new DecodeError(DecodeErrorKind.TooLarge, $"multiaddr of {bytes.Length} bytes exceeds {BytesMax}");
        var components = new List<MultiaddrComponent>();
        var offset = 0;
        while (offset < bytes.Length)
        {
            var status = Varint.TryRead(bytes[offset..], out var rawCode, out var codeLength);
            if (status != VarintStatus.Ok) return Varint.ErrorFor(status).At("multiaddr code");
            offset += codeLength;
            var code = (MultiaddrCode)rawCode;
            if (!Enum.IsDefined(code)) return new DecodeError(DecodeErrorKind.BadField, $"unknown multiaddr code {rawCode}");
            int valueLength;
            var fixedSize = FixedSize(code);
            if (fixedSize >= 0)
            {
                valueLength = fixedSize;
            }
            else
            {
                var lengthStatus = Varint.TryRead(bytes[offset..], out var declared, out var lengthLength);
                if (lengthStatus != VarintStatus.Ok) return Varint.ErrorFor(lengthStatus).At($"multiaddr {NameOf(code)} length");
                offset += lengthLength;
                if (declared > (ulong)(bytes.Length - offset))
                    return new DecodeError(DecodeErrorKind.Truncated, $"multiaddr {NameOf(code)} needs {declared} bytes, {bytes.Length - offset} left");
                valueLength = (int)declared;
            }
            if (bytes.Length - offset < valueLength)
                return new DecodeError(DecodeErrorKind.Truncated, $"multiaddr {NameOf(code)} needs {valueLength} bytes, {bytes.Length - offset} left");
            var value = bytes.Slice(offset, valueLength);
            var valid = ValidateValue(code, value);
            if (valid.IsSome) return valid.IfNone(() => throw new System.Diagnostics.UnreachableException());
            components.Add(new MultiaddrComponent(code, value.ToArray()));
            offset += valueLength;
        }
        return new Multiaddr(bytes.ToArray(), components.ToSeq());
    }

    /// <summary>
    /// Reads an address list received from a peer (identify <c>listenAddrs</c>): keeps every address that parses and
    /// silently skips the rest (unknown protocols such as webrtc or certhash are normal there), at most <paramref name="max"/>.
    /// </summary>
    public static Seq<Multiaddr> ReadKnown(IEnumerable<ReadOnlyMemory<byte>> addresses, int max = 64)
    {
        var known = new List<Multiaddr>();
        foreach (var address in addresses)
        {
            if (known.Count >= max) break;
            FromBytes(address.Span).IfRight(known.Add);
        }
        return known.ToSeq();
    }

    /// <summary>The address of a socket endpoint: <c>/ip4/…/tcp/…</c> or <c>/ip6/…/tcp/…</c> (IPv4-mapped IPv6 becomes ip4).</summary>
    public static Multiaddr FromEndpoint(IPEndPoint endpoint)
    {
        var address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        var ipCode = address.AddressFamily == AddressFamily.InterNetwork ? MultiaddrCode.Ip4 : MultiaddrCode.Ip6;
        var ipBytes = address.GetAddressBytes();
        var port = new byte[] { (byte)(endpoint.Port >> 8), (byte)endpoint.Port };
        return Build([new MultiaddrComponent(ipCode, ipBytes), new MultiaddrComponent(MultiaddrCode.Tcp, port)]);
    }

    /// <summary>The TCP endpoint of an <c>/ip4|ip6/…/tcp/…</c> address (optionally followed by <c>/p2p/…</c>); false for DNS or other transports.</summary>
    public bool TryGetTcpEndpoint(out IPEndPoint? endpoint)
    {
        endpoint = null;
        var withoutPeer = LastComponent is { Code: MultiaddrCode.P2p } ? Components.Take(Components.Count - 1).ToSeq() : Components;
        if (withoutPeer.Count != 2) return false;
        var ip = withoutPeer[0];
        var tcp = withoutPeer[1];
        if (ip.Code is not (MultiaddrCode.Ip4 or MultiaddrCode.Ip6) || tcp.Code != MultiaddrCode.Tcp) return false;
        endpoint = new IPEndPoint(new IPAddress(ip.Value.Span), Port(tcp.Value.Span));
        return true;
    }

    /// <summary>This address with a trailing <c>/p2p/&lt;peer&gt;</c>, replacing any peer already there.</summary>
    public Multiaddr WithPeer(PeerId peer) =>
        Build([.. ComponentsWithoutPeer, new MultiaddrComponent(MultiaddrCode.P2p, peer.Hash.ToArray())]);

    private Seq<MultiaddrComponent> ComponentsWithoutPeer =>
        LastComponent is { Code: MultiaddrCode.P2p } ? Components.Take(Components.Count - 1).ToSeq() : Components;

    /// <summary>This address without a trailing <c>/p2p/…</c> component (an address that is only <c>/p2p/…</c> stays as it is).</summary>
    public Multiaddr WithoutPeer() =>
        LastComponent is { Code: MultiaddrCode.P2p } && Components.Count > 1
            ? Build(Components.Take(Components.Count - 1))
            : this;

    /// <summary>A copy of the binary form.</summary>
    public byte[] ToBytes() => (byte[])_bytes.Clone();

    /// <summary>The binary form without copying.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The text form, e.g. <c>/ip4/127.0.0.1/tcp/4001</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var component in Components)
        {
            text.Append('/').Append(NameOf(component.Code));
            if (!IsMarker(component.Code)) text.Append('/').Append(FormatValue(component.Code, component.Value.Span));
        }
        return text.ToString();
    }

    /// <inheritdoc />
    public bool Equals(Multiaddr? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <summary>The text name of a protocol code.</summary>
    public static string NameOf(MultiaddrCode code) => code switch
    {
        MultiaddrCode.Ip4 => "ip4",
        MultiaddrCode.Tcp => "tcp",
        MultiaddrCode.Ip6 => "ip6",
        MultiaddrCode.Dns => "dns",
        MultiaddrCode.Dns4 => "dns4",
        MultiaddrCode.Dns6 => "dns6",
        MultiaddrCode.DnsAddr => "dnsaddr",
        MultiaddrCode.Udp => "udp",
        MultiaddrCode.P2pCircuit => "p2p-circuit",
        MultiaddrCode.P2p => "p2p",
        MultiaddrCode.Tls => "tls",
        MultiaddrCode.Noise => "noise",
        MultiaddrCode.QuicV1 => "quic-v1",
        MultiaddrCode.WebTransport => "webtransport",
        MultiaddrCode.Ws => "ws",
        MultiaddrCode.Wss => "wss",
        _ => $"0x{(ulong)code:x}",
    };

    private static bool TryCodeOfName(string name, out MultiaddrCode code)
    {
        if (name == "ipfs")
        {
            code = MultiaddrCode.P2p;
            return true;
        }
        foreach (var candidate in Enum.GetValues<MultiaddrCode>())
        {
            if (NameOf(candidate) != name) continue;
            code = candidate;
            return true;
        }
        code = default;
        return false;
    }

    private static bool IsMarker(MultiaddrCode code) => FixedSize(code) == 0;

    // Bytes of a fixed-size value, 0 for markers, -1 for length-prefixed values.
    private static int FixedSize(MultiaddrCode code) => code switch
    {
        MultiaddrCode.Ip4 => 4,
        MultiaddrCode.Ip6 => 16,
        MultiaddrCode.Tcp or MultiaddrCode.Udp => 2,
        MultiaddrCode.Dns or MultiaddrCode.Dns4 or MultiaddrCode.Dns6 or MultiaddrCode.DnsAddr or MultiaddrCode.P2p => -1,
        _ => 0,
    };

    private static bool IsDns(MultiaddrCode code) => code is MultiaddrCode.Dns or MultiaddrCode.Dns4 or MultiaddrCode.Dns6 or MultiaddrCode.DnsAddr;

    private static Option<DecodeError> ValidateValue(MultiaddrCode code, ReadOnlySpan<byte> value)
    {
        if (IsDns(code))
        {
            if (value.Length == 0 || value.Length > DnsNameBytesMax)
                return new DecodeError(DecodeErrorKind.BadField, $"{NameOf(code)} name must have 1 to {DnsNameBytesMax} bytes");
            if (value.Contains((byte)'/')) return new DecodeError(DecodeErrorKind.BadField, $"{NameOf(code)} name contains '/'");
            if (!System.Text.Unicode.Utf8.IsValid(value)) return new DecodeError(DecodeErrorKind.BadField, $"{NameOf(code)} name is not UTF-8");
            return Option<DecodeError>.None;
        }
        if (code == MultiaddrCode.P2p)
            return Domain.Multiformats.PeerId.FromBytes(value).Match(_ => Option<DecodeError>.None, e => e.At("p2p"));
        return Option<DecodeError>.None;
    }

    private static Either<DecodeError, byte[]> ParseValue(MultiaddrCode code, string text)
    {
        switch (code)
        {
            case MultiaddrCode.Ip4:
                return TryParseIp4(text, out var ip4) ? ip4 : new DecodeError(DecodeErrorKind.BadField, $"'{text}' is not a dotted-quad IPv4 address");
            case MultiaddrCode.Ip6:
                if (text.Contains('%') || !IPAddress.TryParse(text, out var ip6) || ip6.AddressFamily != AddressFamily.InterNetworkV6)
                    return new DecodeError(DecodeErrorKind.BadField, $"'{text}' is not an IPv6 address");
                return ip6.GetAddressBytes();
            case MultiaddrCode.Tcp or MultiaddrCode.Udp:
                if (text.Length is 0 or > 5 || !text.All(char.IsAsciiDigit) || !ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
                    return new DecodeError(DecodeErrorKind.BadField, $"'{text}' is not a port number");
                return new[] { (byte)(port >> 8), (byte)port };
            case MultiaddrCode.P2p:
                return Domain.Multiformats.PeerId.Parse(text).Map(peer => peer.Hash.ToArray());
            default:
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                return ValidateValue(code, bytes).Match(e => (Either<DecodeError, byte[]>)e, () => bytes);
            }
        }
    }

    private static bool TryParseIp4(string text, out byte[] bytes)
    {
        bytes = new byte[4];
        var parts = text.Split('.');
        if (parts.Length != 4) return false;
        for (var i = 0; i < 4; i++)
        {
            var part = parts[i];
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit)) return false;
            var value = int.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture);
            if (value > 255) return false;
            bytes[i] = (byte)value;
        }
        return true;
    }

    private static string FormatValue(MultiaddrCode code, ReadOnlySpan<byte> value) => code switch
    {
        MultiaddrCode.Ip4 or MultiaddrCode.Ip6 => new IPAddress(value).ToString(),
        MultiaddrCode.Tcp or MultiaddrCode.Udp => Port(value).ToString(CultureInfo.InvariantCulture),
        MultiaddrCode.P2p => Multibase.Base58Btc(value),
        _ => Encoding.UTF8.GetString(value),
    };

    private static int Port(ReadOnlySpan<byte> value) => (value[0] << 8) | value[1];

    private static Multiaddr Build(IEnumerable<MultiaddrComponent> components)
    {
        var list = components.ToSeq().Strict();
        var bytes = new List<byte>();
        Span<byte> varint = stackalloc byte[Varint.MaxBytes];
        foreach (var component in list)
        {
            bytes.AddRange(varint[..Varint.Write(varint, (ulong)component.Code)]);
            if (FixedSize(component.Code) < 0) bytes.AddRange(varint[..Varint.Write(varint, (ulong)component.Value.Length)]);
            bytes.AddRange(component.Value.Span);
        }
        return new Multiaddr(bytes.ToArray(), list);
    }
}
