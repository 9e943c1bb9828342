using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Protocol;

/// <summary>
/// A parsed generate payload: fixed fields plus spans into the payload (no allocation). Layout:
/// <code>
///  0 u32 max tokens (0 = server default)   4 u32 top-k (0 = off)
///  8 f32 temperature (finite, ≥ 0)          12 f32 top-p ([0, 1])
/// 16 u64 seed (0 = server chooses)
/// 24 f32 cost budget (finite, ≥ 0; 0 = none) 28 u8 latency class   29 u8 stop count   30 u8 output format
/// 31 u8 request flags (bit 0: forwarded by a cluster node; other bits 0)
/// 32 str model (empty = route for me)   str required capability (empty = none)   str prompt (non-empty)
///    str stop sequence × stop count
///    str JSON schema or grammar (only for output format 2 json-schema / 3 grammar; non-empty)
/// </code>
/// </summary>
public readonly ref struct GeneratePayload
{
    /// <summary>Size of the fixed part before the first string.</summary>
    public const int FixedSize = 32;

    private readonly ReadOnlySpan<byte> stopSection;

    internal GeneratePayload(
        int maxTokens, int topK, float temperature, float topP, ulong seed, float costBudget, LatencyClass latencyClass,
        ReadOnlySpan<byte> model, ReadOnlySpan<byte> capability, ReadOnlySpan<byte> prompt, int stopCount, ReadOnlySpan<byte> stopSection)
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
        Prompt = prompt;
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

    public ReadOnlySpan<byte> Prompt { get; }

    public int StopSequenceCount { get; }

    /// <summary>The stop sequences as UTF-8 spans (already validated).</summary>
    public StringListEnumerator StopSequences => new(stopSection, StopSequenceCount);

    /// <summary>The output constraint (byte 30).</summary>
    public OutputFormat OutputFormat { get; init; }

    /// <summary>The UTF-8 JSON schema or grammar for <see cref="OutputFormat.JsonSchema"/> / <see cref="OutputFormat.Grammar"/>; else empty.</summary>
    public ReadOnlySpan<byte> OutputSpec { get; init; }

    /// <summary>A cluster node forwarded it (byte 31 bit 0): serve it here, never forward it again.</summary>
    public bool Forwarded { get; init; }

    public bool IsRouted => Model.IsEmpty;

    /// <summary>Copies everything into a managed request (allocates: use once per request, off the read loop's hot path).</summary>
    public GenerateRequest ToRequest() => new()
    {
        Model = Model.IsEmpty ? null : Encoding.UTF8.GetString(Model),
        Prompt = Encoding.UTF8.GetString(Prompt),
        MaxTokens = MaxTokens,
        Temperature = Temperature,
        TopP = TopP,
        TopK = TopK,
        Seed = Seed,
        LatencyClass = LatencyClass,
        CostBudget = CostBudget,
        RequiredCapability = RequiredCapability.IsEmpty ? null : Encoding.UTF8.GetString(RequiredCapability),
        StopSequences = StopSequences.ToArray(),
        OutputFormat = OutputFormat,
        OutputSpec = OutputSpec.IsEmpty ? null : Encoding.UTF8.GetString(OutputSpec),
        Forwarded = Forwarded,
    };
}

/// <summary>Enumerates <c>count</c> consecutive length-prefixed strings that were validated when the payload was read.</summary>
public ref struct StringListEnumerator
{
    private ReadOnlySpan<byte> remaining;
    private int left;

    internal StringListEnumerator(ReadOnlySpan<byte> section, int count)
    {
        remaining = section;
        left = count;
        Current = default;
    }

    public ReadOnlySpan<byte> Current { get; private set; }

    public readonly StringListEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (left == 0)
        {
            return false;
        }

        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(remaining);
        Current = remaining.Slice(4, length);
        remaining = remaining[(4 + length)..];
        left--;
        return true;
    }

    public string[] ToArray()
    {
        if (left == 0)
        {
            return [];
        }

        var result = new string[left];
        var i = 0;
        var copy = this;
        while (copy.MoveNext())
        {
            result[i++] = Encoding.UTF8.GetString(copy.Current);
        }

        return result;
    }
}

/// <summary>
/// A parsed route payload. Layout:
/// <code>
/// 0 f32 cost budget   4 u8 latency class   5 u8 reserved = 0   6 u16 reserved = 0
/// 8 str required capability   str prompt
/// </code>
/// </summary>
public readonly ref struct RoutePayload
{
    public const int FixedSize = 8;

    internal RoutePayload(float costBudget, LatencyClass latencyClass, ReadOnlySpan<byte> capability, ReadOnlySpan<byte> prompt)
    {
        CostBudget = costBudget;
        LatencyClass = latencyClass;
        RequiredCapability = capability;
        Prompt = prompt;
    }

    public float CostBudget { get; }

    public LatencyClass LatencyClass { get; }

    public ReadOnlySpan<byte> RequiredCapability { get; }

    public ReadOnlySpan<byte> Prompt { get; }

    public RouteRequest ToRequest() => new()
    {
        Prompt = Encoding.UTF8.GetString(Prompt),
        LatencyClass = LatencyClass,
        CostBudget = CostBudget,
        RequiredCapability = RequiredCapability.IsEmpty ? null : Encoding.UTF8.GetString(RequiredCapability),
    };
}

/// <summary>
/// A parsed embed payload. Layout:
/// <code>
/// 0 u8 flags (bit 0: normalise; others 0)   1 u8 reserved = 0   2 u16 reserved = 0
/// 4 str model (empty = default embedding model)   str text (non-empty)
/// </code>
/// </summary>
public readonly ref struct EmbedPayload
{
    public const int FixedSize = 4;

    internal EmbedPayload(bool normalize, ReadOnlySpan<byte> model, ReadOnlySpan<byte> text)
    {
        Normalize = normalize;
        Model = model;
        Text = text;
    }

    public bool Normalize { get; }

    public ReadOnlySpan<byte> Model { get; }

    public ReadOnlySpan<byte> Text { get; }

    public EmbedRequest ToRequest() => new()
    {
        Text = Encoding.UTF8.GetString(Text),
        Model = Model.IsEmpty ? null : Encoding.UTF8.GetString(Model),
        Normalize = Normalize,
    };
}

/// <summary>
/// A parsed admin payload. Layout:
/// <code>
/// 0 u8 operation (1 preload, 2 pin, 3 unpin, 4 evict)   1 u8 reserved = 0   2 u16 reserved = 0
/// 4 str model (non-empty)
/// </code>
/// </summary>
public readonly ref struct AdminPayload
{
    public const int FixedSize = 4;

    internal AdminPayload(AdminOperation operation, ReadOnlySpan<byte> model)
    {
        Operation = operation;
        Model = model;
    }

    public AdminOperation Operation { get; }

    public ReadOnlySpan<byte> Model { get; }

    public string GetModel() => Encoding.UTF8.GetString(Model);
}
