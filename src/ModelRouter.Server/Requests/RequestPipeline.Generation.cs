using System.Text;
using ModelRouter.Routing.Fallback;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>Generation: validate, route, then the route's remote chain or the local model through the scheduler.</summary>
public sealed partial class RequestPipeline
{
    /// <summary>
    /// Starts a generation. Everything after this call reaches <paramref name="observer"/>: a refusal at once (as
    /// <see cref="IGenerationObserver.OnFailed"/>), else the route decision (routed requests), text, and one end.
    /// Cancelling <paramref name="cancellation"/> (the client left or cancelled) ends it as cancelled and frees its slot.
    /// </summary>
    public void StartGeneration(GenerationCommand command, IGenerationObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(observer);
        StructuredOutput? output;
        try
        {
            Validate(command);
            output = ResolveOutput(command.Output);
            EnterInFlight();
        }
        catch (RequestException ex)
        {
            Interlocked.Increment(ref errorsTotal);
            observer.OnFailed(ex.Error, ex.Message);
            return;
        }

        var run = new GenerationRun(this, observer, NextRequestId());
        Track(run.Id, run);
        try
        {
            if (!IsRouted(command.Model))
            {
                CheckModel(command.Model!);
                Serve(run, command, command.Model!, output, chain: null, cancellation);
                return;
            }

            var text = command.RoutingText;
            var pending = DecideAsync(text, command.Hints, cancellation);
            if (pending.IsCompletedSuccessfully)
            {
                ServeRouted(run, command, text, output, pending.Result, observer, cancellation);
            }
            else
            {
                _ = ServeWhenRoutedAsync(run, command, text, output, pending, observer, cancellation); // the LLM judge is answering
            }
        }
        catch (RequestException ex)
        {
            run.Fail(ex.Error, ex.Message);
        }
    }

    private async Task ServeWhenRoutedAsync(GenerationRun run, GenerationCommand command, string text, StructuredOutput? output,
        ValueTask<RouteResult> pending, IGenerationObserver observer, CancellationToken cancellation)
    {
        try
        {
            ServeRouted(run, command, text, output, await pending.ConfigureAwait(false), observer, cancellation);
        }
        catch (RequestException ex)
        {
            run.Fail(ex.Error, ex.Message);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            run.Fail(RequestError.Cancelled, "the request was cancelled while it was being routed");
        }
    }

    private void ServeRouted(GenerationRun run, GenerationCommand command, string text, StructuredOutput? output, RouteResult decision,
        IGenerationObserver observer, CancellationToken cancellation)
    {
        run.Routed(decision.Task, decision.Elapsed);
        Events.Routed(run.Id, text, decision, command.Hints);
        observer.OnRouted(Describe(decision));

        // An unsure decision serves the default model alone: the task's remotes were configured for the task.
        // Structured output is enforced by our own sampler, which a remote member does not have: local only.
        // Tool calls too: a remote member's format and parser are not ours.
        var chain = !decision.Unsure && output is null && !NeedsToolLayer(command) && remotes.TryGet(decision.Task, out var routeChain) ? routeChain : null;
        Serve(run, command, decision.Model, output, chain, cancellation);
    }

    private void Serve(GenerationRun run, GenerationCommand command, string model, StructuredOutput? output, RemoteChain? chain,
        CancellationToken cancellation)
    {
        run.Model = model;
        if (chain is not null)
        {
            _ = run.ServeAsync(chain, ToRemote(command), () => LocalGeneration(run, command, model, output), cancellation);
            return;
        }

        // In a cluster: another node may hold the model better (on its device, or a cheaper swap): run it there, one hop
        // at most. Tool calls stay here: the socket protocol does not carry tools.
        if (forwarder is not null)
        {
            var target = command.Forwarded || NeedsToolLayer(command) ? null : forwarder.Choose(model);
            if (target is not null && !string.Equals(target.Node, forwarder.LocalNode, StringComparison.Ordinal))
            {
                _ = run.ForwardAsync(forwarder, target, command, () => LocalGeneration(run, command, model, output), cancellation);
                return;
            }

            run.Placement = target?.Reason ?? (command.Forwarded ? "Forwarded" : NeedsToolLayer(command) ? "ToolsStayHere" : "ViewStale");
        }

        SubmitLocal(run, LocalGeneration(run, command, model, output), cancellation);
    }

    /// <summary>"auto", empty or null: the router chooses.</summary>
    internal static bool IsRouted(string? model) => string.IsNullOrEmpty(model) || string.Equals(model, "auto", StringComparison.OrdinalIgnoreCase);

    internal void SubmitLocal(GenerationRun run, GenerationRequest generation, CancellationToken cancellation)
    {
        var work = new InferenceRequest(run.Id, run.Model, generation, run, cancellation) { RouteTime = run.RouteTime };
        if (!Scheduler.TrySubmit(work, out var error, out var message))
        {
            run.Fail(error, message);
        }
    }

