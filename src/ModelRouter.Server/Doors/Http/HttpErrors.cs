using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// Errors in OpenAI's shape, <c>{"error":{"message","type","param","code"}}</c>, with the status each failure kind
/// maps to. Messages are the pipeline's own (they name the model or the limit); never a stack trace.
/// </summary>
internal static class HttpErrors
{
    public static int Status(RequestError failure) => failure switch
    {
        RequestError.InvalidArgument or RequestError.MaxTokensExceeded or RequestError.NoRouteMatched => StatusCodes.Status400BadRequest,
        RequestError.AdminRequired => StatusCodes.Status403Forbidden,
        RequestError.UnknownModel => StatusCodes.Status404NotFound,
        RequestError.PromptTooLong => StatusCodes.Status413PayloadTooLarge,
        RequestError.Overloaded => StatusCodes.Status429TooManyRequests,
        RequestError.ModelUnavailable or RequestError.ShuttingDown => StatusCodes.Status503ServiceUnavailable,
        RequestError.Timeout => StatusCodes.Status504GatewayTimeout,
        RequestError.Cancelled => 499, // the client closed the request (nobody reads it)
        _ => StatusCodes.Status500InternalServerError,
    };

    public static string Code(RequestError failure) => failure switch
    {
        RequestError.InvalidArgument => "invalid_argument",
        RequestError.MaxTokensExceeded => "max_tokens_exceeded",
        RequestError.NoRouteMatched => "no_route_matched",
        RequestError.AdminRequired => "admin_required",
        RequestError.UnknownModel => "model_not_found",
        RequestError.PromptTooLong => "prompt_too_long",
        RequestError.Overloaded => "overloaded",
        RequestError.ModelUnavailable => "model_unavailable",
        RequestError.ShuttingDown => "shutting_down",
        RequestError.Cancelled => "cancelled",
        RequestError.Timeout => "timeout",
        _ => "internal_error",
    };

    private static string Type(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    public static Task WriteAsync(HttpContext context, RequestException failure) =>
        WriteAsync(context, Status(failure.Error), Code(failure.Error), failure.Message, null, failure.RetryAfter);

    public static Task WriteAsync(HttpContext context, RequestError failure, string message) =>
        WriteAsync(context, Status(failure), Code(failure), message, null, failure == RequestError.Overloaded ? TimeSpan.FromSeconds(1) : null);

    public static async Task WriteAsync(HttpContext context, int status, string code, string message, string? param = null, TimeSpan? retryAfter = null)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (retryAfter is { } wait)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        await using var json = new Utf8JsonWriter(context.Response.Body, HttpBodies.WriterOptions);
        WriteBody(json, status, code, message, param);
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The error object (also sent as an SSE event when a stream fails after it started).</summary>
    public static void WriteBody(Utf8JsonWriter json, int status, string code, string message, string? param)
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", message);
        json.WriteString("type", Type(status));
        if (param is null)
        {
            json.WriteNull("param");
        }
        else
        {
            json.WriteString("param", param);
        }

        json.WriteString("code", code);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>A request body this door cannot accept: 400 with the offending parameter named.</summary>
internal sealed class BadRequestBodyException(string message, string? param = null) : Exception(message)
{
    public string? Param { get; } = param;

    public BadRequestBodyException()
        : this("bad request")
    {
    }

    public BadRequestBodyException(string message, Exception innerException)
        : this(message)
    {
        _ = innerException;
    }
}
