using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Config;
using ModelRouter.Bindings.Generator.Emit;
using ModelRouter.Bindings.Generator.Mapping;
using ModelRouter.Bindings.Generator.Output;

namespace ModelRouter.Bindings.Generator;

/// <summary>The whole run: config → parse → model → emit → write or check.</summary>
internal static class Generator
{
    // Fixed target: output must not depend on the machine, and the layout tests state x86-64 Linux values.
    private const string Target = "--target=x86_64-pc-linux-gnu";

    public static int Run(Options options)
    {
        var config = ConfigLoader.Load(options.ConfigPath);
        var headerMap = new HeaderMap(config, options.LlamaDir, options.ShimDir);
        var headerPaths = new List<string>();
        foreach (var header in config.Headers)
        {
            var path = headerMap.FullPath(header);
            if (!File.Exists(path))
            {
                throw new GeneratorException(
                    ExitCodes.Input,
                    $"header not found: {path} ('{header.Path}' under the {header.Root} root; check --llama-dir/--shim-dir or {options.ConfigPath})");
            }

            headerPaths.Add(path);
        }

        LibClangResolver.Initialize();
        var resourceDir = LibClangResolver.FindResourceDirectory();
        var llama = Path.GetFullPath(options.LlamaDir);
        string[] arguments =
        [
            "-x", "c", "-std=c11", Target,
            "-resource-dir", resourceDir,
            $"-I{Path.Combine(llama, "include")}",
            $"-I{Path.Combine(llama, "ggml", "include")}",
            $"-I{Path.GetFullPath(options.ShimDir)}",
        ];

        var source = TranslationUnit.BuildSource(headerPaths, config.Headers.SelectMany(h => h.Constants).Distinct(StringComparer.Ordinal));
        using var tu = TranslationUnit.Parse(source, arguments);
        var errors = tu.Errors(source);
        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                Console.Error.WriteLine(error);
            }

            throw new GeneratorException(
                ExitCodes.HeaderParse,
                $"the headers no longer parse as C11 ({errors.Count} error(s) above); update {options.ConfigPath} or the generator");
        }

        var configName = Path.GetRelativePath(Directory.GetCurrentDirectory(), options.ConfigPath);
        var model = new ModelBuilder(config, configName, headerMap, tu).Build();
        var bindings = BindingsEmitter.Emit(model, config.Namespace, options.Commit);
        var tests = LayoutTestEmitter.Emit(model, config.Namespace, options.Commit);

        var complete = model.Records.Count(r => !r.IsOpaque);
        var summary = $"{model.Functions.Count} functions, {complete} structs ({model.Records.Count - complete} opaque), {model.Enums.Count} enums, {model.Constants.Count} constants";
        if (options.Check)
        {
            var differences = OutputSync.Compare(options.OutputDir, bindings);
            differences.AddRange(OutputSync.Compare(options.TestsOutputDir, tests));
            if (differences.Count > 0)
            {
                foreach (var difference in differences)
                {
                    Console.WriteLine(difference);
                }

                Console.Error.WriteLine("bindings drift: run ./build.sh bindings");
                return ExitCodes.Drift;
            }

            Console.WriteLine($"bindings up to date: {summary}");
            return ExitCodes.Success;
        }

        var (written, deleted) = OutputSync.Write(options.OutputDir, bindings);
        var (testsWritten, testsDeleted) = OutputSync.Write(options.TestsOutputDir, tests);
        Console.WriteLine($"generated {summary}; {written + testsWritten} file(s) written, {deleted + testsDeleted} stale file(s) deleted");
        return ExitCodes.Success;
    }
}
