namespace Bitswap.Domain;

/// <summary>
/// Removal that leaves a persistent collection as it is when the key is absent. LanguageExt's ordered <c>Map</c> and
/// <c>Set</c> copy the whole search path on <c>Remove</c> even for a key they do not hold (about 0.5 KB for a thousand
/// entries); a lookup first costs nothing. Reducers remove speculatively in many places (a cancelled CID from every
/// peer's queues), so every such removal goes through here.
/// </summary>
public static class Persistent
{
    /// <summary>The map without <paramref name="key"/>; the same map when it does not hold it.</summary>
    public static Map<K, V> Without<K, V>(this Map<K, V> map, K key) => map.ContainsKey(key) ? map.Remove(key) : map;

    /// <summary>The set without <paramref name="item"/>; the same set when it does not hold it.</summary>
    public static Set<T> Without<T>(this Set<T> set, T item) => set.Contains(item) ? set.Remove(item) : set;

    /// <summary>The map without <paramref name="key"/>; the same map when it does not hold it.</summary>
    public static HashMap<K, V> Without<K, V>(this HashMap<K, V> map, K key) => map.ContainsKey(key) ? map.Remove(key) : map;

    /// <summary>The set with <paramref name="item"/>; the same set when it already holds it.</summary>
    public static Set<T> With<T>(this Set<T> set, T item) => set.Contains(item) ? set : set.Add(item);
}
