using System.Globalization;

namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// Runs the conversation through every mode, turn by turn in alternation, so that the machine's drift (other load,
/// frequency) hits every mode alike: three of our servers side by side in this process (reuse on; reuse off; reuse on
/// with an admin evict before every turn after the first), and llama-server when it is built. Each server answers one
/// request at a time and is otherwise idle while the others run.
/// </summary>
/// <remarks>
/// The swap mode's device budget holds the weights and half the context: after an evict the restore must release the
/// model's own context for room (ModelPool.MakeRoom), which saves the hottest cached sequences to host memory
/// (Scheduler:HostKvBudgetBytes, default) and loads them into the next context. Without that, a CPU swap region keeps
/// the context alive through the evict and the KV never leaves it: the host tier would not be measured.
/// </remarks>
internal sealed class ChatBenchRunner(ChatBenchSettings settings, TextWriter progress)
{
    public async Task<IReadOnlyList<ChatModeRun>> RunAsync(CancellationToken cancellation)
    {
        var fileBytes = new FileInfo(settings.ModelPath).Length;
        await using var reuse = await StartAsync(ChatBenchReport.Reuse, 4 * fileBytes + (1L << 30), prefixCacheTokens: null, cancellation).ConfigureAwait(false);
        await using var noReuse = await StartAsync(ChatBenchReport.NoReuse, 4 * fileBytes + (1L << 30), prefixCacheTokens: 0, cancellation).ConfigureAwait(false);
        var measured = reuse.Status();
        if (measured.ContextBytes <= 0)
        {
            throw new InvalidOperationException("the reuse server holds no context after its warm-up: the swap budget cannot be sized");
        }

        var swapBudget = measured.WeightBytes + (measured.ContextBytes / 2);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[bench-chat] weights {measured.WeightBytes / 1048576.0:F1} MiB, context {measured.ContextBytes / 1048576.0:F1} MiB; the swap server's budget {swapBudget / 1048576.0:F1} MiB (weights + half the context)"));
        await using var swap = await StartAsync(ChatBenchReport.Swap, swapBudget, prefixCacheTokens: null, cancellation).ConfigureAwait(false);

        LlamaServerChatPeer? peer = null;
        try
        {
            if (settings.LlamaServerPath is { } executable)
            {
                progress.WriteLine($"[bench-chat] starting {executable}");
                peer = await LlamaServerChatPeer.StartAsync(executable, settings, cancellation).ConfigureAwait(false);
            }

            var modes = new List<Mode>
            {
                new(ChatBenchReport.Reuse, "ours, prefix reuse on (Scheduler:PrefixCacheTokens default)", reuse.Client(), null),
                new(ChatBenchReport.NoReuse, "ours, prefix reuse off (Scheduler:PrefixCacheTokens=0)", noReuse.Client(), null),
                new(ChatBenchReport.Swap, "ours, reuse on, admin evict before every turn after the first (KV saved to and restored from host memory)", swap.Client(), swap),
            };
            if (peer is not null)
            {
                modes.Add(new(ChatBenchReport.Peer, "llama.cpp llama-server, one slot, cache_prompt (its default)", peer.Client(), null) { Ours = false });
            }

            try
            {
                foreach (var mode in modes.Where(m => !m.Ours))
                {
                    await mode.Client.WarmUpAsync(cancellation).ConfigureAwait(false); // ours were warmed up as they started
                }

                for (var turn = 1; turn <= settings.Turns; turn++)
                {
                    foreach (var mode in modes)
                    {
                        mode.Turns.Add(await RunTurnAsync(mode, turn, cancellation).ConfigureAwait(false));
                    }
                }
            }
            finally
            {
                foreach (var mode in modes)
                {
                    mode.Client.Dispose();
                }
            }

            var runs = modes.Select(m => new ChatModeRun(m.Name, m.Description, m.Turns) { Ours = m.Ours }).ToList();
            if (peer is null)
            {
                runs.Add(new ChatModeRun(ChatBenchReport.Peer, "llama.cpp llama-server", []) { Ours = false, Skipped = settings.PeerSkipped ?? "not asked for" });
            }

            return runs;
        }
        finally
        {
            peer?.Dispose();
        }
    }

    private async Task<ChatBenchServer> StartAsync(string name, long budget, int? prefixCacheTokens, CancellationToken cancellation)
    {
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[bench-chat] starting our server for '{name}' (budget {budget / 1048576.0:F0} MiB)"));
        var server = await ChatBenchServer.StartAsync(settings, budget, prefixCacheTokens, cancellation).ConfigureAwait(false);
        try
        {
            await server.PreloadAsync(cancellation).ConfigureAwait(false);
            using var client = server.Client();
            await client.WarmUpAsync(cancellation).ConfigureAwait(false); // creates the context the swap budget is sized from
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<ChatTurn> RunTurnAsync(Mode mode, int turn, CancellationToken cancellation)
    {
        ModelRouter.Runtime.Swap.ModelStatus? before = null;
        var attempts = 0;
        if (mode.Swapped is { } server && turn > 1)
        {
            before = server.Status();
            attempts = await server.EvictAsync(cancellation).ConfigureAwait(false);
        }

        var messages = ChatConversation.Messages(turn, mode.Answers);
        var result = await mode.Client.SendAsync(turn, messages, settings.MaxTokens, cancellation).ConfigureAwait(false);
        if (before is not null)
        {
            var after = mode.Swapped!.Status();
            result = result with
            {
                Swap = new ChatSwap(after.Evictions - before.Evictions, after.Restores - before.Restores, after.ContextReleases - before.ContextReleases, attempts),
            };
        }

        mode.Answers.Add(result.Answer);
        var swapped = result.Swap is { } s ? "; " + s.Describe() : "";
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[bench-chat] turn {turn}/{settings.Turns} {mode.Name,-12} prompt {result.PromptTokens,5}, cached {result.CachedTokens,5}, TTFT {result.TtftMs,9:F1} ms, {result.CompletionTokens} tokens in {result.TotalMs:F0} ms{swapped}"));
        return result;
    }

    private sealed class Mode(string name, string description, ChatStreamClient client, ChatBenchServer? swapped)
    {
        public string Name { get; } = name;

        public string Description { get; } = description;

        public ChatStreamClient Client { get; } = client;

        /// <summary>The server evicted before every turn after the first; null for the other modes.</summary>
        public ChatBenchServer? Swapped { get; } = swapped;

        public bool Ours { get; init; } = true;

        public List<string> Answers { get; } = [];

        public List<ChatTurn> Turns { get; } = [];
    }
}
