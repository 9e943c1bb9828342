using System.CommandLine;
using ModelRouter.Cli.Commands;

namespace ModelRouter.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand(
            "ModelRouter.Native: serves many local GGUF models on one GPU box, swapping them in milliseconds and " +
            "routing each request to the right one in microseconds.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(ForgeCommand.Create());
        root.Subcommands.Add(GgufInfoCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(BenchSwapCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(BenchDecodeCommand.Create());
        root.Subcommands.Add(BenchServerCommand.Create());
        root.Subcommands.Add(BenchChatCommand.Create());
        root.Subcommands.Add(TrainRouterCommand.Create());
        root.Subcommands.Add(EvalRouterCommand.Create());
        root.Subcommands.Add(SoakCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());
        root.Subcommands.Add(ValidateSimulatorCommand.Create());
        var parse = root.Parse(args);

        // `serve` drains in-flight requests for up to ShutdownTimeoutSeconds on SIGTERM or Ctrl+C: its host handles
        // those signals itself, so System.CommandLine must not end the process 2 s after one (its default).
        var invocation = new InvocationConfiguration
        {
            ProcessTerminationTimeout = parse.CommandResult.Command.Name == "serve" ? null : TimeSpan.FromSeconds(2),
        };
        return parse.Invoke(invocation);
    }
}
