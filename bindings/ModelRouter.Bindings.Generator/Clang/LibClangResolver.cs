using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Bindings.Generator.Clang;

// Finds libclang and the clang resource directory before any parsing starts, so a machine without
// Debian's libclang packages fails with one actionable message instead of a DllNotFoundException later.
internal static class LibClangResolver
{
    internal const string InstallHint = "apt-get install libclang1-19 libclang-common-19-dev";

    private static readonly string[] s_candidates =
    [
        "libclang-19.so.1",
        "libclang.so.1",
        "libclang.so",
        "libclang.dll",
    ];

    private static nint s_handle;

    /// <summary>Loads libclang once and routes the "libclang" import name to it.</summary>
    public static void Initialize()
    {
        if (s_handle != 0)
        {
            return;
        }

        var tried = new List<string>();
        var errors = new StringBuilder();
        var overridePath = Environment.GetEnvironmentVariable("MR_LIBCLANG_PATH");
        var candidates = string.IsNullOrWhiteSpace(overridePath)
            ? s_candidates
            : [overridePath, .. s_candidates];

        foreach (var candidate in candidates)
        {
            tried.Add(candidate);
            try
            {
                s_handle = NativeLibrary.Load(candidate);
                break;
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                // .NET wraps dlerror()'s text in advice about strace; the last line is the loader's own error.
                var lines = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                errors.Append("\n    ").Append(candidate).Append(": ").Append(lines.Length > 0 ? lines[^1] : e.GetType().Name);
            }
        }

        if (s_handle == 0)
        {
            throw new GeneratorException(
                ExitCodes.Environment,
                $"libclang could not be loaded. Tried (MR_LIBCLANG_PATH first when set): {string.Join(", ", tried)}.{errors}\n" +
                $"Fix: {InstallHint}, or set MR_LIBCLANG_PATH to a libclang shared library.");
        }

        NativeLibrary.SetDllImportResolver(typeof(LibClangResolver).Assembly, Resolve);
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
        => libraryName == LibClang.LibraryName ? s_handle : 0;

    /// <summary>
    /// clang needs its own headers (stddef.h, stdbool.h, ...) from the resource directory that matches the
    /// library; without -resource-dir a libclang loaded from /usr/lib cannot find them.
    /// </summary>
    public static string FindResourceDirectory()
    {
        var fromEnv = Environment.GetEnvironmentVariable("MR_CLANG_RESOURCE_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!File.Exists(Path.Combine(fromEnv, "include", "stddef.h")))
            {
                throw new GeneratorException(
                    ExitCodes.Environment,
                    $"MR_CLANG_RESOURCE_DIR={fromEnv} has no include/stddef.h; point it at a clang resource directory (e.g. /usr/lib/llvm-19/lib/clang/19).");
            }

            return fromEnv;
        }

        const string preferred = "/usr/lib/llvm-19/lib/clang/19";
        if (File.Exists(Path.Combine(preferred, "include", "stddef.h")))
        {
            return preferred;
        }

        var found = new List<string>();
        if (Directory.Exists("/usr/lib"))
        {
            foreach (var llvm in Directory.EnumerateDirectories("/usr/lib", "llvm-*"))
            {
                var clangDir = Path.Combine(llvm, "lib", "clang");
                if (!Directory.Exists(clangDir))
                {
                    continue;
                }

                found.AddRange(Directory.EnumerateDirectories(clangDir)
                    .Where(d => File.Exists(Path.Combine(d, "include", "stddef.h"))));
            }
        }

        if (found.Count == 0)
        {
            throw new GeneratorException(
                ExitCodes.Environment,
                $"No clang resource directory found (tried MR_CLANG_RESOURCE_DIR, {preferred}, /usr/lib/llvm-*/lib/clang/*). Fix: {InstallHint}.");
        }

        // Highest version wins; ordinal order on the version-bearing path keeps the choice deterministic.
        found.Sort(static (a, b) => CompareVersions(a, b));
        return found[^1];
    }

    private static int CompareVersions(string a, string b)
    {
        static Version Parse(string path)
            => Version.TryParse(Path.GetFileName(path), out var v) ? v
                : int.TryParse(Path.GetFileName(path), out var major) ? new Version(major, 0) : new Version(0, 0);

        var byVersion = Parse(a).CompareTo(Parse(b));
        return byVersion != 0 ? byVersion : string.CompareOrdinal(a, b);
    }
}
