using System.Diagnostics.CodeAnalysis;

namespace ModelRouter.Protocol;

/// <summary>Routing hint: how soon the caller needs the answer.</summary>
public enum LatencyClass : byte
{
    Unspecified = 0,
    Realtime = 1,
    Interactive = 2,
    Batch = 3,
}

/// <summary>
/// A constraint on the generated text (generate and chat, byte 30). JsonSchema and Grammar carry their text in a
/// string after the stop sequences; Text and JsonObject carry none.
/// </summary>
public enum OutputFormat : byte
{
    /// <summary>Free text.</summary>
    Text = 0,

    /// <summary>Any JSON object.</summary>
    JsonObject = 1,

    /// <summary>JSON valid against the JSON Schema that follows (converted by llama.cpp's json_schema_to_grammar).</summary>
    JsonSchema = 2,

    /// <summary>Text in the language of the GBNF grammar that follows (start rule <c>root</c>).</summary>
    Grammar = 3,
}

/// <summary>Why a generation ended.</summary>
public enum FinishReason : byte
{
    Unknown = 0,

    /// <summary>The model produced its end-of-generation token.</summary>
    EndOfText = 1,

    /// <summary>The max-tokens limit was reached.</summary>
    MaxTokens = 2,

    /// <summary>A stop sequence matched.</summary>
    StopSequence = 3,

    /// <summary>Cancelled after generation started (the done frame carries the partial statistics).</summary>
    Cancelled = 4,

    /// <summary>The model's context is full.</summary>
    ContextFull = 5,
}

/// <summary>
/// The router's cascade stage that named the task (session version 2; <see cref="None"/> in version 1, and when the
/// request named its model).
/// </summary>
public enum RouteStage : byte
{
    /// <summary>Not routed, or not reported (a version 1 session).</summary>
    None = 0,

    /// <summary>The caller's capability hint named the task.</summary>
    Hint = 1,

    /// <summary>Stage 1, the classifier, above its route's threshold.</summary>
    Classifier = 2,

    /// <summary>Stage 2, the sentence encoder's head (stage 1 was unsure).</summary>
    Encoder = 3,

    /// <summary>The LLM judge (both earlier stages were unsure).</summary>
    Judge = 4,

    /// <summary>Every stage was unsure: the default route (the reason says why).</summary>
    Default = 5,
}

/// <summary>Where a model's weights are now.</summary>
public enum ModelTier : byte
{
    Unknown = 0,

    /// <summary>Resident in VRAM (or, on a CPU-only server, loaded and ready).</summary>
    Gpu = 1,

    /// <summary>In the host-RAM tier (pinned), one DMA away from the GPU.</summary>
    Host = 2,

    /// <summary>Only on disk.</summary>
    Disk = 3,

    /// <summary>Served by a remote upstream.</summary>
    Remote = 4,
}

/// <summary>Lifecycle state of a model in the pool.</summary>
public enum ModelState : byte
{
    Unknown = 0,
    Unloaded = 1,
    Loading = 2,
    Ready = 3,
    SwappingIn = 4,
    SwappingOut = 5,
    Failed = 6,
}

/// <summary>Per-model flags in a model list entry.</summary>
[Flags]
[SuppressMessage("Naming", "CA1711", Justification = "Named after the wire field it encodes.")]
public enum ModelFlags : byte
{
    None = 0,
    Pinned = 0x01,
    Embeddings = 0x02,
}

/// <summary>Admin operations (admin session only).</summary>
public enum AdminOperation : byte
{
    Preload = 1,
    Pin = 2,
    Unpin = 3,
    Evict = 4,
}
