using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Bitswap.Domain.Multiformats;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Bitswap.Cli.Daemon;

/// <summary>One RPC call: Kubo's query arguments (<c>arg</c>, options by their long names), the body, and the response.</summary>
public sealed class RpcRequest(HttpContext context, CancellationToken cancellation)
{
    /// <summary>Most parts in one multipart body.</summary>
    public const int PartsMax = 10_000;

    /// <summary>How JSON is written: compact, and readable (no \u escapes of quotes or non-ASCII) as Go's encoder writes it.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The HTTP exchange.</summary>
    public HttpContext Context { get; } = context;

    /// <summary>Fires when the client goes away or the call's <c>timeout</c> passes.</summary>
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>The positional arguments (<c>arg=</c>, repeatable).</summary>
    public IReadOnlyList<string> Args => [.. Context.Request.Query["arg"].Where(a => a is not null).Select(a => a!)];

    /// <summary>Positional argument <paramref name="index"/>; go-ipfs-cmds answers a missing one with ErrClient.</summary>
    public string Arg(int index, string name) =>
        Args.Count > index ? Args[index] : throw RpcException.Client($"argument \"{name}\" is required");

    /// <summary>An option's text, or null when absent.</summary>
    public string? Option(string name) => Context.Request.Query.TryGetValue(name, out var value) && value.Count > 0 ? value[^1] : null;

    /// <summary>A boolean option: absent is null; a bare <c>name</c> or <c>name=true</c> is true.</summary>
    public bool? Flag(string name) => Option(name) switch
    {
        null => null,
        "" or "true" or "True" or "1" => true,
        "false" or "False" or "0" => false,
        var other => throw RpcException.Client($"could not convert value \"{other}\" of option \"{name}\" to type bool"),
    };

    /// <summary>A whole-number option, or null when absent.</summary>
    public long? Number(string name) => Option(name) switch
    {
        null => null,
        var text when long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) => value,
        var other => throw RpcException.Client($"could not convert value \"{other}\" of option \"{name}\" to type int"),
    };

    /// <summary>A CID argument; a bad one is a failed command (Kubo's commands parse their paths and return ErrNormal).</summary>
    public static Cid ParseCid(string text) =>
        Cid.Parse(text.Trim()).Match(c => c, e => throw RpcException.Normal($"invalid CID \"{text}\": {e.Detail}"));

    /// <summary>A peer ID argument.</summary>
    public static PeerId ParsePeer(string text) =>
        PeerId.Parse(text.Trim()).Match(p => p, e => throw RpcException.Normal($"invalid peer ID \"{text}\": {e.Detail}"));

    /// <summary>Writes one JSON value and a newline, as go-ipfs-cmds does.</summary>
    public async Task JsonAsync(JsonNode value)
    {
        Context.Response.ContentType = "application/json";
        await Context.Response.WriteAsync(value.ToJsonString(Json) + "\n", Cancellation).ConfigureAwait(false);
    }

    /// <summary>Writes JSON lines (a streamed command's values) and flushes them.</summary>
    public async Task LinesAsync(IEnumerable<JsonNode> values)
    {
        Context.Response.ContentType = "application/json";
        Context.Response.Headers["X-Chunked-Output"] = "1";
        var text = new StringBuilder();
        foreach (var value in values)
        {
            text.Append(value.ToJsonString(Json)).Append('\n');
        }

        await Context.Response.WriteAsync(text.ToString(), Cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// The parts of a multipart/form-data body, as kubo-rpc-client sends files: each with its decoded file name and
    /// whether it is a directory entry. A malformed body is ErrClient (go-ipfs-cmds parseRequest answers 400).
    /// </summary>
    public async IAsyncEnumerable<(string Name, bool IsDirectory, Stream Body)> PartsAsync()
    {
        var boundary = Boundary();
        var reader = new MultipartReader(boundary, Context.Request.Body);
        for (var count = 0; ; count++)
        {
            MultipartSection? section;
            try
            {
                section = await reader.ReadNextSectionAsync(Cancellation).ConfigureAwait(false);
            }
            catch (Exception error) when (IsMalformed(error))
            {
                throw RpcException.Client($"malformed multipart body: {error.Message}", error);
            }

            if (section is null)
            {
                yield break;
            }

            if (count == PartsMax)
            {
                throw RpcException.Client($"more than {PartsMax} parts in one request");
            }

            var disposition = section.GetContentDispositionHeader();
            var name = disposition?.FileName.Value ?? disposition?.Name.Value ?? "";
            var isDirectory = string.Equals(section.ContentType, "application/x-directory", StringComparison.OrdinalIgnoreCase);
            yield return (Uri.UnescapeDataString(name), isDirectory, new MalformedAsClient(section.Body));
        }
    }

    private string Boundary()
    {
        if (!MediaTypeHeaderValue.TryParse(Context.Request.ContentType, out var type) ||
            !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw RpcException.Client("file argument was not multipart/form-data (kubo-rpc-client sends files as multipart)");
        }

        var boundary = HeaderUtilities.RemoveQuotes(type.Boundary).Value;
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 200)
        {
            throw RpcException.Client("malformed multipart body: missing or oversized boundary");
        }

        return boundary;
    }

    private static bool IsMalformed(Exception error) =>
        error is InvalidDataException || (error is IOException && error is not BadHttpRequestException);

    /// <summary>A part body whose read failures (truncated or malformed multipart) become ErrClient.</summary>
    private sealed class MalformedAsClient(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous reads are not allowed");
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (IsMalformed(error))
            {
                throw RpcException.Client($"malformed multipart body: {error.Message}", error);
            }
        }
    }
}
