namespace ModelRouter.Bindings.Generator;

/// <summary>Command line; defaults are relative to the repository root so ./build.sh can pass nothing.</summary>
internal sealed record Options(
    string ConfigPath,
    string LlamaDir,
    string ShimDir,
    string Commit,
    string OutputDir,
    string TestsOutputDir,
    bool Check)
{
    public const string Usage = """
        ModelRouter.Bindings.Generator: P/Invoke bindings for llama.cpp from its C headers (via libclang).

        Usage:
          dotnet run --project bindings/ModelRouter.Bindings.Generator -c Release -- [options]

        Options:
          --config <file>      bindings config (default: bindings/bindings.json)
          --llama-dir <dir>    llama.cpp checkout (default: $LLAMA_CPP_DIR, else native/llama.cpp)
          --shim-dir <dir>     directory of mr_shim.h (default: native/shim)
          --commit <sha>       llama.cpp commit named in file headers (default: LLAMA_COMMIT from native/llama.cpp.lock)
          --out <dir>          bindings output (default: bindings/ModelRouter.Interop/Generated)
          --tests-out <dir>    layout tests output (default: tests/ModelRouter.Interop.Tests/Generated)
          --check              generate in memory and compare with the files on disk; write nothing
          -h, --help           show this help

        Default paths are relative to the repository root (the directory holding ModelRouter.Native.sln or
        .git); paths given on the command line are relative to the current directory.

        Environment:
          MR_LIBCLANG_PATH       libclang shared library to load first
          MR_CLANG_RESOURCE_DIR  clang resource directory (default /usr/lib/llvm-19/lib/clang/19)

        Exit codes:
          0   success (with --check: generated files are up to date)
          1   --check found drift: files differ, are missing or stale; run ./build.sh bindings
          2   the headers do not parse (clang errors are printed); update bindings/bindings.json or the generator
          3   bad input: config error, missing header, a configured name not found, or an unsupported
              construct (variadic function, va_list, bit-field) in something included
          4   environment: libclang or the clang resource directory not found
              (apt-get install libclang1-19 libclang-common-19-dev)
          64  bad command line
        """;

    /// <summary>Parses arguments; returns null when help was requested.</summary>
    public static Options? Parse(string[] args)
    {
        string? config = null, llama = null, shim = null, commit = null, output = null, tests = null;
        var check = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Value()
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new GeneratorException(ExitCodes.Usage, $"{args[i]} needs a value\n\n{Usage}");
                }

                return args[++i];
            }

            switch (args[i])
            {
                case "--config": config = Value(); break;
                case "--llama-dir": llama = Value(); break;
                case "--shim-dir": shim = Value(); break;
                case "--commit": commit = Value(); break;
                case "--out": output = Value(); break;
                case "--tests-out": tests = Value(); break;
                case "--check": check = true; break;
                case "-h" or "--help": return null;
                default: throw new GeneratorException(ExitCodes.Usage, $"unknown argument: {args[i]}\n\n{Usage}");
            }
        }

        var root = FindRepoRoot();
        string Resolve(string? given, string fallback)
            => Path.GetFullPath(given ?? Path.Combine(root ?? Directory.GetCurrentDirectory(), fallback));

        var llamaDefault = Environment.GetEnvironmentVariable("LLAMA_CPP_DIR");
        var resolvedCommit = commit ?? CommitFromLock(root)
            ?? throw new GeneratorException(ExitCodes.Usage, "no --commit given and native/llama.cpp.lock has no LLAMA_COMMIT");
        if (resolvedCommit.Length is < 7 or > 40 || !resolvedCommit.All(char.IsAsciiHexDigitLower))
        {
            throw new GeneratorException(ExitCodes.Usage, $"--commit must be a lower-case hex git commit, not '{resolvedCommit}'");
        }

        var outputDir = Resolve(output, "bindings/ModelRouter.Interop/Generated");
        var testsOutputDir = Resolve(tests, "tests/ModelRouter.Interop.Tests/Generated");
        if (string.Equals(outputDir.TrimEnd('/'), testsOutputDir.TrimEnd('/'), StringComparison.Ordinal))
        {
            // Each folder's stale-file cleanup would delete the other's output.
            throw new GeneratorException(ExitCodes.Usage, "--out and --tests-out must be different folders");
        }

        return new Options(
            Resolve(config, "bindings/bindings.json"),
            Resolve(llama ?? (string.IsNullOrWhiteSpace(llamaDefault) ? null : llamaDefault), "native/llama.cpp"),
            Resolve(shim, "native/shim"),
            resolvedCommit,
            outputDir,
            testsOutputDir,
            check);
    }

    /// <summary>
    /// The solution file wins over .git, and the current directory over the generator's own location, so a
    /// run from anywhere inside the checkout, or via dotnet run from elsewhere, finds the same root.
    /// </summary>
    private static string? FindRepoRoot()
    {
        string[] starts = [Directory.GetCurrentDirectory(), AppContext.BaseDirectory];
        foreach (var marker in new Func<DirectoryInfo, bool>[]
                 {
                     d => File.Exists(Path.Combine(d.FullName, "ModelRouter.Native.sln")),
                     d => Directory.Exists(Path.Combine(d.FullName, ".git")),
                 })
        {
            foreach (var start in starts)
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                {
                    if (marker(dir))
                    {
                        return dir.FullName;
                    }
                }
            }
        }

        return null;
    }

    private static string? CommitFromLock(string? root)
    {
        var lockFile = root is null ? null : Path.Combine(root, "native", "llama.cpp.lock");
        if (lockFile is null || !File.Exists(lockFile))
        {
            return null;
        }

        return File.ReadLines(lockFile)
            .Select(line => line.Trim())
            .Where(line => line.StartsWith("LLAMA_COMMIT=", StringComparison.Ordinal))
            .Select(line => line["LLAMA_COMMIT=".Length..].Trim())
            .FirstOrDefault();
    }
}
