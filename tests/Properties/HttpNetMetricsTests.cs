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

/// <summary>HTTP retrieval counts its requests under boxo's httpnet metric names (against a stub gateway, no sockets).</summary>
public class HttpNetMetricsTests
{
    /// <summary>Answers the probe, has one block for GET, and says 404 to a HEAD.</summary>
    private sealed class StubGateway(Block block) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            var response = path.EndsWith("/bafkqaaa", StringComparison.Ordinal)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) }
                : request.Method == HttpMethod.Get && path.EndsWith("/" + block.Cid, StringComparison.Ordinal)
                    ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(block.Data.ToArray()) }
                    : new HttpResponseMessage(HttpStatusCode.NotFound);
            return Task.FromResult(response);
        }
    }

    [Fact]
    public async Task Requests_statuses_bytes_and_wantlists_are_counted()
    {
        var block = Block.Raw("a block from the gateway"u8.ToArray());
        var other = Block.Raw("a block the gateway lacks"u8.ToArray());
        using var handler = new StubGateway(block);
        var self = new PeerId(Multihash.Compute(MultihashCode.Sha2_256, "self"u8.ToArray()).Match(h => h, e => throw new InvalidOperationException(e.ToString())));
        await using var http = new HttpGatewayNetwork(self, handler: handler);
        var timed = 0;
        http.Metrics.RequestTimed += _ => Interlocked.Increment(ref timed);
        var gateway = http.AddGateway(new Uri("http://127.0.0.1:1/"));
        await http.ConnectAsync(gateway);

        var answers = http.Events.OfType<MessageArrived>().Take(2).ToList().ToTask();
        await http.SendAsync(gateway, Message.Empty.WithEntries([
            WantlistEntry.WantBlock(block.Cid, 2, sendDontHave: true),
            WantlistEntry.WantHave(other.Cid, 1, sendDontHave: true)]));
        await answers.WaitAsync(TimeSpan.FromSeconds(10));

        var m = http.Metrics;
        Assert.Equal((2L, 0L, 0L, 0L), (m.RequestsTotal, m.RequestsFailure, m.RequestsBodyFailure, m.RequestsInFlight));
        Assert.Equal((1L, 2L), (m.WantlistsTotal, m.WantlistsItemsTotal));
        Assert.Equal(block.Size, m.ResponseBytes);
        Assert.True(m.RequestSentBytes > 0);
        Assert.Equal([("GET", "200", 1L), ("HEAD", "404", 1L)], m.StatusCounts());
        Assert.Equal(2, timed);
    }
}
