using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Shell;
using Bitswap.Testing;
using Xunit;

namespace Bitswap.Tests.Scenarios;

/// <summary>The inbox's rules on their own: budgets per peer and in all, who is admitted first, and whose turn it is.</summary>
public sealed class FairInboxTests
{
    private static readonly PeerId Flooder = SessionGenerator.PeerFor(80, 1);
    private static readonly PeerId Quiet = SessionGenerator.PeerFor(80, 2);
    private static readonly PeerId Third = SessionGenerator.PeerFor(80, 3);

    private readonly List<Letter> _pushed = [];

    private FairInbox Inbox(long bytesMax = 1000, long peerBytesMax = 400, int peerLettersMax = 100) =>
        new(letter => _pushed.Add(letter), bytesMax, peerBytesMax, peerLettersMax);

    private static Letter From(PeerId peer, IDisposable? lease = null) =>
        new(new MessageReceived(0, peer, Message.Empty, LanguageExt.Map<Cid, int>.Empty), false, null, lease);

    private static PeerId SenderOf(Letter letter) => ((MessageReceived)letter.Input!).Peer;

    [Fact]
    public async Task A_peer_past_its_own_budget_waits_while_another_peer_is_admitted_at_once()
    {
        var inbox = Inbox();
        using var first = await inbox.AdmitAsync(Flooder, 300);
        var second = inbox.AdmitAsync(Flooder, 300);
        var quiet = inbox.AdmitAsync(Quiet, 300);

        Assert.False(second.IsCompleted);
        Assert.True(quiet.IsCompletedSuccessfully);

        first!.Dispose();
        Assert.NotNull(await second.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task When_room_comes_back_the_waiting_peer_that_holds_least_goes_first()
    {
        var inbox = Inbox(bytesMax: 600, peerBytesMax: 600);
        var flooderHolds = await inbox.AdmitAsync(Flooder, 300);
        var alsoFlooder = await inbox.AdmitAsync(Flooder, 300);
        // The node's budget is spent: the flooder's next message waits, then the quiet peer's.
        var flooderWaits = inbox.AdmitAsync(Flooder, 300);
        var quietWaits = inbox.AdmitAsync(Quiet, 300);

        flooderHolds!.Dispose();

        Assert.NotNull(await quietWaits.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(flooderWaits.IsCompleted);
        alsoFlooder!.Dispose();
        Assert.NotNull(await flooderWaits.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Queued_messages_go_to_the_loop_one_peer_at_a_time_in_turn()
    {
        var inbox = Inbox();
        for (var i = 0; i < 10; i++)
        {
            inbox.Enqueue(Flooder, From(Flooder));
        }

        inbox.Enqueue(Quiet, From(Quiet));
        inbox.Enqueue(Third, From(Third));
        Assert.True(_pushed.Count == FairInbox.LettersInLoopMax, $"{_pushed.Count} letters handed to the loop");

        // As the loop finishes letters, the quiet peers come before the rest of the flood.
        inbox.Processed();
        inbox.Processed();
        inbox.Processed();

        var order = _pushed.Select(SenderOf).ToList();
        Assert.True(order.IndexOf(Quiet) < 6, string.Join(",", order.Select(p => p.Short)));
        Assert.True(order.IndexOf(Third) < 7, string.Join(",", order.Select(p => p.Short)));
        Assert.All(_pushed, letter => Assert.True(letter.Paced));
    }

    [Fact]
    public void A_peers_departure_waits_behind_its_queued_messages()
    {
        var inbox = Inbox();
        for (var i = 0; i < FairInbox.LettersInLoopMax + 2; i++)
        {
            inbox.Enqueue(Flooder, From(Flooder));
        }

        var queuedBehind = inbox.EnqueueEvent(Flooder, new Letter(new PeerDisconnected(0, Flooder), false));
        var direct = inbox.EnqueueEvent(Quiet, new Letter(new PeerDisconnected(0, Quiet), false));
        for (var i = 0; i < 10; i++)
        {
            inbox.Processed();
        }

        Assert.True(queuedBehind);
        Assert.False(direct);
        Assert.IsType<PeerDisconnected>(_pushed[^1].Input);
        Assert.Equal(FairInbox.LettersInLoopMax + 3, _pushed.Count);
    }

    [Fact]
    public async Task Closing_lets_waiting_streams_go_and_returns_queued_leases()
    {
        var inbox = Inbox(peerLettersMax: 1);
        using var held = await inbox.AdmitAsync(Flooder, 10);
        var waiting = inbox.AdmitAsync(Flooder, 10);
        for (var i = 0; i < FairInbox.LettersInLoopMax; i++)
        {
            inbox.Enqueue(Quiet, From(Quiet));
        }

        var lease = new Lease();
        inbox.Enqueue(Quiet, From(Quiet, lease));

        inbox.Close();

        Assert.Null(await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(lease.Disposed);
        Assert.Null(await inbox.AdmitAsync(Third, 10));
    }

    private sealed class Lease : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
