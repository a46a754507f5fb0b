namespace Bitswap.Domain;

/// <summary>
/// A bounded map that forgets its oldest key first: what the client remembers about recently received or delivered
/// blocks. Adding a known key keeps its place and merges the value; adding past <see cref="Capacity"/> drops the oldest.
/// </summary>
/// <typeparam name="TKey">The remembered key (a CID).</typeparam>
/// <typeparam name="TValue">What is remembered with it.</typeparam>
/// <param name="Entries">Keys with their arrival number and value.</param>
/// <param name="Order">Keys by arrival number, oldest first.</param>
/// <param name="Next">The next arrival number.</param>
/// <param name="Capacity">Keys kept at most.</param>
public sealed record RecentSet<TKey, TValue>(HashMap<TKey, (long Arrival, TValue Value)> Entries, Map<long, TKey> Order, long Next, int Capacity)
{
    /// <summary>An empty set keeping at most <paramref name="capacity"/> keys.</summary>
    public static RecentSet<TKey, TValue> Create(int capacity) => new(HashMap<TKey, (long, TValue)>.Empty, Map<long, TKey>.Empty, 0, capacity);

    /// <summary>Number of keys remembered.</summary>
    public int Count => Entries.Count;

    /// <summary>True when the key is remembered.</summary>
    public bool Contains(TKey key) => Entries.ContainsKey(key);

    /// <summary>The value remembered with a key, if any.</summary>
    public Option<TValue> Find(TKey key) => Entries.Find(key).Map(e => e.Value);

    /// <summary>Remembers a key; a known key keeps its arrival and takes <paramref name="merge"/> of its old value.</summary>
    public RecentSet<TKey, TValue> Add(TKey key, TValue value, Func<TValue, TValue> merge)
    {
        if (Entries.Find(key).Case is ValueTuple<long, TValue> known)
            return this with { Entries = Entries.SetItem(key, (known.Item1, merge(known.Item2))) };
        var entries = Entries.Add(key, (Next, value));
        var order = Order.Add(Next, key);
        while (order.Count > Capacity && order.Min.Case is ValueTuple<long, TKey> oldest)
        {
            order = order.Remove(oldest.Item1);
            entries = entries.Remove(oldest.Item2);
        }
        return new RecentSet<TKey, TValue>(entries, order, Next + 1, Capacity);
    }
}
