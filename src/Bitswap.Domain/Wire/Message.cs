using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain.Wire;

/// <summary>What a wantlist entry asks for.</summary>
public enum WantType
{
    /// <summary>Send the block.</summary>
    Block = 0,
    /// <summary>Tell me whether you have the block (1.2.0+).</summary>
    Have = 1,
}

/// <summary>A peer's answer about a block it was asked for (1.2.0+).</summary>
public enum PresenceType
{
    /// <summary>The peer has the block.</summary>
    Have = 0,
    /// <summary>The peer does not have the block.</summary>
    DontHave = 1,
}

/// <summary>One wantlist entry: a want or, with <see cref="Cancel"/>, the withdrawal of one.</summary>
/// <param name="Cid">The wanted block.</param>
/// <param name="Priority">Higher is served first.</param>
/// <param name="WantType">Block or Have.</param>
/// <param name="Cancel">True to withdraw an earlier want.</param>
/// <param name="SendDontHave">True to ask for an explicit DONT_HAVE when the peer lacks the block.</param>
public sealed record WantlistEntry(Cid Cid, int Priority, WantType WantType, bool Cancel, bool SendDontHave)
{
    /// <summary>A want-block entry.</summary>
    public static WantlistEntry WantBlock(Cid cid, int priority, bool sendDontHave = false) => new(cid, priority, WantType.Block, false, sendDontHave);

    /// <summary>A want-have entry.</summary>
    public static WantlistEntry WantHave(Cid cid, int priority, bool sendDontHave = false) => new(cid, priority, WantType.Have, false, sendDontHave);

    /// <summary>A cancel, encoded as boxo does with priority 0 and type Block.</summary>
    public static WantlistEntry CancelOf(Cid cid) => new(cid, 0, WantType.Block, true, false);

    /// <summary>
    /// Merges a second entry for the same CID into this one (boxo message.go rules): want-block overrides want-have and never
    /// the reverse; the priority changes only with the same want type or on an upgrade; cancel and sendDontHave only go from false to true.
    /// </summary>
    public WantlistEntry MergeWith(WantlistEntry next)
    {
        var upgrade = next.WantType == WantType.Block && WantType == WantType.Have;
        return this with
        {
            WantType = upgrade ? WantType.Block : WantType,
            Priority = upgrade || next.WantType == WantType ? next.Priority : Priority,
            Cancel = Cancel || next.Cancel,
            SendDontHave = SendDontHave || next.SendDontHave,
        };
    }
}

