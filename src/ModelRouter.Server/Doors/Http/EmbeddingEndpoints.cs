using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http;

/// <summary>POST /v1/embeddings: string or array input, float or base64 vectors.</summary>
internal static class EmbeddingEndpoints
{
    public static async Task EmbedAsync(HttpContext context, RequestPipeline pipeline)
    {
        var body = await HttpBodies.ReadAsync(context, OpenAiJsonContext.Default.EmbeddingBody).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        string[] inputs;
        var base64 = false;
        try
        {
            inputs = body.Input.ValueKind switch
            {
                JsonValueKind.String => [body.Input.GetString()!],
                JsonValueKind.Array when body.Input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                    body.Input.EnumerateArray().Select(e => e.GetString()!).ToArray(),
                _ => throw new BadRequestBodyException("input must be a string or an array of strings (token arrays are not supported)", "input"),
            };
            base64 = body.EncodingFormat switch
            {
                null or "float" => false,
                "base64" => true,
                _ => throw new BadRequestBodyException("encoding_format must be float or base64", "encoding_format"),
            };
        }
        catch (BadRequestBodyException ex)
        {
            await HttpErrors.WriteAsync(context, 400, "invalid_argument", ex.Message, ex.Param).ConfigureAwait(false);
            return;
        }

        Scheduling.EmbeddingVectors vectors;
        try
        {
            vectors = await pipeline.EmbedAsync(new EmbeddingCommand
            {
                Model = RequestPipeline.IsRouted(body.Model) ? null : body.Model,
                Inputs = inputs,
                Normalize = body.Normalize ?? true,
            }, context.RequestAborted).ConfigureAwait(false);
        }
        catch (RequestException ex)
        {
            await HttpErrors.WriteAsync(context, ex).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // the client left
        }

        context.Response.ContentType = "application/json";
        context.Response.Headers["x-modelrouter-model"] = vectors.Model;
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            for (var i = 0; i < vectors.Count; i++)
            {
                json.WriteStartObject();
                json.WriteString("object", "embedding");
                json.WriteNumber("index", i);
                var vector = vectors.Vector(i);
                if (base64)
                {
                    // OpenAI's base64 format: the little-endian float32 bytes.
                    json.WriteBase64String("embedding", MemoryMarshal.AsBytes(vector));
                }
                else
                {
                    json.WriteStartArray("embedding");
                    foreach (var value in vector)
                    {
                        json.WriteNumberValue(value);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteString("model", vectors.Model);
            json.WriteStartObject("usage");
            json.WriteNumber("prompt_tokens", vectors.TotalPromptTokens);
            json.WriteNumber("total_tokens", vectors.TotalPromptTokens);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
