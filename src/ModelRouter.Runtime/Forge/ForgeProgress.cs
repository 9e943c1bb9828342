namespace ModelRouter.Runtime.Forge;

/// <summary>How far a forge has got.</summary>
/// <param name="BytesWritten">Bytes of the file written so far.</param>
/// <param name="TotalBytes">Size of the finished file.</param>
/// <param name="CurrentTensor">The tensor being generated, or null once done.</param>
public readonly record struct ForgeProgress(long BytesWritten, long TotalBytes, string? CurrentTensor)
{
    /// <summary>Fraction done, 0 to 1.</summary>
    public double Fraction => TotalBytes == 0 ? 1 : (double)BytesWritten / TotalBytes;
}
