namespace Bitswap.Domain;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood, 2014): the only randomness in the domain. Its state is a plain <see cref="ulong"/>
/// kept in reducer state, so a seeded run replays identically.
/// </summary>
public static class SplitMix64
{
    /// <summary>The golden-ratio increment that advances the state.</summary>
    public const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>The finalizer: a cheap, well-mixed 64-bit permutation.</summary>
    public static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>One step: the value drawn from <paramref name="state"/> and the state after it.</summary>
    public static (ulong Value, ulong Next) Next(ulong state)
    {
        var next = state + Gamma;
        return (Finalize(next), next);
    }

    /// <summary>The value one step from <paramref name="state"/> draws (a keyed hash when the state is a key).</summary>
    public static ulong Mix(ulong state) => Finalize(state + Gamma);

    /// <summary>A child seed mixed from a parent seed and a per-child constant, so children draw independently.</summary>
    public static ulong Derive(ulong seed, ulong child) => Finalize(seed + (child * Gamma));
}
