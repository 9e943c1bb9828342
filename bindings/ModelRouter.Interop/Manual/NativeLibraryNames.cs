namespace ModelRouter.Interop;

/// <summary>
/// The logical library names the generated <c>[LibraryImport]</c>s use, and the order they must be loaded in.
/// </summary>
public static class NativeLibraryNames
{
    public const string GgmlBase = "ggml-base";
    public const string GgmlCpu = "ggml-cpu";
    public const string GgmlCuda = "ggml-cuda";
    public const string Ggml = "ggml";
    public const string Llama = "llama";
    public const string Shim = "mr_shim";
    public const string Common = "mr_common";

    /// <summary>Dependencies first: each library's DT_NEEDED entries are already resident when it loads.</summary>
    internal static readonly (string Name, bool Required)[] LoadOrder =
    [
        (GgmlBase, true),
        (GgmlCpu, false), // absent when ggml is built with dynamically loaded backends
        (GgmlCuda, false), // present only in CUDA builds
        (Ggml, true),
        (Llama, true),
        (Shim, true),
        // Our C ABI over llama.cpp's common library (it needs libllama-common beside it, found through $ORIGIN).
        // Optional so that a native build from before it existed still serves everything else; what needs it
        // (structured output) reports the absence through NativeLibraryLoadException when first called.
        (Common, false),
    ];

    /// <summary>The file name of <paramref name="name"/> on the current OS (libllama.so, llama.dll, libllama.dylib).</summary>
    public static string FileName(string name) =>
        OperatingSystem.IsWindows() ? name + ".dll"
        : OperatingSystem.IsMacOS() ? "lib" + name + ".dylib"
        : "lib" + name + ".so";
}
