using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;

namespace Bitswap.Domain;

/// <summary>
/// One want a peer has sent us, with the size of our copy of the block (0 when we do not hold it). The entry's fields are
/// kept flat rather than as the message's <see cref="WantlistEntry"/>: a server holds a million of these, and the second
/// object cost 40 bytes each. A value, read out of the wantlist's map where it is stored inline as a
/// <see cref="StoredWant"/> under its CID.
/// </summary>
/// <param name="Cid">The wanted block.</param>
/// <param name="Priority">The want's priority as the peer last stated it.</param>
/// <param name="WantType">Block or Have.</param>
/// <param name="SendDontHave">The peer asked for DONT_HAVE.</param>
/// <param name="BlockSize">Size of the block in our blockstore as far as the engine knows; 0 means not held.</param>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
public readonly record struct PeerWant(Cid Cid, int Priority, WantType WantType, bool SendDontHave, int BlockSize)
{
    /// <summary>A want as stated by a wire entry (a cancel flag is dropped).</summary>
    public static PeerWant Of(WantlistEntry entry, int blockSize) => new(entry.Cid, entry.Priority, entry.WantType, entry.SendDontHave, blockSize);

    /// <summary>True when we hold the block.</summary>
    public bool Held => BlockSize > 0;

    /// <summary>The want as a wire entry (built on each call: for inspection, not the hot path).</summary>
    public WantlistEntry Entry => new(Cid, Priority, WantType, false, SendDontHave);

    /// <summary>The want as the wantlist stores it, without the CID its key already holds.</summary>
    public StoredWant Stored => new(Priority, WantType, SendDontHave, BlockSize);
}

/// <summary>
/// A <see cref="PeerWant"/> as a wantlist's map node holds it: without the CID, which is the node's key, and with the
/// block size and both flags in one word. 8 bytes inline, so a node is 56 bytes, where a node pointing at a 40-byte
/// record was 96 (a server holds a million of them).
/// </summary>
public readonly record struct StoredWant
{
    /// <summary>
    /// The largest block size a want can record: 30 bits, the other two hold the flags. The engine treats a larger block
    /// as it treats one over <see cref="Limits.BlockBytesMax"/> (not held); no message could carry it anyway.
    /// </summary>
    public const int MaxBlockSize = (1 << 30) - 1;

    private const uint HaveBit = 1u << 30;
    private const uint DontHaveBit = 1u << 31;

    // BlockSize in the low 30 bits, then WantType == Have, then SendDontHave.
    private readonly uint _bits;

    /// <summary>A want's fields; <paramref name="blockSize"/> must lie in 0..<see cref="MaxBlockSize"/>.</summary>
    public StoredWant(int priority, WantType wantType, bool sendDontHave, int blockSize)
    {
        if ((uint)blockSize > MaxBlockSize) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "a want records block sizes up to 1 GiB - 1");
        Priority = priority;
        _bits = (uint)blockSize | (wantType == WantType.Have ? HaveBit : 0) | (sendDontHave ? DontHaveBit : 0);
    }

    /// <summary>The want's priority as the peer last stated it.</summary>
    public int Priority { get; }

    /// <summary>Block or Have.</summary>
    public WantType WantType => (_bits & HaveBit) != 0 ? WantType.Have : WantType.Block;

    /// <summary>The peer asked for DONT_HAVE.</summary>
    public bool SendDontHave => (_bits & DontHaveBit) != 0;

    /// <summary>Size of the block in our blockstore as far as the engine knows; 0 means not held.</summary>
    public int BlockSize => (int)(_bits & MaxBlockSize);

    /// <summary>The want for <paramref name="cid"/>.</summary>
    public PeerWant For(Cid cid) => new(cid, Priority, WantType, SendDontHave, BlockSize);
}

/// <summary>How a new want changed a peer's wantlist.</summary>
public enum WantOutcome
{
    /// <summary>A new entry was added.</summary>
    Added,
    /// <summary>An existing entry was updated (priority, sendDontHave, or a want-have upgraded to a want-block).</summary>
    Updated,
    /// <summary>The wantlist is full and no entry could make room: the want was refused.</summary>
    Refused,
}

