/* mr_swap_test: the CUDA swap engine end to end, without .NET (built only with MR_CUDA=ON).
 *
 *   mr_swap_test swap --model M.gguf [--cycles 3] [--tokens 32] [--streams 2] [--chunk-mib 64]
 *                     [--cache /dev/shm/mr_swap_test.img] [--csv results.csv] [--no-oom-check] [--no-baseline]
 *       Loads M through a swap region's buffer type (all layers on the GPU), decodes greedy tokens,
 *       captures, then evict -> scribble over the freed VRAM -> restore -> decode, `cycles` times, and
 *       checks every cycle's tokens equal the first decode's and VRAM equals the host image bit for bit.
 *       Also: a restore into exhausted VRAM must fail cleanly and leave nothing mapped; llama.cpp's own
 *       load of the same file (page cache warm, load modes MMAP and NONE) to the first token, for scale.
 *   mr_swap_test bandwidth [--gib 2] [--device 0]
 *       The physical reference: pinned and pageable host-to-device copies at several chunk sizes and
 *       stream counts.
 *
 * Prints a human-readable report and one "RESULT key=value ..." line per measurement. Exit codes:
 * 0 all checks passed, 1 a check failed, 2 usage, 77 no usable CUDA device (skip). */
#define _GNU_SOURCE
#include "llama.h"
#include "mr_shim.h"

#include <cuda_runtime_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MR_EXIT_FAIL 1
#define MR_EXIT_USAGE 2
#define MR_EXIT_SKIP 77
#define MR_MAX_CYCLES 64
#define MR_MAX_TOKENS 512

static const char * const mr_prompt = "Once upon a time";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void * a, const void * b) {
    const double x = *(const double *) a;
    const double y = *(const double *) b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static double median(double * values, int n) {
    if (n <= 0) {
        return 0.0;
    }
    qsort(values, (size_t) n, sizeof(double), cmp_double);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static int g_verbose = 0;
static void quiet_log(enum ggml_log_level level, const char * text, void * user_data) {
    (void) user_data;
    if (g_verbose || level >= GGML_LOG_LEVEL_WARN) {
        fputs(text, stderr);
    }
}

static int failures = 0;
static void check(int ok, const char * what) {
    printf("  [%s] %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) {
        failures++;
    }
}

static void report_error(const char * call, enum mr_status st) {
    fprintf(stderr, "%s: %s: %s\n", call, mr_status_string(st), mr_last_error());
}

static uint64_t vram_free(void) {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return free_bytes;
}

/* Greedy decode of the prompt plus n tokens from an empty KV cache. *first_ms: from the call to the
 * first sampled token (logits read back). */
static int decode_greedy(struct llama_context * ctx, const struct llama_vocab * vocab, int n, llama_token * out,
                         double * first_ms) {
    const double start = now_ms();
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_token prompt[64];
    const int n_prompt = llama_tokenize(vocab, mr_prompt, (int32_t) strlen(mr_prompt), prompt, 64, true, false);
    if (n_prompt <= 0) {
        fprintf(stderr, "tokenizing the prompt failed (%d)\n", n_prompt);
        return 0;
    }
    const int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_batch batch = llama_batch_get_one(prompt, n_prompt);
    llama_token token = 0;
    for (int i = 0; i < n; i++) {
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llama_decode failed at token %d\n", i);
            return 0;
        }
        const float * logits = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int v = 1; v < n_vocab; v++) {
            if (logits[v] > logits[best]) {
                best = v;
            }
        }
        if (i == 0 && first_ms != NULL) {
            *first_ms = now_ms() - start;
        }
        out[i] = best;
        token = best;
        batch = llama_batch_get_one(&token, 1);
    }
    return 1;
}

static void print_tokens(const struct llama_vocab * vocab, const llama_token * tokens, int n) {
    printf("  text: \"%s", mr_prompt);
    for (int i = 0; i < n; i++) {
        char piece[64];
        const int len = llama_token_to_piece(vocab, tokens[i], piece, (int32_t) sizeof(piece) - 1, 0, false);
        if (len > 0) {
            piece[len] = '\0';
            for (char * p = piece; *p; p++) {
                if (*p == '\n' || *p == '"') {
                    *p = ' ';
                }
            }
            fputs(piece, stdout);
        }
    }
    printf("\"\n");
}

