using System.Collections;

namespace Bitswap.Domain;

/// <summary>
/// A persistent sorted set under an explicit comparer, on the same B+tree as <see cref="SortedMap{TKey, TValue}"/>: the
/// task queue keeps each peer's pending tasks twice, by CID and in pop order, a million of each for a thousand full
/// wantlists, and a binary tree spent a 48-byte node on every one. Lookups with a probe return the element held, so a
/// set ordered by one field finds an element by that field alone.
/// </summary>
/// <typeparam name="T">The element; the comparer must order every two distinct elements.</typeparam>
public readonly struct OrderedSet<T> : IReadOnlyCollection<T>
    where T : notnull
{
    private readonly BNode<T, T>? _root;
    private readonly IComparer<T> _comparer;

    private OrderedSet(BNode<T, T>? root, IComparer<T> comparer)
    {
        _root = root;
        _comparer = comparer;
    }

    /// <summary>The empty set ordered by <paramref name="comparer"/>.</summary>
    public static OrderedSet<T> Empty(IComparer<T> comparer) => new(null, comparer);

    /// <summary>Number of elements.</summary>
    public int Count => _root?.Count ?? 0;

    /// <summary>True when there is no element.</summary>
    public bool IsEmpty => _root is null;

    /// <summary>The element equal (by the comparer) to <paramref name="probe"/>, if present.</summary>
    public bool TryGetValue(T probe, out T actual) => BTree<T, T>.TryGet(_root, probe, _comparer, out actual);

    /// <summary>True when an element equal to <paramref name="item"/> is present.</summary>
    public bool Contains(T item) => BTree<T, T>.TryGet(_root, item, _comparer, out _);

    /// <summary>The set with <paramref name="item"/>; the same set when an equal element is already present.</summary>
    public OrderedSet<T> Add(T item)
    {
        var root = BTree<T, T>.With(_root, item, item, _comparer, onlyAdd: true, out var changed);
        return changed ? new(root, _comparer) : this;
    }

    /// <summary>The set without the element equal to <paramref name="item"/>; the same set when there is none.</summary>
    public OrderedSet<T> Remove(T item)
    {
        var root = BTree<T, T>.Without(_root, item, _comparer);
        return ReferenceEquals(root, _root) ? this : new(root, _comparer);
    }

    /// <summary>The set without <paramref name="items"/> (absent ones are ignored), in one batch.</summary>
    public OrderedSet<T> Except(IEnumerable<T> items)
    {
        if (_root is null) return this;
        var builder = ToBuilder();
        var any = false;
        foreach (var item in items) any |= builder.Remove(item);
        return any ? builder.ToImmutable() : this;
    }

    /// <summary>A builder for changes made within one step (mutable, so it must not escape the step).</summary>
    public Builder ToBuilder() => new(_root, _comparer);

    /// <summary>A builder for a new set ordered by <paramref name="comparer"/>.</summary>
    public static Builder CreateBuilder(IComparer<T> comparer) => new(null, comparer);

    /// <summary>Enumerates the elements in order without allocating.</summary>
    public Enumerator GetEnumerator() => new(new BTreeEnumerator<T, T>(_root));

    IEnumerator<T> IEnumerable<T>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Walks the elements in order.</summary>
    /// <param name="entries">The tree's entries (each element is its own key and value).</param>
    public struct Enumerator(BTreeEnumerator<T, T> entries) : IEnumerator<T>
    {
        private BTreeEnumerator<T, T> _entries = entries;

        /// <summary>The element at the current position.</summary>
        public readonly T Current => _entries.Current.Key;

        readonly object IEnumerator.Current => Current;

        /// <summary>Moves to the next element.</summary>
        public bool MoveNext() => _entries.MoveNext();

        /// <summary>Back to before the first element.</summary>
        public void Reset() => _entries.Reset();

        /// <summary>Nothing to release.</summary>
        public readonly void Dispose()
        {
        }
    }

    /// <summary>Changes to a set within one step: nodes it copies are its own and change in place (see <see cref="SortedMap{TKey, TValue}.Builder"/>).</summary>
    public sealed class Builder
    {
        private BTreeDraft<T, T> _draft;
        private readonly IComparer<T> _comparer;

        internal Builder(BNode<T, T>? root, IComparer<T> comparer)
        {
            _draft = new(root, comparer);
            _comparer = comparer;
        }

        /// <summary>Number of elements.</summary>
        public int Count => _draft.Count;

        /// <summary>Adds an element unless an equal one is present (one descent); false when it was present.</summary>
        public bool Add(T item) => _draft.Set(item, item, onlyAdd: true);

        /// <summary>Removes the element equal to <paramref name="item"/>; false when there was none.</summary>
        public bool Remove(T item) => _draft.Remove(item);

        /// <summary>The set built so far; later changes through this builder copy again, so the set stays as it is.</summary>
        public OrderedSet<T> ToImmutable() => new(_draft.Publish(), _comparer);
    }
}