/// <summary>The result of <see cref="PeerWantlist.Want"/>.</summary>
/// <param name="Wantlist">The wantlist afterwards.</param>
/// <param name="Outcome">What happened to the new want.</param>
/// <param name="Evicted">The want removed to make room, if any.</param>
public readonly record struct WantResult(PeerWantlist Wantlist, WantOutcome Outcome, Option<PeerWant> Evicted);

/// <summary>
/// Orders wants for eviction (boxo#629): wants for blocks we do not hold first, then lower priority first, then by CID so
/// the order is total and deterministic.
/// </summary>
/// <param name="Held">True when we hold the block.</param>
/// <param name="Priority">The want's priority.</param>
/// <param name="Cid">The wanted CID.</param>
public readonly record struct EvictionKey(bool Held, int Priority, Cid Cid) : IComparable<EvictionKey>
{
    /// <summary>Unheld before held, then ascending priority, then CID bytes.</summary>
    public int CompareTo(EvictionKey other)
    {
        var held = Held.CompareTo(other.Held);
        if (held != 0) return held;
        var priority = Priority.CompareTo(other.Priority);
        return priority != 0 ? priority : Cid.CompareTo(other.Cid);
    }
}

/// <summary>
/// What one peer wants from us, keyed by CID, with an eviction index for the overflow policy. The index is built the first
/// time the list is full and a new want arrives (most peers never fill their list, so most never pay for it); from then on
/// both indexes are updated together (boxo's peer ledger clears only one side of its two-way index on a full wantlist;
/// this one cannot drift because every change goes through <see cref="Want"/>, <see cref="Cancel"/>, <see cref="Clear"/>
/// or <see cref="WithBlockSize"/>).
/// </summary>
/// <param name="Entries">
/// Wants by CID in a <see cref="SortedMap{TKey, TValue}"/> (a B+tree of wide nodes) rather than a LanguageExt map: the
/// answers of a sent message leave it in one batch that copies each leaf it touches once, and a want sits inline in a
/// leaf array (24 bytes with its key) instead of in a node of its own.
/// </param>
/// <param name="Eviction">The same wants ordered by <see cref="EvictionKey"/>, once <see cref="Indexed"/>; empty before.</param>
public sealed record PeerWantlist(SortedMap<Cid, StoredWant> Entries, Set<EvictionKey> Eviction)
{
    /// <summary>A wantlist with nothing in it.</summary>
    public static readonly PeerWantlist Empty = new(SortedMap<Cid, StoredWant>.Empty, Set<EvictionKey>.Empty);

    /// <summary>True once the eviction index is kept (the list was full when a new want arrived).</summary>
    public bool Indexed { get; init; }

    /// <summary>A wantlist of these wants (distinct CIDs, never a cancel), built in one bulk pass.</summary>
    public static PeerWantlist Of(IEnumerable<PeerWant> wants) =>
        Empty with { Entries = SortedMap<Cid, StoredWant>.Of(wants.Select(w => (w.Cid, w.Stored))) };

    /// <summary>Number of wants.</summary>
    public int Count => Entries.Count;

    /// <summary>The want for a CID, if any.</summary>
    public Option<PeerWant> Find(Cid cid) => TryFind(cid, out var want) ? want : Option<PeerWant>.None;

    /// <summary>The want for a CID the peer wants (throws when it does not).</summary>
    public PeerWant this[Cid cid] => Entries[cid].For(cid);

    /// <summary>The wants, sorted by CID.</summary>
    public IEnumerable<PeerWant> Wants => Entries.Select(kv => kv.Value.For(kv.Key));

    /// <summary>The want for a CID without boxing it (Option.Case would): true and the want when the peer wants the CID.</summary>
    public bool TryFind(Cid cid, out PeerWant want)
    {
        var found = Entries.TryGetValue(cid, out var stored);
        want = found ? stored.For(cid) : default;
        return found;
    }

    /// <summary>True when the peer wants the CID.</summary>
    public bool Contains(Cid cid) => Entries.ContainsKey(cid);

    /// <summary>The wants as wire entries, sorted by CID.</summary>
    public Seq<WantlistEntry> ToEntries() => Wants.Select(w => w.Entry).OrderBy(e => e.Cid).ToSeq();

    /// <summary>Forgets every want (a full wantlist or a disconnect), clearing every index.</summary>
    public PeerWantlist Clear() => Empty;

