namespace ModelRouter.Runtime.Forge;

/// <summary>What a forge wrote.</summary>
/// <param name="Path">The finished file.</param>
/// <param name="FileBytes">Its size.</param>
/// <param name="TensorCount">Tensors in it.</param>
/// <param name="VocabularySize">Tokens of the copied tokenizer.</param>
/// <param name="ParameterCount">Elements over all tensors.</param>
public sealed record ForgeResult(string Path, long FileBytes, int TensorCount, int VocabularySize, long ParameterCount);
