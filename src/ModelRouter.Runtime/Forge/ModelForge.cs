using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Forge;

/// <summary>
/// Writes synthetic GGUF models that llama.cpp loads and runs: a real tokenizer, a real family's metadata and
/// tensor layout, and seeded random weights. Tests and benchmarks use them because no weights can be
/// downloaded; they are never committed.
/// </summary>
/// <remarks>
/// Writing streams: each tensor is generated in chunks straight into the file, so memory stays constant
/// whatever the model's size. The file appears under its final name only when complete (it is written to
/// <c>PATH.partial</c> and renamed). The same options and seed give byte-identical files.
/// </remarks>
public static class ModelForge
{
    private const int ChunkBytes = 1 << 20;
    private const long ProgressEveryBytes = 16L << 20;

    /// <summary>Forges a model into <paramref name="outputPath"/>.</summary>
    /// <exception cref="ArgumentException">The shape cannot be forged with the weight type.</exception>
    /// <exception cref="FileNotFoundException">No vocabulary was given and none was found where it is looked for.</exception>
    /// <exception cref="InvalidModelFileException">The vocabulary file is not a usable GGUF tokenizer.</exception>
    /// <exception cref="IOException">The output cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The output location is not writable.</exception>
    public static ForgeResult Forge(ForgeOptions options, string outputPath, IProgress<ForgeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (options.Shape.FindProblem(options.WeightType) is { } problem)
        {
            throw new ArgumentException($"Cannot forge this shape: {problem}.", nameof(options));
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF is little-endian; the forge writes it only on little-endian hosts.");
        }

        using var vocab = GgufFile.Open(ResolveVocab(options));
        var vocabulary = ForgeMetadata.CountTokens(vocab);
        var plan = ForgeTensorPlan.Build(options.Shape, options.WeightType, vocabulary);

        var fullPath = Path.GetFullPath(outputPath);
        var partialPath = fullPath + ".partial";
        try
        {
            long parameters;
            long length;
            using (var stream = new FileStream(partialPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.SequentialScan))
            using (var writer = new GgufWriter(stream))
            {
                ForgeMetadata.Write(writer, options, vocab, vocabulary);
                parameters = 0;
                foreach (var tensor in plan)
                {
                    writer.AddTensor(tensor.Name, tensor.Dimensions, tensor.Type);
                    parameters += tensor.Dimensions.Aggregate(1L, (a, d) => a * d);
                }

                writer.WriteHeader();
                length = writer.TotalLength;
                WriteTensors(writer, plan, options.Seed, progress, cancellationToken);
                writer.Complete();
            }

            File.Move(partialPath, fullPath, overwrite: true);
            progress?.Report(new ForgeProgress(length, length, null));
            return new ForgeResult(fullPath, length, plan.Count, vocabulary, parameters);
        }
        catch
        {
            TryDelete(partialPath);
            throw;
        }
    }

    /// <summary>The vocabulary the options name, or the family's default.</summary>
    /// <exception cref="FileNotFoundException">None was given and none was found.</exception>
    public static string ResolveVocab(ForgeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.VocabPath is { Length: > 0 } given)
        {
            return given;
        }

        var architecture = options.Shape.Architecture;
        return VocabLocator.FindDefault(architecture) ?? throw new FileNotFoundException(
            $"No vocabulary given and {VocabLocator.DefaultFileName(architecture)} was not found in: " +
            string.Join(", ", VocabLocator.CandidatePaths(architecture)) +
            ". Pass a tokenizer GGUF, or run ./build.sh native to fetch the pinned llama.cpp source.",
            VocabLocator.DefaultFileName(architecture));
    }

    private static void WriteTensors(GgufWriter writer, List<ForgeTensor> plan, ulong seed, IProgress<ForgeProgress>? progress, CancellationToken cancellationToken)
    {
        var nextReport = 0L;
        for (var index = 0; index < plan.Count; index++)
        {
            var tensor = plan[index];
            var filler = new WeightFiller(tensor.Type, tensor.Kind, seed, (ulong)index);

            // Chunks are whole blocks, and whole groups of four for F16 (one random word per four halves), so
            // the bytes do not depend on where chunks fall.
            var unit = GgmlTypeTraits.Get(tensor.Type).TypeSize * 4;
            var chunk = ChunkBytes / unit * unit;
            for (var remaining = writer.CurrentTensorRemaining; remaining > 0; )
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = (int)Math.Min(remaining, chunk);
                filler.Fill(writer.GetSpan(n)[..n]);
                writer.Advance(n);
                remaining -= n;
                if (progress is not null && writer.BytesAccepted >= nextReport)
                {
                    progress.Report(new ForgeProgress(writer.BytesAccepted, writer.TotalLength, tensor.Name));
                    nextReport = writer.BytesAccepted + ProgressEveryBytes;
                }
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover partial file.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
