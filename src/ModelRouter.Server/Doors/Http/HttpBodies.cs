using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// Reads a JSON body within the size limit; on a bad body writes the OpenAI-shaped error and returns null. The body
/// is gathered from Kestrel's pipe and parsed in one synchronous pass (a request body is small and usually arrives
/// with its headers; the async serializer costs more than the JSON here).
/// </summary>
internal static class HttpBodies
{
    /// <summary>
    /// Answers carry text as UTF-8, as OpenAI's API does: the relaxed encoder escapes only what JSON requires (quotes,
    /// backslashes, control characters), not every non-ASCII letter or "+". These bodies are never embedded in HTML.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task<T?> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        if (context.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await HttpErrors.WriteAsync(context, 415, "unsupported_media_type", $"the body must be application/json, not {contentType}").ConfigureAwait(false);
            return null;
        }

        var reader = context.Request.BodyReader;
        ReadResult read;
        try
        {
            // Read until the whole body is buffered: Kestrel enforces MaxRequestBodySize while we read.
            while (true)
            {
                read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
                if (read.IsCompleted || read.IsCanceled)
                {
                    break;
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            await HttpErrors.WriteAsync(context, 413, "request_too_large", $"the body is larger than {limit} bytes").ConfigureAwait(false);
            return null;
        }

        try
        {
            var json = new Utf8JsonReader(read.Buffer);
            var body = JsonSerializer.Deserialize(ref json, type);
            if (body is null)
            {
                await HttpErrors.WriteAsync(context, 400, "invalid_json", "the body must be a JSON object").ConfigureAwait(false);
            }

            return body;
        }
        catch (JsonException ex)
        {
            var where = ex.Path is { Length: > 1 } path ? $" at {path}" : "";
            await HttpErrors.WriteAsync(context, 400, "invalid_json", $"the body is not valid JSON for this endpoint{where}: {FirstSentence(ex.Message)}").ConfigureAwait(false);
            return null;
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    // System.Text.Json appends "Path: ... | LineNumber: ..." which we already report.
    private static string FirstSentence(string message) => message.Split(" Path:", 2)[0];
}
