namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Storage traits of one ggml type: elements per block and bytes per block. A row of a tensor holds a whole
/// number of blocks, so a tensor's byte size is <c>elements / BlockSize * TypeSize</c>.
/// </summary>
/// <param name="Type">The type these traits describe.</param>
/// <param name="Name">ggml's name for the type (<c>ggml_type_name</c>), e.g. <c>q4_0</c>.</param>
/// <param name="BlockSize">Elements per block (<c>ggml_blck_size</c>).</param>
/// <param name="TypeSize">Bytes per block (<c>ggml_type_size</c>).</param>
/// <param name="IsQuantized">Whether ggml treats the type as quantized.</param>
public readonly record struct GgmlTypeInfo(GgmlType Type, string Name, int BlockSize, int TypeSize, bool IsQuantized);
