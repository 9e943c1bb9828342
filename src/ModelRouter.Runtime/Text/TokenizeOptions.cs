namespace ModelRouter.Runtime.Text;

/// <summary>Flags of <see cref="Vocabulary.TryTokenize(ReadOnlySpan{byte}, Span{int}, out int, TokenizeOptions)"/>.</summary>
[Flags]
public enum TokenizeOptions
{
    None = 0,

    /// <summary>Add BOS/EOS as the model's metadata asks (llama.cpp's add_special), e.g. BOS before a prompt.</summary>
    AddSpecial = 1,

    /// <summary>Recognise special-token text such as &lt;|eot_id|&gt; in the input (parse_special).</summary>
    ParseSpecial = 2,
}
