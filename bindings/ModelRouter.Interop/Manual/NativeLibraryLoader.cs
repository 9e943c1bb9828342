using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ModelRouter.Interop;

/// <summary>
/// The one native library loader of the process. It resolves every <c>[LibraryImport]</c> of this assembly: on
/// first use it finds the directory that holds our native build, loads ggml's libraries, llama and the shim in
/// dependency order from that one directory (never a mix of builds), and hands out their handles.
/// </summary>
public static class NativeLibraryLoader
{
    /// <summary>Environment variable naming a directory searched before the assembly's own.</summary>
    public const string DirectoryVariable = "MODELROUTER_NATIVE_DIR";

    private static readonly Lock Gate = new();
    private static NativeLibrarySet? loaded;

    // CA2255: a module initializer is the only hook that runs before the first generated P/Invoke of this
    // assembly is bound; it registers a resolver and loads nothing.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void RegisterResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
#pragma warning restore CA2255

    /// <summary>The directories searched, in order: <see cref="DirectoryVariable"/>, then the application's.</summary>
    public static IReadOnlyList<string> SearchDirectories()
    {
        var directories = new List<string>(4);
        var fromEnvironment = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            directories.Add(Path.GetFullPath(fromEnvironment));
        }

        AddDistinct(directories, AppContext.BaseDirectory);
        var rid = RuntimeInformation.RuntimeIdentifier;
        AddDistinct(directories, Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native"));
        return directories;
    }

    /// <summary>Loads every library once (thread-safe) and returns the set; throws <see cref="NativeLibraryLoadException"/>.</summary>
    public static NativeLibrarySet EnsureLoaded()
    {
        if (Volatile.Read(ref loaded) is { } set)
        {
            return set;
        }

        lock (Gate)
        {
            loaded ??= LoadFrom(SearchDirectories());
            return loaded;
        }
    }

    /// <summary>
    /// Loads the libraries from the first of <paramref name="directories"/> that holds them all. Public so that tests
    /// and tools can check a directory without touching the process-wide set.
    /// </summary>
    public static NativeLibrarySet LoadFrom(IReadOnlyList<string> directories)
    {
        ArgumentNullException.ThrowIfNull(directories);
        var attempts = new List<NativeLibraryLoadAttempt>();
        foreach (var directory in directories)
        {
            var primary = Path.Combine(directory, NativeLibraryNames.FileName(NativeLibraryNames.Llama));
            if (!File.Exists(primary))
            {
                attempts.Add(new(primary, "file not found"));
                continue;
            }

            // Once llama is present here, this directory is the build: a failure inside it is reported as such
            // rather than falling through to another directory's possibly different build.
            return LoadDirectory(directory, attempts);
        }

        throw new NativeLibraryLoadException(NativeLibraryNames.Llama, attempts);
    }

    private static NativeLibrarySet LoadDirectory(string directory, List<NativeLibraryLoadAttempt> attempts)
    {
        var handles = new Dictionary<string, nint>(StringComparer.Ordinal);
        foreach (var (name, required) in NativeLibraryNames.LoadOrder)
        {
            var path = Path.Combine(directory, NativeLibraryNames.FileName(name));
            if (!File.Exists(path))
            {
                if (!required)
                {
                    continue;
                }

                attempts.Add(new(path, "file not found"));
                throw new NativeLibraryLoadException(name, attempts);
            }

            try
            {
                handles[name] = NativeLibrary.Load(path);
            }
            catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
            {
                // The runtime's message carries dlerror()/LoadLibrary's text: keep it verbatim.
                attempts.Add(new(path, ex.Message));
                throw new NativeLibraryLoadException(name, attempts);
            }
        }

        return new NativeLibrarySet(directory, handles);
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        foreach (var (name, _) in NativeLibraryNames.LoadOrder)
        {
            if (string.Equals(name, libraryName, StringComparison.Ordinal))
            {
                return EnsureLoaded().GetHandle(libraryName);
            }
        }

        return 0; // not ours: let the runtime's default probing handle it
    }

    private static void AddDistinct(List<string> directories, string directory)
    {
        var full = Path.GetFullPath(directory);
        if (!directories.Contains(full, StringComparer.Ordinal))
        {
            directories.Add(full);
        }
    }
}

/// <summary>The native libraries loaded from one directory. Handles live for the process; nothing unloads them.</summary>
public sealed class NativeLibrarySet
{
    private readonly Dictionary<string, nint> handles;

    internal NativeLibrarySet(string directory, Dictionary<string, nint> handles)
    {
        Directory = directory;
        this.handles = handles;
    }

    public string Directory { get; }

    public IEnumerable<string> LoadedLibraries => handles.Keys;

    public bool IsLoaded(string name) => handles.ContainsKey(name);

    public nint GetHandle(string name) =>
        handles.TryGetValue(name, out var handle)
            ? handle
            : throw new NativeLibraryLoadException(name, [new(Path.Combine(Directory, NativeLibraryNames.FileName(name)), "not part of this build (optional library absent)")]);
}
