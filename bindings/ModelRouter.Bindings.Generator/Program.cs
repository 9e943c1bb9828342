using ModelRouter.Bindings.Generator;

try
{
    var options = Options.Parse(args);
    if (options is null)
    {
        Console.WriteLine(Options.Usage);
        return ExitCodes.Success;
    }

    return Generator.Run(options);
}
catch (GeneratorException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return e.ExitCode;
}