/* llama.cpp's own path: load (page cache warm) + context + first token, then free everything. */
static double baseline_reload_ms(const char * path, enum llama_load_mode mode, int n_ctx) {
    const double start = now_ms();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = -1;
    mp.load_mode = mode;
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (model == NULL) {
        return -1.0;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    double result = -1.0;
    llama_token first;
    if (ctx != NULL && decode_greedy(ctx, llama_model_get_vocab(model), 1, &first, NULL)) {
        result = now_ms() - start;
    }
    if (ctx != NULL) {
        llama_free(ctx);
    }
    llama_model_free(model);
    return result;
}

/* Occupies VRAM until less than `leave` (+ 2 MiB) bytes are free; returns how many blocks it took. */
static int fill_vram(void ** blocks, int max_blocks, uint64_t leave) {
    static const size_t sizes[] = { (size_t) 1 << 30, (size_t) 256 << 20, (size_t) 32 << 20, (size_t) 2 << 20 };
    int n = 0;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        while (n < max_blocks && vram_free() > leave + sizes[k]) {
            if (cudaMalloc(&blocks[n], sizes[k]) != cudaSuccess) {
                (void) cudaGetLastError();
                break;
            }
            n++;
        }
    }
    return n;
}

/* Every tensor through the region's buffer type, all layers on the GPU (what CudaWeightStore does). */
static struct llama_model * load_through_region(const char * model_path, struct mr_swap_region * region, double * load_ms) {
    struct llama_model_tensor_buft_override overrides[2] = {
        { ".*", mr_swap_region_buffer_type(region) },
        { NULL, NULL },
    };
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = -1;
    mp.tensor_buft_overrides = overrides;
    const double start = now_ms();
    struct llama_model * model = llama_model_load_from_file(model_path, mp);
    *load_ms = now_ms() - start;
    return model;
}

/* What a restarted process does (CudaWeightStore): a new region adopts the image file the first one left,
 * the model loads without its tensor data being uploaded, capture copies the image in, and the tokens are
 * the same as before. */
static void adopt_after_restart(const char * model_path, const struct mr_swap_options * options, uint64_t image_bytes,
                                uint64_t layout_hash, int n_tokens, const llama_token * reference) {
    struct mr_swap_region * region = NULL;
    enum mr_status st = mr_swap_region_create(options, &region);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_region_create (restart)", st);
        check(0, "restart: create a second region");
        return;
    }
    st = mr_swap_region_adopt_image(region, image_bytes, layout_hash);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_region_adopt_image", st);
    }
    check(st == MR_STATUS_OK, "restart: adopt the host image the first region left");
    double load_ms = 0.0;
    struct llama_model * model = load_through_region(model_path, region, &load_ms);
    if (model == NULL) {
        check(0, "restart: load through the adopting region");
        mr_swap_region_destroy(region);
        return;
    }
    st = mr_swap_region_capture(region);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_region_capture (adopted)", st);
    }
    check(st == MR_STATUS_OK, "restart: the adopted image matches the layout and is copied in");
    struct mr_swap_stats stats;
    mr_swap_region_stats(region, &stats);
    check(stats.image_adopted == 1, "restart: stats say the image was adopted");
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    llama_token tokens[MR_MAX_TOKENS];
    const int equal = ctx != NULL && decode_greedy(ctx, llama_model_get_vocab(model), n_tokens, tokens, NULL) &&
                      memcmp(tokens, reference, sizeof(llama_token) * (size_t) n_tokens) == 0;
    check(equal, "restart: greedy tokens from the adopted image equal the first process's");
    printf("  restart with the adopted host image: load %.1f ms (tensor data not uploaded), copy-in %.2f ms, tokens %s\n",
           load_ms, stats.last_capture_ms, equal ? "identical" : "DIFFERENT");
    printf("RESULT restart_load_ms=%.2f restart_copy_in_ms=%.2f restart_tokens_equal=%d\n", load_ms, stats.last_capture_ms, equal);
    if (ctx != NULL) {
        llama_free(ctx);
    }
    llama_model_free(model);
    mr_swap_region_destroy(region);
}

