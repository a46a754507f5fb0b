using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Routing.HttpNet;
using Bitswap.Runtime.Network;
using Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>How a gateway peer turns a want-have followed by a want-block into requests (against a stub gateway, no sockets).</summary>
public class HttpGatewayNetworkTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Answers the probe, HEAD and GET for one block; a HEAD waits until <see cref="ReleaseHeads"/> when asked to.</summary>
    private sealed class StubGateway(Block block, bool holdHeads) : HttpMessageHandler
    {
        private readonly TaskCompletionSource _heads = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ReleaseHeads() => _heads.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (path.EndsWith("/bafkqaaa", StringComparison.Ordinal)) return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            if (!path.EndsWith("/" + block.Cid, StringComparison.Ordinal)) return new HttpResponseMessage(HttpStatusCode.NotFound);
            if (request.Method == HttpMethod.Head)
            {
                if (holdHeads) await _heads.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            }

            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(block.Data.ToArray()) };
        }
    }

    private static PeerId Self => new(Multihash.Compute(MultihashCode.Sha2_256, "self"u8.ToArray()).Match(h => h, e => throw new InvalidOperationException(e.ToString())));

    /// <summary>A network with the stub as its one connected gateway, and the first message that brings a block.</summary>
    private static async Task<(HttpGatewayNetwork Http, PeerId Gateway, Task<MessageArrived> Delivered)> ConnectAsync(StubGateway stub)
    {
        var http = new HttpGatewayNetwork(Self, handler: stub);
        var gateway = http.AddGateway(new Uri("http://127.0.0.1:1/"));
        await http.ConnectAsync(gateway);
        return (http, gateway, http.Events.OfType<MessageArrived>().Where(m => !m.Message.Blocks.IsEmpty).FirstAsync().ToTask());
    }

    [Fact]
    public async Task A_want_block_sent_the_instant_a_HAVE_arrives_is_fetched()
    {
        var block = Block.Raw("a block behind a HAVE"u8.ToArray());
        using var handler = new StubGateway(block, holdHeads: false);
        var (http, gateway, delivered) = await ConnectAsync(handler);
        await using var _ = http;
        // The client asks for the block as soon as it hears HAVE, within the same call that delivers the HAVE, as a
        // client does when the peer has nothing else of ours to answer.
        using var upgrade = http.Events.OfType<MessageArrived>()
            .Where(m => m.Message.Presences.Find(block.Cid).Exists(t => t == PresenceType.Have))
            .Subscribe(_ => http.SendAsync(gateway, Message.Empty.WithEntry(WantlistEntry.WantBlock(block.Cid, 1, sendDontHave: true))).AsTask().Wait());

        await http.SendAsync(gateway, Message.Empty.WithEntry(WantlistEntry.WantHave(block.Cid, 1, sendDontHave: true)));

        var arrived = await delivered.WaitAsync(Patience);
        Assert.True(arrived.Message.Blocks.ContainsKey(block.Cid));
    }

    [Fact]
    public async Task A_want_block_replaces_a_HEAD_still_running_for_the_same_block()
    {
        var block = Block.Raw("a block whose HEAD is slow"u8.ToArray());
        using var handler = new StubGateway(block, holdHeads: true);
        var (http, gateway, delivered) = await ConnectAsync(handler);
        await using var _ = http;

        await http.SendAsync(gateway, Message.Empty.WithEntry(WantlistEntry.WantHave(block.Cid, 1, sendDontHave: true)));
        await http.SendAsync(gateway, Message.Empty.WithEntry(WantlistEntry.WantBlock(block.Cid, 1, sendDontHave: true)));

        // The HEAD never returns; the block arrives anyway.
        var arrived = await delivered.WaitAsync(Patience);
        Assert.True(arrived.Message.Blocks.ContainsKey(block.Cid));
        handler.ReleaseHeads();
    }
}
