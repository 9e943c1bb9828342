using System.CommandLine;
using ModelRouter.Cli.Simulation.Validation;
using ModelRouter.Client;
using ModelRouter.Runtime;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter validate-simulator`: the same trace against the live server on this CPU (forged models, real swaps) and
/// in the simulator with this machine's measured profile under load (taken from a calibration replay of another trace);
/// p50/p95 TTFT of both and whether they agree (issue 18, point 5).
/// </summary>
internal static class ValidateSimulatorCommand
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "Requests in each replayed trace (calibration and validation; 160 by default, which keeps p95 steadier than 80).", DefaultValueFactory = _ => 160 };
        var rate = new Option<double>("--rate") { Description = "Mean arrivals per second.", DefaultValueFactory = _ => 0.8 };
        var seed = new Option<int>("--seed") { Description = "Seed of the validation trace (the calibration trace, replayed first, uses the next one).", DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads") { Description = "Decode threads of the server (0: llama.cpp's default).", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Folder for the forged models, validation.json/.md, requests.csv and calibration.csv.", DefaultValueFactory = _ => Path.Combine("artifacts", "validate-simulator") };
        var command = new Command("validate-simulator", "Replay a calibration trace and then a validation trace against the live server on this machine (forged models, real swaps); simulate the validation trace with this machine's measured profile under load (swaps and one compute factor from the calibration replay); report p50/p95 TTFT of both and whether they agree within 15%.")
        {
            requests, rate, seed, threads, output,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var settings = new SimValidationSettings
            {
                Directory = parse.GetValue(output)!,
                Requests = parse.GetValue(requests),
                RatePerSecond = parse.GetValue(rate),
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
            };
            if (settings.Requests < 10 || settings.RatePerSecond <= 0 || settings.Threads < 0)
            {
                Console.Error.WriteLine("error: --requests must be at least 10, --rate above 0 and --threads at least 0");
                return 2;
            }

            try
            {
                var result = await new SimValidationRunner(settings, Console.Out).RunAsync(cancellation).ConfigureAwait(false);
                return result.Agrees ? 0 : 1;
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidOperationException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
        });
        return command;
    }
}
