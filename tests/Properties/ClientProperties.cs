using LanguageExt;
using Bitswap.Domain;
using Bitswap.Testing;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>Invariants of the client reducers over random scripts of commands, network events, acks and time.</summary>
public class ClientProperties
{
    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Client_never_sends_cancel_for_a_want_it_never_sent(ClientScript script)
    {
        var driver = script.RunAndSettle();
        var bad = ClientWireCheck.Of(driver).Violations.Where(v => v.StartsWith("CANCEL", StringComparison.Ordinal)).ToList();
        var cancels = driver.Sends.Sum(s => s.Message.Wantlist.Values.Count(e => e.Cancel));
        return (bad.Count == 0).Label(string.Join("; ", bad)).Classify(cancels > 0, "sent some CANCEL");
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Client_sends_cancel_to_every_peer_it_sent_the_want_to(ClientScript script)
    {
        // After settling, every connected peer's view of our wants (from confirmed messages) holds only CIDs we still want:
        // each peer told about a want we dropped got its CANCEL (or answered with the block).
        var driver = script.RunAndSettle();
        var wanted = driver.State.Client.Wantlist.ToHashSet();
        var stale = ClientWireCheck.Of(driver).PeerViews
            .SelectMany(kv => kv.Value.Keys.Where(c => !wanted.Contains(c)).Select(c => $"{kv.Key.Short} still wants {c}"))
            .ToList();
        var cancels = driver.Sends.Sum(s => s.Message.Wantlist.Values.Count(e => e.Cancel));
        return (stale.Count == 0).Label(string.Join("; ", stale)).Classify(cancels > 0, "sent some CANCEL");
    }

    /// <summary>
    /// After every step (not only once settled), no connected peer's queue holds a pending or sent want that no session
    /// has any more: when a want ends, every peer holding it is found, though only the asking sessions' peers are visited
    /// (every peer only for a broadcast want).
    /// </summary>
    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property No_peer_queue_keeps_a_want_that_ended(ClientScript script) =>
        AfterEveryStep(script, client =>
                from kv in client.Peers
                from cid in kv.Value.Pending.Keys.Concat(kv.Value.Sent.Keys)
                where !client.Interest.ContainsKey(cid)
                select $"{kv.Key.Short} keeps {cid}",
            input => input is CancelWants or CloseSession, "cancels or closes");

    /// <summary>
    /// After every step, the peer-to-session index covers every peer a session holds (its peers, the peers it asked and
    /// the peers that delivered to it), and its two directions agree, so a disconnect that visits only the indexed sessions
    /// misses none that would change.
    /// </summary>
    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property The_peer_session_index_covers_every_session_peer(ClientScript script) =>
        AfterEveryStep(script, client =>
            {
                var unindexed =
                    from kv in client.Sessions
                    from peer in kv.Value.Peers.Concat(kv.Value.Asked).Concat(kv.Value.FirstDeliveries.Keys)
                    where !client.PeerSessions.Find(peer).Exists(s => s.Contains(kv.Key))
                    select $"session {kv.Key} knows {peer.Short}, unindexed";
                var pairs = client.PeerSessions.SelectMany(kv => kv.Value.Select(id => (kv.Key, id))).OrderBy(p => p);
                var mirrored = client.SessionPeers.SelectMany(kv => kv.Value.Select(peer => (peer, kv.Key))).OrderBy(p => p);
                return pairs.SequenceEqual(mirrored) ? unindexed : unindexed.Append("the two directions differ");
            },
            input => input is PeerDisconnected, "disconnects");

    /// <summary>
    /// After every step, each peer queue's count of unanswered wants (what decides whether new wants wait for the debounce)
    /// equals the sent wants still awaiting an answer, though it is kept by increments rather than counted.
    /// </summary>
    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Each_peer_queue_counts_its_unanswered_wants_exactly(ClientScript script) =>
        AfterEveryStep(script, client =>
                from kv in client.Peers
                let counted = kv.Value.Sent.Values.Count(w => w.SentAt is not null)
                where counted != kv.Value.Unanswered
                select $"{kv.Key.Short} counts {kv.Value.Unanswered} unanswered, holds {counted}",
            input => input is MessageReceived, "answers");

    /// <summary>Runs a script and checks the client's state after each step; <paramref name="problems"/> names what is wrong.</summary>
    private static Property AfterEveryStep(ClientScript script, Func<ClientState, IEnumerable<string>> problems, Func<Input, bool> interesting, string label)
    {
        var node = script.RunAndSettle();
        var bad = node.Trace.SelectMany(step => problems(step.After.Client).Select(p => $"after {step.Input.GetType().Name}: {p}")).Take(5).ToList();
        return (bad.Count == 0).Label(string.Join("; ", bad)).Classify(node.Trace.Any(t => interesting(t.Input)), label);
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property A_later_want_have_never_downgrades_a_want_block(ClientScript script)
    {
        var driver = script.RunAndSettle();
        var bad = ClientWireCheck.Of(driver).Violations.Where(v => v.StartsWith("want-have after", StringComparison.Ordinal)).ToList();
        // The client's own record agrees: nothing it believes a peer holds as want-block is ever recorded as want-have later.
        return (bad.Count == 0).Label(string.Join("; ", bad));
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property No_outgoing_message_exceeds_the_client_message_cap(ClientScript script)
    {
        var driver = script.RunAndSettle();
        var cap = script.MessageCapBytes;
        // Both our conservative estimate and the codec's real size stay under the cap (a lone entry may not be split further).
        var over = driver.Sends
            .Where(s => s.Message.Wantlist.Count > 1)
            .Where(s => PeerWants.EstimatedMessageBytes(s.Message) > cap || MessageCodec.EncodedSize(s.Message, ProtocolVersion.V120) > cap)
            .Select(s => $"{s.Envelope}: {PeerWants.EstimatedMessageBytes(s.Message)} B estimated, {MessageCodec.EncodedSize(s.Message, ProtocolVersion.V120)} B encoded")
            .ToList();
        var underestimated = driver.Sends
            .Where(s => MessageCodec.EncodedSize(s.Message, ProtocolVersion.V120) > PeerWants.EstimatedMessageBytes(s.Message))
            .Select(s => $"{s.Envelope} underestimated")
            .ToList();
        over.AddRange(underestimated);
        var split = driver.Sends.Count(s => s.Message.Wantlist.Count > 0);
        return (over.Count == 0).Label(string.Join("; ", over)).Collect(split > 0 ? "sent" : "nothing sent");
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Coalescing_keeps_at_most_one_envelope_in_flight_per_peer(ClientScript script)
    {
        var driver = script.RunAndSettle();
        var bad = ClientWireCheck.Of(driver).Violations.Where(v => v.StartsWith("second envelope", StringComparison.Ordinal)).ToList();
        return (bad.Count == 0).Label(string.Join("; ", bad));
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Same_inputs_give_identical_effects_and_state(ClientScript script)
    {
        var first = script.RunAndSettle();
        var second = script.RunAndSettle();
        var sameEffects = first.Effects.SequenceEqual(second.Effects);
        var sameInputs = first.Trace.Select(t => t.Input).SequenceEqual(second.Trace.Select(t => t.Input));
        return (sameEffects && sameInputs && first.State == second.State).Label("runs differ");
    }

    /// <summary>Regression: the case a CI run found, where a latency sample shrank the timeout and a DONT_HAVE timer was armed in the past.</summary>
    [Property(MaxTest = 1, Replay = "(11188835689840569871,13342630543072638965,72)", Arbitrary = [typeof(Arbitraries)])]
    public Property Client_never_arms_a_dont_have_timer_in_the_past_for_the_seed_ci_found(ClientScript script) =>
        Client_keeps_every_wire_invariant(script);

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property Client_keeps_every_wire_invariant(ClientScript script)
    {
        var violations = ClientWireCheck.Of(script.RunAndSettle()).Violations;
        return (violations.Count == 0).Label(string.Join("; ", violations));
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property A_have_is_sticky(PresenceRecord[] records)
    {
        var presences = BlockPresences.Empty;
        var saidHave = new System.Collections.Generic.HashSet<(int, int)>();
        foreach (var record in records)
        {
            presences = presences.Record(record.PeerId, record.Cid, record.Type);
            if (record.Have) saidHave.Add((record.Peer, record.Block));
            foreach (var (peer, block) in saidHave)
                if (!presences.PeerHas(ClientFixtures.Peer(peer), ClientFixtures.CidOf(block)))
                    return false.Label($"HAVE of peer {peer} for block {block} was lost");
        }
        // "All peers don't have" needs an explicit DONT_HAVE from each peer, and no HAVE.
        for (var block = 0; block < 6; block++)
        {
            var peers = Enumerable.Range(0, 4).Select(ClientFixtures.Peer).ToList();
            var expected = peers.All(p => records.Any(r => r.PeerId == p && r.Block == block && !r.Have)
                && !records.Any(r => r.PeerId == p && r.Block == block && r.Have));
            if (presences.AllLack(ClientFixtures.CidOf(block), peers) != expected)
                return false.Label($"AllLack wrong for block {block}");
        }
        return true.ToProperty();
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(Arbitraries)])]
    public Property A_have_stays_recorded_in_the_client_while_the_cid_is_wanted(ClientScript script)
    {
        // Replays the script step by step; whenever a peer said HAVE for a CID that stays wanted and the peer stays connected,
        // the client's presence table still says HAVE after every later step.
        var driver = TestNodes.Client(script.Config, autoAck: false);
        var haves = new System.Collections.Generic.HashSet<(Bitswap.Domain.Multiformats.PeerId, Bitswap.Domain.Multiformats.Cid)>();
        foreach (var op in script.Ops)
        {
            op.Run(driver);
            if (op is PresenceOp { Have: true } have && driver.State.Client.Interest.ContainsKey(ClientFixtures.CidOf(have.Block))
                && driver.State.Client.Peers.ContainsKey(ClientFixtures.Peer(have.Peer)))
                haves.Add((ClientFixtures.Peer(have.Peer), ClientFixtures.CidOf(have.Block)));
            haves.RemoveWhere(h => !driver.State.Client.Interest.ContainsKey(h.Item2) || !driver.State.Client.Peers.ContainsKey(h.Item1));
            foreach (var (peer, cid) in haves)
                if (!driver.State.Client.Presences.PeerHas(peer, cid))
                    return false.Label($"HAVE of {peer.Short} for {cid} lost after {op}");
        }
        return true.Label("ok").Classify(haves.Count > 0, "some HAVE held");
    }
}
