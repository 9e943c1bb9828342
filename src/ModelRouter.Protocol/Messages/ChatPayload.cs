using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Protocol;

/// <summary>
/// A parsed chat payload: the fixed part of a generate, then the conversation; spans into the payload (no allocation).
/// Layout:
/// <code>
///  0 u32 max tokens (0 = server default)   4 u32 top-k (0 = off)
///  8 f32 temperature (finite, ≥ 0)          12 f32 top-p ([0, 1])
/// 16 u64 seed (0 = server chooses)
/// 24 f32 cost budget (finite, ≥ 0; 0 = none) 28 u8 latency class   29 u8 stop count   30 u8 output format
/// 31 u8 request flags (bit 0: forwarded by a cluster node; other bits 0)
/// 32 str model (empty = route for me)   str required capability (empty = none)
///    u16 message count (1 … max chat messages)
///    (str role, str content) × message count     role: system | user | assistant | tool; contents ≤ max prompt bytes in total
///    str stop sequence × stop count
///    str JSON schema or grammar (only for output format 2 json-schema / 3 grammar; non-empty)
/// </code>
/// </summary>
public readonly ref struct ChatPayload
{
    /// <summary>Size of the fixed part before the first string (the same as a generate's).</summary>
    public const int FixedSize = GeneratePayload.FixedSize;

    /// <summary>Size of the message count that follows the required capability.</summary>
    public const int MessageCountSize = sizeof(ushort);

    /// <summary>The smallest encoded message: an empty role and an empty content (two u32 lengths).</summary>
    public const int MinMessageSize = 8;

    private readonly ReadOnlySpan<byte> messageSection;
    private readonly ReadOnlySpan<byte> stopSection;

    internal ChatPayload(
        int maxTokens, int topK, float temperature, float topP, ulong seed, float costBudget, LatencyClass latencyClass,
        ReadOnlySpan<byte> model, ReadOnlySpan<byte> capability, int messageCount, ReadOnlySpan<byte> messageSection, int contentBytes,
        int stopCount, ReadOnlySpan<byte> stopSection)
    {
        MaxTokens = maxTokens;
        TopK = topK;
        Temperature = temperature;
        TopP = topP;
        Seed = seed;
        CostBudget = costBudget;
        LatencyClass = latencyClass;
        Model = model;
        RequiredCapability = capability;
        MessageCount = messageCount;
        this.messageSection = messageSection;
        ContentBytes = contentBytes;
        StopSequenceCount = stopCount;
        this.stopSection = stopSection;
    }

    public int MaxTokens { get; }

    public int TopK { get; }

    public float Temperature { get; }

    public float TopP { get; }

    public ulong Seed { get; }

    public float CostBudget { get; }

    public LatencyClass LatencyClass { get; }

    /// <summary>UTF-8 model name; empty means "route for me".</summary>
    public ReadOnlySpan<byte> Model { get; }

    public ReadOnlySpan<byte> RequiredCapability { get; }

    /// <summary>The output constraint (byte 30).</summary>
    public OutputFormat OutputFormat { get; init; }

    /// <summary>The UTF-8 JSON schema or grammar for <see cref="OutputFormat.JsonSchema"/> / <see cref="OutputFormat.Grammar"/>; else empty.</summary>
    public ReadOnlySpan<byte> OutputSpec { get; init; }

    /// <summary>A cluster node forwarded it (byte 31 bit 0): serve it here, never forward it again.</summary>
    public bool Forwarded { get; init; }

    /// <summary>Messages in the conversation (at least one).</summary>
    public int MessageCount { get; }

    /// <summary>UTF-8 bytes of all the messages' contents together (at most max prompt bytes).</summary>
    public int ContentBytes { get; }

    /// <summary>The messages in order, as UTF-8 spans (already validated).</summary>
    public ChatMessageEnumerator Messages => new(messageSection, MessageCount);

    public int StopSequenceCount { get; }

    /// <summary>The stop sequences as UTF-8 spans (already validated).</summary>
    public StringListEnumerator StopSequences => new(stopSection, StopSequenceCount);

    public bool IsRouted => Model.IsEmpty;

    /// <summary>Copies everything into a managed request (allocates: use once per request, off the read loop's hot path).</summary>
    public ChatGenerateRequest ToRequest()
    {
        var messages = new ChatRequestMessage[MessageCount];
        var i = 0;
        foreach (var message in Messages)
        {
            messages[i++] = message.ToMessage();
        }

        return new ChatGenerateRequest
        {
            Model = Model.IsEmpty ? null : Encoding.UTF8.GetString(Model),
            Messages = messages,
            MaxTokens = MaxTokens,
            Temperature = Temperature,
            TopP = TopP,
            TopK = TopK,
            Seed = Seed,
            LatencyClass = LatencyClass,
            CostBudget = CostBudget,
            RequiredCapability = RequiredCapability.IsEmpty ? null : Encoding.UTF8.GetString(RequiredCapability),
            OutputFormat = OutputFormat,
            OutputSpec = OutputSpec.IsEmpty ? null : Encoding.UTF8.GetString(OutputSpec),
            Forwarded = Forwarded,
            StopSequences = StopSequences.ToArray(),
        };
    }
}

/// <summary>One message of a parsed chat payload: UTF-8 spans into the payload.</summary>
public readonly ref struct ChatMessageView
{
    internal ChatMessageView(ReadOnlySpan<byte> role, ReadOnlySpan<byte> content)
    {
        Role = role;
        Content = content;
    }

    /// <summary>The role, one of <see cref="ChatRoles"/> in UTF-8.</summary>
    public ReadOnlySpan<byte> Role { get; }

    public ReadOnlySpan<byte> Content { get; }

    /// <summary>The role's constant string (no allocation).</summary>
    public string GetRole() => ChatRoles.FromUtf8(Role) ?? Encoding.UTF8.GetString(Role);

    public string GetContent() => Encoding.UTF8.GetString(Content);

    public ChatRequestMessage ToMessage() => new(GetRole(), GetContent());
}

/// <summary>Enumerates the (role, content) pairs of a chat payload that were validated when it was read.</summary>
public ref struct ChatMessageEnumerator
{
    private ReadOnlySpan<byte> remaining;
    private int left;

    internal ChatMessageEnumerator(ReadOnlySpan<byte> section, int count)
    {
        remaining = section;
        left = count;
        Current = default;
    }

    public ChatMessageView Current { get; private set; }

    public readonly ChatMessageEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (left == 0)
        {
            return false;
        }

        var role = NextString();
        var content = NextString();
        Current = new ChatMessageView(role, content);
        left--;
        return true;
    }

    private ReadOnlySpan<byte> NextString()
    {
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(remaining);
        var text = remaining.Slice(4, length);
        remaining = remaining[(4 + length)..];
        return text;
    }
}
