using System.Security.Cryptography;
using System.Text;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using LanguageExt;
using Snapshooter.Xunit;
using Xunit;

namespace Bitswap.Tests.Snapshots;

/// <summary>Golden traces of the client reducer: a scripted session, one line per input and per effect.</summary>
public class ClientTraceSnapshotTests
{
    private static readonly PeerId A = MakePeer("a");
    private static readonly PeerId B = MakePeer("b");
    private static readonly PeerId C = MakePeer("c");
    private static readonly Block[] Blocks = Enumerable.Range(0, 4).Select(i => Block.Raw(Encoding.UTF8.GetBytes($"trace-block-{i}"))).ToArray();

    private static PeerId MakePeer(string name) =>
        new(Multihash.FromDigest((ulong)MultihashCode.Sha2_256, SHA256.HashData(Encoding.UTF8.GetBytes(name))));

    /// <summary>Runs inputs through the client in virtual time: sends are confirmed at once and armed timers fire in deadline order.</summary>
    private sealed class Run(ClientConfig config, ClientTraceFormat format)
    {
        private readonly List<(long Deadline, int Sequence, TimerId Timer)> _timers = [];
        private int _sequence;
        private ClientState _state = ClientState.Create(MakePeer("self"), config);

        public long Now { get; private set; }

        public void Apply(Func<long, Input> make)
        {
            var input = make(Now);
            var step = Client.Handle(_state, (IClientInput)input);
            var effects = Node.Lift(step.Effects);
            _state = step.State;
            format.Add(input, effects);
            foreach (var effect in effects)
            {
                if (effect is ArmTimer arm) _timers.Add((arm.Deadline, _sequence++, arm.Timer));
                if (effect is SendMessage send) Apply(now => new MessageSent(now, send.Peer, send.Envelope));
            }
        }

        public void Advance(long ms)
        {
            var target = Now + ms;
            while (_timers.Where(t => t.Deadline <= target).OrderBy(t => t.Deadline).ThenBy(t => t.Sequence).FirstOrDefault() is { Timer: not null } due)
            {
                _timers.Remove(due);
                Now = Math.Max(Now, due.Deadline);
                Apply(now => new TimerFired(now, due.Timer));
            }
            Now = target;
        }
    }

    private static Seq<Cid> Cids(params int[] i) => i.Select(n => Blocks[n].Cid).ToSeq();

    private static Message Presences(params (int Block, PresenceType Type)[] presences) =>
        presences.Aggregate(Message.Empty, (m, p) => m.WithPresence(Blocks[p.Block].Cid, p.Type));

    [Fact]
    public void Client_session_trace()
    {
        var format = new ClientTraceFormat(
            new Dictionary<PeerId, string> { [A] = "A", [B] = "B", [C] = "C(1.1)" },
            Enumerable.Range(0, Blocks.Length).ToDictionary(i => Blocks[i].Cid, i => $"b{i}"));
        var run = new Run(new ClientConfig(Limits.Default, 42, Explain: true), format);
        var noSizes = Map<Cid, int>.Empty;

        run.Apply(now => new PeerConnected(now, A, ProtocolVersion.V120));
        run.Apply(now => new PeerConnected(now, B, ProtocolVersion.V120));
        run.Apply(now => new PeerConnected(now, C, ProtocolVersion.V110));
        run.Apply(now => new WantBlocks(now, 1, Cids(0, 1, 2)));
        run.Advance(30);
        run.Apply(now => new MessageReceived(now, A, Presences((0, PresenceType.Have), (1, PresenceType.DontHave)), noSizes));
        run.Advance(10);
        run.Apply(now => new MessageReceived(now, B, Message.Empty.WithBlock(Blocks[1]), noSizes));
        run.Advance(100);
        run.Apply(now => new WantBlocks(now, 2, Cids(0, 3)));
        run.Apply(now => new CancelWants(now, 1, Cids(2)));
        run.Advance(100);
        run.Apply(now => new MessageReceived(now, A, Message.Empty.WithBlock(Blocks[0]), noSizes));
        run.Apply(now => new MessageReceived(now, C, Message.Empty.WithBlock(Blocks[0]), Map<Cid, int>.Empty.Add(Blocks[0].Cid, Blocks[0].Size)));
        run.Advance(1_000);
        run.Apply(now => new ProvidersFound(now, 2, Blocks[3].Cid, new[] { B }.ToSeq()));
        run.Advance(100);
        run.Apply(now => new PeerDisconnected(now, B));
        run.Advance(100);
        run.Apply(now => new BlocksAdded(now, new[] { Blocks[3] }.ToSeq()));
        run.Apply(now => new CloseSession(now, 1));
        run.Apply(now => new CloseSession(now, 2));
        run.Advance(100);

        Snapshot.Match(format.ToString());
    }
}
