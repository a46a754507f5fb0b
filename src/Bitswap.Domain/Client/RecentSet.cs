namespace Bitswap.Domain;

/// <summary>
/// A bounded map that forgets its oldest key first: what the client remembers about recently received or delivered
/// blocks. Adding a known key keeps its place and merges the value; adding past <see cref="Capacity"/> drops the oldest.
/// </summary>
/// <typeparam name="TKey">The remembered key (a CID).</typeparam>
/// <typeparam name="TValue">What is remembered with it.</typeparam>
/// <param name="Entries">
/// Keys with their values, in a <see cref="SortedMap{TKey, TValue}"/>: a message's blocks go in with one
/// <see cref="AddNew"/>, which copies each node of the union of their paths once, where a persistent hash map copied its
/// node arrays (about 0.7 KB) per block.
/// </param>
/// <param name="Order">
/// The same keys, oldest first, in a persistent queue: enqueue and dequeue are amortised O(1) and copy nothing (an
/// array-backed sequence used as a sliding window re-grew its array as the window moved, a cost that rose with every
/// block ever received).
/// </param>
/// <param name="Capacity">Keys kept at most.</param>
public sealed record RecentSet<TKey, TValue>(SortedMap<TKey, TValue> Entries, Que<TKey> Order, int Capacity)
    where TKey : notnull
{
    /// <summary>An empty set keeping at most <paramref name="capacity"/> keys.</summary>
    public static RecentSet<TKey, TValue> Create(int capacity) => new(SortedMap<TKey, TValue>.Empty, Que<TKey>.Empty, capacity);

    /// <summary>Number of keys remembered.</summary>
    public int Count => Entries.Count;

    /// <summary>True when the key is remembered.</summary>
    public bool Contains(TKey key) => Entries.ContainsKey(key);

    /// <summary>The value remembered with a key, if any.</summary>
    public Option<TValue> Find(TKey key) => Entries.Find(key);

    /// <summary>Remembers a key; a known key keeps its place and takes <paramref name="merge"/> of its old value.</summary>
    public RecentSet<TKey, TValue> Add(TKey key, TValue value, Func<TValue, TValue> merge)
    {
        if (Entries.TryGetValue(key, out var known)) return this with { Entries = Entries.SetItem(key, merge(known)) };
        return AddNew([KeyValuePair.Create(key, value)]);
    }

    /// <summary>Remembers keys it does not hold yet (distinct, in the order given), dropping the oldest past the capacity.</summary>
    public RecentSet<TKey, TValue> AddNew(IReadOnlyCollection<KeyValuePair<TKey, TValue>> items)
    {
        if (items.Count == 0) return this;
        var entries = Entries.SetItems(items);
        var order = Order;
        foreach (var (key, _) in items) order = order.Enqueue(key);
        if (order.Count <= Capacity) return this with { Entries = entries, Order = order };
        var evicted = new List<TKey>(order.Count - Capacity);
        while (order.Count > Capacity)
        {
            evicted.Add(order.Peek());
            order = order.Dequeue();
        }
        return this with { Entries = entries.RemoveRange(evicted), Order = order };
    }
}
