namespace ModelRouter.Routing.Training;

/// <summary>Training data that cannot be used, with the file, line and problem.</summary>
public sealed class TrainingDataException : Exception
{
    public TrainingDataException()
    {
    }

    public TrainingDataException(string message)
        : base(message)
    {
    }

    public TrainingDataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
