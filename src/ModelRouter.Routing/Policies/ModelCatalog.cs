namespace ModelRouter.Routing.Policies;

/// <summary>The models a router chooses among, and which size each task type needs.</summary>
public sealed class ModelCatalog
{
    private readonly Dictionary<string, CatalogModel> byName;

    public ModelCatalog(IEnumerable<CatalogModel> models, IReadOnlyDictionary<string, SizeClass>? minimumSize = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        Models = models.ToArray();
        byName = new Dictionary<string, CatalogModel>(StringComparer.Ordinal);
        foreach (var model in Models)
        {
            if (!byName.TryAdd(model.Name, model))
            {
                throw new ArgumentException($"The catalog names '{model.Name}' twice.", nameof(models));
            }

            if (!model.IsLocal && model.Endpoint is null)
            {
                throw new ArgumentException($"Remote model '{model.Name}' has no endpoint.", nameof(models));
            }
        }

        MinimumSize = minimumSize ?? DefaultMinimumSize;
    }

    /// <summary>
    /// The size each task type needs by default: classification a 1-3B model, summarising and extraction 3-7B, code
    /// 7-14B, multi-step reasoning 14-32B, creative writing the largest available.
    /// </summary>
    public static IReadOnlyDictionary<string, SizeClass> DefaultMinimumSize { get; } = new Dictionary<string, SizeClass>(StringComparer.Ordinal)
    {
        ["classification"] = SizeClass.Small,
        ["summarization"] = SizeClass.Medium,
        ["extraction"] = SizeClass.Medium,
        ["brainstorming"] = SizeClass.Medium,
        ["open_qa"] = SizeClass.Medium,
        ["code"] = SizeClass.Large,
        ["math_reasoning"] = SizeClass.XLarge,
        ["creative_writing"] = SizeClass.Huge,
    };

    public IReadOnlyList<CatalogModel> Models { get; }

    public IReadOnlyDictionary<string, SizeClass> MinimumSize { get; }

    /// <summary>The largest size class in the catalog ("the largest" is relative to what is there).</summary>
    public SizeClass LargestSize => Models.Count == 0 ? SizeClass.Tiny : Models.Max(m => m.Size);

    public CatalogModel? Find(string name) => byName.GetValueOrDefault(name);

    /// <summary>The size a task needs, capped at the largest size available (so creative writing gets the largest).</summary>
    public SizeClass RequiredSize(string taskType) =>
        MinimumSize.TryGetValue(taskType, out var size) ? (SizeClass)Math.Min((int)size, (int)LargestSize) : SizeClass.Tiny;
}
