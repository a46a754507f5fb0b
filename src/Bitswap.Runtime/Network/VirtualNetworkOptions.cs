using System.Diagnostics;
using Bitswap.Domain;

namespace Bitswap.Runtime.Network;

/// <summary>How the one-way latency of a directed pair of peers is chosen; each pair's value is drawn once (boxo testnet).</summary>
public abstract record LatencyModel
{
    private LatencyModel()
    {
    }

    /// <summary>No latency.</summary>
    public static readonly LatencyModel None = new Fixed(TimeSpan.Zero);

    /// <summary>Every pair has the same latency (boxo delay.Fixed).</summary>
    public sealed record Fixed(TimeSpan Latency) : LatencyModel;

    /// <summary>Latency drawn uniformly from [Min, Max].</summary>
    public sealed record Uniform(TimeSpan Min, TimeSpan Max) : LatencyModel;

    /// <summary>Latency drawn from a normal distribution, clamped at zero (boxo delay.VariableNormal).</summary>
    public sealed record Normal(TimeSpan Mean, TimeSpan StdDev) : LatencyModel;

    /// <summary>
    /// Three clusters typical of the internet (boxo InternetLatencyDelayGenerator): Base plus normal noise of StdDev, plus
    /// Large for a LargeFraction of pairs, plus Medium for a MediumFraction of them, plus nothing for the rest. Clamped at zero.
    /// </summary>
    public sealed record Internet(TimeSpan Base, TimeSpan Medium, TimeSpan Large, double MediumFraction, double LargeFraction, TimeSpan StdDev) : LatencyModel;

    /// <summary>Draws one latency.</summary>
    internal TimeSpan Draw(Random random)
    {
        switch (this)
        {
            case Fixed fixedLatency:
                return fixedLatency.Latency;
            case Uniform uniform:
                return AtLeastZero(uniform.Min.Ticks + (long)(random.NextDouble() * (uniform.Max.Ticks - uniform.Min.Ticks)));
            case Normal normal:
                return AtLeastZero(normal.Mean.Ticks + (long)(StandardNormal(random) * normal.StdDev.Ticks));
            case Internet internet:
            {
                var cluster = random.NextDouble();
                var ticks = internet.Base.Ticks + (long)(StandardNormal(random) * internet.StdDev.Ticks);
                if (cluster < internet.LargeFraction) ticks += internet.Large.Ticks;
                else if (cluster < internet.LargeFraction + internet.MediumFraction) ticks += internet.Medium.Ticks;
                return AtLeastZero(ticks);
            }
            default:
                throw new UnreachableException($"latency model {GetType().Name}");
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> for a model that cannot be drawn from.</summary>
    internal void Validate()
    {
        var valid = this switch
        {
            Fixed f => f.Latency >= TimeSpan.Zero,
            Uniform u => u.Min >= TimeSpan.Zero && u.Max >= u.Min,
            Normal n => n.StdDev >= TimeSpan.Zero,
            Internet i => i.StdDev >= TimeSpan.Zero && i.MediumFraction >= 0 && i.LargeFraction >= 0 && i.MediumFraction + i.LargeFraction <= 1,
            _ => throw new UnreachableException($"latency model {GetType().Name}"),
        };
        if (!valid) throw new ArgumentException($"invalid latency model {this}");
    }

    /// <summary>A standard normal deviate by the Box–Muller transform (System.Random has no normal sampler).</summary>
    internal static double StandardNormal(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static TimeSpan AtLeastZero(long ticks) => TimeSpan.FromTicks(Math.Max(0, ticks));
}

/// <summary>How the bandwidth of a directed pair is chosen; each pair's value is drawn once (boxo RateLimitGenerator).</summary>
public abstract record BandwidthModel
{
    private BandwidthModel()
    {
    }

    /// <summary>Messages take no time to transmit.</summary>
    public static readonly BandwidthModel Unlimited = new UnlimitedRate();

    /// <summary>No bandwidth limit.</summary>
    public sealed record UnlimitedRate : BandwidthModel;

    /// <summary>Every pair has the same rate (boxo FixedRateLimitGenerator).</summary>
    public sealed record Fixed(double BytesPerSecond) : BandwidthModel;

    /// <summary>The rate is drawn from a normal distribution, at least one byte per second (boxo VariableRateLimitGenerator).</summary>
    public sealed record Normal(double MeanBytesPerSecond, double StdDevBytesPerSecond) : BandwidthModel;

    /// <summary>Throws <see cref="ArgumentException"/> for a model that cannot be drawn from.</summary>
    internal void Validate()
    {
        var valid = this switch
        {
            UnlimitedRate => true,
            Fixed f => f.BytesPerSecond > 0 && double.IsFinite(f.BytesPerSecond),
            Normal n => n.MeanBytesPerSecond > 0 && double.IsFinite(n.MeanBytesPerSecond) && n.StdDevBytesPerSecond >= 0,
            _ => throw new UnreachableException($"bandwidth model {GetType().Name}"),
        };
        if (!valid) throw new ArgumentException($"invalid bandwidth model {this}");
    }

    /// <summary>Draws one rate in bytes per second, or null for unlimited.</summary>
    internal double? Draw(Random random) => this switch
    {
        UnlimitedRate => null,
        Fixed fixedRate => fixedRate.BytesPerSecond,
        Normal normal => Math.Max(1.0, normal.MeanBytesPerSecond + LatencyModel.StandardNormal(random) * normal.StdDevBytesPerSecond),
        _ => throw new UnreachableException($"bandwidth model {GetType().Name}"),
    };
}

/// <summary>Settings of a <see cref="VirtualNetwork"/>. The same options and the same calls give the same delivery times.</summary>
public sealed record VirtualNetworkOptions
{
    /// <summary>Seeds every random choice: per-pair latency and bandwidth, and which messages are lost.</summary>
    public int Seed { get; init; }

    /// <summary>One-way latency per directed pair.</summary>
    public LatencyModel Latency { get; init; } = LatencyModel.None;

    /// <summary>Bandwidth per directed pair, applied to the encoded size; messages on one link queue behind each other.</summary>
    public BandwidthModel Bandwidth { get; init; } = BandwidthModel.Unlimited;

    /// <summary>The chance, in [0, 1], that a sent message is lost; a lost message still uses its link's bandwidth.</summary>
    public double LossProbability { get; init; }

    /// <summary>Messages in flight on one directed link before sends to that peer fail (the virtual socket buffer).</summary>
    public int InFlightMessagesPerLinkMax { get; init; } = 4096;

    /// <summary>Bounds applied when decoding and to the size of a sent message.</summary>
    public Limits Limits { get; init; } = Limits.Default;

    /// <summary>
    /// The address every connection reports in <see cref="PeerUp"/>. Loopback by default, since the network is in-process;
    /// a public address makes broadcast control treat the peers as remote.
    /// </summary>
    public System.Net.IPAddress PeerAddress { get; init; } = System.Net.IPAddress.Loopback;
}
