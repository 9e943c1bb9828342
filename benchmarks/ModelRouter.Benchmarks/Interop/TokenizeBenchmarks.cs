using System.Text;
using BenchmarkDotNet.Attributes;
using ModelRouter.Interop;

namespace ModelRouter.Benchmarks.Interop;

/// <summary>
/// The cost of one call through the generated bindings: llama_tokenize of a ~64-token prompt with the
/// llama-bpe vocabulary, into a preallocated buffer (the P/Invoke itself must allocate nothing).
/// </summary>
[BenchmarkCategory("interop")]
public unsafe class TokenizeBenchmarks
{
    private llama_model* model;
    private llama_vocab* vocab;
    private byte[] prompt = [];
    private readonly int[] tokens = new int[512];

    [GlobalSetup]
    public void Setup()
    {
        var llamaDir = Environment.GetEnvironmentVariable("LLAMA_CPP_DIR") is { Length: > 0 } d ? d : Path.Combine(RepoRoot(), "native", "llama.cpp");
        var path = Path.Combine(llamaDir, "models", "ggml-vocab-llama-bpe.gguf");
        Llama.llama_backend_init();
        var parameters = Llama.llama_model_default_params();
        parameters.vocab_only = true;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
        {
            model = Llama.llama_model_load_from_file((sbyte*)p, parameters);
        }

        if (model == null)
        {
            throw new InvalidOperationException($"could not load {path}: run ./build.sh native first");
        }

        vocab = Llama.llama_model_get_vocab(model);
        prompt = Encoding.UTF8.GetBytes(
            "Write a C# function that parses a length-prefixed binary frame from a ReadOnlySequence<byte>, checks the " +
            "declared length against a limit before waiting for the body, and returns false when more data is needed.");
    }

    [GlobalCleanup]
    public void Cleanup() => Llama.llama_model_free(model);

    [Benchmark(Baseline = true)]
    public int LlamaTokenize()
    {
        fixed (byte* t = prompt)
        fixed (int* o = tokens)
        {
            return Llama.llama_tokenize(vocab, (sbyte*)t, prompt.Length, o, tokens.Length, false, false);
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelRouter.Native.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("No ModelRouter.Native.sln above " + AppContext.BaseDirectory);
    }
}
