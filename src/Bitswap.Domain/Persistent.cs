namespace Bitswap.Domain;

/// <summary>
/// Removal that leaves a persistent collection as it is when the key is absent. LanguageExt's ordered <c>Map</c> and
/// <c>Set</c> copy the whole search path on <c>Remove</c> even for a key they do not hold (about 0.5 KB for a thousand
/// entries); a lookup first costs nothing. Reducers remove speculatively in many places (a cancelled CID from every
/// peer's queues), so every such removal goes through here.
/// </summary>
public static class Persistent
{
    /// <summary>The items as a set sized up front (ToHashSet grows through every doubling, copying its arrays each time).</summary>
    public static System.Collections.Generic.HashSet<T> SetOf<T>(Seq<T> items)
    {
        var set = new System.Collections.Generic.HashSet<T>(items.Count);
        foreach (var item in items) set.Add(item);
        return set;
    }

    /// <summary>
    /// The items of a list built locally, as a sequence. Each <c>Seq.Add</c> allocates a new sequence object (about
    /// 40 B) besides growing the array, so per-item loops collect into a list and convert once.
    /// </summary>
    public static Seq<T> SeqOf<T>(List<T>? items) => items is null || items.Count == 0 ? Seq<T>.Empty : Prelude.toSeq(items);

    /// <summary>The map without <paramref name="key"/>; the same map when it does not hold it.</summary>
    public static Map<K, V> Without<K, V>(this Map<K, V> map, K key) => map.ContainsKey(key) ? map.Remove(key) : map;

    /// <summary>The set without <paramref name="item"/>; the same set when it does not hold it.</summary>
    public static Set<T> Without<T>(this Set<T> set, T item) => set.Contains(item) ? set.Remove(item) : set;

    /// <summary>The map without <paramref name="key"/>; the same map when it does not hold it.</summary>
    public static HashMap<K, V> Without<K, V>(this HashMap<K, V> map, K key) => map.ContainsKey(key) ? map.Remove(key) : map;

    /// <summary>The set with <paramref name="item"/>; the same set when it already holds it.</summary>
    public static Set<T> With<T>(this Set<T> set, T item) => set.Contains(item) ? set : set.Add(item);

    /// <summary>
    /// The map with <paramref name="changes"/> set (keys present or not). Many changes rebuild the map in one bulk pass
    /// (a node per entry) instead of copying a search path per change; the result is the same map either way.
    /// </summary>
    public static Map<K, V> WithItems<K, V>(this Map<K, V> map, IReadOnlyDictionary<K, V> changes)
        where K : notnull
    {
        if (changes.Count == 0) return map;
        if (map.IsEmpty) return Map<K, V>.Empty.AddRange(changes.Select(kv => (kv.Key, kv.Value)));
        if (!Rebuilds(changes.Count, map.Count))
        {
            foreach (var (key, value) in changes) map = map.AddOrUpdate(key, value);
            return map;
        }
        var merged = new List<(K, V)>(map.Count + changes.Count);
        foreach (var (key, value) in map) merged.Add((key, changes.TryGetValue(key, out var changed) ? changed : value));
        foreach (var (key, value) in changes)
            if (!map.ContainsKey(key)) merged.Add((key, value));
        return Map<K, V>.Empty.AddRange(merged);
    }

    /// <summary>The map without <paramref name="keys"/>; many removals rebuild it in one bulk pass.</summary>
    public static Map<K, V> WithoutAll<K, V>(this Map<K, V> map, IReadOnlyCollection<K> keys, Func<K, bool> isRemoved)
    {
        if (keys.Count == 0 || map.IsEmpty) return map;
        if (!Rebuilds(keys.Count, map.Count))
        {
            // Few keys: each removed where it is (a lookup first, so an absent key costs no copy).
            foreach (var key in keys) map = map.Without(key);
            return map;
        }
        var present = 0;
        foreach (var key in keys)
            if (map.ContainsKey(key)) present++;
        if (present == 0) return map;
        if (present == map.Count) return Map<K, V>.Empty;
        if (!Rebuilds(present, map.Count))
        {
            foreach (var key in keys) map = map.Without(key);
            return map;
        }
        var kept = new List<(K, V)>(Math.Max(0, map.Count - keys.Count));
        foreach (var (key, value) in map)
            if (!isRemoved(key)) kept.Add((key, value));
        return kept.Count == 0 ? Map<K, V>.Empty : Map<K, V>.Empty.AddRange(kept);
    }

    /// <summary>
    /// True when a rebuild is cheaper than <paramref name="changes"/> path copies. A rebuild allocates n nodes against about
    /// log2 n per change, but it inserts every entry again (n log n comparisons against log n per change), so it pays in
    /// time only when the changes touch at least half the map.
    /// </summary>
    private static bool Rebuilds(int changes, int count) => count > 0 && 2L * changes >= count;
}
