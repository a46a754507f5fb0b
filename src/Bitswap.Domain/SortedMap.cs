using System.Collections;
using System.Collections.Immutable;

namespace Bitswap.Domain;

/// <summary>
/// A persistent sorted map with value equality: an <see cref="ImmutableSortedDictionary{TKey, TValue}"/> for the
/// reducers' hot indexes. Its batch operations (<see cref="SetItems"/>, <see cref="RemoveRange"/>) copy each node of
/// the union of the changed paths once, mutating the copies they have just made, where a LanguageExt map copies a whole
/// search path per key: a message of 64 blocks leaves a map of a thousand wants for about half the bytes. Equality
/// compares entries, so states holding it compare by value as the rest of the state does.
/// </summary>
/// <typeparam name="TKey">The key, ordered by its default comparer (as LanguageExt's ordered map orders it).</typeparam>
/// <typeparam name="TValue">The value.</typeparam>
public readonly struct SortedMap<TKey, TValue> : IEquatable<SortedMap<TKey, TValue>>, IReadOnlyCollection<KeyValuePair<TKey, TValue>>
    where TKey : notnull
{
    private readonly ImmutableSortedDictionary<TKey, TValue>? _tree;

    private SortedMap(ImmutableSortedDictionary<TKey, TValue> tree) => _tree = tree;

    /// <summary>The empty map.</summary>
    public static SortedMap<TKey, TValue> Empty => default;

    private ImmutableSortedDictionary<TKey, TValue> Tree => _tree ?? ImmutableSortedDictionary<TKey, TValue>.Empty;

    /// <summary>Number of entries.</summary>
    public int Count => _tree?.Count ?? 0;

    /// <summary>True when there is no entry.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>The keys in order.</summary>
    public IEnumerable<TKey> Keys => Tree.Keys;

    /// <summary>The values in key order.</summary>
    public IEnumerable<TValue> Values => Tree.Values;

    /// <summary>The value of a key that must be present.</summary>
    public TValue this[TKey key] => Tree[key];

    /// <summary>The map of <paramref name="items"/> (distinct keys), built through a builder local to the call.</summary>
    public static SortedMap<TKey, TValue> Of(IEnumerable<(TKey Key, TValue Value)> items)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<TKey, TValue>();
        foreach (var (key, value) in items) builder.Add(key, value);
        return Wrap(builder.ToImmutable());
    }

    /// <summary>A builder for a map made within one step (mutable, so it must not escape the step).</summary>
    public static ImmutableSortedDictionary<TKey, TValue>.Builder CreateBuilder() => ImmutableSortedDictionary.CreateBuilder<TKey, TValue>();

    /// <summary>A builder starting from this map, for changes made within one step (mutable, so it must not escape the step).</summary>
    public ImmutableSortedDictionary<TKey, TValue>.Builder ToBuilder() => Tree.ToBuilder();

    /// <summary>The map a step's builder holds.</summary>
    public static SortedMap<TKey, TValue> From(ImmutableSortedDictionary<TKey, TValue>.Builder builder) => Wrap(builder.ToImmutable());

    /// <summary>True when the key is present.</summary>
    public bool ContainsKey(TKey key) => _tree is not null && _tree.ContainsKey(key);

    /// <summary>The value of a key, if present.</summary>
    public bool TryGetValue(TKey key, out TValue value)
    {
        if (_tree is not null) return _tree.TryGetValue(key, out value!);
        value = default!;
        return false;
    }

    /// <summary>The value of a key, if present.</summary>
    public Option<TValue> Find(TKey key) => TryGetValue(key, out var value) ? value : Option<TValue>.None;

    /// <summary>The map with the key set to the value (added or replaced).</summary>
    public SortedMap<TKey, TValue> SetItem(TKey key, TValue value) => new(Tree.SetItem(key, value));

    /// <summary>The map with every item set (added or replaced), in one batch.</summary>
    public SortedMap<TKey, TValue> SetItems(IEnumerable<KeyValuePair<TKey, TValue>> items)
    {
        if (_tree is not null) return Wrap(_tree.SetItems(items));
        // Into an empty tree through a builder: SetItems on an empty tree sorts into a SortedDictionary first.
        var builder = ImmutableSortedDictionary.CreateBuilder<TKey, TValue>();
        foreach (var (key, value) in items) builder[key] = value;
        return Wrap(builder.ToImmutable());
    }

    /// <summary>The map without the key; the same map when it is absent.</summary>
    public SortedMap<TKey, TValue> Remove(TKey key) => _tree is null ? this : Wrap(_tree.Remove(key));

    /// <summary>The map without the keys (absent ones are ignored), in one batch.</summary>
    public SortedMap<TKey, TValue> RemoveRange(IEnumerable<TKey> keys) => _tree is null ? this : Wrap(_tree.RemoveRange(keys));

    /// <summary>The map without the key; the same map when it is absent (as <see cref="Persistent"/>'s <c>Without</c> on LanguageExt maps).</summary>
    public SortedMap<TKey, TValue> Without(TKey key) => Remove(key);

    /// <summary>The map without <paramref name="keys"/>, in one batch.</summary>
    public SortedMap<TKey, TValue> WithoutAll(IReadOnlyCollection<TKey> keys) => keys.Count == 0 ? this : RemoveRange(keys);

    /// <summary>The map with <paramref name="changes"/> set (keys present or not), in one batch.</summary>
    public SortedMap<TKey, TValue> WithItems(IReadOnlyDictionary<TKey, TValue> changes) => changes.Count == 0 ? this : SetItems(changes);

    /// <summary>Enumerates the entries in key order without allocating (the tree's enumerator pools its stack).</summary>
    public ImmutableSortedDictionary<TKey, TValue>.Enumerator GetEnumerator() => Tree.GetEnumerator();

    IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>True when both maps hold the same keys with equal values.</summary>
    public bool Equals(SortedMap<TKey, TValue> other) => Persistent.SameEntries(Tree, other.Tree);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SortedMap<TKey, TValue> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Count;

    /// <summary>Value equality.</summary>
    public static bool operator ==(SortedMap<TKey, TValue> left, SortedMap<TKey, TValue> right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(SortedMap<TKey, TValue> left, SortedMap<TKey, TValue> right) => !left.Equals(right);

    private static SortedMap<TKey, TValue> Wrap(ImmutableSortedDictionary<TKey, TValue> tree) => tree.IsEmpty ? default : new(tree);
}
