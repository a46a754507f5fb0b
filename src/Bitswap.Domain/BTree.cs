using System.Runtime.CompilerServices;

namespace Bitswap.Domain;

/// <summary>
/// One node of a persistent B+tree (see <see cref="BTree{TKey, TValue}"/>). A leaf holds up to
/// <see cref="BTree{TKey, TValue}.MaxEntries"/> entries in key order; an internal node holds up to
/// <see cref="BTree{TKey, TValue}.MaxChildren"/> children and, between them, separators: <c>Separators[i]</c> is the least
/// key under <c>Children[i + 1]</c>. A node is never changed once published; only the builder that made it
/// (<see cref="Owner"/>) may change it in place, until that builder publishes.
/// </summary>
internal sealed class BNode<TKey, TValue>
{
    /// <summary>Leaf entries, <see cref="Length"/> of them used; null in an internal node.</summary>
    public KeyValuePair<TKey, TValue>[]? Entries;

    /// <summary>Children, <see cref="Length"/> of them used; null in a leaf.</summary>
    public BNode<TKey, TValue>[]? Children;

    /// <summary>Separators of an internal node, <see cref="Length"/> − 1 of them used.</summary>
    public TKey[]? Separators;

    /// <summary>Entries or children in use.</summary>
    public int Length;

    /// <summary>Entries in the whole subtree.</summary>
    public int Count;

    /// <summary>The builder allowed to change this node in place; null once published.</summary>
    public object? Owner;

    /// <summary>True for a leaf.</summary>
    public bool IsLeaf => Children is null;
}

/// <summary>
/// The operations of a persistent B+tree with path copying: a change copies the nodes on one root-to-leaf path (four or
/// five for a million entries) and shares the rest. Wide nodes hold entries in arrays, so a million entries cost about
/// 20 bytes each on top of the keys and values (an AVL tree pays a 48–56-byte object per entry), and a lookup touches a
/// few arrays instead of twenty scattered nodes. A builder (an owner token) changes the nodes it made in place, so a
/// batch copies each node it touches once.
/// </summary>
/// <typeparam name="TKey">The key.</typeparam>
/// <typeparam name="TValue">The value.</typeparam>
internal static class BTree<TKey, TValue>
{
    /// <summary>Most entries in a leaf.</summary>
    public const int MaxEntries = 32;

    /// <summary>Most children of an internal node.</summary>
    public const int MaxChildren = 32;

    /// <summary>A node this small after a removal is merged into a neighbour when both fit in one node.</summary>
    public const int MergeBelow = MaxEntries / 4;

    /// <summary>Entries a bulk build puts in each leaf: room for a few inserts before the first split.</summary>
    public const int PackedEntries = MaxEntries - 4;

    /// <summary>Children a bulk build gives each internal node.</summary>
    public const int PackedChildren = MaxChildren - 4;

    /// <summary>The outcome of Set below a node.</summary>
    public struct SetResult
    {
        /// <summary>A new key was added (not a replacement).</summary>
        public bool Added;

        /// <summary>Something changed (an addition, or a replacement by a different value).</summary>
        public bool Changed;

        /// <summary>The right half when the node split, else null.</summary>
        public BNode<TKey, TValue>? Right;

        /// <summary>The least key of <see cref="Right"/>.</summary>
        public TKey SplitKey;

        /// <summary>Set only adds: a key already present is left as it is (and <see cref="Changed"/> stays false).</summary>
        public bool OnlyAdd;
    }

    /// <summary>The value for a key, if present.</summary>
    public static bool TryGet(BNode<TKey, TValue>? node, TKey key, IComparer<TKey> comparer, out TValue value)
    {
        if (node is not null)
        {
            while (node.Children is { } children) node = children[ChildIndex(node, key, comparer)];
            var i = LeafSearch(node, key, comparer);
            if (i >= 0)
            {
                value = node.Entries![i].Value;
                return true;
            }
        }
        value = default!;
        return false;
    }

