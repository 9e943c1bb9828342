using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Tests.Generation;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Models;

public sealed class ModelLoadTests
{
    [Fact]
    public void Loads_stories260K_and_describes_it()
    {
        var progress = new List<float>();
        using var model = Model.Load(GgufTestFiles.RequireSharedModel("stories260K.gguf"), new ModelLoadOptions
        {
            LoadMode = ModelLoadMode.None,
            Progress = new SynchronousProgress(progress.Add),
        });

        Assert.Equal("llama", model.Architecture);
        Assert.Equal(512, model.Vocabulary.Count);
        Assert.True(model.ParameterCount > 200_000);
        Assert.Equal(5, model.LayerCount);
        Assert.Equal("llama", model.GetMetadata("general.architecture"));
        Assert.Null(model.GetMetadata("no.such.key"));
        Assert.NotEmpty(progress);
        Assert.Equal(1.0f, progress[^1]);
    }

    [Fact]
    public void A_missing_file_is_an_invalid_model_file_naming_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.gguf");

        var ex = Assert.Throws<InvalidModelFileException>(() => Model.Load(path));

        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_file_is_rejected_before_llama_cpp_sees_it_and_the_process_stays_healthy()
    {
        var source = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        using var dir = new TempDirectory("load-truncated");
        var path = dir.File("truncated.gguf");
        var bytes = File.ReadAllBytes(source);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 1000).ToArray());

        var ex = Assert.Throws<InvalidModelFileException>(() => Model.Load(path));
        Assert.Contains("truncated.gguf", ex.Message, StringComparison.Ordinal);

        using var healthy = Model.Load(source);
        Assert.Equal(512, healthy.Vocabulary.Count);
    }

    [Fact]
    public void A_progress_callback_can_cancel_a_load()
    {
        using var cts = new CancellationTokenSource();
        var options = new ModelLoadOptions { Progress = new SynchronousProgress(_ => cts.Cancel()), Cancellation = cts.Token };

        Assert.Throws<OperationCanceledException>(() => Model.Load(GgufTestFiles.RequireSharedModel("stories260K.gguf"), options));
    }

    [Fact]
    public void A_throwing_progress_sink_aborts_the_load_with_its_exception()
    {
        var options = new ModelLoadOptions { Progress = new SynchronousProgress(_ => throw new InvalidOperationException("sink failed")) };

        var ex = Assert.Throws<InvalidOperationException>(() => Model.Load(GgufTestFiles.RequireSharedModel("stories260K.gguf"), options));
        Assert.Equal("sink failed", ex.Message);
    }

    [Fact]
    public void Unknown_devices_and_buffer_types_are_named_with_the_known_ones()
    {
        var path = GgufTestFiles.RequireSharedModel("stories260K.gguf");

        var device = Assert.Throws<ArgumentException>(() => Model.Load(path, new ModelLoadOptions { Devices = ["NoSuchGpu7"] }));
        Assert.Contains("NoSuchGpu7", device.Message, StringComparison.Ordinal);
        Assert.Contains("CPU", device.Message, StringComparison.Ordinal);

        var buft = Assert.Throws<ArgumentException>(() => Model.Load(path, new ModelLoadOptions { BufferTypeOverrides = [new("blk\\..*", "NoSuchBuffer")] }));
        Assert.Contains("NoSuchBuffer", buft.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Devices_and_buffer_type_overrides_reach_llama_cpp()
    {
        using var model = Model.Load(GgufTestFiles.RequireSharedModel("stories260K.gguf"), new ModelLoadOptions
        {
            Devices = ["CPU"],
            BufferTypeOverrides = [new("token_embd\\.weight", "CPU")],
            GpuLayers = 0,
        });

        Assert.Equal(512, model.Vocabulary.Count);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to a sync context instead).</summary>
    private sealed class SynchronousProgress(Action<float> report) : IProgress<float>
    {
        public void Report(float value) => report(value);
    }
}
