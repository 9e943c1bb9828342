using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace ModelRouter.Server.Doors.Http;

/// <summary>Reads a JSON body within the size limit; on a bad body writes the OpenAI-shaped error and returns null.</summary>
internal static class HttpBodies
{
    public static async Task<T?> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        if (context.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await HttpErrors.WriteAsync(context, 415, "unsupported_media_type", $"the body must be application/json, not {contentType}").ConfigureAwait(false);
            return null;
        }

        try
        {
            var body = await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted).ConfigureAwait(false);
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
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await HttpErrors.WriteAsync(context, 413, "request_too_large", $"the body is larger than {context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes").ConfigureAwait(false);
            return null;
        }
    }

    // System.Text.Json appends "Path: ... | LineNumber: ..." which we already report.
    private static string FirstSentence(string message) => message.Split(" Path:", 2)[0];
}