    /// <summary>
    /// Sets a key below <paramref name="node"/> (null for an empty tree), copying nodes not owned by <paramref name="owner"/>.
    /// Returns the node to put in its place; a split leaves its right half in <paramref name="result"/>.
    /// </summary>
    public static BNode<TKey, TValue> Set(BNode<TKey, TValue>? node, TKey key, TValue value, IComparer<TKey> comparer, object? owner, ref SetResult result) =>
        Set(node, key, value, comparer, owner, ref result, rightEdge: true);

    private static BNode<TKey, TValue> Set(
        BNode<TKey, TValue>? node, TKey key, TValue value, IComparer<TKey> comparer, object? owner, ref SetResult result, bool rightEdge)
    {
        if (node is null)
        {
            result.Added = result.Changed = true;
            var first = new KeyValuePair<TKey, TValue>[owner is null ? 1 : 4];
            first[0] = new(key, value);
            return new BNode<TKey, TValue> { Entries = first, Length = 1, Count = 1, Owner = owner };
        }
        return node.IsLeaf
            ? SetInLeaf(node, key, value, comparer, owner, ref result, rightEdge)
            : SetInInternal(node, key, value, comparer, owner, ref result, rightEdge);
    }

    /// <summary>Removes a key below <paramref name="node"/>; returns the node to put in its place (null when it emptied).</summary>
    public static BNode<TKey, TValue>? Remove(BNode<TKey, TValue> node, TKey key, IComparer<TKey> comparer, object? owner, ref bool removed)
    {
        if (node.IsLeaf)
        {
            var at = LeafSearch(node, key, comparer);
            if (at < 0) return node;
            removed = true;
            if (node.Length == 1) return null;
            var leaf = Writable(node, owner, node.Length);
            var entries = leaf.Entries!;
            Array.Copy(entries, at + 1, entries, at, leaf.Length - at - 1);
            entries[leaf.Length - 1] = default;
            leaf.Length--;
            leaf.Count--;
            return leaf;
        }

        var index = ChildIndex(node, key, comparer);
        var child = node.Children![index];
        var replaced = Remove(child, key, comparer, owner, ref removed);
        if (!removed) return node;
        var parent = Writable(node, owner, node.Length);
        parent.Count--;
        if (replaced is null)
        {
            RemoveChild(parent, index);
            return parent.Length == 0 ? null : parent;
        }
        parent.Children![index] = replaced;
        if (replaced.Length < MergeBelow && parent.Length > 1) MergeWithNeighbour(parent, index, owner);
        return parent;
    }

    /// <summary>A tree holding <paramref name="sorted"/> (ascending, distinct keys), with leaves and nodes packed to a fixed fill.</summary>
    public static BNode<TKey, TValue>? Build(KeyValuePair<TKey, TValue>[] sorted, int count)
    {
        if (count == 0) return null;
        var level = new List<BNode<TKey, TValue>>((count + PackedEntries - 1) / PackedEntries);
        var firstKeys = new List<TKey>(level.Capacity);
        for (var start = 0; start < count; start += PackedEntries)
        {
            var length = Math.Min(PackedEntries, count - start);
            // A short last leaf borrows from the one before it, so no leaf starts under the merge threshold.
            if (length < MergeBelow && level.Count > 0)
            {
                var previous = level[^1];
                var moved = (previous.Length + length) / 2;
                var kept = previous.Length + length - moved;
                var tail = new KeyValuePair<TKey, TValue>[moved];
                Array.Copy(sorted, start - (previous.Length - kept), tail, 0, moved);
                var head = new KeyValuePair<TKey, TValue>[kept];
                Array.Copy(previous.Entries!, head, kept);
                previous.Entries = head;
                previous.Length = previous.Count = kept;
                level.Add(new BNode<TKey, TValue> { Entries = tail, Length = moved, Count = moved });
                firstKeys.Add(tail[0].Key);
                break;
            }
            var entries = new KeyValuePair<TKey, TValue>[length];
            Array.Copy(sorted, start, entries, 0, length);
            level.Add(new BNode<TKey, TValue> { Entries = entries, Length = length, Count = length });
            firstKeys.Add(entries[0].Key);
        }
        while (level.Count > 1)
        {
            var parents = new List<BNode<TKey, TValue>>((level.Count + PackedChildren - 1) / PackedChildren);
            var parentKeys = new List<TKey>(parents.Capacity);
            for (var start = 0; start < level.Count;)
            {
                var length = Math.Min(PackedChildren, level.Count - start);
                // Never leave a single child for the last node: split the remainder evenly with the one before.
                if (level.Count - start - length == 1) length--;
                var children = new BNode<TKey, TValue>[length];
                var separators = new TKey[length - 1];
                var total = 0;
                for (var i = 0; i < length; i++)
                {
                    children[i] = level[start + i];
                    total += children[i].Count;
                    if (i > 0) separators[i - 1] = firstKeys[start + i];
                }
                parents.Add(new BNode<TKey, TValue> { Children = children, Separators = separators, Length = length, Count = total });
                parentKeys.Add(firstKeys[start]);
                start += length;
            }
            level = parents;
            firstKeys = parentKeys;
        }
        return level[0];
    }

