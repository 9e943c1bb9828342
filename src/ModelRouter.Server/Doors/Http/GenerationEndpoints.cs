using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// POST /v1/chat/completions and /v1/completions: the JSON body becomes a <see cref="GenerationCommand"/>, the
/// pipeline's results become one JSON answer or a stream of server-sent events. Nothing is decided here.
/// </summary>
internal static class GenerationEndpoints
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] DoneEvent = "data: [DONE]\n\n"u8.ToArray();

    public static Task ChatAsync(HttpContext context, RequestPipeline pipeline) =>
        ServeBodyAsync(context, pipeline, OpenAiJsonContext.Default.ChatCompletionBody, ToCommand, chat: true);

    public static Task CompletionAsync(HttpContext context, RequestPipeline pipeline) =>
        ServeBodyAsync(context, pipeline, OpenAiJsonContext.Default.CompletionBody, ToCommand, chat: false);

    private static async Task ServeBodyAsync<TBody>(HttpContext context, RequestPipeline pipeline, JsonTypeInfo<TBody> type,
        Func<TBody, GenerationCommand> toCommand, bool chat)
        where TBody : GenerationBody
    {
        var body = await HttpBodies.ReadAsync(context, type).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        GenerationCommand command;
        try
        {
            command = toCommand(body);
        }
        catch (BadRequestBodyException ex)
        {
            await HttpErrors.WriteAsync(context, 400, "invalid_argument", ex.Message, ex.Param).ConfigureAwait(false);
            return;
        }

        await ServeAsync(context, pipeline, command, chat, body.Stream, body.StreamOptions?.IncludeUsage == true).ConfigureAwait(false);
    }

    private static GenerationCommand ToCommand(ChatCompletionBody body)
    {
        RefuseN(body.N);
        var tools = ToolRequests.Read(body);
        if (body.Messages is not { Count: > 0 } messages)
        {
            throw new BadRequestBodyException("messages must be a non-empty array", "messages");
        }

        var turns = new ChatTurn[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var role = messages[i].Role;
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                throw new BadRequestBodyException($"messages[{i}].role must be system, developer, user, assistant or tool", $"messages[{i}].role");
            }

            // "developer" is the newer name OpenAI gives the system role; chat templates know "system".
            turns[i] = ToolRequests.Turn(messages[i], role == "developer" ? "system" : role, Content(messages[i].Content, i), i);
        }

        return new GenerationCommand
        {
            Model = body.Model,
            Messages = turns,
            MaxTokens = body.MaxCompletionTokens ?? body.MaxTokens ?? 0,
            Temperature = body.Temperature ?? 1f,
            TopP = body.TopP ?? 1f,
            TopK = body.TopK ?? 0,
            Seed = Seed(body.Seed),
            Stop = Stops(body.Stop),
            Hints = Hints(body.ModelRouter),
            User = body.User,
            Output = ResponseFormats.Read(body),
            Tools = tools,
        };
    }

    private static GenerationCommand ToCommand(CompletionBody body)
    {
        RefuseN(body.N);
        var prompt = body.Prompt.ValueKind switch
        {
            JsonValueKind.String => body.Prompt.GetString()!,
            JsonValueKind.Array when body.Prompt.GetArrayLength() == 1 && body.Prompt[0].ValueKind == JsonValueKind.String => body.Prompt[0].GetString()!,
            JsonValueKind.Array => throw new BadRequestBodyException("prompt must be one string (batches of prompts and token arrays are not supported)", "prompt"),
            _ => throw new BadRequestBodyException("prompt must be a string", "prompt"),
        };
        return new GenerationCommand
        {
            Model = body.Model,
            Prompt = prompt,
            MaxTokens = body.MaxTokens ?? 16, // the completions API's documented default
            Temperature = body.Temperature ?? 1f,
            TopP = body.TopP ?? 1f,
            TopK = body.TopK ?? 0,
            Seed = Seed(body.Seed),
            Stop = Stops(body.Stop),
            Hints = Hints(body.ModelRouter),
            User = body.User,
            Output = ResponseFormats.Read(body),
        };
    }

    private static void RefuseN(int? n)
    {
        if (n is { } count && count != 1)
        {
            throw new BadRequestBodyException($"n = {count} is not supported: this server returns one choice per request", "n");
        }
    }

    private static ulong Seed(long? seed) => seed is { } s ? unchecked((ulong)s) : 0;

    private static string Content(JsonElement content, int index)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return content.GetString()!;
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return "";
            case JsonValueKind.Array:
                var text = new System.Text.StringBuilder();
                foreach (var part in content.EnumerateArray())
                {
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.GetString() != "text"
                        || !part.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
                    {
                        throw new BadRequestBodyException($"messages[{index}].content: only text parts are supported", $"messages[{index}].content");
                    }

                    text.Append(value.GetString());
                }

                return text.ToString();
            default:
                throw new BadRequestBodyException($"messages[{index}].content must be a string or an array of text parts", $"messages[{index}].content");
        }
    }

    private static string[] Stops(JsonElement stop) => stop.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => [],
        JsonValueKind.String => [stop.GetString()!],
        JsonValueKind.Array when stop.GetArrayLength() <= 4 && stop.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String && s.GetString()!.Length > 0) =>
            stop.EnumerateArray().Select(s => s.GetString()!).ToArray(),
        _ => throw new BadRequestBodyException("stop must be a string or an array of up to 4 non-empty strings", "stop"),
    };

    private static RouteHints Hints(RouterHintsBody? hints)
    {
        if (hints is null)
        {
            return RouteHints.None;
        }

        try
        {
            return new RouteHints
            {
                LatencyClass = ServerCatalog.ParseLatency(hints.LatencyClass),
                CostBudgetPer1kTokens = hints.MaxCost is > 0 ? hints.MaxCost : null,
                RequiredCapability = string.IsNullOrEmpty(hints.Capability) ? null : hints.Capability,
            };
        }
        catch (ArgumentException ex)
        {
            throw new BadRequestBodyException(ex.Message, "modelrouter.latency_class");
        }
    }

    private static async Task ServeAsync(HttpContext context, RequestPipeline pipeline, GenerationCommand command, bool chat, bool stream, bool includeUsage)
    {
        using var results = new GenerationResults(checked((int)Math.Min(int.MaxValue, pipeline.Options.Limits.OutputPauseThresholdBytes * 16)));
        using var aborted = context.RequestAborted.Register(static r => ((GenerationResults)r!).Cancel(), results);
        pipeline.StartGeneration(command, results, results.Cancellation);
        var answer = new AnswerWriter(context, chat, PipelineModelName(command));
        if (stream)
        {
            await answer.StreamAsync(results, includeUsage).ConfigureAwait(false);
        }
        else
        {
            await answer.WholeAsync(results).ConfigureAwait(false);
        }
    }

    private static string PipelineModelName(GenerationCommand command) => RequestPipeline.IsRouted(command.Model) ? "auto" : command.Model!;

    /// <summary>Writes one answer: JSON once, or SSE chunks as text arrives.</summary>
    private sealed class AnswerWriter(HttpContext context, bool chat, string model)
    {
        private readonly string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        private readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        private string model = model;
        private RouteOutcome? route;
        private Utf8JsonWriter? events;

        public async Task WholeAsync(GenerationResults results)
        {
            var text = new ArrayBufferWriter<byte>(256);
            List<ToolCallBuilder>? calls = null;
            await foreach (var item in results.ConfigureAwait(false))
            {
                switch (item.Kind)
                {
                    case GenerationEventKind.Routed:
                        Routed(item.Route!);
                        break;
                    case GenerationEventKind.Text:
                        text.Write(item.Text.Span);
                        break;
                    case GenerationEventKind.ToolCalls:
                        ToolCallBuilder.Add(calls ??= [], item.ToolCalls!);
                        break;
                    case GenerationEventKind.Failed:
                        await HttpErrors.WriteAsync(context, item.Error, item.Message!).ConfigureAwait(false);
                        return;
                    case GenerationEventKind.Completed:
                        var done = item.Done!;
                        model = done.Model;
                        Headers(done);
                        // The whole answer is built first so it goes out with a Content-Length in one write (no
                        // chunked encoding, no terminating chunk for the client to wait for).
                        var answer = new ArrayBufferWriter<byte>(text.WrittenCount + 512);
                        await using (var json = new Utf8JsonWriter(answer, HttpBodies.WriterOptions))
                        {
                            json.WriteStartObject();
                            Envelope(json, chat ? "chat.completion" : "text_completion");
                            json.WriteStartArray("choices");
                            json.WriteStartObject();
                            json.WriteNumber("index", 0);
                            if (chat)
                            {
                                json.WriteStartObject("message");
                                json.WriteString("role", "assistant");
                                if (calls is { Count: > 0 } && text.WrittenCount == 0)
                                {
                                    json.WriteNull("content"); // as OpenAI answers a call without text
                                }
                                else
                                {
                                    Text(json, "content", text.WrittenSpan);
                                }

                                if (calls is { Count: > 0 })
                                {
                                    ToolCallBuilder.Write(json, calls);
                                }

                                json.WriteEndObject();
                            }
                            else
                            {
                                Text(json, "text", text.WrittenSpan);
                            }

                            json.WriteNull("logprobs");
                            json.WriteString("finish_reason", Finish(done));
                            json.WriteEndObject();
                            json.WriteEndArray();
                            Usage(json, done);
                            Extension(json, done);
                            json.WriteEndObject();
                        }

                        context.Response.ContentType = "application/json";
                        context.Response.ContentLength = answer.WrittenCount;
                        await context.Response.Body.WriteAsync(answer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
                        return;
                }
            }
        }

        public async Task StreamAsync(GenerationResults results, bool includeUsage)
        {
            var started = false;
            await foreach (var item in results.ConfigureAwait(false))
            {
                if (item.Kind == GenerationEventKind.Routed)
                {
                    Routed(item.Route!);
                    continue;
                }

                if (item.Kind == GenerationEventKind.Failed && !started)
                {
                    await HttpErrors.WriteAsync(context, item.Error, item.Message!).ConfigureAwait(false);
                    return;
                }

                if (!started)
                {
                    // Headers go with the first event: by then the route (and model) is known.
                    started = true;
                    context.Response.ContentType = "text/event-stream";
                    context.Response.Headers.CacheControl = "no-cache";
                    context.Response.Headers["X-Accel-Buffering"] = "no";
                    Headers(null);
                    if (chat)
                    {
                        var first = BeginChunk();
                        first.WriteStartObject("delta");
                        first.WriteString("role", "assistant");
                        first.WriteString("content", "");
                        first.WriteEndObject();
                        EndChunk(first, null, null);
                    }
                }

                switch (item.Kind)
                {
                    case GenerationEventKind.Text:
                        var chunk = BeginChunk();
                        Delta(chunk, item.Text.Span);
                        EndChunk(chunk, null, null);
                        break;
                    case GenerationEventKind.ToolCalls:
                        foreach (var piece in item.ToolCalls!)
                        {
                            var call = BeginChunk();
                            call.WriteStartObject("delta");
                            ToolCallBuilder.WriteDelta(call, piece);
                            call.WriteEndObject();
                            EndChunk(call, null, null);
                        }

                        break;
                    case GenerationEventKind.Failed:
                        var error = BeginEvent();
                        HttpErrors.WriteBody(error, HttpErrors.Status(item.Error), HttpErrors.Code(item.Error), item.Message!, null);
                        EndEvent(error);
                        context.Response.BodyWriter.Write(DoneEvent);
                        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                        return;
                    case GenerationEventKind.Completed:
                        var done = item.Done!;
                        model = done.Model;
                        var last = BeginChunk();
                        if (chat)
                        {
                            last.WriteStartObject("delta");
                            last.WriteEndObject();
                        }
                        else
                        {
                            last.WriteString("text", "");
                        }

                        EndChunk(last, Finish(done), done);
                        if (includeUsage)
                        {
                            var usage = BeginEvent();
                            usage.WriteStartObject();
                            Envelope(usage, chat ? "chat.completion.chunk" : "text_completion");
                            usage.WriteStartArray("choices");
                            usage.WriteEndArray();
                            Usage(usage, done);
                            usage.WriteEndObject();
                            EndEvent(usage);
                        }

                        context.Response.BodyWriter.Write(DoneEvent);
                        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                        return;
                }

                var flushed = await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                if (flushed.IsCanceled || flushed.IsCompleted)
                {
                    results.Cancel();
                }
            }
        }

        private void Delta(Utf8JsonWriter json, ReadOnlySpan<byte> text)
        {
            if (chat)
            {
                json.WriteStartObject("delta");
                Text(json, "content", text);
                json.WriteEndObject();
            }
            else
            {
                Text(json, "text", text);
            }
        }

        /// <summary>
        /// Model text as a JSON string. A model can emit byte tokens that do not form valid UTF-8 (JSON cannot carry
        /// them): those sequences become U+FFFD, as on the socket door (rare path: it allocates).
        /// </summary>
        private static void Text(Utf8JsonWriter json, string name, ReadOnlySpan<byte> utf8)
        {
            if (System.Text.Unicode.Utf8.IsValid(utf8))
            {
                json.WriteString(name, utf8);
            }
            else
            {
                json.WriteString(name, System.Text.Encoding.UTF8.GetString(utf8));
            }
        }

        /// <summary>Starts an SSE chunk with one choice (index 0): the caller writes its delta or text.</summary>
        private Utf8JsonWriter BeginChunk()
        {
            var json = BeginEvent();
            json.WriteStartObject();
            Envelope(json, chat ? "chat.completion.chunk" : "text_completion");
            json.WriteStartArray("choices");
            json.WriteStartObject();
            json.WriteNumber("index", 0);
            return json;
        }

        /// <summary>Ends the chunk's choice with its finish reason, and adds our stats to the last chunk.</summary>
        private void EndChunk(Utf8JsonWriter json, string? finish, GenerationDone? done)
        {
            json.WriteNull("logprobs");
            if (finish is null)
            {
                json.WriteNull("finish_reason");
            }
            else
            {
                json.WriteString("finish_reason", finish);
            }

            json.WriteEndObject();
            json.WriteEndArray();
            if (done is not null)
            {
                Extension(json, done);
            }

            json.WriteEndObject();
            EndEvent(json);
        }

        /// <summary>"data: " then a JSON writer on the response pipe: one writer per answer, reset for each event.</summary>
        private Utf8JsonWriter BeginEvent()
        {
            var output = context.Response.BodyWriter;
            output.Write(DataPrefix);
            var json = events ??= new Utf8JsonWriter(output, HttpBodies.WriterOptions);
            json.Reset(output);
            return json;
        }

        private void EndEvent(Utf8JsonWriter json)
        {
            json.Flush();
            context.Response.BodyWriter.Write(EventEnd);
        }

        private void Envelope(Utf8JsonWriter json, string kind)
        {
            json.WriteString("id", id);
            json.WriteString("object", kind);
            json.WriteNumber("created", created);
            json.WriteString("model", model);
            json.WriteNull("system_fingerprint");
        }

        private void Routed(RouteOutcome outcome)
        {
            route = outcome;
            model = outcome.Model;
        }

        private void Headers(GenerationDone? done)
        {
            var headers = context.Response.Headers;
            headers["x-modelrouter-model"] = done?.Model ?? model;
            if (route is not null)
            {
                headers["x-modelrouter-task"] = route.Task;
                headers["x-modelrouter-route-stage"] = route.Stage;
                headers["x-modelrouter-route-confidence"] = route.Confidence.ToString("F3", CultureInfo.InvariantCulture);
                headers["x-modelrouter-route-us"] = Micros(route.RouteTime);
            }

            if (done is not null)
            {
                if (done.Node.Length > 0)
                {
                    headers["x-modelrouter-node"] = done.Node; // the cluster node that ran it (forwarded or not), and why
                    headers["x-modelrouter-placement"] = done.Placement;
                }

                headers["x-modelrouter-queue-ms"] = Millis(done.QueueWait);
                headers["x-modelrouter-swap-ms"] = Millis(done.SwapTime ?? TimeSpan.Zero);
                headers["x-modelrouter-ttft-ms"] = Millis(done.TimeToFirstToken ?? TimeSpan.Zero);
                headers["x-modelrouter-total-ms"] = Millis(done.Total);
            }
        }

        private static void Usage(Utf8JsonWriter json, GenerationDone done)
        {
            json.WriteStartObject("usage");
            json.WriteNumber("prompt_tokens", done.PromptTokens);
            json.WriteNumber("completion_tokens", done.GeneratedTokens);
            json.WriteNumber("total_tokens", done.PromptTokens + done.GeneratedTokens);
            json.WriteStartObject("prompt_tokens_details");
            json.WriteNumber("cached_tokens", done.CachedPromptTokens); // prefix reuse: prompt tokens not decoded again
            json.WriteEndObject();
            json.WriteEndObject();
        }

        /// <summary>Our extension: which model served, why, and where the time went.</summary>
        private void Extension(Utf8JsonWriter json, GenerationDone done)
        {
            json.WriteStartObject("modelrouter");
            json.WriteString("model", done.Model);
            json.WriteString("task", done.Task);
            if (done.Node.Length > 0)
            {
                json.WriteString("node", done.Node);
                json.WriteString("placement", done.Placement);
            }
            if (route is not null)
            {
                json.WriteString("stage", route.Stage);
                json.WriteNumber("confidence", route.Confidence);
                json.WriteBoolean("unsure", route.Unsure);
                json.WriteString("reason", route.Reason);
            }

            json.WriteNumber("route_us", done.RouteTime.TotalMicroseconds);
            json.WriteNumber("queue_ms", done.QueueWait.TotalMilliseconds);
            json.WriteNumber("swap_ms", (done.SwapTime ?? TimeSpan.Zero).TotalMilliseconds);
            json.WriteNumber("ttft_ms", (done.TimeToFirstToken ?? TimeSpan.Zero).TotalMilliseconds);
            json.WriteNumber("total_ms", done.Total.TotalMilliseconds);
            json.WriteNumber("tokens_per_second", done.TokensPerSecond);
            json.WriteEndObject();
        }

        private static string Finish(GenerationDone done) => done.FinishReason switch
        {
            FinishReason.MaxTokens or FinishReason.ContextFull => "length",
            _ when done.ToolCalls > 0 => "tool_calls",
            _ => "stop",
        };

        private static string Millis(TimeSpan value) => value.TotalMilliseconds.ToString("F3", CultureInfo.InvariantCulture);

        private static string Micros(TimeSpan value) => value.TotalMicroseconds.ToString("F1", CultureInfo.InvariantCulture);
    }

    /// <summary>One tool call of a whole (non-streamed) answer, joined from its streamed pieces.</summary>
    private sealed class ToolCallBuilder(int index)
    {
        private readonly System.Text.StringBuilder arguments = new();

        public int Index { get; } = index;

        public string Id { get; private set; } = "";

        public string Name { get; private set; } = "";

        public static void Add(List<ToolCallBuilder> calls, IReadOnlyList<ChatOutputDelta> pieces)
        {
            foreach (var piece in pieces)
            {
                var call = calls.Find(c => c.Index == piece.Index);
                if (call is null)
                {
                    call = new ToolCallBuilder(piece.Index);
                    calls.Add(call);
                }

                call.Id = piece.Id ?? call.Id;
                call.Name = piece.Name ?? call.Name;
                call.arguments.Append(piece.Text);
            }
        }

        public static void Write(Utf8JsonWriter json, List<ToolCallBuilder> calls)
        {
            json.WriteStartArray("tool_calls");
            foreach (var call in calls.OrderBy(c => c.Index))
            {
                json.WriteStartObject();
                json.WriteString("id", call.Id);
                json.WriteString("type", "function");
                json.WriteStartObject("function");
                json.WriteString("name", call.Name);
                json.WriteString("arguments", call.arguments.ToString());
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        /// <summary>A streamed piece in OpenAI's delta shape: id, type and name on a call's first piece only.</summary>
        public static void WriteDelta(Utf8JsonWriter json, ChatOutputDelta piece)
        {
            json.WriteStartArray("tool_calls");
            json.WriteStartObject();
            json.WriteNumber("index", piece.Index);
            if (piece.Id is not null)
            {
                json.WriteString("id", piece.Id);
                json.WriteString("type", "function");
            }

            json.WriteStartObject("function");
            if (piece.Name is not null)
            {
                json.WriteString("name", piece.Name);
            }

            json.WriteString("arguments", piece.Text);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndArray();
        }
    }
}
