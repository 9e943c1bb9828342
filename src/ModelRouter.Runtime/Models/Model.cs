using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Models;

/// <summary>
/// A loaded GGUF model: its weights (owned through <see cref="SafeModelHandle"/>), vocabulary and description.
/// Contexts created from it keep it alive, so disposing the model while they run is safe.
/// </summary>
public sealed unsafe class Model : IDisposable
{
    private readonly SafeModelHandle handle;

    private Model(string path, SafeModelHandle handle)
    {
        FilePath = path;
        this.handle = handle;
        var model = handle.Pointer;
        Vocabulary = new Vocabulary(handle, Llama.llama_model_get_vocab(model));
        ParameterCount = (long)Llama.llama_model_n_params(model);
        SizeBytes = (long)Llama.llama_model_size(model);
        EmbeddingLength = Llama.llama_model_n_embd(model);
        LayerCount = Llama.llama_model_n_layer(model);
        TrainingContextLength = Llama.llama_model_n_ctx_train(model);
        Architecture = GetMetadata("general.architecture") ?? "unknown";
        var buffer = stackalloc byte[256];
        var n = Llama.llama_model_desc(model, (sbyte*)buffer, 256);
        Description = n > 0 ? System.Text.Encoding.UTF8.GetString(buffer, Math.Min(n, 255)) : Architecture;
    }

    public string FilePath { get; }

    public Vocabulary Vocabulary { get; }

    public string Architecture { get; }

    /// <summary>llama.cpp's one-line description (architecture, size class, weight type).</summary>
    public string Description { get; }

    public long ParameterCount { get; }

    /// <summary>Bytes of all weight tensors.</summary>
    public long SizeBytes { get; }

    public int EmbeddingLength { get; }

    public int LayerCount { get; }

    public int TrainingContextLength { get; }

    internal SafeModelHandle Handle => handle;

    /// <summary>
    /// Loads a GGUF model. The file is validated in managed code first (exists, readable, GGUF magic and version,
    /// every tensor's data inside the file), so llama.cpp never sees a malformed file.
    /// </summary>
    /// <exception cref="InvalidModelFileException">The file is missing, unreadable or malformed.</exception>
    /// <exception cref="ModelLoadException">llama.cpp could not load a well-formed file (unsupported architecture, memory).</exception>
    /// <exception cref="OperationCanceledException">The options' cancellation token fired during the load.</exception>
    public static Model Load(string path, ModelLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= ModelLoadOptions.Default;
        var fullPath = Path.GetFullPath(path);
        options.Cancellation.ThrowIfCancellationRequested();
        GgufValidator.Validate(fullPath);
        NativeRuntime.EnsureInitialized();

        using var parameters = new NativeLoadParameters(options);
        var progress = new LoadProgress(options.Progress, options.Cancellation);
        var progressHandle = GCHandle.Alloc(progress);
        llama_model* model;
        var pathBytes = NativeStrings.Allocate(fullPath);
        try
        {
            parameters.Value.progress_callback = &OnProgress;
            parameters.Value.progress_callback_user_data = (void*)GCHandle.ToIntPtr(progressHandle);
            NativeLog.ClearRecentErrors();
            model = Llama.llama_model_load_from_file((sbyte*)pathBytes, parameters.Value);
        }
        finally
        {
            NativeMemory.Free(pathBytes);
            progressHandle.Free();
        }

        if (model == null)
        {
            if (progress.Cancelled)
            {
                throw new OperationCanceledException($"Loading '{fullPath}' was cancelled.", options.Cancellation);
            }

            progress.Failure?.Throw();
            throw new ModelLoadException(fullPath, NativeLog.TakeRecentErrors() ?? "llama.cpp returned no model (see its log)");
        }

        return new Model(fullPath, new SafeModelHandle(model));
    }

    /// <summary>A metadata value as text (llama.cpp renders numbers and arrays too); null when absent.</summary>
    public string? GetMetadata(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        using var lease = new HandleLease(handle);
        var keyBytes = NativeStrings.Allocate(key);
        try
        {
            Span<byte> small = stackalloc byte[512];
            int n;
            fixed (byte* buffer = small)
            {
                n = Llama.llama_model_meta_val_str(handle.Pointer, (sbyte*)keyBytes, (sbyte*)buffer, (nuint)small.Length);
                if (n < 0)
                {
                    return null;
                }

                if (n < small.Length)
                {
                    return System.Text.Encoding.UTF8.GetString(small[..n]);
                }
            }

            var large = new byte[n + 1];
            fixed (byte* buffer = large)
            {
                n = Llama.llama_model_meta_val_str(handle.Pointer, (sbyte*)keyBytes, (sbyte*)buffer, (nuint)large.Length);
            }

            return System.Text.Encoding.UTF8.GetString(large, 0, n);
        }
        finally
        {
            NativeMemory.Free(keyBytes);
        }
    }

    public void Dispose() => handle.Dispose();

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static bool OnProgress(float value, void* userData)
    {
        // Runs on the loading thread inside llama.cpp: report and decide, never throw.
        var progress = (LoadProgress)GCHandle.FromIntPtr((nint)userData).Target!;
        return progress.Report(value);
    }

    private sealed class LoadProgress(IProgress<float>? sink, CancellationToken cancellation)
    {
        public bool Cancelled { get; private set; }

        public System.Runtime.ExceptionServices.ExceptionDispatchInfo? Failure { get; private set; }

        public bool Report(float value)
        {
            if (cancellation.IsCancellationRequested)
            {
                Cancelled = true;
                return false;
            }

            try
            {
                sink?.Report(value);
                return true;
            }
#pragma warning disable CA1031 // a throwing progress sink aborts the load; rethrown by Load after native returns
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
                return false;
            }
        }
    }
}