    /// <summary>
    /// The root after setting a key with path copying (no owner); <paramref name="changed"/> is false, and the root the
    /// same, when nothing changed (the same value, or a present key with <paramref name="onlyAdd"/>).
    /// </summary>
    public static BNode<TKey, TValue>? With(BNode<TKey, TValue>? root, TKey key, TValue value, IComparer<TKey> comparer, bool onlyAdd, out bool changed)
    {
        var result = new SetResult { OnlyAdd = onlyAdd };
        var next = Set(root, key, value, comparer, null, ref result);
        changed = result.Changed;
        if (!changed) return root;
        return result.Right is null ? next : NewRoot(next, result.Right, result.SplitKey, null);
    }

    /// <summary>The root after removing a key with path copying; the same root when the key is absent.</summary>
    public static BNode<TKey, TValue>? Without(BNode<TKey, TValue>? root, TKey key, IComparer<TKey> comparer)
    {
        if (root is null) return null;
        var removed = false;
        var next = Remove(root, key, comparer, null, ref removed);
        return removed ? Collapse(next) : root;
    }

    /// <summary>A root over the two halves of a root that split.</summary>
    public static BNode<TKey, TValue> NewRoot(BNode<TKey, TValue> left, BNode<TKey, TValue> right, TKey splitKey, object? owner) =>
        new() { Children = [left, right], Separators = [splitKey], Length = 2, Count = left.Count + right.Count, Owner = owner };

    /// <summary>A root left with one child gives way to it.</summary>
    public static BNode<TKey, TValue>? Collapse(BNode<TKey, TValue>? root)
    {
        while (root is { Children: { } children, Length: 1 }) root = children[0];
        return root;
    }

    /// <summary>
    /// Clears <paramref name="owner"/> from the nodes it made below <paramref name="node"/>, trimming arrays with more than a
    /// quarter to spare (a node that only lost a few entries keeps its array rather than being copied once more).
    /// </summary>
    public static void Publish(BNode<TKey, TValue>? node, object owner)
    {
        if (node is null || !ReferenceEquals(node.Owner, owner)) return;
        node.Owner = null;
        if (node.Entries is { } entries)
        {
            if (entries.Length - node.Length > node.Length / 4) Array.Resize(ref node.Entries, node.Length);
            return;
        }
        if (node.Children!.Length - node.Length > node.Length / 4)
        {
            Array.Resize(ref node.Children, node.Length);
            Array.Resize(ref node.Separators, node.Length - 1);
        }
        foreach (var child in node.Children) Publish(child, owner);
    }

