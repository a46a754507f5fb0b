namespace Bitswap.Domain;

/// <summary>
/// A bounded map that forgets its oldest key first: what the client remembers about recently received or delivered
/// blocks. Adding a known key keeps its place and merges the value; adding past <see cref="Capacity"/> drops the oldest.
/// </summary>
/// <typeparam name="TKey">The remembered key (a CID).</typeparam>
/// <typeparam name="TValue">What is remembered with it.</typeparam>
/// <param name="Entries">
/// Keys with their values, in a <see cref="SortedMap{TKey, TValue}"/>: a message's blocks go in with one
/// <see cref="AddNew"/>, which copies each node it touches once, where a persistent hash map copied its
/// node arrays (about 0.7 KB) per block.
/// </param>
/// <param name="Order">
/// The same keys, oldest first, in a persistent queue of the batches they came in (a message's blocks are one array):
/// enqueue and dequeue are amortised O(1) and copy nothing, and a message costs one queue node instead of one per block.
/// </param>
/// <param name="Capacity">Keys kept at most.</param>
public sealed record RecentSet<TKey, TValue>(SortedMap<TKey, TValue> Entries, Que<TKey[]> Order, int Capacity)
    where TKey : notnull
{
    /// <summary>Keys at the front of the oldest batch already forgotten.</summary>
    public int Evicted { get; init; }

    /// <summary>An empty set keeping at most <paramref name="capacity"/> keys.</summary>
    public static RecentSet<TKey, TValue> Create(int capacity) => new(SortedMap<TKey, TValue>.Empty, Que<TKey[]>.Empty, capacity);

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
        return AddNew([key], _ => value);
    }

    /// <summary>
    /// Remembers a batch of new keys (distinct, in the order given), dropping the oldest past the capacity, as adding them
    /// one at a time would. A key of the batch may still be held when <see cref="BatchLookup"/> found it pushed out by the
    /// batch's earlier keys: it is new again, so its old place goes and the key stays, at the end.
    /// </summary>
    /// <param name="batch">The new keys; kept as the batch's place in the order, so the caller must not change it afterwards.</param>
    /// <param name="valueOf">What to remember with each key.</param>
    public RecentSet<TKey, TValue> AddNew(TKey[] batch, Func<TKey, TValue> valueOf)
    {
        if (batch.Length == 0) return this;
        // Through a builder local to the call, additions and evictions together: each node copied once, then changed in place.
        var draft = Entries.ToBuilder();
        foreach (var key in batch) draft[key] = valueOf(key);
        var order = Order.Enqueue(batch);
        // Places in the order: every old key once, every key of the batch once more.
        var places = Entries.Count + batch.Length;
        if (places <= Capacity) return this with { Entries = SortedMap<TKey, TValue>.From(draft), Order = order };
        // Keys of the batch that were still held (pushed out, then met again): their first eviction is the old place.
        System.Collections.Generic.HashSet<TKey>? again = draft.Count < places ? [.. batch.Where(Entries.ContainsKey)] : null;
        var skip = Evicted;
        for (var evicted = 0; places - evicted > Capacity; evicted++)
        {
            var oldest = order.Peek();
            var key = oldest[skip++];
            if (skip == oldest.Length)
            {
                order = order.Dequeue();
                skip = 0;
            }
            if (again?.Remove(key) != true) draft.Remove(key);
        }
        return this with { Entries = SortedMap<TKey, TValue>.From(draft), Order = order, Evicted = skip };
    }

    /// <summary>
    /// Looks keys up during a batch as if each new key met earlier in the batch had been added at once: those additions
    /// push the oldest keys out first, and a key pushed out is no longer found. Local to one step (it is mutable); the
    /// batch itself goes in with <see cref="AddNew"/> at the end, which forgets the same keys.
    /// </summary>
    public sealed class BatchLookup(RecentSet<TKey, TValue> set)
    {
        private System.Collections.Generic.HashSet<TKey>? _pushedOut;
        private Que<TKey[]> _order = set.Order;
        private int _skip = set.Evicted;
        private int _added;

        /// <summary>The value remembered with a key, unless the batch's earlier new keys pushed it out.</summary>
        public Option<TValue> Find(TKey key) => _pushedOut?.Contains(key) == true ? Option<TValue>.None : set.Entries.Find(key);

        /// <summary>Counts one new key of the batch, pushing out the oldest remembered key when the set is full.</summary>
        public void Added()
        {
            _added++;
            // Once every old key is out, only the batch's own keys remain to push out, and the batch never looks them up.
            while (!_order.IsEmpty && set.Entries.Count + _added - (_pushedOut?.Count ?? 0) > set.Capacity)
            {
                var oldest = _order.Peek();
                (_pushedOut ??= []).Add(oldest[_skip++]);
                if (_skip < oldest.Length) continue;
                _order = _order.Dequeue();
                _skip = 0;
            }
        }
    }

    /// <summary>Value equality: the same entries, capacity and keys in the same order (batches compare by their keys, not as arrays).</summary>
    public bool Equals(RecentSet<TKey, TValue>? other) =>
        other is not null && (ReferenceEquals(this, other)
            || (Capacity == other.Capacity && Entries == other.Entries && OrderedKeys().SequenceEqual(other.OrderedKeys())));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Entries.Count, Capacity);

    /// <summary>The remembered keys, oldest first.</summary>
    private IEnumerable<TKey> OrderedKeys() => Order.SelectMany(batch => batch).Skip(Evicted);
}