/// <summary>
/// A Bitswap message as the domain sees it, independent of protocol version. One entry, block and presence per CID,
/// kept in maps ordered by CID bytes so encoding is deterministic. Build with <see cref="Empty"/> and the <c>With…</c>
/// methods, which apply the per-message merge rules.
/// </summary>
/// <param name="Wantlist">Entries by CID.</param>
/// <param name="Full">True when the wantlist is complete and replaces the receiver's copy; false for a delta.</param>
/// <param name="Blocks">Blocks by CID.</param>
/// <param name="Presences">HAVE/DONT_HAVE by CID.</param>
/// <param name="PendingBytes">Bytes the sender still has queued for the receiver.</param>
public sealed record Message(
    Map<Cid, WantlistEntry> Wantlist,
    bool Full,
    Map<Cid, Block> Blocks,
    Map<Cid, PresenceType> Presences,
    int PendingBytes)
{
    /// <summary>The message with nothing in it.</summary>
    public static readonly Message Empty = new(Map<Cid, WantlistEntry>.Empty, false, Map<Cid, Block>.Empty, Map<Cid, PresenceType>.Empty, 0);

    /// <summary>
    /// The wantlist's CIDs in the order they came off the wire; empty for a message built in code. A server serves wants of
    /// equal priority in this order, as boxo serves them in arrival order (Helia asks for every chunk of a file at priority 1,
    /// in file order). Not part of equality: two messages with the same entries are the same message.
    /// </summary>
    public Seq<Cid> WireOrder { get; init; }

    /// <summary>The wantlist in <see cref="WireOrder"/> when it still names exactly its entries, else in CID order.</summary>
    public IEnumerable<WantlistEntry> WantsInWireOrder =>
        !WireOrder.IsEmpty && WireOrder.Count == Wantlist.Count ? WireOrder.Map(cid => Wantlist[cid]) : Wantlist.Values;

    /// <summary>Equal when the entries, blocks, presences and pending bytes are; <see cref="WireOrder"/> is not compared.</summary>
    public bool Equals(Message? other) =>
        other is not null && (ReferenceEquals(this, other) || (Full == other.Full && PendingBytes == other.PendingBytes
            && Wantlist.Equals(other.Wantlist) && Blocks.Equals(other.Blocks) && Presences.Equals(other.Presences)));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Wantlist, Full, Blocks, Presences, PendingBytes);

    /// <summary>True when there is nothing to send: no entries, blocks or presences, and not a full (clearing) wantlist.</summary>
    public bool IsEmpty => Wantlist.IsEmpty && Blocks.IsEmpty && Presences.IsEmpty && !Full;

    /// <summary>Adds an entry, merging with any entry already present for its CID.</summary>
    public Message WithEntry(WantlistEntry entry) =>
        this with { Wantlist = Wantlist.AddOrUpdate(entry.Cid, existing => existing.MergeWith(entry), entry) };

    /// <summary>Adds several entries in order.</summary>
    public Message WithEntries(IEnumerable<WantlistEntry> entries)
    {
        if (!Wantlist.IsEmpty)
            return this with { Wantlist = entries.Aggregate(Wantlist, (map, e) => map.AddOrUpdate(e.Cid, existing => existing.MergeWith(e), e)) };
        // Into an empty wantlist: merge locally, then build the map in one bulk pass, which allocates a node per entry
        // instead of a path per entry.
        var merged = new Dictionary<Cid, WantlistEntry>(entries is IReadOnlyCollection<WantlistEntry> known ? known.Count : 0);
        foreach (var e in entries) merged[e.Cid] = merged.TryGetValue(e.Cid, out var existing) ? existing.MergeWith(e) : e;
        return this with { Wantlist = Map<Cid, WantlistEntry>.Empty.AddRange(merged.Select(kv => (kv.Key, kv.Value))) };
    }

    /// <summary>
    /// A message of blocks and presences built in one bulk pass. A later block for a CID replaces an earlier one; a presence
    /// for a CID whose block is included is left out, as <see cref="WithBlock"/> and <see cref="WithPresence"/> would.
    /// </summary>
    public static Message Of(IEnumerable<Block> blocks, IEnumerable<(Cid Cid, PresenceType Type)> presences, int pendingBytes)
    {
        var byCid = new Dictionary<Cid, Block>();
        foreach (var block in blocks) byCid[block.Cid] = block;
        var kinds = new Dictionary<Cid, PresenceType>();
        foreach (var (cid, type) in presences)
            if (!byCid.ContainsKey(cid)) kinds[cid] = type;
        return new Message(
            Map<Cid, WantlistEntry>.Empty,
            false,
            Map<Cid, Block>.Empty.AddRange(byCid.Select(kv => (kv.Key, kv.Value))),
            Map<Cid, PresenceType>.Empty.AddRange(kinds.Select(kv => (kv.Key, kv.Value))),
            pendingBytes);
    }

    /// <summary>Adds a block; it removes any presence for the same CID.</summary>
    public Message WithBlock(Block block) =>
        this with { Blocks = Blocks.AddOrUpdate(block.Cid, block), Presences = Presences.Without(block.Cid) };

    /// <summary>Adds a presence, unless the message already carries the block itself.</summary>
    public Message WithPresence(Cid cid, PresenceType type) =>
        Blocks.ContainsKey(cid) ? this : this with { Presences = Presences.AddOrUpdate(cid, type) };

    /// <summary>Marks the wantlist as full or as a delta.</summary>
    public Message WithFull(bool full) => this with { Full = full };

    /// <summary>Sets the pending-bytes hint.</summary>
    public Message WithPendingBytes(int pendingBytes) => this with { PendingBytes = pendingBytes };

    /// <summary>A one-line summary for logs and traces.</summary>
    public override string ToString()
    {
        var wants = Wantlist.Values.Count(e => !e.Cancel);
        var cancels = Wantlist.Count - wants;
        return $"Message(wants={wants}, cancels={cancels}, full={Full}, blocks={Blocks.Count}, presences={Presences.Count}, pending={PendingBytes})";
    }
}
