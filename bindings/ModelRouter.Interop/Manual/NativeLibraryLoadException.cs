namespace ModelRouter.Interop;

/// <summary>
/// A native library could not be loaded. <see cref="Attempts"/> holds every path tried with the OS loader's own
/// error for it, so the message alone is enough to fix the installation.
/// </summary>
public sealed class NativeLibraryLoadException : DllNotFoundException
{
    public NativeLibraryLoadException(string libraryName, IReadOnlyList<NativeLibraryLoadAttempt> attempts)
        : base(BuildMessage(libraryName, attempts))
    {
        LibraryName = libraryName;
        Attempts = attempts;
    }

    public NativeLibraryLoadException()
        : this("(unknown)", [])
    {
    }

    public NativeLibraryLoadException(string message)
        : base(message)
    {
        LibraryName = "(unknown)";
        Attempts = [];
    }

    public NativeLibraryLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
        LibraryName = "(unknown)";
        Attempts = [];
    }

    public string LibraryName { get; }

    public IReadOnlyList<NativeLibraryLoadAttempt> Attempts { get; }

    private static string BuildMessage(string libraryName, IReadOnlyList<NativeLibraryLoadAttempt> attempts)
    {
        var text = new System.Text.StringBuilder();
        text.Append("Could not load the native library '").Append(libraryName).Append("' (")
            .Append(NativeLibraryNames.FileName(libraryName)).Append(").");
        if (attempts.Count == 0)
        {
            text.Append(" No directory was searched.");
        }
        else
        {
            text.Append(" Tried:");
            foreach (var attempt in attempts)
            {
                text.Append("\n  ").Append(attempt.Path).Append(": ").Append(attempt.Error);
            }
        }

        text.Append("\nFix: build the native libraries with `./build.sh native` (then `./build.sh build` copies them next to ")
            .Append("the assemblies), or point ").Append(NativeLibraryLoader.DirectoryVariable)
            .Append(" at a directory holding them.");
        return text.ToString();
    }
}

/// <summary>One place the loader looked, and what the OS loader said.</summary>
public readonly record struct NativeLibraryLoadAttempt(string Path, string Error);
