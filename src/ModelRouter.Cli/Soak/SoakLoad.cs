using System.Net;
using ModelRouter.Client;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// What every load lane shares: the server's addresses and models, the ledger, prompts, and two tokens. Stopping ends
/// the load (no new requests; those in flight run to their end); aborting, at the very end, cancels what is still
/// open after the hung grace period so that the lanes return.
/// </summary>
internal sealed class SoakLoad(SoakServer server, SoakLedger ledger, SoakSettings settings, CancellationToken stopping, CancellationToken aborting)
{
    private static readonly string[] Prompts =
    [
        "Write a haiku about swapping models",
        "Summarize: the quarterly report shows revenue up four percent and costs flat.",
        "Extract the dates from: the meeting moved from May 3 to June 7.",
        "def fibonacci(n): # complete this function in Python",
        "Why is the sky blue? Explain step by step.",
        "Classify the sentiment: I loved the film but the ending dragged.",
        "Tell me a short story about a lighthouse keeper.",
        "What is the capital of France?",
    ];

    public SoakServer Server => server;

    public SoakLedger Ledger => ledger;

    public SoakSettings Settings => settings;

    public CancellationToken Stopping => stopping;

    public CancellationToken Aborting => aborting;

    public static string Prompt(Random random) => Prompts[random.Next(Prompts.Length)];

    /// <summary>A catalog model by name, or null (a quarter of the time) to let the router choose ("auto").</summary>
    public string? Model(Random random) => random.Next(4) == 0 ? null : server.Models[random.Next(server.Models.Length)];

    public int MaxTokens(Random random) => 1 + random.Next(settings.MaxTokens);

    /// <summary>Both socket endpoints, alternately.</summary>
    public EndPoint SocketEndPoint(Random random) => server.Unix is { } unix && random.Next(2) == 0 ? unix : server.Tcp;

    public Task<ModelRouterClient> ConnectAsync(EndPoint endpoint, string name, bool admin = false) =>
        ModelRouterClient.ConnectAsync(endpoint, admin ? SoakServer.AdminToken : SoakServer.Token, new ModelRouterClientOptions { ClientName = name }, aborting);

    /// <summary>
    /// Runs <paramref name="iteration"/> until the load stops. An exception that escapes an iteration is a fault of
    /// the soak itself: it is counted as a lost request of the lane so that it cannot pass unseen, and the lane goes on.
    /// </summary>
    public async Task LoopAsync(string lane, int seed, Func<Random, Task> iteration)
    {
        var random = new Random(seed);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await iteration(random).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (aborting.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a lane must survive anything one request does; the ledger records it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                ledger.Open(lane + ".fault").Close(SoakOutcome.Lost, $"{ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    /// <summary>Waits a little between requests of a lane without outliving the load.</summary>
    public async Task PauseAsync(Random random, int maxMilliseconds)
    {
        try
        {
            await Task.Delay(random.Next(maxMilliseconds), stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The load is over; the loop ends.
        }
    }
}
