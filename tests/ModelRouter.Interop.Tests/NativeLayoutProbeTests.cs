using System.Diagnostics;
using System.Globalization;

namespace ModelRouter.Interop.Tests;

/// <summary>
/// Cross-checks the generated C# structs against the C compiler itself (not libclang): CMake builds
/// native/shim/probes/mr_layout_probe.c from the same headers, and its sizeof/offsetof must equal C#'s.
/// </summary>
public sealed unsafe class NativeLayoutProbeTests
{
    [Fact]
    public void Csharp_layout_equals_the_compilers_for_every_probed_struct_and_field()
    {
        var probe = RunProbe();
        var csharp = CSharpLayouts();

        Assert.Equal(csharp.Keys.Order(StringComparer.Ordinal), probe.Keys.Order(StringComparer.Ordinal));
        foreach (var (fact, value) in probe)
        {
            Assert.True(csharp[fact] == value, $"{fact}: C compiler says {value}, C# says {csharp[fact]}");
        }
    }

    [Theory]
    [InlineData("llama_model_params size", 80)]
    [InlineData("llama_context_params size", 160)]
    [InlineData("llama_batch size", 56)]
    [InlineData("llama_model_kv_override size", 264)]
    public void Sizes_are_the_known_x86_64_values(string fact, int expected)
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            Assert.Skip("The expected sizes are for x86-64 Linux.");
        }

        Assert.Equal(expected, CSharpLayouts()[fact]);
        Assert.Equal(expected, RunProbe()[fact]);
    }

    private static Dictionary<string, int> RunProbe()
    {
        var directory = NativeLibraryLoader.EnsureLoaded().Directory;
        var exe = Path.Combine(directory, OperatingSystem.IsWindows() ? "mr_layout_probe.exe" : "mr_layout_probe");
        Assert.True(File.Exists(exe), $"{exe} is missing: the native build (./build.sh native) produces it next to the libraries.");

        using var process = Process.Start(new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);

        // "<struct> size <n>" or "<struct>.<field> offset <n>"
        var facts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ');
            Assert.Equal(3, parts.Length);
            facts.Add(parts[0] + " " + parts[1], int.Parse(parts[2], CultureInfo.InvariantCulture));
        }

        Assert.NotEmpty(facts);
        return facts;
    }

    private static Dictionary<string, int> CSharpLayouts()
    {
        var facts = new Dictionary<string, int>(StringComparer.Ordinal);
        void Size<T>(string name)
            where T : unmanaged => facts.Add(name + " size", sizeof(T));
        void Offset(string name, void* field, void* start) => facts.Add(name + " offset", (int)((byte*)field - (byte*)start));

        llama_model_params m;
        Size<llama_model_params>("llama_model_params");
        Offset("llama_model_params.devices", &m.devices, &m);
        Offset("llama_model_params.tensor_buft_overrides", &m.tensor_buft_overrides, &m);
        Offset("llama_model_params.n_gpu_layers", &m.n_gpu_layers, &m);
        Offset("llama_model_params.split_mode", &m.split_mode, &m);
        Offset("llama_model_params.load_mode", &m.load_mode, &m);
        Offset("llama_model_params.lazy_mode", &m.lazy_mode, &m);
        Offset("llama_model_params.main_gpu", &m.main_gpu, &m);
        Offset("llama_model_params.tensor_split", &m.tensor_split, &m);
        Offset("llama_model_params.progress_callback", &m.progress_callback, &m);
        Offset("llama_model_params.progress_callback_user_data", &m.progress_callback_user_data, &m);
        Offset("llama_model_params.kv_overrides", &m.kv_overrides, &m);
        Offset("llama_model_params.vocab_only", &m.vocab_only, &m);
        Offset("llama_model_params.check_tensors", &m.check_tensors, &m);
        Offset("llama_model_params.use_extra_bufts", &m.use_extra_bufts, &m);
        Offset("llama_model_params.no_host", &m.no_host, &m);
        Offset("llama_model_params.no_alloc", &m.no_alloc, &m);
        Offset("llama_model_params.load_mtp", &m.load_mtp, &m);

        llama_context_params c;
        Size<llama_context_params>("llama_context_params");
        Offset("llama_context_params.n_ctx", &c.n_ctx, &c);
        Offset("llama_context_params.n_batch", &c.n_batch, &c);
        Offset("llama_context_params.n_ubatch", &c.n_ubatch, &c);
        Offset("llama_context_params.n_seq_max", &c.n_seq_max, &c);
        Offset("llama_context_params.n_rs_seq", &c.n_rs_seq, &c);
        Offset("llama_context_params.n_outputs_max", &c.n_outputs_max, &c);
        Offset("llama_context_params.n_outputs_max_per_seq", &c.n_outputs_max_per_seq, &c);
        Offset("llama_context_params.n_threads", &c.n_threads, &c);
        Offset("llama_context_params.n_threads_batch", &c.n_threads_batch, &c);
        Offset("llama_context_params.ctx_type", &c.ctx_type, &c);
        Offset("llama_context_params.rope_scaling_type", &c.rope_scaling_type, &c);
        Offset("llama_context_params.pooling_type", &c.pooling_type, &c);
        Offset("llama_context_params.attention_type", &c.attention_type, &c);
        Offset("llama_context_params.flash_attn_type", &c.flash_attn_type, &c);
        Offset("llama_context_params.rope_freq_base", &c.rope_freq_base, &c);
        Offset("llama_context_params.rope_freq_scale", &c.rope_freq_scale, &c);
        Offset("llama_context_params.yarn_ext_factor", &c.yarn_ext_factor, &c);
        Offset("llama_context_params.yarn_attn_factor", &c.yarn_attn_factor, &c);
        Offset("llama_context_params.yarn_beta_fast", &c.yarn_beta_fast, &c);
        Offset("llama_context_params.yarn_beta_slow", &c.yarn_beta_slow, &c);
        Offset("llama_context_params.yarn_orig_ctx", &c.yarn_orig_ctx, &c);
        Offset("llama_context_params.defrag_thold", &c.defrag_thold, &c);
        Offset("llama_context_params.cb_eval", &c.cb_eval, &c);
        Offset("llama_context_params.cb_eval_user_data", &c.cb_eval_user_data, &c);
        Offset("llama_context_params.type_k", &c.type_k, &c);
        Offset("llama_context_params.type_v", &c.type_v, &c);
        Offset("llama_context_params.abort_callback", &c.abort_callback, &c);
        Offset("llama_context_params.abort_callback_data", &c.abort_callback_data, &c);
        Offset("llama_context_params.embeddings", &c.embeddings, &c);
        Offset("llama_context_params.offload_kqv", &c.offload_kqv, &c);
        Offset("llama_context_params.no_perf", &c.no_perf, &c);
        Offset("llama_context_params.op_offload", &c.op_offload, &c);
        Offset("llama_context_params.swa_full", &c.swa_full, &c);
        Offset("llama_context_params.kv_unified", &c.kv_unified, &c);
        Offset("llama_context_params.samplers", &c.samplers, &c);
        Offset("llama_context_params.n_samplers", &c.n_samplers, &c);
        Offset("llama_context_params.ctx_other", &c.ctx_other, &c);

        llama_batch b;
        Size<llama_batch>("llama_batch");
        Offset("llama_batch.n_tokens", &b.n_tokens, &b);
        Offset("llama_batch.token", &b.token, &b);
        Offset("llama_batch.embd", &b.embd, &b);
        Offset("llama_batch.pos", &b.pos, &b);
        Offset("llama_batch.n_seq_id", &b.n_seq_id, &b);
        Offset("llama_batch.seq_id", &b.seq_id, &b);
        Offset("llama_batch.logits", &b.logits, &b);

        llama_model_kv_override o;
        Size<llama_model_kv_override>("llama_model_kv_override");
        Offset("llama_model_kv_override.tag", &o.tag, &o);
        Offset("llama_model_kv_override.key", o.key, &o);
        Offset("llama_model_kv_override.val_i64", &o.Anonymous.val_i64, &o);
        Offset("llama_model_kv_override.val_f64", &o.Anonymous.val_f64, &o);
        Offset("llama_model_kv_override.val_bool", &o.Anonymous.val_bool, &o);
        Offset("llama_model_kv_override.val_str", o.Anonymous.val_str, &o);
        return facts;
    }
}
