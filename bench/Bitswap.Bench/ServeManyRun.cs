using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;

namespace Bitswap.Bench;

/// <summary>
/// The <c>serve-many</c> mode: a server node takes <c>--peers</c> (1,000) wantlists of <c>--wants</c> (1,024) want-blocks,
/// timed and with the state's size measured, then serves 4 KiB blocks to all of them through <see cref="Node.Handle"/>,
/// answering every LoadBlocks with BlocksLoaded and every SendMessage with MessageSent, for at most <c>--seconds</c> (60).
/// </summary>
public static class ServeManyRun
{
    private const int BlockBytes = 4096;

    /// <summary>
    /// Parses the options, runs the two phases and prints their figures. Optimized from the start: this method runs once,
    /// and unoptimized (tier-0) code reports every stack slot as live to its end, so the input messages (about 110 MiB
    /// beside the entries the state keeps) were weighed as state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Run(IReadOnlyList<string> args)
    {
        var peers = 1000;
        var wants = 1024;
        var seconds = 60.0;
        using var profile = args.Contains("--alloc-profile") ? new AllocationProfile() : null;
        for (var i = 0; i + 1 < args.Count; i += 2)
        {
            if (args[i] == "--alloc-profile")
            {
                i--;
                continue;
            }

            var value = args[i + 1];
            switch (args[i])
            {
                case "--peers": peers = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--wants": wants = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine("usage: serve-many [--peers N] [--wants N] [--seconds S] [--alloc-profile]");
                    return 2;
            }
        }

        // Every peer wants a different window of one catalog, so the CID → wanters index holds overlapping sets the way a
        // gateway's would. The catalog and the messages are the peers' and the blockstore's cost, built before timing.
        var catalogSize = Math.Max(wants * 16, 16_384);
        var catalog = ReducerFixtures.Blocks(catalogSize, BlockBytes, 7);
        var store = catalog.ToDictionary(b => b.Cid);
        var peerIds = Enumerable.Range(0, peers).Select(p => ReducerFixtures.Peer($"serve-many-{p}")).ToArray();
        var self = ReducerFixtures.Peer("serve-many-self");
        var node = NodeState.Create(self, NodeConfig.Default(1));

        var before = GC.GetTotalMemory(true);
        MessageReceived[]? messages = Messages(catalog, peerIds, wants);

        var loads = new Queue<LoadBlocks>();
        var sends = new Queue<SendMessage>();
        long now = 0;
        long served = 0;
        long inputs = 0;
        void Post(Input input)
        {
            var step = Node.Handle(node, input);
            node = step.State;
            inputs++;
            foreach (var effect in step.Effects)
            {
                switch (effect)
                {
                    case LoadBlocks load: loads.Enqueue(load); break;
                    case SendMessage send:
                        sends.Enqueue(send);
                        served += send.Message.Blocks.Count;
                        break;
                }
            }
        }

        // Phase 1: connect and take every wantlist. The engine pops work as wants arrive; the loads it asks for wait.
        profile?.Start();
        var clock = Stopwatch.StartNew();
        foreach (var peer in peerIds) Post(new PeerConnected(now, peer, ProtocolVersion.V120));
        foreach (var message in messages) Post(message);
        clock.Stop();
        var ingest = clock.Elapsed;
        // The messages are the peers' cost, not state: dropped before the state is weighed (see Run's attribute).
        messages = null;
        var after = GC.GetTotalMemory(true);
        GC.KeepAlive(node);
        Console.WriteLine(FormattableString.Invariant(
            $"ingest: {peers} peers x {wants} wants in {ingest.TotalSeconds:0.000} s, state {(after - before) / (1024.0 * 1024.0):0.0} MiB ({inputs} inputs)"));
        if (profile is not null)
        {
            foreach (var row in profile.Top(12)) Console.WriteLine(row);
        }

        // Phase 2: serve. Loads first (as the blockstore pool would answer), then acknowledge sends, until done or out of time.
        var total = (long)peers * wants;
        var servedBefore = served;
        var inputsBefore = inputs;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        clock.Restart();
        while ((loads.Count > 0 || sends.Count > 0) && clock.Elapsed.TotalSeconds < seconds)
        {
            now++;
            if (loads.TryDequeue(out var load))
            {
                var found = new Dictionary<Cid, Block>();
                foreach (var cid in load.Cids)
                {
                    if (store.TryGetValue(cid, out var block)) found[cid] = block;
                }

                Post(new BlocksLoaded(now, load.Envelope, load.Peer, Map<Cid, Block>.Empty.AddRange(found.Select(kv => (kv.Key, kv.Value)))));
                continue;
            }

            var send = sends.Dequeue();
            Post(new MessageSent(now, send.Peer, send.Envelope));
        }

        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var blocksServed = served - servedBefore;
        var serveInputs = inputs - inputsBefore;
        Console.WriteLine(FormattableString.Invariant(
            $"serve: {served}/{total} blocks sent, {blocksServed} in {clock.Elapsed.TotalSeconds:0.000} s = {blocksServed / clock.Elapsed.TotalSeconds:0} blocks/s, {clock.Elapsed.TotalMilliseconds * 1000 / Math.Max(1, serveInputs):0.0} µs/input, {allocated / (double)Math.Max(1, blocksServed):0} B allocated per block"));
        return 0;
    }

    /// <summary>Each peer's wantlist message: a window of the catalog.</summary>
    private static MessageReceived[] Messages(IReadOnlyList<Block> catalog, PeerId[] peerIds, int wants)
    {
        var messages = new MessageReceived[peerIds.Length];
        for (var p = 0; p < peerIds.Length; p++)
        {
            var start = p * 97 % catalog.Count;
            var window = Enumerable.Range(0, wants).Select(i => catalog[(start + i) % catalog.Count]).ToArray();
            var entries = window.Select((b, i) => WantlistEntry.WantBlock(b.Cid, wants - i, sendDontHave: true));
            var sizes = Map<Cid, int>.Empty.AddRange(window.DistinctBy(b => b.Cid).Select(b => (b.Cid, b.Size)));
            messages[p] = new MessageReceived(0, peerIds[p], Message.Empty.WithEntries(entries), sizes);
        }

        return messages;
    }
}
