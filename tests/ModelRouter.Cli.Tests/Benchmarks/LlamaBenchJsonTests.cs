using ModelRouter.Cli.Benchmarks;

namespace ModelRouter.Cli.Tests.Benchmarks;

public sealed class LlamaBenchJsonTests
{
    // Shape of `llama-bench -o json` at the pinned commit (tools/llama-bench/llama-bench.cpp, json_printer).
    private const string TwoTests = """
        [
          {
            "build_commit": "de3ff81",
            "build_number": 1,
            "cpu_info": "AMD EPYC",
            "gpu_info": "",
            "backends": "CPU",
            "model_filename": "/tmp/qwen.gguf",
            "model_type": "qwen2 1B Q4_0",
            "model_size": 283000000,
            "model_n_params": 494032768,
            "n_batch": 2048,
            "n_ubatch": 512,
            "n_threads": 2,
            "cpu_mask": "0x0",
            "cpu_strict": false,
            "poll": 50,
            "type_k": "f16",
            "type_v": "f16",
            "n_gpu_layers": 99,
            "flash_attn": "auto",
            "n_prompt": 512,
            "n_gen": 0,
            "n_depth": 0,
            "test_time": "2026-11-23T02:00:00Z",
            "avg_ns": 5000000000,
            "stddev_ns": 10000000,
            "avg_ts": 102.400000,
            "stddev_ts": 0.250000,
            "samples_ns": [ 5000000000, 5010000000 ],
            "samples_ts": [ 102.4, 102.19 ]
          },
          {
            "build_commit": "de3ff81",
            "backends": "CPU",
            "model_filename": "/tmp/qwen.gguf",
            "n_batch": 2048,
            "n_ubatch": 512,
            "n_threads": 2,
            "flash_attn": "auto",
            "n_prompt": 0,
            "n_gen": 128,
            "avg_ts": 20.5,
            "stddev_ts": 0.1,
            "samples_ts": [ 20.4, 20.6 ]
          }
        ]
        """;

    [Fact]
    public void ReadsEveryTestWithItsSetupAndRates()
    {
        var results = LlamaBenchJson.Parse(TwoTests);

        Assert.Equal(2, results.Count);
        var pp = results[0];
        Assert.Equal("pp512", pp.TestName);
        Assert.Equal("CPU", pp.Backends);
        Assert.Equal("de3ff81", pp.BuildCommit);
        Assert.Equal("/tmp/qwen.gguf", pp.ModelFile);
        Assert.Equal(2, pp.Threads);
        Assert.Equal(2048, pp.BatchSize);
        Assert.Equal(512, pp.MicroBatchSize);
        Assert.Equal(99, pp.GpuLayers);
        Assert.Equal("auto", pp.FlashAttention);
        Assert.Equal(102.4, pp.Throughput.Mean, 9);
        Assert.Equal(0.25, pp.Throughput.StandardDeviation, 9);
        Assert.Equal([102.4, 102.19], pp.Throughput.Samples);

        var tg = results[1];
        Assert.Equal("tg128", tg.TestName);
        Assert.Equal(0, tg.PromptTokens);
        Assert.Equal(128, tg.GeneratedTokens);
        Assert.Equal(20.5, tg.Throughput.Mean, 9);
        Assert.Equal(0.1, tg.Throughput.StandardDeviation, 9);
    }

    [Fact]
    public void AcceptsNumbersWrittenAsStringsAndMissingSamples()
    {
        var results = LlamaBenchJson.Parse("""[ { "n_prompt": "0", "n_gen": "64", "avg_ts": "33.5", "backends": "CUDA" } ]""");

        var tg = Assert.Single(results);
        Assert.Equal("tg64", tg.TestName);
        Assert.Equal("CUDA", tg.Backends);
        Assert.Equal(33.5, tg.Throughput.Mean, 9);
        Assert.Equal(0, tg.Throughput.StandardDeviation);
        Assert.Equal([33.5], tg.Throughput.Samples);
    }

    [Fact]
    public void EmptyArrayIsNoTests() => Assert.Empty(LlamaBenchJson.Parse("[]"));

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("| model | size |", "not valid JSON")]
    [InlineData("{ \"avg_ts\": 1 }", "array")]
    [InlineData("[ 1 ]", "not an object")]
    [InlineData("[ { \"n_prompt\": 512, \"n_gen\": 0 } ]", "avg_ts")]
    [InlineData("[ { \"avg_ts\": 5, \"n_gen\": 0 } ]", "n_prompt")]
    public void RejectsWhatIsNotLlamaBenchJsonAndSaysWhy(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => LlamaBenchJson.Parse(json));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(512, 0, "pp512")]
    [InlineData(0, 128, "tg128")]
    [InlineData(512, 128, "pp512+tg128")]
    public void NamesTestsAsLlamaBenchDoes(int prompt, int generated, string expected) =>
        Assert.Equal(expected, TestNames.Of(prompt, generated));

    [Fact]
    public void ArgumentsAskForJsonWithTheSameSetup()
    {
        var args = LlamaBenchRunner.Arguments("/m.gguf", 512, 128, 2, 5, gpuLayers: null);
        Assert.Equal(["-m", "/m.gguf", "-p", "512", "-n", "128", "-t", "2", "-r", "5", "-o", "json", "--progress"], args);
        Assert.Equal(["-ngl", "99"], LlamaBenchRunner.Arguments("/m.gguf", 1, 2, 1, 1, gpuLayers: 99).TakeLast(2));
    }
}
