using System.Collections;

namespace Bitswap.Domain;

/// <summary>
/// A persistent sorted map with value equality for the reducers' hot indexes: a B+tree (<see cref="BTree{TKey, TValue}"/>)
/// of wide nodes. A lookup walks four or five arrays for a million entries, a change copies one path of them, and an entry
/// costs about 20 bytes besides its key and value, where a binary tree pays a node of 48–56 bytes per entry and twenty
/// scattered nodes per lookup. Batches (<see cref="SetItems"/>, <see cref="RemoveRange"/>, a <see cref="Builder"/> within
/// one step) copy each node they touch once. Equality compares entries, so states holding it compare by value as the
/// rest of the state does.
/// </summary>
/// <typeparam name="TKey">The key, ordered by its default comparer (as LanguageExt's ordered map orders it).</typeparam>
/// <typeparam name="TValue">The value.</typeparam>
public readonly struct SortedMap<TKey, TValue> : IEquatable<SortedMap<TKey, TValue>>, IReadOnlyCollection<KeyValuePair<TKey, TValue>>
    where TKey : notnull
{
    private static readonly IComparer<TKey> Order = Comparer<TKey>.Default;

    private readonly BNode<TKey, TValue>? _root;

    private SortedMap(BNode<TKey, TValue>? root) => _root = root;

    /// <summary>The empty map.</summary>
    public static SortedMap<TKey, TValue> Empty => default;

    /// <summary>Number of entries.</summary>
    public int Count => _root?.Count ?? 0;

    /// <summary>True when there is no entry.</summary>
    public bool IsEmpty => _root is null;

    /// <summary>The keys in order.</summary>
    public IEnumerable<TKey> Keys
    {
        get
        {
            foreach (var entry in this) yield return entry.Key;
        }
    }

    /// <summary>The values in key order.</summary>
    public IEnumerable<TValue> Values
    {
        get
        {
            foreach (var entry in this) yield return entry.Value;
        }
    }

    /// <summary>The value of a key that must be present.</summary>
    public TValue this[TKey key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"key {key} is not in the map");

    /// <summary>The map of <paramref name="items"/> (distinct keys), sorted once and built bottom-up with packed nodes.</summary>
    public static SortedMap<TKey, TValue> Of(IEnumerable<(TKey Key, TValue Value)> items)
    {
        var entries = new List<KeyValuePair<TKey, TValue>>(items is IReadOnlyCollection<(TKey, TValue)> known ? known.Count : 4);
        foreach (var (key, value) in items) entries.Add(new(key, value));
        return OfEntries(entries);
    }

    /// <summary>A builder for a map made within one step (mutable, so it must not escape the step).</summary>
    public static Builder CreateBuilder() => new(null);

    /// <summary>A builder starting from this map, for changes made within one step (mutable, so it must not escape the step).</summary>
    public Builder ToBuilder() => new(_root);

    /// <summary>The map a step's builder holds.</summary>
    public static SortedMap<TKey, TValue> From(Builder builder) => builder.ToImmutable();

    /// <summary>True when the key is present.</summary>
    public bool ContainsKey(TKey key) => BTree<TKey, TValue>.TryGet(_root, key, Order, out _);

    /// <summary>The value of a key, if present.</summary>
    public bool TryGetValue(TKey key, out TValue value) => BTree<TKey, TValue>.TryGet(_root, key, Order, out value);

    /// <summary>The value of a key, if present.</summary>
    public Option<TValue> Find(TKey key) => TryGetValue(key, out var value) ? value : Option<TValue>.None;

    /// <summary>The map with the key set to the value (added or replaced); the same map when it already holds that value.</summary>
    public SortedMap<TKey, TValue> SetItem(TKey key, TValue value)
    {
        var root = BTree<TKey, TValue>.With(_root, key, value, Order, onlyAdd: false, out var changed);
        return changed ? new(root) : this;
    }

    /// <summary>The map with every item set (added or replaced), in one batch.</summary>
    public SortedMap<TKey, TValue> SetItems(IEnumerable<KeyValuePair<TKey, TValue>> items)
    {
        var builder = ToBuilder();
        foreach (var (key, value) in items) builder[key] = value;
        return builder.ToImmutable();
    }

    /// <summary>The map without the key; the same map when it is absent.</summary>
    public SortedMap<TKey, TValue> Remove(TKey key)
    {
        var root = BTree<TKey, TValue>.Without(_root, key, Order);
        return ReferenceEquals(root, _root) ? this : new(root);
    }

    /// <summary>The map without the keys (absent ones are ignored), in one batch.</summary>
    public SortedMap<TKey, TValue> RemoveRange(IEnumerable<TKey> keys)
    {
        if (_root is null) return this;
        var builder = ToBuilder();
        var any = false;
        foreach (var key in keys) any |= builder.Remove(key);
        return any ? builder.ToImmutable() : this;
    }

    /// <summary>The map without the key; the same map when it is absent (as <see cref="Persistent"/>'s <c>Without</c> on LanguageExt maps).</summary>
    public SortedMap<TKey, TValue> Without(TKey key) => Remove(key);

    /// <summary>The map without <paramref name="keys"/>, in one batch.</summary>
    public SortedMap<TKey, TValue> WithoutAll(IReadOnlyCollection<TKey> keys) => keys.Count == 0 ? this : RemoveRange(keys);

    /// <summary>The map with <paramref name="changes"/> set (keys present or not), in one batch.</summary>
    public SortedMap<TKey, TValue> WithItems(IReadOnlyDictionary<TKey, TValue> changes) => changes.Count == 0 ? this : SetItems(changes);

    /// <summary>Enumerates the entries in key order without allocating.</summary>
    public BTreeEnumerator<TKey, TValue> GetEnumerator() => new(_root);

    IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>True when both maps hold the same keys with equal values.</summary>
    public bool Equals(SortedMap<TKey, TValue> other)
    {
        if (ReferenceEquals(_root, other._root)) return true;
        if (Count != other.Count) return false;
        var values = EqualityComparer<TValue>.Default;
        var theirs = other.GetEnumerator();
        foreach (var (key, value) in this)
        {
            if (!theirs.MoveNext() || Order.Compare(key, theirs.Current.Key) != 0 || !values.Equals(value, theirs.Current.Value)) return false;
        }
        return true;
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SortedMap<TKey, TValue> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Count;

    /// <summary>Value equality.</summary>
    public static bool operator ==(SortedMap<TKey, TValue> left, SortedMap<TKey, TValue> right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(SortedMap<TKey, TValue> left, SortedMap<TKey, TValue> right) => !left.Equals(right);

    private static SortedMap<TKey, TValue> OfEntries(List<KeyValuePair<TKey, TValue>> entries)
    {
        var array = entries.ToArray();
        Array.Sort(array, static (a, b) => Order.Compare(a.Key, b.Key));
        for (var i = 1; i < array.Length; i++)
            if (Order.Compare(array[i - 1].Key, array[i].Key) == 0) throw new ArgumentException($"key {array[i].Key} appears twice", nameof(entries));
        return new(BTree<TKey, TValue>.Build(array, array.Length));
    }

    /// <summary>
    /// Changes to a map within one step: nodes it copies are its own and change in place, so a batch copies each node it
    /// touches once. Mutable: it must not escape the step (<see cref="ToImmutable"/> publishes what it built).
    /// </summary>
    public sealed class Builder
    {
        private BTreeDraft<TKey, TValue> _draft;

        internal Builder(BNode<TKey, TValue>? root) => _draft = new(root, Order);

        /// <summary>Number of entries.</summary>
        public int Count => _draft.Count;

        /// <summary>The value of a key (which must be present), or sets it.</summary>
        public TValue this[TKey key]
        {
            get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"key {key} is not in the map");
            set => _draft.Set(key, value, onlyAdd: false);
        }

        /// <summary>True when the key is present.</summary>
        public bool ContainsKey(TKey key) => _draft.TryGet(key, out _);

        /// <summary>The value of a key, if present.</summary>
        public bool TryGetValue(TKey key, out TValue value) => _draft.TryGet(key, out value);

        /// <summary>Adds a key that must be absent.</summary>
        public void Add(TKey key, TValue value)
        {
            if (!TryAdd(key, value)) throw new ArgumentException($"key {key} is already in the map", nameof(key));
        }

        /// <summary>Adds a key unless it is present (one descent); false when it was present, and nothing changed.</summary>
        public bool TryAdd(TKey key, TValue value) => _draft.Set(key, value, onlyAdd: true);

        /// <summary>Removes a key; false when it was absent.</summary>
        public bool Remove(TKey key) => _draft.Remove(key);

        /// <summary>The map built so far; later changes through this builder copy again, so the map stays as it is.</summary>
        public SortedMap<TKey, TValue> ToImmutable() => new(_draft.Publish());
    }
}
