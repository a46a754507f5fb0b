using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Bitswap.Cli.Daemon;

/// <summary>
/// go-ipfs-cmds error categories (error.go, <c>ErrorType</c>): the <c>Code</c> of Kubo's error body. The HTTP status
/// follows go-ipfs-cmds http/responseemitter.go: <see cref="Client"/> is 400, every other code 500.
/// </summary>
public enum RpcErrorCode
{
    /// <summary>ErrNormal (0): the command failed for a reason that is not a bug.</summary>
    Normal = 0,
    /// <summary>ErrClient (1): the request is invalid.</summary>
    Client = 1,
    /// <summary>ErrImplementation (2): a bug.</summary>
    Implementation = 2,
    /// <summary>ErrRateLimited (3).</summary>
    RateLimited = 3,
    /// <summary>ErrForbidden (4).</summary>
    Forbidden = 4,
}

/// <summary>A failed RPC call, answered as Kubo answers it: <c>{"Message","Code","Type":"error"}</c> with a status.</summary>
public sealed class RpcException(int status, RpcErrorCode code, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>The go-ipfs-cmds error code.</summary>
    public RpcErrorCode Code { get; } = code;

    /// <summary>An invalid request: 400, ErrClient.</summary>
    public static RpcException Client(string message, Exception? inner = null) => new(StatusCodes.Status400BadRequest, RpcErrorCode.Client, message, inner);

    /// <summary>A failed command: 500, ErrNormal (what a Kubo command's plain error becomes).</summary>
    public static RpcException Normal(string message, Exception? inner = null) => new(StatusCodes.Status500InternalServerError, RpcErrorCode.Normal, message, inner);

    /// <summary>The error body.</summary>
    public static JsonObject Body(string message, RpcErrorCode code) => new()
    {
        ["Message"] = message,
        ["Code"] = (int)code,
        ["Type"] = "error",
    };

    /// <summary>Writes the error unless the response already started (then the connection is aborted instead).</summary>
    public static async Task WriteAsync(HttpContext context, int status, RpcErrorCode code, string message)
    {
        if (context.Response.HasStarted)
        {
            // Kubo reports a mid-stream failure in an X-Stream-Error trailer; we end the stream so the client sees it fail.
            context.Abort();
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(Body(message, code).ToJsonString(RpcRequest.Json) + "\n", context.RequestAborted).ConfigureAwait(false);
    }
}