    /// <summary>The index of the child whose range holds <paramref name="key"/>: how many separators are at most the key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ChildIndex(BNode<TKey, TValue> node, TKey key, IComparer<TKey> comparer)
    {
        var separators = node.Separators!;
        int low = 0, high = node.Length - 1;
        while (low < high)
        {
            var middle = (low + high) >> 1;
            if (comparer.Compare(separators[middle], key) <= 0) low = middle + 1;
            else high = middle;
        }
        return low;
    }

    /// <summary>The index of the key in a leaf, or the bitwise complement of where it would go.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LeafSearch(BNode<TKey, TValue> leaf, TKey key, IComparer<TKey> comparer)
    {
        var entries = leaf.Entries!;
        int low = 0, high = leaf.Length - 1;
        while (low <= high)
        {
            var middle = (low + high) >> 1;
            var c = comparer.Compare(entries[middle].Key, key);
            if (c == 0) return middle;
            if (c < 0) low = middle + 1;
            else high = middle - 1;
        }
        return ~low;
    }

    private static BNode<TKey, TValue> SetInLeaf(
        BNode<TKey, TValue> node, TKey key, TValue value, IComparer<TKey> comparer, object? owner, ref SetResult result, bool rightEdge)
    {
        var at = LeafSearch(node, key, comparer);
        if (at >= 0)
        {
            if (result.OnlyAdd || EqualityComparer<TValue>.Default.Equals(node.Entries![at].Value, value)) return node;
            result.Changed = true;
            var replaced = Writable(node, owner, node.Length);
            replaced.Entries![at] = new(key, value);
            return replaced;
        }
        at = ~at;
        result.Added = result.Changed = true;
        if (node.Length < MaxEntries)
        {
            var leaf = Writable(node, owner, node.Length + 1);
            var entries = leaf.Entries!;
            Array.Copy(entries, at, entries, at + 1, leaf.Length - at);
            entries[at] = new(key, value);
            leaf.Length++;
            leaf.Count++;
            return leaf;
        }

        // Full. Past the end of the tree's last leaf (keys arriving in order) the new key starts a leaf of its own, so
        // ordered inserts leave full leaves behind; elsewhere the entries and the new one are dealt into two halves.
        var old = node.Entries!;
        var half = rightEdge && at == MaxEntries ? MaxEntries : (MaxEntries + 1) / 2;
        var rightLength = MaxEntries + 1 - half;
        var right = new KeyValuePair<TKey, TValue>[owner is null ? rightLength : Math.Max(rightLength, MaxEntries / 2)];
        for (var i = half; i <= MaxEntries; i++) right[i - half] = i < at ? old[i] : i == at ? new(key, value) : old[i - 1];
        var owned = owner is not null && ReferenceEquals(node.Owner, owner);
        // A node the builder owns keeps its array for the left half, filled from the top so no entry is read after it is overwritten.
        var left = owned ? old : new KeyValuePair<TKey, TValue>[half];
        for (var i = half - 1; i >= 0; i--) left[i] = i < at ? old[i] : i == at ? new(key, value) : old[i - 1];
        if (owned) Array.Clear(left, half, left.Length - half);
        result.Right = new BNode<TKey, TValue> { Entries = right, Length = rightLength, Count = rightLength, Owner = owner };
        result.SplitKey = right[0].Key;
        if (owned)
        {
            node.Length = node.Count = half;
            return node;
        }
        return new BNode<TKey, TValue> { Entries = left, Length = half, Count = half, Owner = owner };
    }

