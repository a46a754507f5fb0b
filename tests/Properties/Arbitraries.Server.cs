using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;
using Bitswap.Testing;

namespace Bitswap.Tests.Properties;

/// <summary>A fixed cast for server tests: peers, blocks of varied sizes, an identity CID and an oversized CID.</summary>
public static class ServerWorld
{
    /// <summary>Peers, by index.</summary>
    public static readonly PeerId[] Peers = Enumerable.Range(0, 8).Select(PeerAt).ToArray();

    /// <summary>Block sizes: some at most WantHaveReplaceBytes (answered with the block), some larger.</summary>
    private static readonly int[] Sizes = [7, 100, 600, 1024, 1025, 1500, 3000, 5000, 8000, 12000, 16384, 20000, 300, 2048, 900, 40000];

    /// <summary>Blocks, by index.</summary>
    public static readonly Block[] Blocks = Sizes.Select((size, i) => Block.Raw(Data(i, size))).ToArray();

    /// <summary>An identity CID: always ignored by the engine.</summary>
    public static readonly Cid IdentityCid = Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Identity, "inline"u8));

    /// <summary>A CID over Limits.CidBytesMax (a 200-byte blake3 digest): always ignored by the engine.</summary>
    public static readonly Cid OversizedCid = Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Blake3, new byte[200]));

    /// <summary>Index of the identity CID in <see cref="CidAt"/>.</summary>
    public static int IdentityIndex => Blocks.Length;

    /// <summary>Index of the oversized CID in <see cref="CidAt"/>.</summary>
    public static int OversizedIndex => Blocks.Length + 1;

    /// <summary>A block CID, or one of the two hostile CIDs past the blocks.</summary>
    public static Cid CidAt(int index) =>
        index < Blocks.Length ? Blocks[index].Cid : index == IdentityIndex ? IdentityCid : OversizedCid;

    /// <summary>A peer ID (identity multihash over distinct bytes, like an Ed25519 key).</summary>
    public static PeerId PeerAt(int index)
    {
        var key = new byte[36];
        key[0] = 0x08; key[1] = 0x01; key[2] = 0x12; key[3] = 0x20;
        for (var i = 4; i < key.Length; i++) key[i] = (byte)(index * 31 + i * 7);
        return new PeerId(Multihash.FromDigest((ulong)MultihashCode.Identity, key));
    }

    private static readonly Cid[] Synthetic = Enumerable.Range(0, 4096).Select(MakeSyntheticCid).ToArray();

    /// <summary>A CID for a distinct sha2-256 digest, for floods of CIDs that need no block (cached for small n).</summary>
    public static Cid SyntheticCid(int n) => n is >= 0 and < 4096 ? Synthetic[n] : MakeSyntheticCid(n);

    private static Cid MakeSyntheticCid(int n)
    {
        var digest = new byte[32];
        BitConverter.TryWriteBytes(digest, n);
        digest[31] = 0xAB;
        return Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Sha2_256, digest));
    }

    private static byte[] Data(int seed, int size)
    {
        var data = new byte[size];
        for (var i = 0; i < size; i++) data[i] = (byte)(seed * 131 + i * 17 + (i >> 8));
        return data;
    }
}

/// <summary>One wantlist entry in a generated message, by CID index.</summary>
public sealed record EntrySpec(int Cid, WantType Type, int Priority, bool Cancel, bool SendDontHave)
{
    /// <summary>The wire entry.</summary>
    public WantlistEntry ToEntry() => Cancel
        ? WantlistEntry.CancelOf(ServerWorld.CidAt(Cid))
        : new WantlistEntry(ServerWorld.CidAt(Cid), Priority, Type, false, SendDontHave);

    /// <inheritdoc />
    public override string ToString() => Cancel ? $"cancel {Cid}" : $"{(Type == WantType.Block ? "block" : "have")} {Cid} p{Priority}{(SendDontHave ? " dh" : "")}";
}

/// <summary>A step of a generated engine run; the harness turns it into inputs.</summary>
public abstract record ServerOp;

/// <summary>A peer sends a message with these entries (and maybe blocks, by index).</summary>
public sealed record ServerReceiveOp(int Peer, EntrySpec[] Entries, bool Full, int[] Blocks) : ServerOp
{
    /// <inheritdoc />
    public override string ToString() => $"Receive(p{Peer}{(Full ? " full" : "")}: {string.Join(", ", Entries.Select(e => e.ToString()))}{(Blocks.Length > 0 ? $"; blocks {string.Join(",", Blocks)}" : "")})";
}

