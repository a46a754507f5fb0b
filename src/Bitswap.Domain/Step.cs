namespace Bitswap.Domain;

/// <summary>The result of one reducer step: the next state and the effects to interpret, in order.</summary>
/// <typeparam name="TState">The reducer's state.</typeparam>
/// <typeparam name="TEffect">The reducer's effect type.</typeparam>
public readonly record struct Step<TState, TEffect>(TState State, Seq<TEffect> Effects)
{
    /// <summary>A step with no effects.</summary>
    public static Step<TState, TEffect> Quiet(TState state) => new(state, Seq<TEffect>.Empty);
}