static int cmd_swap(int argc, char ** argv) {
    const char * model_path = NULL;
    const char * cache = "/dev/shm/mr_swap_test.img";
    const char * csv = NULL;
    int cycles = 3;
    int n_tokens = 32;
    int streams = 2;
    int chunk_mib = 64;
    int oom_check = 1;
    int baseline = 1;
    int device = 0;
    for (int i = 0; i < argc; i++) {
        const char * a = argv[i];
        const char * v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) { model_path = v; i++; }
        else if (!strcmp(a, "--cache") && v) { cache = strcmp(v, "none") ? v : NULL; i++; }
        else if (!strcmp(a, "--csv") && v) { csv = v; i++; }
        else if (!strcmp(a, "--cycles") && v) { cycles = atoi(v); i++; }
        else if (!strcmp(a, "--tokens") && v) { n_tokens = atoi(v); i++; }
        else if (!strcmp(a, "--streams") && v) { streams = atoi(v); i++; }
        else if (!strcmp(a, "--chunk-mib") && v) { chunk_mib = atoi(v); i++; }
        else if (!strcmp(a, "--device") && v) { device = atoi(v); i++; }
        else if (!strcmp(a, "--no-oom-check")) { oom_check = 0; }
        else if (!strcmp(a, "--no-baseline")) { baseline = 0; }
        else if (!strcmp(a, "--verbose")) { g_verbose = 1; }
        else { fprintf(stderr, "swap: unknown or incomplete option '%s'\n", a); return MR_EXIT_USAGE; }
    }
    if (model_path == NULL || cycles < 1 || cycles > MR_MAX_CYCLES || n_tokens < 1 || n_tokens > MR_MAX_TOKENS) {
        fprintf(stderr, "swap: --model is required; 1 <= cycles <= %d, 1 <= tokens <= %d\n", MR_MAX_CYCLES, MR_MAX_TOKENS);
        return MR_EXIT_USAGE;
    }

    struct mr_swap_device_info dev;
    enum mr_status st = mr_swap_device_query(device, &dev);
    if (st != MR_STATUS_OK || !dev.vmm_supported) {
        report_error("mr_swap_device_query", st);
        return MR_EXIT_SKIP;
    }
    printf("device %d: %s, cc %d, driver %d, runtime %d, VMM granularity %llu KiB, %.1f of %.1f GiB free\n", device,
           dev.name, dev.compute_capability, dev.driver_version, dev.runtime_version,
           (unsigned long long) dev.granularity_bytes >> 10, dev.memory_free_bytes / 1073741824.0,
           dev.memory_total_bytes / 1073741824.0);

    struct mr_swap_options options;
    memset(&options, 0, sizeof(options));
    options.device = device;
    options.streams = streams;
    options.chunk_bytes = (uint64_t) chunk_mib << 20;
    options.cache_path = cache;
    struct mr_swap_region * region = NULL;
    st = mr_swap_region_create(&options, &region);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_region_create", st);
        return MR_EXIT_FAIL;
    }

    double load_ms = 0.0;
    struct llama_model * model = load_through_region(model_path, region, &load_ms);
    double t = 0.0;
    if (model == NULL) {
        fprintf(stderr, "loading %s through the swap region failed (shim: %s)\n", model_path, mr_last_error());
        mr_swap_region_destroy(region);
        return MR_EXIT_FAIL;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "llama_init_from_model failed\n");
        llama_model_free(model);
        mr_swap_region_destroy(region);
        return MR_EXIT_FAIL;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    char description[128];
    llama_model_desc(model, description, sizeof(description));

    struct mr_swap_stats stats;
    mr_swap_region_stats(region, &stats);
    printf("model %s (%s): %.1f MiB of weights in %u chunk(s) of %llu MiB, %u buffer(s), loaded in %.1f ms\n", model_path,
           description, stats.weight_bytes / 1048576.0, stats.chunk_count, (unsigned long long) stats.chunk_bytes >> 20,
           stats.buffer_count, load_ms);
    check(stats.state == MR_SWAP_RESIDENT && stats.buffer_count >= 1, "the model's weights were allocated through the region");

    llama_token reference[MR_MAX_TOKENS];
    llama_token tokens[MR_MAX_TOKENS];
    check(decode_greedy(ctx, vocab, n_tokens, reference, NULL), "greedy decode before any swap");
    print_tokens(vocab, reference, n_tokens);

    st = mr_swap_region_capture(region);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_region_capture", st);
    }
    check(st == MR_STATUS_OK, "capture");
    mr_swap_region_stats(region, &stats);
    printf("  capture: %.1f ms, host image %.1f MiB, %s\n", stats.last_capture_ms, stats.host_image_bytes / 1048576.0,
           stats.host_image_registered ? "file mapping registered with cudaHostRegister" : "anonymous pinned memory (fallback)");

    struct mr_bandwidth_result raw;
    memset(&raw, 0, sizeof(raw));
    st = mr_cuda_host_to_device_bandwidth(device, stats.weight_bytes, stats.chunk_bytes, stats.streams, 1, &raw);
    if (st != MR_STATUS_OK) {
        report_error("mr_cuda_host_to_device_bandwidth", st);
    }
    printf("  raw pinned host-to-device: %.2f GB/s (%.2f ms for the same bytes, chunk %llu MiB, %d streams)\n",
           raw.gigabytes_per_second, raw.seconds * 1e3, (unsigned long long) raw.chunk_bytes >> 20, raw.streams);

    double evict_ms[MR_MAX_CYCLES];
    double restore_ms[MR_MAX_CYCLES];
    double first_ms[MR_MAX_CYCLES];
    double ready_ms[MR_MAX_CYCLES];
    int all_equal = 1;
    int done_cycles = 0;
    for (int c = 0; c < cycles && failures == 0; c++) {
        const uint64_t free_before = vram_free();
        st = mr_swap_region_evict(region);
        if (st != MR_STATUS_OK) {
            report_error("mr_swap_region_evict", st);
            check(0, "evict");
            break;
        }
        const uint64_t free_after = vram_free();
        mr_swap_region_stats(region, &stats);
        evict_ms[c] = stats.last_evict_ms;
        if (c == 0) {
            check(stats.state == MR_SWAP_EVICTED, "evict: state is EVICTED");
            check(free_after >= free_before + stats.weight_bytes * 9 / 10, "evict: the weights' VRAM was given back");
        }

        /* Scribble over the freed VRAM so that a restore which copied nothing cannot pass. */
        void * scribble = NULL;
        const uint64_t room = free_after > (64u << 20) ? free_after - (64u << 20) : 0;
        const uint64_t span = stats.weight_bytes < room ? stats.weight_bytes : room;
        if (span > 0 && cudaMalloc(&scribble, span) == cudaSuccess) {
            cudaMemset(scribble, 0xA5, span);
            cudaDeviceSynchronize();
            cudaFree(scribble);
        } else {
            (void) cudaGetLastError();
        }

        t = now_ms();
        st = mr_swap_region_restore(region);
        if (st != MR_STATUS_OK) {
            report_error("mr_swap_region_restore", st);
            check(0, "restore");
            break;
        }
        double first = 0.0;
        const double decode_start = now_ms();
        const int decoded = decode_greedy(ctx, vocab, n_tokens, tokens, &first);
        mr_swap_region_stats(region, &stats);
        restore_ms[c] = stats.last_restore_ms;
        first_ms[c] = first;
        ready_ms[c] = (decode_start - t) + first; /* restore call to the first sampled token */
        const int equal = decoded && memcmp(tokens, reference, sizeof(llama_token) * (size_t) n_tokens) == 0;
        all_equal &= equal;
        uint64_t mismatched = 0;
        st = mr_swap_region_verify(region, &mismatched);
        printf("  cycle %d: evict %.2f ms, restore %.2f ms (%.2f GB/s), first token %.2f ms after restore, tokens %s, VRAM %s\n",
               c + 1, evict_ms[c], restore_ms[c], stats.weight_bytes / (restore_ms[c] / 1e3) / 1e9, first,
               equal ? "identical" : "DIFFERENT", st == MR_STATUS_OK && mismatched == 0 ? "== image" : "!= image");
        check(equal, "greedy tokens after evict/restore equal the tokens before");
        check(st == MR_STATUS_OK && mismatched == 0, "VRAM equals the host image bit for bit");
        done_cycles++;
    }
    all_equal &= done_cycles == cycles;

    if (oom_check && failures == 0 && stats.weight_bytes < (64u << 20)) {
        printf("  out-of-memory check skipped: %.1f MiB of weights is too small to measure against VRAM filler\n",
               stats.weight_bytes / 1048576.0);
    } else if (oom_check && failures == 0) {
        st = mr_swap_region_evict(region);
        check(st == MR_STATUS_OK, "evict before the out-of-memory check");
        void * blocks[4096];
        const int n_blocks = fill_vram(blocks, 4096, stats.weight_bytes / 2);
        const uint64_t free_full = vram_free();
        st = mr_swap_region_restore(region);
        const uint64_t free_failed = vram_free();
        struct mr_swap_stats after;
        mr_swap_region_stats(region, &after);
        printf("  restore into exhausted VRAM (%.1f MiB free for %.1f MiB): %s: %s\n", free_full / 1048576.0,
               stats.weight_bytes / 1048576.0, mr_status_string(st), mr_last_error());
        check(st == MR_STATUS_OUT_OF_MEMORY, "a restore without room fails with MR_STATUS_OUT_OF_MEMORY");
        check(after.state == MR_SWAP_EVICTED, "... and the region stays EVICTED");
        check(free_failed + (4u << 20) >= free_full, "... with nothing left mapped");
        for (int i = 0; i < n_blocks; i++) {
            cudaFree(blocks[i]);
        }
        st = mr_swap_region_restore(region);
        check(st == MR_STATUS_OK, "restore succeeds once VRAM is free again");
        check(decode_greedy(ctx, vocab, n_tokens, tokens, NULL) &&
                  memcmp(tokens, reference, sizeof(llama_token) * (size_t) n_tokens) == 0,
              "... and decodes the same tokens");
    }

    double base_mmap = -1.0;
    double base_none = -1.0;
    if (baseline && failures == 0) {
        base_mmap = baseline_reload_ms(model_path, LLAMA_LOAD_MODE_MMAP, 512);
        base_none = baseline_reload_ms(model_path, LLAMA_LOAD_MODE_NONE, 512);
        printf("  llama.cpp reload to first token (page cache warm): mmap %.1f ms, none %.1f ms\n", base_mmap, base_none);
    }

    mr_swap_region_stats(region, &stats);
    const int n = done_cycles;
    const double evict_med = median(evict_ms, n);
    const double restore_med = median(restore_ms, n);
    const double first_med = median(first_ms, n);
    const double ready_med = median(ready_ms, n);
    const double restore_gbps = restore_med > 0 ? stats.weight_bytes / (restore_med / 1e3) / 1e9 : 0.0;
    const double ratio = raw.gigabytes_per_second > 0 ? restore_gbps / raw.gigabytes_per_second : 0.0;
    printf("RESULT model=%s weight_bytes=%llu chunk_mib=%llu streams=%d registered=%u load_ms=%.2f capture_ms=%.2f "
           "evict_ms=%.3f restore_ms=%.3f restore_gbps=%.2f raw_gbps=%.2f ratio=%.3f first_token_ms=%.2f "
           "ready_ms=%.2f baseline_mmap_ms=%.1f baseline_none_ms=%.1f tokens_equal=%d failures=%d\n",
           model_path, (unsigned long long) stats.weight_bytes, (unsigned long long) stats.chunk_bytes >> 20, stats.streams,
           stats.host_image_registered, load_ms, stats.last_capture_ms, evict_med, restore_med, restore_gbps,
           raw.gigabytes_per_second, ratio, first_med, ready_med, base_mmap, base_none, all_equal, failures);
    if (csv != NULL) {
        FILE * f = fopen(csv, "a");
        if (f != NULL) {
            if (ftell(f) == 0) {
                fprintf(f, "model,device,weight_bytes,chunk_mib,streams,registered,load_ms,capture_ms,evict_ms,restore_ms,"
                           "restore_gbps,raw_gbps,ratio,first_token_ms,ready_ms,baseline_mmap_ms,baseline_none_ms,tokens_equal,failures\n");
            }
            fprintf(f, "%s,%s,%llu,%llu,%d,%u,%.2f,%.2f,%.3f,%.3f,%.2f,%.2f,%.3f,%.2f,%.2f,%.1f,%.1f,%d,%d\n", model_path,
                    dev.name, (unsigned long long) stats.weight_bytes, (unsigned long long) stats.chunk_bytes >> 20,
                    stats.streams, stats.host_image_registered, load_ms, stats.last_capture_ms, evict_med, restore_med,
                    restore_gbps, raw.gigabytes_per_second, ratio, first_med, ready_med, base_mmap, base_none, all_equal,
                    failures);
            fclose(f);
        }
    }

    const uint64_t image_bytes = stats.host_image_bytes;
    const uint64_t layout_hash = stats.layout_hash;
    const int image_is_file = stats.host_image_registered != 0;
    llama_free(ctx);
    llama_model_free(model);
    mr_swap_region_destroy(region);
    if (cache != NULL && image_is_file && failures == 0) {
        adopt_after_restart(model_path, &options, image_bytes, layout_hash, n_tokens, reference);
    }
    if (cache != NULL) {
        remove(cache);
    }
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : MR_EXIT_FAIL;
}