    private void Validate(GenerationCommand command)
    {
        if (command.Forwarded && forwarder is { AcceptsForwarded: false })
        {
            // The forwarding node serves it itself when we refuse: nothing is lost, and no work runs on a node the
            // rest of the cluster may already count as gone.
            throw new RequestException(RequestError.ModelUnavailable,
                $"node {forwarder.LocalNode} takes no forwarded requests now: its view of the cluster is stale (partitioned, or leaving)");
        }

        if ((command.Prompt is null) == (command.Messages is null))
        {
            throw new RequestException(RequestError.InvalidArgument, "a request carries either a prompt or messages");
        }

        if (command.Prompt is { } prompt)
        {
            if (prompt.Length == 0)
            {
                throw new RequestException(RequestError.InvalidArgument, "the prompt is empty");
            }

            CheckPromptBytes(Encoding.UTF8.GetByteCount(prompt));
        }
        else
        {
            var messages = command.Messages!;
            if (messages.Count == 0)
            {
                throw new RequestException(RequestError.InvalidArgument, "messages is empty");
            }

            var bytes = 0;
            foreach (var message in messages)
            {
                if (string.IsNullOrEmpty(message.Role))
                {
                    throw new RequestException(RequestError.InvalidArgument, "every message needs a role");
                }

                bytes += Encoding.UTF8.GetByteCount(message.Content ?? "");
            }

            CheckPromptBytes(bytes);
        }

        if (command.Tools is { } tools)
        {
            if (command.Messages is null)
            {
                throw new RequestException(RequestError.InvalidArgument, "tools are for chats (messages), not raw prompts");
            }

            if (command.Output is not null && tools.Choice != ToolChoice.None)
            {
                throw new RequestException(RequestError.InvalidArgument,
                    "tools and a response_format or grammar cannot be combined: the tool-call format's grammar already rules the output");
            }

            CheckPromptBytes(Encoding.UTF8.GetByteCount(tools.ToolsJson));
        }

        if (command.MaxTokens < 0 || command.MaxTokens > Options.Limits.MaxTokens)
        {
            throw new RequestException(RequestError.MaxTokensExceeded, $"max tokens {command.MaxTokens} is outside 0..{Options.Limits.MaxTokens}");
        }

        if (!float.IsFinite(command.Temperature) || command.Temperature < 0)
        {
            throw new RequestException(RequestError.InvalidArgument, $"temperature {command.Temperature} must be a finite number ≥ 0");
        }

        if (!float.IsFinite(command.TopP) || command.TopP < 0 || command.TopP > 1)
        {
            throw new RequestException(RequestError.InvalidArgument, $"top_p {command.TopP} must be within [0, 1]");
        }

        if (command.TopK < 0)
        {
            throw new RequestException(RequestError.InvalidArgument, $"top_k {command.TopK} must be ≥ 0");
        }
    }

    /// <summary>
    /// The constraint as the grammar the sampler enforces, checked now (before routing or queueing) so that a schema
    /// llama.cpp's converter rejects or a grammar it cannot parse is the client's InvalidArgument on every door.
    /// </summary>
    private static StructuredOutput? ResolveOutput(OutputConstraint? constraint)
    {
        if (constraint is null)
        {
            return null;
        }

        try
        {
            return constraint.Kind switch
            {
                StructuredOutputKind.JsonObject => StructuredOutput.JsonObject(),
                StructuredOutputKind.JsonSchema => StructuredOutput.FromJsonSchema(constraint.Text ?? ""),
                StructuredOutputKind.Grammar => StructuredOutput.FromGrammar(constraint.Text ?? ""),
                _ => throw new RequestException(RequestError.InvalidArgument, $"unknown output format {constraint.Kind}"),
            };
        }
        catch (StructuredOutputException ex)
        {
            var what = constraint.Kind == StructuredOutputKind.Grammar ? "grammar" : "response_format";
            throw new RequestException(RequestError.InvalidArgument, $"{what}: {ex.Message}");
        }
        catch (DllNotFoundException ex) // Interop.NativeLibraryLoadException: libmr_common absent
        {
            throw new RequestException(RequestError.Internal, "structured output needs libmr_common, which this server's native build lacks: " + ex.Message);
        }
    }

    /// <summary>Whether only llama.cpp's common chat layer can render this chat: it offers tools or replays tool calls.</summary>
    private static bool NeedsToolLayer(GenerationCommand command) =>
        command.Tools is not null || (command.Messages?.Any(m => m.ToolCallsJson is not null || m.ToolCallId is not null) ?? false);

