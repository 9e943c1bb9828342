using System.Text.RegularExpressions;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Generation;

/// <summary>../shared/models/stories260K.gguf and the reference continuation its README states.</summary>
internal static partial class StoriesModel
{
    public const string Prompt = "Once upon a time";

    public static Model Load() => Model.Load(GgufTestFiles.RequireSharedModel("stories260K.gguf"));

    /// <summary>The greedy 60-token continuation, read from the README (the line after "continues with exactly:").</summary>
    public static string ReferenceContinuation()
    {
        var readme = File.ReadAllText(GgufTestFiles.RequireSharedModel("README.md"));
        var match = ReferencePattern().Match(readme);
        Assert.True(match.Success, "../shared/models/README.md no longer states the reference continuation");
        return match.Groups[1].Value.Replace("\\n", "\n", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"continues with exactly:\s*\n\s*`([^`]+)`")]
    private static partial Regex ReferencePattern();
}
