namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// The check the model loader runs before handing a path to llama.cpp: everything <see cref="GgufFile.Open"/>
/// verifies, plus the stricter rules of llama.cpp's own GGUF reader, so that a file llama.cpp would reject
/// (or, for a malicious file, mishandle) is rejected here with a precise message instead.
/// </summary>
public static class GgufValidator
{
    /// <summary>Validates the file at <paramref name="path"/>; returns normally when llama.cpp can read it.</summary>
    /// <exception cref="InvalidModelFileException">The file is missing, unreadable or malformed.</exception>
    public static void Validate(string path)
    {
        using var file = GgufFile.Open(path);
        CheckLlamaCppRules(file);
    }

    /// <summary>The rules of ggml's gguf.cpp beyond the format itself, applied to an already opened file.</summary>
    /// <exception cref="InvalidModelFileException">The file breaks one of them.</exception>
    public static void CheckLlamaCppRules(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.FirstNestedArrayKey is { } nested)
        {
            throw new InvalidModelFileException(file.FilePath, $"metadata '{nested}' is an array of arrays, which llama.cpp cannot read");
        }

        // gguf.cpp requires the tensors to be packed in index order, each padded to the alignment: any other
        // layout (gaps, reordering) makes it refuse the file.
        long expected = 0;
        foreach (var tensor in file.Tensors)
        {
            if (tensor.RelativeOffset != expected)
            {
                throw new InvalidModelFileException(
                    file.FilePath,
                    $"tensor '{tensor.Name}' has data offset {tensor.RelativeOffset} but llama.cpp requires {expected} " +
                    "(tensor data must follow the index order, each tensor padded to the alignment)");
            }

            expected += GgufFormat.Align(tensor.ByteSize, file.Alignment);
        }
    }
}
