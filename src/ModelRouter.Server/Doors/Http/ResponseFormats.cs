using System.Text.Json;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// Reads structured-output requests into an <see cref="OutputConstraint"/>, checking only their JSON shape (the
/// pipeline converts and checks the schema or grammar itself). Accepted, as OpenAI and llama-server define them:
/// <code>
/// "response_format": {"type": "text"}                                    free text (as if absent)
/// "response_format": {"type": "json_object"}                             any JSON object
/// "response_format": {"type": "json_object", "schema": {...}}            llama-server's variant: that schema
/// "response_format": {"type": "json_schema", "json_schema": {"name": "...", "schema": {...}, "strict": true}}
/// "grammar": "root ::= ..."                                              a GBNF grammar (llama-server's field)
/// </code>
/// A json_schema without "schema" means any object, as in llama-server; "strict" is accepted and changes nothing,
/// since the grammar always holds the output to the schema.
/// </summary>
internal static class ResponseFormats
{
    public static OutputConstraint? Read(GenerationBody body)
    {
        var format = FromResponseFormat(body.ResponseFormat);
        var grammar = body.Grammar.ValueKind switch
        {
            JsonValueKind.Undefined or JsonValueKind.Null => null,
            JsonValueKind.String => body.Grammar.GetString(),
            _ => throw new BadRequestBodyException("grammar must be a string (GBNF)", "grammar"),
        };
        if (string.IsNullOrEmpty(grammar))
        {
            return format;
        }

        return format is null
            ? new OutputConstraint(StructuredOutputKind.Grammar, grammar)
            : throw new BadRequestBodyException("use either response_format (json_object, json_schema) or grammar, not both", "grammar");
    }

    private static OutputConstraint? FromResponseFormat(JsonElement format)
    {
        if (format.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }

        if (format.ValueKind != JsonValueKind.Object || !format.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            throw new BadRequestBodyException("response_format must be an object with a string \"type\"", "response_format");
        }

        switch (typeElement.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return format.TryGetProperty("schema", out var inline) && inline.ValueKind != JsonValueKind.Null
                    ? new OutputConstraint(StructuredOutputKind.JsonSchema, Schema(inline, "response_format.schema"))
                    : new OutputConstraint(StructuredOutputKind.JsonObject);
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var wrapper) || wrapper.ValueKind != JsonValueKind.Object)
                {
                    throw new BadRequestBodyException("response_format.json_schema must be an object ({\"name\", \"schema\", \"strict\"})", "response_format.json_schema");
                }

                return wrapper.TryGetProperty("schema", out var schema) && schema.ValueKind != JsonValueKind.Null
                    ? new OutputConstraint(StructuredOutputKind.JsonSchema, Schema(schema, "response_format.json_schema.schema"))
                    : new OutputConstraint(StructuredOutputKind.JsonObject);
            default:
                throw new BadRequestBodyException($"response_format.type must be text, json_object or json_schema, not '{typeElement.GetString()}'", "response_format.type");
        }
    }

    private static string Schema(JsonElement schema, string param) =>
        schema.ValueKind is JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False
            ? schema.GetRawText()
            : throw new BadRequestBodyException($"{param} must be a JSON Schema object", param);
}
