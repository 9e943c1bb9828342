using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace ModelRouter.Runtime.Gguf;

/// <summary>Throw helpers kept out of line so the parsing loops stay small.</summary>
internal static class GgufThrow
{
    [DoesNotReturn]
    public static void Invalid(string path, string problem) => throw new InvalidModelFileException(path, problem);

    [DoesNotReturn]
    public static T Invalid<T>(string path, string problem) => throw new InvalidModelFileException(path, problem);

    [DoesNotReturn]
    public static void Truncated(string path, long fileLength, long position, long needed, string what) =>
        throw new InvalidModelFileException(path, string.Format(
            CultureInfo.InvariantCulture,
            "the file ends (size {0}) while reading {1} at offset {2}: {3} more bytes needed",
            fileLength, what, position, needed));
}
