using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bitswap.Transport.Tcp.Addressing;

namespace Bitswap.Cli.Daemon;

/// <summary>
/// The CLI's side of the RPC API: finds the daemon that owns a repo (its <c>api</c> file, or <c>--api MA</c>) and
/// posts commands to it. A daemon error (Kubo's <c>{"Message","Code","Type":"error"}</c>) becomes a one-line <see cref="CliError"/>.
/// </summary>
public sealed class RpcClient : IDisposable
{
    /// <summary>How long a probe of an api file's daemon may take before the command runs offline instead.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    private readonly HttpClient _http;

    private RpcClient(Multiaddr address, IPEndPoint endpoint)
    {
        Address = address;
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), MaxConnectionsPerServer = 4 };
        _http = new HttpClient(handler) { BaseAddress = new Uri($"http://{FormatHost(endpoint)}/api/v0/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The daemon's API address.</summary>
    public Multiaddr Address { get; }

    /// <summary>
    /// The daemon to talk to: the one at <paramref name="api"/> when given, else the one named by the repo's api file if
    /// it answers; null when there is none (the command then runs offline).
    /// </summary>
    public static async Task<RpcClient?> FindAsync(string? api, string? repo, CancellationToken cancellationToken)
    {
        if (api is not null)
        {
            return For(Arguments.ParseMultiaddr(api));
        }

        if (ApiFile.Read(ApiFile.For(repo)) is not { } address)
        {
            return null;
        }

        var client = For(address);
        using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        probe.CancelAfter(ProbeTimeout);
        try
        {
            await client.JsonAsync("version", [], null, probe.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception error) when (error is HttpRequestException or CliError || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // A stale api file (the daemon died without removing it): Kubo also carries on offline.
            client.Dispose();
            return null;
        }
    }

    /// <summary>The daemon, or a one-line error saying how to start one.</summary>
    public static async Task<RpcClient> RequireAsync(string? api, string? repo, CancellationToken cancellationToken) =>
        await FindAsync(api, repo, cancellationToken).ConfigureAwait(false)
        ?? throw new CliError($"no running daemon for this repo (no live api file at {ApiFile.For(repo)}): start `bitswap daemon` or pass --api MA");

    /// <summary>A client for the API at <paramref name="address"/>.</summary>
    public static RpcClient For(Multiaddr address) =>
        address.TryGetTcpEndpoint(out var endpoint) && endpoint is not null
            ? new RpcClient(address, endpoint)
            : throw new CliError($"API address '{address}' has no /ip4|ip6/…/tcp/<port> part");

    /// <summary>Posts a command and parses its single JSON answer.</summary>
    public async Task<JsonNode> JsonAsync(string command, IEnumerable<(string Name, string Value)> query, HttpContent? body, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(command, query, body, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return JsonNode.Parse(text) ?? new JsonObject();
    }

    /// <summary>Posts a command and parses its JSON lines.</summary>
    public async Task<IReadOnlyList<JsonNode>> LinesAsync(string command, IEnumerable<(string Name, string Value)> query, HttpContent? body, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(command, query, body, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)];
    }

    /// <summary>Posts a command; the caller reads (and disposes) the successful response. Errors become <see cref="CliError"/>.</summary>
    public async Task<HttpResponseMessage> PostAsync(string command, IEnumerable<(string Name, string Value)> query, HttpContent? body, CancellationToken cancellationToken)
    {
        var uri = command + "?" + string.Join('&', query.Select(q => $"{Uri.EscapeDataString(q.Name)}={Uri.EscapeDataString(q.Value)}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = body };
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("bitswap-cli", "0.1"));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException error)
        {
            throw new CliError($"cannot reach the daemon at {Address}: {error.Message}", error);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            string message;
            try
            {
                message = JsonNode.Parse(text)?["Message"]?.GetValue<string>() ?? text;
            }
            catch (JsonException)
            {
                message = text;
            }

            throw new CliError($"daemon: {message.Trim()} ({(int)response.StatusCode})");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static string FormatHost(IPEndPoint endpoint) =>
        endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : endpoint.ToString();
}