/// <summary>Blocks are added to the local store.</summary>
public sealed record ServerAddBlocksOp(int[] Blocks) : ServerOp
{
    /// <inheritdoc />
    public override string ToString() => $"AddBlocks({string.Join(",", Blocks)})";
}

/// <summary>A block disappears from the local store (deleted by someone else).</summary>
public sealed record ServerDeleteBlockOp(int Block) : ServerOp;

/// <summary>The blockstore answers one outstanding load (picked by index modulo the number outstanding).</summary>
public sealed record ServerAnswerLoadOp(int Pick) : ServerOp;

/// <summary>The network reports the fate of one outstanding send.</summary>
public sealed record ServerCompleteSendOp(int Pick, bool Success) : ServerOp;

/// <summary>A peer connects.</summary>
public sealed record ServerConnectOp(int Peer) : ServerOp;

/// <summary>A peer disconnects.</summary>
public sealed record ServerDisconnectOp(int Peer) : ServerOp;

/// <summary>Time passes.</summary>
public sealed record ServerAdvanceOp(int Ms) : ServerOp;

/// <summary>The score timer fires.</summary>
public sealed record ServerScoreTickOp : ServerOp;

/// <summary>Which knobs a generated engine uses.</summary>
public sealed record EngineKnobs(
    int Workers, int TargetBytes, int WantlistMax, int PendingMax, int OutstandingMax, int ReplaceBytes, int MessageMax,
    bool SendDontHaves, bool Filter, ulong Seed)
{
    /// <summary>The engine configuration. The filter denies every fifth block.</summary>
    public EngineConfig ToConfig() => new(
        Limits.Default with
        {
            TaskWorkerCount = Workers,
            TargetMessageBytes = TargetBytes,
            WantlistEntriesPerPeerMax = WantlistMax,
            PendingTasksPerPeerMax = PendingMax,
            OutstandingBytesPerPeerMax = OutstandingMax,
            WantHaveReplaceBytes = ReplaceBytes,
            MessageBytesMax = MessageMax,
        },
        Seed,
        Filter ? (_, cid) => Array.FindIndex(ServerWorld.Blocks, b => b.Cid == cid) % 5 != 4 : null,
        SendDontHaves,
        Explain: true);
}

/// <summary>A generated engine run: knobs, the blocks held at the start, and the steps.</summary>
public sealed record EngineScript(EngineKnobs Knobs, int[] Store, ServerOp[] Ops)
{
    /// <inheritdoc />
    public override string ToString() => $"{Knobs}\nstore: {string.Join(",", Store)}\n{string.Join("\n", Ops.Select(o => o.ToString()))}";

    /// <summary>Runs the script on a fresh node; sends and loads are settled only where an op says so.</summary>
    public NodeHarness Play()
    {
        var node = TestNodes.Server(Knobs.ToConfig(), Store);
        foreach (var op in Ops) Run(node, op);
        return node;
    }

    /// <summary>Interprets one generated step.</summary>
    public static void Run(NodeHarness node, ServerOp op)
    {
        switch (op)
        {
            case ServerReceiveOp r:
                var message = Message.Empty.WithEntries(r.Entries.Select(e => e.ToEntry())).WithFull(r.Full);
                message = r.Blocks.Aggregate(message, (m, i) => m.WithBlock(ServerWorld.Blocks[i]));
                node.Receive(ServerWorld.Peers[r.Peer], message);
                break;
            case ServerAddBlocksOp a:
                node.Add(a.Blocks.Select(i => ServerWorld.Blocks[i]).ToArray());
                break;
            case ServerDeleteBlockOp d:
                node.Delete(ServerWorld.Blocks[d.Block].Cid);
                break;
            case ServerAnswerLoadOp l:
                if (node.Loads.Count > 0) node.AnswerLoad(l.Pick % node.Loads.Count);
                break;
            case ServerCompleteSendOp s:
                if (node.InFlight.Count > 0) node.Ack(s.Pick % node.InFlight.Count, failed: !s.Success);
                break;
            case ServerConnectOp c:
                node.Connect(ServerWorld.Peers[c.Peer]);
                break;
            case ServerDisconnectOp d:
                node.Disconnect(ServerWorld.Peers[d.Peer]);
                break;
            case ServerAdvanceOp a:
                // ServerScoreTickOp fires the score timer by hand, so time moves here without firing any timer.
                node.Now += a.Ms;
                break;
            case ServerScoreTickOp:
                node.Post(new TimerFired(node.Now, EngineState.ScoreTimer));
                break;
            default:
                throw new System.Diagnostics.UnreachableException($"unknown op {op}");
        }
    }
}

