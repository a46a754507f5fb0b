using LanguageExt;
using Bitswap.Domain;
using Bitswap.Testing;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>Properties of the decision engine over generated runs (messages, loads, sends, disconnects, time).</summary>
public class EngineProperties
{
    private static bool Ignored(Cid cid) => cid.IsIdentity || cid.ByteLength > Limits.Default.CidBytesMax;

    private static bool Explained(HarnessStep step, string subject, Cid cid) =>
        step.Effects.Exists(e => e is Explain x && x.Subject == subject && x.Cid == cid);

    [Property(MaxTest = 500)]
    public Property Once_a_cancel_is_processed_no_later_effect_sends_that_cid_unless_its_task_was_active() =>
        Prop.ForAll(Arbitraries.EngineScripts(), script =>
        {
            var harness = script.Play();
            // (peer, cid) → the last envelope created before the cancel: only envelopes up to it held active tasks.
            var cancelled = new Dictionary<(PeerId, Cid), long>();
            foreach (var step in harness.Trace)
            {
                if (step.Input is MessageReceived m)
                    foreach (var entry in m.Message.Wantlist.Values.Where(e => !Ignored(e.Cid)))
                        if (entry.Cancel) cancelled[(m.Peer, entry.Cid)] = step.Before.Server.LastEnvelope;
                        else cancelled.Remove((m.Peer, entry.Cid));
                // Envelope numbers are per side; the node's client (which wants nothing here) numbers its own.
                foreach (var send in step.Effects.OfType<SendMessage>().Where(s => s.Envelope.Side == Side.Server))
                    foreach (var cid in send.Message.Blocks.Keys.Concat(send.Message.Presences.Keys))
                        if (cancelled.TryGetValue((send.Peer, cid), out var last) && send.Envelope.Sequence > last)
                            return false.Label($"{send.Envelope} sends {cid} after its cancel (last active envelope s{last})");
            }
            return true.ToProperty();
        });

    [Property(MaxTest = 500)]
    public Property After_a_message_its_cancels_are_absent_and_its_wants_present_unless_refused() =>
        Prop.ForAll(Arbitraries.EngineScripts(), script =>
        {
            var harness = script.Play();
            var filter = script.Knobs.ToConfig().RequestFilter;
            foreach (var step in harness.Trace)
            {
                if (step.Input is not MessageReceived m || m.Message.IsEmpty) continue;
                var after = step.After.Server.WantlistOf(m.Peer).ToDictionary(e => e.Cid);
                foreach (var entry in m.Message.Wantlist.Values.Where(e => !Ignored(e.Cid)))
                {
                    if (entry.Cancel)
                    {
                        if (after.ContainsKey(entry.Cid)) return false.Label($"cancelled {entry.Cid} still wanted by {m.Peer.Short}");
                        continue;
                    }
                    if (filter is not null && !filter(m.Peer, entry.Cid))
                    {
                        if (after.ContainsKey(entry.Cid)) return false.Label($"denied {entry.Cid} recorded");
                        continue;
                    }
                    var refused = Explained(step, "want-refused", entry.Cid) || Explained(step, "want-evicted", entry.Cid);
                    if (!after.ContainsKey(entry.Cid) && !refused) return false.Label($"want {entry.Cid} missing and not refused");
                }
            }
            return true.ToProperty();
        });

    [Property(MaxTest = 500)]
    public Property A_later_want_have_never_downgrades_a_want_block() =>
        Prop.ForAll(Arbitraries.EngineScripts(), script =>
        {
            var harness = script.Play();
            foreach (var step in harness.Trace)
            {
                if (step.Input is not MessageReceived m || m.Message.IsEmpty) continue;
                var before = step.Before.Server.WantlistOf(m.Peer).ToDictionary(e => e.Cid);
                var after = step.After.Server.WantlistOf(m.Peer).ToDictionary(e => e.Cid);
                foreach (var entry in m.Message.Wantlist.Values.Where(e => !e.Cancel && e.WantType == WantType.Have))
                {
                    // An eviction earlier in the same message (overflow) legitimately forgets the old want-block.
                    var wasBlock = !m.Message.Full && before.TryGetValue(entry.Cid, out var old) && old.WantType == WantType.Block
                        && !Explained(step, "want-evicted", entry.Cid);
                    if (wasBlock && after.TryGetValue(entry.Cid, out var now) && now.WantType != WantType.Block)
                        return false.Label($"want-block {entry.Cid} downgraded");
                    if (wasBlock && !after.ContainsKey(entry.Cid))
                        return false.Label($"want-block {entry.Cid} lost to a want-have");
                }
            }
            return true.ToProperty();
        });

