using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots;

/// <summary>Golden traces of the decision engine: one line per input and per effect.</summary>
public class EngineTraceTests
{
    private static PeerId PeerNamed(byte tag)
    {
        var key = new byte[36];
        key[0] = 0x08; key[1] = 0x01; key[2] = 0x12; key[3] = 0x20;
        for (var i = 4; i < key.Length; i++) key[i] = (byte)(tag + i);
        return new PeerId(Multihash.FromDigest((ulong)MultihashCode.Identity, key));
    }

    private static Block BlockOf(int size, byte fill) => Block.Raw(Enumerable.Repeat(fill, size).ToArray());

    [Fact]
    public void Engine_serves_wants_presences_a_late_block_and_a_failed_send()
    {
        var self = PeerNamed(1);
        var alice = PeerNamed(2);
        var bob = PeerNamed(3);
        var small = BlockOf(11, 0x61);
        var large = BlockOf(2000, 0x62);
        var late = BlockOf(3000, 0x63);
        var inline = Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Identity, "inline"u8));
        var format = new TraceFormat((self, "self"), (alice, "alice"), (bob, "bob"));
        var config = new EngineConfig(Limits.Default with { TaskWorkerCount = 2 }, Seed: 7, Explain: true);
        var state = EngineState.Create(self, config);
        var held = Map<Cid, int>.Empty.Add(small.Cid, small.Size).Add(large.Cid, large.Size);
        var lines = new List<string>();

        void Post(Input input)
        {
            // A client input has no engine type: it never reaches the engine, so its step has no effects.
            if (input is not IEngineInput forEngine)
            {
                lines.AddRange(format.Step(input, Seq<Effect>.Empty));
                return;
            }
            var step = Engine.Handle(state, forEngine);
            state = step.State;
            lines.AddRange(format.Step(input, Node.Lift(step.Effects)));
        }

        Post(new PeerConnected(0, alice, ProtocolVersion.V120));
        Post(new PeerConnected(0, bob, ProtocolVersion.V120));
        // Alice: a large want-block, a want-have answered with the small block itself, an absent block with DONT_HAVE
        // asked, and an identity CID that is ignored.
        Post(new MessageReceived(5, alice, Message.Empty.WithEntries([
            WantlistEntry.WantBlock(large.Cid, 5),
            WantlistEntry.WantHave(small.Cid, 3),
            WantlistEntry.WantBlock(late.Cid, 1, sendDontHave: true),
            WantlistEntry.WantBlock(inline, 9),
        ]), held));
        // Bob: a full wantlist with a want-have for the large block (answered HAVE) and an absent block without DONT_HAVE.
        Post(new MessageReceived(6, bob, Message.Empty.WithEntries([
            WantlistEntry.WantHave(large.Cid, 1),
            WantlistEntry.WantBlock(late.Cid, 1),
        ]).WithFull(true), held));
        Post(new BlocksLoaded(8, new EnvelopeId(Side.Server, 1), alice, Map<Cid, Block>.Empty.Add(small.Cid, small).Add(large.Cid, large)));
        Post(new MessageSent(9, alice, new EnvelopeId(Side.Server, 1)));
        Post(new MessageSent(9, bob, new EnvelopeId(Side.Server, 2)));
        // The late block arrives: both still want it; Alice's want survived her DONT_HAVE.
        Post(new BlocksAdded(20, Seq.create(late)));
        Post(new BlocksLoaded(21, new EnvelopeId(Side.Server, 3), alice, Map<Cid, Block>.Empty.Add(late.Cid, late)));
        Post(new BlocksLoaded(21, new EnvelopeId(Side.Server, 4), bob, Map<Cid, Block>.Empty.Add(late.Cid, late)));
        Post(new MessageFailed(22, alice, new EnvelopeId(Side.Server, 3), "stream reset"));
        Post(new MessageSent(22, bob, new EnvelopeId(Side.Server, 4)));
        // Bob cancels what he no longer wants; a client input never reaches the engine.
        Post(new MessageReceived(23, bob, Message.Empty.WithEntry(WantlistEntry.CancelOf(large.Cid)), Map<Cid, int>.Empty));
        Post(new WantBlocks(24, 1, Seq.create(small.Cid)));
        Post(new TimerFired(10_000, EngineState.ScoreTimer));

        lines.Add($"= sent {state.BlocksSent} blocks, {state.DataSent} B; in flight {state.EnvelopesInFlight}");
        foreach (var peer in state.Peers)
        {
            var r = state.ReceiptOf(peer);
            lines.Add($"= {format.Peer(peer)}: sent={r.Sent} recv={r.Recv} exchanged={r.Exchanged} value={r.Value:0.###} score={state.ScoreOf(peer):0.###} wants=[{string.Join(", ", state.WantlistOf(peer).Select(format.Entry))}]");
        }
        Post(new PeerDisconnected(30_000, alice));
        lines.Add($"= peers after alice left: [{string.Join(", ", state.Peers.Select(format.Peer))}]");

        Snapshot.Match(string.Join("\n", lines));
    }
}
