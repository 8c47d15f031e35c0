namespace Evolution.Core.Text;

/// <summary>
/// The tokenizer of a pretrained Hugging Face model folder: an <see cref="ITextTokenizer"/> that also
/// names the model's sequence-start and sequence-end ids. <see cref="ITextTokenizer.Encode"/> never
/// adds BOS: callers that want it put <see cref="BosId"/> in front themselves, so a text's ids are the
/// same whether it opens a prompt or continues one.
/// </summary>
public interface IHfTokenizer : ITextTokenizer
{
    /// <summary>Beginning-of-sequence id (Llama 3's &lt;|begin_of_text|&gt;, Llama 2's &lt;s&gt;), or null when the folder names none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id (Llama 3 Instruct's &lt;|eot_id|&gt;, Llama 2's &lt;/s&gt;), or null when the folder names none.</summary>
    int? EosId { get; }
}