/// <summary>Generators for the server reducers (engine and peer task queue).</summary>
public static partial class Arbitraries
{
    /// <summary>Priorities from a small range, so ties happen.</summary>
    private static readonly Gen<int> ServerPriority = Gen.Choose(0, 4);

    /// <summary>Arrays of <paramref name="min"/> to <paramref name="max"/> elements.</summary>
    public static Gen<T[]> ArrayBetween<T>(Gen<T> gen, int min, int max) =>
        Gen.Choose(min, max).SelectMany(n => Gen.ArrayOf(gen, n));

    /// <summary>A wantlist entry over the world's CIDs; the hostile CIDs are rare.</summary>
    public static Gen<EntrySpec> EntrySpecs(int peerCids) =>
        from cid in Gen.Frequency((30, Gen.Choose(0, peerCids - 1)), (1, Gen.Constant(ServerWorld.IdentityIndex)), (1, Gen.Constant(ServerWorld.OversizedIndex)))
        from type in Gen.Elements(WantType.Block, WantType.Have)
        from priority in ServerPriority
        from cancel in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from dontHave in Gen.Elements(true, false)
        select new EntrySpec(cid, type, priority, cancel, dontHave);

    /// <summary>One engine step, weighted toward messages and completions.</summary>
    public static Gen<ServerOp> ServerOps(int peers)
    {
        var blockIndex = Gen.Choose(0, ServerWorld.Blocks.Length - 1);
        var receive =
            from peer in Gen.Choose(0, peers - 1)
            from entries in ArrayBetween(EntrySpecs(ServerWorld.Blocks.Length), 1, 6)
            from full in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true)))
            from blocks in Gen.Frequency((6, Gen.Constant(Array.Empty<int>())), (1, ArrayBetween(blockIndex, 1, 2)))
            select (ServerOp)new ServerReceiveOp(peer, entries, full, blocks);
        return Gen.Frequency(
            (30, receive),
            (15, Gen.Choose(0, 16).Select(i => (ServerOp)new ServerAnswerLoadOp(i))),
            (20, Gen.Choose(0, 16).SelectMany(i => Gen.Frequency((9, Gen.Constant(true)), (1, Gen.Constant(false))), (i, ok) => (ServerOp)new ServerCompleteSendOp(i, ok))),
            (6, ArrayBetween(blockIndex, 1, 3).Select(b => (ServerOp)new ServerAddBlocksOp(b))),
            (2, blockIndex.Select(b => (ServerOp)new ServerDeleteBlockOp(b))),
            (4, Gen.Choose(0, peers - 1).Select(p => (ServerOp)new ServerConnectOp(p))),
            (2, Gen.Choose(0, peers - 1).Select(p => (ServerOp)new ServerDisconnectOp(p))),
            (6, Gen.Choose(0, 4000).Select(ms => (ServerOp)new ServerAdvanceOp(ms))),
            (2, Gen.Constant((ServerOp)new ServerScoreTickOp())));
    }

    /// <summary>Engine knobs: boxo's defaults, or small bounds that the runs actually reach.</summary>
    public static Gen<EngineKnobs> EngineKnobsGen =>
        Gen.Frequency(
            (1, Gen.Choose(0, int.MaxValue).Select(seed => new EngineKnobs(8, 16 * 1024, 1024, 1024, 1024 * 1024, 1024, 4 * 1024 * 1024, true, false, (ulong)seed))),
            (3,
                from workers in Gen.Choose(1, 8)
                from target in Gen.Elements(1, 512, 4096, 16 * 1024)
                from wantlistMax in Gen.Elements(3, 6, 1024)
                from pendingMax in Gen.Elements(2, 5, 1024)
                from outstanding in Gen.Elements(1, 8 * 1024, 1024 * 1024)
                from replace in Gen.Elements(0, 1024)
                from messageMax in Gen.Elements(48 * 1024, 4 * 1024 * 1024)
                from dontHaves in Gen.Elements(true, true, false)
                from filter in Gen.Elements(false, false, true)
                from seed in Gen.Choose(0, int.MaxValue)
                select new EngineKnobs(workers, target, wantlistMax, pendingMax, outstanding, replace, messageMax, dontHaves, filter, (ulong)seed)));

    /// <summary>A whole engine run over up to five peers.</summary>
    public static Arbitrary<EngineScript> EngineScripts() =>
        (from knobs in EngineKnobsGen
         from peers in Gen.Choose(1, 5)
         from store in Gen.SubListOf(Enumerable.Range(0, ServerWorld.Blocks.Length).ToArray())
         from ops in ArrayBetween(ServerOps(peers), 5, 60)
         select new EngineScript(knobs, store.ToArray(), ops)).ToArbitrary();
}