    private static BNode<TKey, TValue> SetInInternal(
        BNode<TKey, TValue> node, TKey key, TValue value, IComparer<TKey> comparer, object? owner, ref SetResult result, bool rightEdge)
    {
        var index = ChildIndex(node, key, comparer);
        var child = node.Children![index];
        var below = new SetResult { OnlyAdd = result.OnlyAdd };
        var replaced = Set(child, key, value, comparer, owner, ref below, rightEdge && index == node.Length - 1);
        result.Added = below.Added;
        result.Changed = below.Changed;
        if (!below.Changed) return node;
        if (below.Right is null)
        {
            if (ReferenceEquals(replaced, child) && ReferenceEquals(node.Owner, owner) && owner is not null)
            {
                if (below.Added) node.Count++;
                return node;
            }
            var parent = Writable(node, owner, node.Length);
            parent.Children![index] = replaced;
            if (below.Added) parent.Count++;
            return parent;
        }

        if (node.Length < MaxChildren)
        {
            var parent = Writable(node, owner, node.Length + 1);
            InsertChild(parent, index, replaced, below.Right, below.SplitKey);
            if (below.Added) parent.Count++;
            return parent;
        }

        // Full: children and separators (with the new pair) are dealt into two new nodes; the middle separator moves up.
        var children = new BNode<TKey, TValue>[MaxChildren + 1];
        var separators = new TKey[MaxChildren];
        Array.Copy(node.Children!, 0, children, 0, index);
        children[index] = replaced;
        children[index + 1] = below.Right;
        Array.Copy(node.Children!, index + 1, children, index + 2, MaxChildren - index - 1);
        Array.Copy(node.Separators!, 0, separators, 0, index);
        separators[index] = below.SplitKey;
        Array.Copy(node.Separators!, index, separators, index + 1, MaxChildren - 1 - index);
        // As for leaves: a split at the tree's right edge leaves a full node behind.
        var half = rightEdge && index == MaxChildren - 1 ? MaxChildren : children.Length / 2;
        var leftChildren = children[..half];
        var rightChildren = children[half..];
        var left = new BNode<TKey, TValue> { Children = leftChildren, Separators = separators[..(half - 1)], Length = half, Count = CountOf(leftChildren), Owner = owner };
        result.Right = new BNode<TKey, TValue> { Children = rightChildren, Separators = separators[half..], Length = rightChildren.Length, Count = CountOf(rightChildren), Owner = owner };
        result.SplitKey = separators[half - 1];
        return left;
    }

    private static void InsertChild(BNode<TKey, TValue> parent, int index, BNode<TKey, TValue> replaced, BNode<TKey, TValue> right, TKey splitKey)
    {
        var children = parent.Children!;
        var separators = parent.Separators!;
        Array.Copy(children, index + 1, children, index + 2, parent.Length - index - 1);
        children[index] = replaced;
        children[index + 1] = right;
        Array.Copy(separators, index, separators, index + 1, parent.Length - 1 - index);
        separators[index] = splitKey;
        parent.Length++;
    }

    private static void RemoveChild(BNode<TKey, TValue> parent, int index)
    {
        var children = parent.Children!;
        var separators = parent.Separators!;
        Array.Copy(children, index + 1, children, index, parent.Length - index - 1);
        children[parent.Length - 1] = null!;
        // The separator before the child goes, or after it for the first child (the next child becomes the first).
        var separator = index > 0 ? index - 1 : 0;
        if (parent.Length > 1)
        {
            Array.Copy(separators, separator + 1, separators, separator, parent.Length - 2 - separator);
            separators[parent.Length - 2] = default!;
        }
        parent.Length--;
    }

    /// <summary>Merges the small child at <paramref name="index"/> with a neighbour when both fit in one node.</summary>
    private static void MergeWithNeighbour(BNode<TKey, TValue> parent, int index, object? owner)
    {
        var leftIndex = index + 1 < parent.Length ? index : index - 1;
        var left = parent.Children![leftIndex];
        var right = parent.Children[leftIndex + 1];
        var limit = left.IsLeaf ? MaxEntries : MaxChildren;
        if (left.Length + right.Length > limit) return;
        var length = left.Length + right.Length;
        BNode<TKey, TValue> merged;
        if (left.IsLeaf)
        {
            var entries = new KeyValuePair<TKey, TValue>[length];
            Array.Copy(left.Entries!, 0, entries, 0, left.Length);
            Array.Copy(right.Entries!, 0, entries, left.Length, right.Length);
            merged = new BNode<TKey, TValue> { Entries = entries, Length = length, Count = left.Count + right.Count, Owner = owner };
        }
        else
        {
            var children = new BNode<TKey, TValue>[length];
            Array.Copy(left.Children!, 0, children, 0, left.Length);
            Array.Copy(right.Children!, 0, children, left.Length, right.Length);
            var separators = new TKey[length - 1];
            Array.Copy(left.Separators!, 0, separators, 0, left.Length - 1);
            // The parent's separator between the two becomes the separator at the seam.
            separators[left.Length - 1] = parent.Separators![leftIndex];
            Array.Copy(right.Separators!, 0, separators, left.Length, right.Length - 1);
            merged = new BNode<TKey, TValue> { Children = children, Separators = separators, Length = length, Count = left.Count + right.Count, Owner = owner };
        }
        parent.Children[leftIndex] = merged;
        RemoveChild(parent, leftIndex + 1);
    }