    /// <summary>
    /// Records a want. A want-block is never downgraded by a later want-have (the want-have only refreshes nothing);
    /// a want-have is upgraded by a want-block; the same type takes the new priority and sendDontHave. When the list
    /// already holds <paramref name="capacity"/> wants, the boxo#629 overflow policy applies: evict the lowest-priority
    /// want for a block we do not hold; otherwise replace the lowest-priority want if the new one's priority is at least
    /// as high; otherwise refuse the new want.
    /// </summary>
    public WantResult Want(WantlistEntry entry, int blockSize, int capacity)
    {
        var size = Math.Max(0, blockSize);
        var wanted = PeerWant.Of(entry, size);
        if (TryFind(entry.Cid, out var current))
        {
            var merged = current.WantType == WantType.Block && wanted.WantType == WantType.Have
                ? current with { BlockSize = size }
                : wanted;
            return new WantResult(Put(merged), WantOutcome.Updated, Option<PeerWant>.None);
        }

        if (Count < capacity)
            return new WantResult(Put(wanted), WantOutcome.Added, Option<PeerWant>.None);
        if (Entries.IsEmpty)
            return new WantResult(this, WantOutcome.Refused, Option<PeerWant>.None);

        var indexed = Indexed ? this : WithIndex();
        var lowest = indexed.Eviction.Min.Case is EvictionKey key ? key : throw new System.Diagnostics.UnreachableException("a non-empty set has a minimum");
        var victimAllowed = !lowest.Held || lowest.Priority <= wanted.Priority;
        if (!victimAllowed)
            return new WantResult(indexed, WantOutcome.Refused, Option<PeerWant>.None);

        var victim = this[lowest.Cid];
        return new WantResult(indexed.Cancel(lowest.Cid).Put(wanted), WantOutcome.Added, victim);
    }

    /// <summary>Removes the want for a CID (a cancel); a CID not wanted changes nothing.</summary>
    public PeerWantlist Cancel(Cid cid) =>
        TryFind(cid, out var current)
            ? this with { Entries = Entries.Remove(cid), Eviction = Indexed ? Eviction.Remove(KeyOf(current)) : Eviction }
            : this;

    /// <summary>Removes the wants for several CIDs at once (one RemoveRange: their paths copied once); CIDs not wanted change nothing.</summary>
    public PeerWantlist CancelAll(IReadOnlyCollection<Cid> cids)
    {
        if (cids.Count == 0) return this;
        var eviction = Eviction;
        if (Indexed)
            foreach (var cid in cids)
                if (TryFind(cid, out var current)) eviction = eviction.Remove(KeyOf(current));
        return this with { Entries = Entries.WithoutAll(cids), Eviction = eviction };
    }

    /// <summary>Records what we now know about our copy of the block (0 when it vanished); a CID not wanted changes nothing.</summary>
    public PeerWantlist WithBlockSize(Cid cid, int blockSize) =>
        TryFind(cid, out var current) && current.BlockSize != Math.Max(0, blockSize)
            ? Cancel(cid).Put(current with { BlockSize = Math.Max(0, blockSize) })
            : this;

    /// <summary>True when both indexes hold exactly the same wants (checked by the tests).</summary>
    public bool IndexesAgree => Indexed
        ? Entries.Count == Eviction.Count && Wants.All(w => Eviction.Contains(KeyOf(w)))
        : Eviction.IsEmpty;

    /// <summary>The same list with its eviction index built in one bulk pass.</summary>
    private PeerWantlist WithIndex() =>
        this with { Eviction = Set<EvictionKey>.Empty.AddRange(Wants.Select(KeyOf)), Indexed = true };

    private PeerWantlist Put(PeerWant want)
    {
        if (!Indexed) return this with { Entries = Entries.SetItem(want.Cid, want.Stored) };
        var withoutOld = TryFind(want.Cid, out var old) ? Eviction.Remove(KeyOf(old)) : Eviction;
        return this with { Entries = Entries.SetItem(want.Cid, want.Stored), Eviction = withoutOld.Add(KeyOf(want)) };
    }

    private static EvictionKey KeyOf(PeerWant want) => new(want.Held, want.Priority, want.Cid);
}