/// <summary>A step of a generated peer-task-queue run.</summary>
public abstract record QueueOp;

/// <summary>Push tasks for a peer.</summary>
public sealed record QueuePushOp(int Peer, TaskRequest[] Requests) : QueueOp
{
    /// <inheritdoc />
    public override string ToString() => $"Push(p{Peer}: {string.Join(", ", Requests.Select(r => $"{Array.IndexOf(ServerWorld.Blocks.Select(b => b.Cid).ToArray(), r.Cid)}/p{r.Priority}/{r.Work}B"))})";
}

/// <summary>Pop up to a target.</summary>
public sealed record QueuePopOp(int TargetBytes) : QueueOp;

/// <summary>Complete the oldest <paramref name="Count"/> active tasks of a peer.</summary>
public sealed record QueueDoneOp(int Peer, int Count) : QueueOp;

/// <summary>Cancel a peer's pending task for a CID.</summary>
public sealed record QueueCancelOp(int Peer, int Cid) : QueueOp;

/// <summary>Forget a peer (disconnect).</summary>
public sealed record QueueRemovePeerOp(int Peer) : QueueOp;

/// <summary>Time passes.</summary>
public sealed record QueueAdvanceOp(int Ms) : QueueOp;

/// <summary>A generated queue run.</summary>
public sealed record QueueScript(int Peers, long OutstandingMax, ulong Seed, QueueOp[] Ops)
{
    /// <summary>The limits of the run.</summary>
    public Limits Limits => Limits.Default with { OutstandingBytesPerPeerMax = (int)OutstandingMax, PendingTasksPerPeerMax = 64 };

    /// <inheritdoc />
    public override string ToString() => $"peers={Peers} cap={OutstandingMax} seed={Seed}\n{string.Join("\n", Ops.Select(o => o.ToString()))}";
}

public static partial class Arbitraries
{
    /// <summary>A task request over the world's CIDs: a block, a HAVE or a DONT_HAVE, of varied work.</summary>
    public static Gen<TaskRequest> TaskRequests(int maxWork) =>
        from cid in Gen.Choose(0, ServerWorld.Blocks.Length - 1)
        from priority in Gen.Choose(0, 4)
        from kind in Gen.Choose(0, 2)
        from work in Gen.Frequency((6, Gen.Choose(1, 4096)), (1, Gen.Choose(1, maxWork)))
        select kind switch
        {
            0 => new TaskRequest(ServerWorld.Blocks[cid].Cid, priority, work, new TaskData(true, false, work, true)),
            1 => new TaskRequest(ServerWorld.Blocks[cid].Cid, priority, 40, new TaskData(false, true, work, true)),
            _ => new TaskRequest(ServerWorld.Blocks[cid].Cid, priority, 40, new TaskData(false, true, 0, false)),
        };

    /// <summary>Queue runs; <paramref name="withRemovals"/> adds disconnects.</summary>
    public static Arbitrary<QueueScript> QueueScripts(bool withRemovals, int maxAdvanceMs = 1500) =>
        (from peers in Gen.Choose(1, 8)
         from cap in Gen.Elements(0L, 8L * 1024, 64L * 1024, 1024L * 1024)
         from seed in Gen.Choose(0, int.MaxValue)
         from ops in ArrayBetween(QueueOps(peers, withRemovals, maxAdvanceMs), 10, 120)
         select new QueueScript(peers, cap, (ulong)seed, ops)).ToArbitrary();

    private static Gen<QueueOp> QueueOps(int peers, bool withRemovals, int maxAdvanceMs)
    {
        var peer = Gen.Choose(0, peers - 1);
        var choices = new List<(int, Gen<QueueOp>)>
        {
            (20, from p in peer from rs in ArrayBetween(TaskRequests(600 * 1024), 1, 10) select (QueueOp)new QueuePushOp(p, rs)),
            (30, Gen.Elements(1, 100, 4096, 16 * 1024, 256 * 1024).Select(t => (QueueOp)new QueuePopOp(t))),
            (15, from p in peer from n in Gen.Choose(1, 4) select (QueueOp)new QueueDoneOp(p, n)),
            (6, from p in peer from c in Gen.Choose(0, ServerWorld.Blocks.Length - 1) select (QueueOp)new QueueCancelOp(p, c)),
            (10, Gen.Choose(0, maxAdvanceMs).Select(ms => (QueueOp)new QueueAdvanceOp(ms))),
        };
        if (withRemovals) choices.Add((3, peer.Select(p => (QueueOp)new QueueRemovePeerOp(p))));
        return Gen.Frequency(choices);
    }
}