    private static int CountOf(BNode<TKey, TValue>[] children)
    {
        var total = 0;
        foreach (var child in children) total += child.Count;
        return total;
    }

    /// <summary>
    /// The node itself when <paramref name="owner"/> made it (its arrays grown, doubling, to hold <paramref name="capacity"/>);
    /// else a copy of exactly that capacity that <paramref name="owner"/> owns. Spare room only appears in a node a builder
    /// grows more than once, and <see cref="Publish"/> trims it.
    /// </summary>
    private static BNode<TKey, TValue> Writable(BNode<TKey, TValue> node, object? owner, int capacity)
    {
        var owned = owner is not null && ReferenceEquals(node.Owner, owner);
        if (node.Entries is { } entries)
        {
            if (owned && entries.Length >= capacity) return node;
            var size = owned ? Math.Min(MaxEntries, Math.Max(capacity, 2 * entries.Length)) : capacity;
            var copy = new KeyValuePair<TKey, TValue>[size];
            Array.Copy(entries, copy, node.Length);
            if (owned)
            {
                node.Entries = copy;
                return node;
            }
            return new BNode<TKey, TValue> { Entries = copy, Length = node.Length, Count = node.Count, Owner = owner };
        }
        var children = node.Children!;
        if (owned && children.Length >= capacity) return node;
        var width = owned ? Math.Min(MaxChildren, Math.Max(capacity, 2 * children.Length)) : capacity;
        var childCopy = new BNode<TKey, TValue>[width];
        Array.Copy(children, childCopy, node.Length);
        var separatorCopy = new TKey[width - 1];
        Array.Copy(node.Separators!, separatorCopy, node.Length - 1);
        if (owned)
        {
            node.Children = childCopy;
            node.Separators = separatorCopy;
            return node;
        }
        return new BNode<TKey, TValue> { Children = childCopy, Separators = separatorCopy, Length = node.Length, Count = node.Count, Owner = owner };
    }
}

/// <summary>
/// The mutable side of a builder (<see cref="SortedMap{TKey, TValue}.Builder"/>, <see cref="OrderedSet{T}.Builder"/>): a
/// root and the owner token that lets it change the nodes it copied in place, until it publishes. A struct held in the
/// builder, and the token is made at the first change: a step's builders are many and most change a few nodes.
/// </summary>
internal struct BTreeDraft<TKey, TValue>
{
    private readonly IComparer<TKey> _comparer;
    private BNode<TKey, TValue>? _root;
    private object? _owner;

    /// <summary>A draft starting from <paramref name="root"/> (shared, so copied on first change).</summary>
    public BTreeDraft(BNode<TKey, TValue>? root, IComparer<TKey> comparer)
    {
        _root = root;
        _comparer = comparer;
    }

    /// <summary>Number of entries.</summary>
    public readonly int Count => _root?.Count ?? 0;

    /// <summary>The value of a key, if present.</summary>
    public readonly bool TryGet(TKey key, out TValue value) => BTree<TKey, TValue>.TryGet(_root, key, _comparer, out value);