static int cmd_bandwidth(int argc, char ** argv) {
    double gib = 2.0;
    int device = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--gib") && i + 1 < argc) { gib = atof(argv[++i]); }
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) { device = atoi(argv[++i]); }
        else if (!strcmp(argv[i], "--verbose")) { g_verbose = 1; }
        else { fprintf(stderr, "bandwidth: unknown option '%s'\n", argv[i]); return MR_EXIT_USAGE; }
    }
    const uint64_t total = (uint64_t) (gib * 1073741824.0);
    if (total == 0) {
        fprintf(stderr, "bandwidth: --gib must be positive\n");
        return MR_EXIT_USAGE;
    }
    struct mr_swap_device_info dev;
    enum mr_status st = mr_swap_device_query(device, &dev);
    if (st != MR_STATUS_OK) {
        report_error("mr_swap_device_query", st);
        return MR_EXIT_SKIP;
    }
    printf("host-to-device bandwidth, device %d (%s), %.2f GiB per pass, median of 5 after a warm-up\n", device, dev.name, gib);
    printf("  %-9s %10s %8s %10s %10s\n", "host", "chunk MiB", "streams", "ms", "GB/s");
    static const int chunks_mib[] = { 4, 16, 64, 256 };
    static const int stream_counts[] = { 1, 2, 4 };
    int ok = 1;
    for (int pinned = 1; pinned >= 0; pinned--) {
        for (size_t c = 0; c < sizeof(chunks_mib) / sizeof(chunks_mib[0]); c++) {
            for (size_t s = 0; s < sizeof(stream_counts) / sizeof(stream_counts[0]); s++) {
                if (!pinned && (chunks_mib[c] != 64 || stream_counts[s] != 2)) {
                    continue; /* pageable: one point, for scale */
                }
                struct mr_bandwidth_result r;
                st = mr_cuda_host_to_device_bandwidth(device, total, (uint64_t) chunks_mib[c] << 20, stream_counts[s], pinned, &r);
                if (st != MR_STATUS_OK) {
                    report_error("mr_cuda_host_to_device_bandwidth", st);
                    ok = 0;
                    continue;
                }
                printf("  %-9s %10d %8d %10.2f %10.2f\n", pinned ? "pinned" : "pageable", chunks_mib[c], stream_counts[s],
                       r.seconds * 1e3, r.gigabytes_per_second);
                printf("RESULT bandwidth pinned=%d chunk_mib=%d streams=%d bytes=%llu ms=%.3f gbps=%.2f\n", pinned,
                       chunks_mib[c], stream_counts[s], (unsigned long long) r.bytes, r.seconds * 1e3, r.gigabytes_per_second);
            }
        }
    }
    return ok ? 0 : MR_EXIT_FAIL;
}

int main(int argc, char ** argv) {
    if (argc < 2 || (strcmp(argv[1], "swap") && strcmp(argv[1], "bandwidth"))) {
        fprintf(stderr, "usage: mr_swap_test swap --model M.gguf [options] | mr_swap_test bandwidth [--gib N]\n");
        return MR_EXIT_USAGE;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    const int rc = !strcmp(argv[1], "swap") ? cmd_swap(argc - 2, argv + 2) : cmd_bandwidth(argc - 2, argv + 2);
    llama_backend_free();
    return rc;
}
