using System.Reactive.Subjects;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime;
using Bitswap.Runtime.Blockstores;
using Bitswap.Runtime.Network;
using Bitswap.Testing;
using Xunit;

namespace Bitswap.Tests.Scenarios;

/// <summary>
/// The node's inbound path in wall-clock mode over a network that paces (<see cref="IPacedNetwork"/>): a flooding peer
/// waits on its own stream, without a blocked thread; a well-behaved peer is answered while the flood is still queued;
/// and closing the node lets every waiting stream go.
/// </summary>
public sealed class InboundPacingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>Wantlists of 2,000 absent CIDs the flooder sends: seconds of work for the loop.</summary>
    private const int FloodMessages = 400;

    [Fact]
    public async Task A_flooding_peer_waits_on_its_own_stream_while_a_quiet_peer_is_answered()
    {
        await using var network = new PacedNetwork();
        var store = new MemoryBlockstore();
        var present = Block.Raw("present"u8.ToArray());
        await store.PutAsync(present);
        var node = BitswapNode.Create(network.Self, network, store, BitswapOptions.Default with { InboundMessagesPerPeerMax = 4 });
        await using (node)
        {
            var flooder = SessionGenerator.PeerFor(71, 1);
            var quiet = SessionGenerator.PeerFor(71, 2);
            network.Up(flooder);
            network.Up(quiet);
            using var stopFlood = new CancellationTokenSource();
            var sawWait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var flooding = Task.Run(() => FloodAsync(network, flooder, sawWait, FloodMessages, stopFlood.Token));

            // The flood is under way and its stream is waiting for room: only now does the quiet peer speak.
            await sawWait.Task.WaitAsync(Patience);
            var delivered = network.DeliverAsync(new MessageArrived(quiet, ProtocolVersion.V120, Message.Empty.WithEntry(WantlistEntry.WantHave(present.Cid, 1, sendDontHave: true)), 64));
            await delivered.AsTask().WaitAsync(Patience);
            var answer = await network.FirstTo(quiet).WaitAsync(Patience);
            var floodedWhenAnswered = network.Delivered(flooder);
            await stopFlood.CancelAsync();
            await flooding.WaitAsync(Patience);

            // A block this small is sent instead of a HAVE (boxo's want-have replacement).
            Assert.True(answer.Blocks.ContainsKey(present.Cid) || answer.Presences.Find(present.Cid).Case is PresenceType.Have, $"answer: {answer}");
            // The flooder's stream is paced by the loop, so it had not even handed over its whole flood yet.
            Assert.True(floodedWhenAnswered < FloodMessages, "the quiet peer was answered only after the whole flood was processed");
        }
    }

    [Fact]
    public async Task Closing_the_node_during_a_flood_lets_the_waiting_stream_go()
    {
        await using var network = new PacedNetwork();
        var node = BitswapNode.Create(network.Self, network, new MemoryBlockstore(), BitswapOptions.Default with { InboundMessagesPerPeerMax = 4 });
        var flooder = SessionGenerator.PeerFor(72, 1);
        network.Up(flooder);
        var sawWait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var never = new CancellationTokenSource();
        var flooding = Task.Run(() => FloodAsync(network, flooder, sawWait, int.MaxValue, never.Token));
        await sawWait.Task.WaitAsync(Patience);

        await node.DisposeAsync().AsTask().WaitAsync(Patience);

        // After the close, deliveries are refused at once, so the flooder's loop ends by itself once it sees that.
        await network.Refused.WaitAsync(Patience);
        await never.CancelAsync();
        await flooding.WaitAsync(Patience);
        Assert.False(node.IsOnline);
    }

    /// <summary>Sends up to <paramref name="count"/> big wantlists of absent CIDs one after the other, as one stream would, until cancelled.</summary>
    private static async Task FloodAsync(PacedNetwork network, PeerId peer, TaskCompletionSource sawWait, int count, CancellationToken ct)
    {
        var digest = new byte[32];
        var random = new Random(5);
        for (var sent = 0; sent < count && !ct.IsCancellationRequested && !network.Refused.IsCompleted; sent++)
        {
            var entries = new List<WantlistEntry>();
            for (var i = 0; i < 2000; i++)
            {
                random.NextBytes(digest);
                entries.Add(WantlistEntry.WantHave(Cid.V1(Multicodec.Raw, Multihash.FromDigest((ulong)MultihashCode.Sha2_256, digest)), i, sendDontHave: true));
            }

            var delivery = network.DeliverAsync(new MessageArrived(peer, ProtocolVersion.V120, Message.Empty.WithEntries(entries), 1024 * 1024));
            if (!delivery.IsCompleted)
            {
                sawWait.TrySetResult();
            }

            await delivery;
        }
    }

    /// <summary>A network port that hands messages to the node's pacing consumer and records what the node sends.</summary>
    private sealed class PacedNetwork : IBitswapNetwork, IPacedNetwork
    {
        private readonly Subject<NetworkEvent> _events = new();
        private readonly object _gate = new();
        private readonly Dictionary<PeerId, int> _delivered = [];
        private readonly Dictionary<PeerId, TaskCompletionSource<Message>> _first = [];
        private readonly TaskCompletionSource _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Func<MessageArrived, ValueTask>? _consumer;

        public PeerId Self { get; } = SessionGenerator.PeerFor(70, 0);

        public IObservable<NetworkEvent> Events => _events;

        public IReadOnlyCollection<PeerId> ConnectedPeers => [];

        public NetworkStats Stats => default;

        /// <summary>Completes when a delivery found nobody pacing (the node closed).</summary>
        public Task Refused => _refused.Task;

        public IDisposable PaceMessages(Func<MessageArrived, ValueTask> consumer)
        {
            _consumer = consumer;
            return new Unpace(this);
        }

        public void Up(PeerId peer) => _events.OnNext(new PeerUp(peer, ProtocolVersion.V120));

        public ValueTask DeliverAsync(MessageArrived arrived)
        {
            if (_consumer is not { } consumer)
            {
                _refused.TrySetResult();
                return ValueTask.CompletedTask;
            }

            lock (_gate)
            {
                _delivered[arrived.Peer] = _delivered.GetValueOrDefault(arrived.Peer) + 1;
            }

            return consumer(arrived);
        }

        public int Delivered(PeerId peer)
        {
            lock (_gate)
            {
                return _delivered.GetValueOrDefault(peer);
            }
        }

        public Task<Message> FirstTo(PeerId peer)
        {
            lock (_gate)
            {
                return First(peer).Task;
            }
        }

        private TaskCompletionSource<Message> First(PeerId peer)
        {
            if (!_first.TryGetValue(peer, out var first))
            {
                first = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
                _first[peer] = first;
            }

            return first;
        }

        public ValueTask SendAsync(PeerId peer, Message message, CancellationToken cancellationToken = default)
        {
            lock (_gate)
            {
                First(peer).TrySetResult(message);
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask ConnectAsync(PeerId peer, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisconnectAsync(PeerId peer) => ValueTask.CompletedTask;

        public ProtocolVersion? VersionOf(PeerId peer) => ProtocolVersion.V120;

        public ValueTask DisposeAsync()
        {
            _events.Dispose();
            return ValueTask.CompletedTask;
        }

        private sealed class Unpace(PacedNetwork network) : IDisposable
        {
            public void Dispose() => network._consumer = null;
        }
    }
}