    /// <summary>Sets a key (or only adds it, with <paramref name="onlyAdd"/>); true when it was added.</summary>
    public bool Set(TKey key, TValue value, bool onlyAdd)
    {
        _owner ??= new object();
        var result = new BTree<TKey, TValue>.SetResult { OnlyAdd = onlyAdd };
        var next = BTree<TKey, TValue>.Set(_root, key, value, _comparer, _owner, ref result);
        _root = result.Right is null ? next : BTree<TKey, TValue>.NewRoot(next, result.Right, result.SplitKey, _owner);
        return result.Added;
    }

    /// <summary>Removes a key; false when it was absent.</summary>
    public bool Remove(TKey key)
    {
        if (_root is null) return false;
        _owner ??= new object();
        var removed = false;
        var next = BTree<TKey, TValue>.Remove(_root, key, _comparer, _owner, ref removed);
        if (removed) _root = BTree<TKey, TValue>.Collapse(next);
        return removed;
    }

    /// <summary>The tree built so far, published: later changes take a new token and copy again, so it stays as it is.</summary>
    public BNode<TKey, TValue>? Publish()
    {
        if (_owner is not null) BTree<TKey, TValue>.Publish(_root, _owner);
        _owner = null;
        return _root;
    }
}

/// <summary>Walks a B+tree's entries in key order without allocating: the path down is kept in inline arrays.</summary>
/// <typeparam name="TKey">The key.</typeparam>
/// <typeparam name="TValue">The value.</typeparam>
public struct BTreeEnumerator<TKey, TValue> : IEnumerator<KeyValuePair<TKey, TValue>>
{
    private readonly BNode<TKey, TValue>? _root;
    private NodePath<TKey, TValue> _path;
    private IndexPath _indexes;
    private int _depth;
    private BNode<TKey, TValue>? _leaf;
    private int _at;
    private KeyValuePair<TKey, TValue> _current;

    internal BTreeEnumerator(BNode<TKey, TValue>? root)
    {
        _root = root;
        _depth = -1;
    }

    /// <summary>The entry at the current position.</summary>
    public readonly KeyValuePair<TKey, TValue> Current => _current;

    readonly object System.Collections.IEnumerator.Current => _current;

    /// <summary>Moves to the next entry in key order.</summary>
    public bool MoveNext()
    {
        if (_depth == -1)
        {
            if (_root is null) return false;
            _depth = 0;
            Descend(_root);
        }
        else if (_leaf is null)
        {
            return false;
        }
        else if (++_at >= _leaf.Length)
        {
            // Up to the nearest ancestor with a next child, then down its leftmost path.
            while (true)
            {
                if (_depth == 0)
                {
                    _leaf = null;
                    return false;
                }
                var parent = _path[_depth - 1];
                var next = _indexes[_depth - 1] + 1;
                if (next < parent.Length)
                {
                    _indexes[_depth - 1] = next;
                    Descend(parent.Children![next]);
                    break;
                }
                _depth--;
            }
        }
        _current = _leaf!.Entries![_at];
        return true;
    }

    /// <summary>Back to before the first entry.</summary>
    public void Reset()
    {
        _depth = -1;
        _leaf = null;
    }

    /// <summary>Nothing to release.</summary>
    public readonly void Dispose()
    {
    }

    private void Descend(BNode<TKey, TValue> node)
    {
        while (node.Children is { } children)
        {
            _path[_depth] = node;
            _indexes[_depth] = 0;
            _depth++;
            node = children[0];
        }
        _leaf = node;
        _at = 0;
    }
}

/// <summary>The internal nodes on the way down to a leaf (a tree deeper than this would hold over 16^15 entries).</summary>
/// <typeparam name="TKey">The key.</typeparam>
/// <typeparam name="TValue">The value.</typeparam>
[InlineArray(16)]
internal struct NodePath<TKey, TValue>
{
    private BNode<TKey, TValue> _element;
}

/// <summary>The child index taken at each level of a <see cref="NodePath{TKey, TValue}"/>.</summary>
[InlineArray(16)]
internal struct IndexPath
{
    private int _element;
}
