namespace ModelRouter.Bindings.Generator;

/// <summary>Process exit codes; also printed by --help so build scripts can tell failures apart.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Drift = 1;
    public const int HeaderParse = 2;
    public const int Input = 3;
    public const int Environment = 4;
    public const int Usage = 64;
}

/// <summary>An expected failure with a message meant for the person running the generator.</summary>
internal sealed class GeneratorException : Exception
{
    public GeneratorException(int exitCode, string message)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public GeneratorException()
    {
    }

    public GeneratorException(string message)
        : this(ExitCodes.Input, message)
    {
    }

    public GeneratorException(string message, Exception innerException)
        : base(message, innerException)
    {
        ExitCode = ExitCodes.Input;
    }

    public int ExitCode { get; } = ExitCodes.Input;
}