    /// <summary>The request as the local model runs it: a chat rendered with the model's template, sampling settings.</summary>
    private GenerationRequest LocalGeneration(GenerationRun run, GenerationCommand command, string model, StructuredOutput? output)
    {
        if (command.Messages is not null && NeedsToolLayer(command))
        {
            return ToolGeneration(run, command, model, output);
        }

        return PlainGeneration(command, model, output);
    }

    /// <summary>
    /// A chat with tools: rendered with the tools by the model's own template, sampled under the grammar llama.cpp
    /// derived for its tool-call format (lazy until the call marker for "auto"), and read back by that format's parser,
    /// which turns the output into content and tool calls on the run.
    /// </summary>
    /// <remarks>With tool_choice "none" no call is parsed, and a response_format or grammar (<paramref name="output"/>) rules the text.</remarks>
    private GenerationRequest ToolGeneration(GenerationRun run, GenerationCommand command, string model, StructuredOutput? output)
    {
        var tools = command.Tools;
        var render = templates.RenderWithTools(model, ToolRequestJson(command));
        var calls = tools is not null && tools.Choice != ToolChoice.None && render.Grammar is not null;
        if (tools is { Choice: ToolChoice.Required } && render.Grammar is null)
        {
            throw new RequestException(RequestError.InvalidArgument,
                $"model '{model}': its chat template has no tool-call format llama.cpp recognises ({render.Format}), so a call cannot be required");
        }

        if (calls)
        {
            try
            {
                run.ParseOutputWith(render.CreateParser());
            }
            catch (Runtime.Chat.ChatTemplateException ex)
            {
                throw new RequestException(RequestError.Internal, $"model '{model}': {ex.Message}");
            }
        }

        var plain = PlainGeneration(command, model, calls ? null : output, prompt: render.Prompt);
        return plain with
        {
            StopStrings = render.AdditionalStops.Count == 0 ? plain.StopStrings : [.. plain.StopStrings, .. render.AdditionalStops],
            PreservedTokens = render.PreservedTokens,
            Sampling = plain.Sampling with
            {
                Grammar = calls ? render.GrammarFor(callsOnly: tools!.Choice == ToolChoice.Required, oneCall: !tools.ParallelCalls) : plain.Sampling.Grammar,
                GrammarTriggers = calls ? render.GrammarTriggers : null,
                GrammarPrefill = calls && render.GrammarStartsAtGenerationPrompt ? render.GenerationPrompt : null,
            },
        };
    }

    /// <summary>The chat request as llama.cpp's chat layer reads it (<see cref="Runtime.Chat.CommonChatTemplates.RenderRequest"/>).</summary>
    private static string ToolRequestJson(GenerationCommand command)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WritePropertyName("messages"u8);
            json.WriteRawValue(Runtime.Chat.CommonChatTemplates.MessagesJson(command.Messages!), skipInputValidation: true);
            if (command.Tools is { } tools)
            {
                json.WritePropertyName("tools"u8);
                json.WriteRawValue(tools.ToolsJson);
                json.WriteString("tool_choice"u8, tools.Choice switch
                {
                    ToolChoice.Required => "required",
                    ToolChoice.None => "none",
                    _ => "auto",
                });
                json.WriteBoolean("parallel_tool_calls"u8, tools.ParallelCalls);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private GenerationRequest PlainGeneration(GenerationCommand command, string model, StructuredOutput? output, string? prompt = null) =>
        new(prompt ?? command.Prompt ?? templates.Render(model, command.Messages!))
        {
            MaxTokens = command.MaxTokens > 0 ? command.MaxTokens : Math.Min(256, Options.Limits.MaxTokens),
            StopStrings = command.Stop,
            // A rendered chat carries the template's markers (<|im_start|>, <|eot_id|>, ...): they must become the
            // model's special tokens, not text pieces, as llama-server tokenizes them. A raw prompt stays text.
            ParseSpecialTokens = command.Messages is not null,
            Sampling = new SamplingParameters
            {
                Temperature = command.Temperature,
                TopK = command.TopK,
                TopP = command.TopP is > 0 and <= 1 ? command.TopP : 1f,
                Seed = command.Seed == 0 ? (uint)Random.Shared.Next() : (uint)command.Seed,
                Grammar = output?.Grammar,
            },
        };

    private static RemoteChatRequest ToRemote(GenerationCommand command) =>
        new(command.Messages ?? [new Runtime.Chat.ChatTurn("user", command.Prompt!)], command.MaxTokens > 0 ? command.MaxTokens : 256)
    {
        Temperature = command.Temperature,
        TopP = command.TopP is > 0 and < 1 ? command.TopP : null,
        Stop = command.Stop,
        Seed = command.Seed == 0 ? null : (long)command.Seed,
        User = command.User,
    };
}