    [Property(MaxTest = 500)]
    public Property Bounds_hold_after_every_step_and_both_want_indexes_agree() =>
        Prop.ForAll(Arbitraries.EngineScripts(), script =>
        {
            var harness = script.Play();
            var limits = script.Knobs.ToConfig().Limits;
            foreach (var step in harness.Trace)
            {
                var s = step.After.Server;
                if (s.EnvelopesInFlight - s.Sending > limits.TaskWorkerCount) return false.Label($"{s.EnvelopesInFlight - s.Sending} envelopes loading");
                if (s.Sending != s.InFlight.Values.Count(e => e.Message.IsSome)) return false.Label($"{s.Sending} counted as sending");
                foreach (var (peer, wantlist) in s.Wantlists)
                {
                    if (wantlist.Count > limits.WantlistEntriesPerPeerMax) return false.Label($"{wantlist.Count} wants for {peer.Short}");
                    if (!wantlist.IndexesAgree) return false.Label("wantlist indexes disagree");
                    if (s.Queue.PendingCount(peer) > limits.PendingTasksPerPeerMax) return false.Label("pending tasks over the bound");
                }
                // The reverse index holds every want for a block we do not hold, and nothing the wantlists do not hold.
                foreach (var (peer, wantlist) in s.Wantlists)
                    foreach (var want in wantlist.Wants)
                        if (!want.Held && !s.Wanters.Find(want.Entry.Cid).Exists(peers => peers.Contains(peer)))
                            return false.Label($"the CID → peers index misses {peer.Short}'s want for a block we lack");
                foreach (var (cid, peers) in s.Wanters)
                {
                    if (peers.IsEmpty) return false.Label("the CID → peers index keeps an empty set");
                    foreach (var peer in peers)
                        if (!s.Wantlists.Find(peer).Exists(wl => wl.Contains(cid)))
                            return false.Label($"the CID → peers index holds a want {peer.Short} does not have");
                }
                foreach (var send in step.Effects.OfType<SendMessage>())
                {
                    var encoded = MessageCodec.EncodedSize(send.Message, ProtocolVersion.V120);
                    if (encoded > Engine.EncodedSizeBound(send.Message)) return false.Label($"{send.Envelope}: {encoded} B encoded exceeds the engine's bound");
                    if (encoded > limits.MessageBytesMax) return false.Label($"{send.Envelope} over MessageBytesMax");
                    if (send.Message.IsEmpty) return false.Label($"{send.Envelope} is empty");
                }
            }
            return true.ToProperty();
        });

    [Property(MaxTest = 500)]
    public Property The_same_inputs_give_identical_effects() =>
        Prop.ForAll(Arbitraries.EngineScripts(), script =>
        {
            var first = script.Play().Effects.ToList();
            var second = script.Play().Effects.ToList();
            return first.SequenceEqual(second).Label($"{first.Count} vs {second.Count} effects");
        });

    [Property(MaxTest = 500)]
    public Property Resending_the_same_full_wantlist_creates_no_new_tasks() =>
        Prop.ForAll(
            Arbitraries.EngineScripts(),
            Arbitraries.ArrayBetween(Arbitraries.EntrySpecs(ServerWorld.Blocks.Length), 1, 12).ToArbitrary(),
            (script, entries) =>
            {
                // With a pending bound that is never reached no request is dropped, so a repeat has nothing left to add.
                var harness = (script with { Knobs = script.Knobs with { PendingMax = 1024 } }).Play();
                var peer = ServerWorld.Peers[0];
                var full = Message.Empty.WithEntries(entries.Select(e => e.ToEntry())).WithFull(true);
                harness.Receive(peer, full);
                var before = harness.State.Server;
                var effects = harness.Receive(peer, full);
                return (before.Queue == harness.State.Server.Queue).Label("queue changed")
                    .And(before.WantlistOf(peer) == harness.State.Server.WantlistOf(peer)).Label("wantlist changed")
                    .And(!effects.Exists(e => e is LoadBlocks or SendMessage)).Label("new work was sent");
            });

    [Property(MaxTest = 500)]
    public Property A_wantlist_never_exceeds_1024_entries_under_floods() =>
        Prop.ForAll(
            Arbitraries.ArrayBetween(Arbitraries.ArrayBetween(Gen.Zip(Gen.Choose(0, 3000), Gen.Choose(0, 9)), 200, 900), 1, 2).ToArbitrary(),
            messages =>
            {
                var node = TestNodes.Server(new EngineConfig(Limits.Default, 1), []);
                var peer = ServerWorld.Peers[0];
                var distinct = new System.Collections.Generic.HashSet<int>();
                foreach (var wants in messages)
                {
                    var message = Message.Empty.WithEntries(wants.Select(w => WantlistEntry.WantBlock(ServerWorld.SyntheticCid(w.Item1), w.Item2)));
                    // Every third synthetic CID counts as held, so both eviction rules are exercised.
                    var sizes = wants.Where(w => w.Item1 % 3 == 0)
                        .Aggregate(Map<Cid, int>.Empty, (map, w) => map.AddOrUpdate(ServerWorld.SyntheticCid(w.Item1), 100));
                    node.Receive(peer, message, sizes);
                    distinct.UnionWith(wants.Select(w => w.Item1));
                }
                var count = node.State.Server.WantlistOf(peer).Count;
                return (count <= 1024).Label($"{count} entries")
                    .And(count == Math.Min(1024, distinct.Count)).Label($"{count} entries for {distinct.Count} distinct wants");
            });
}
