namespace Evolution.Core.Text;

/// <summary>What the model, trainer and tracer need from a tokenizer.</summary>
public interface ITextTokenizer
{
    int VocabSize { get; }

    /// <summary>Id that separates documents (GPT-2's &lt;|endoftext|&gt;).</summary>
    int EndOfText { get; }

    /// <summary>
    /// Id every prompt starts with: GPT-2's &lt;|endoftext|&gt; (also the document separator our agents trained with),
    /// Llama's BOS (&lt;|begin_of_text|&gt;, &lt;s&gt;), or, for models without a BOS (Qwen2), their end-of-text token, as
    /// TransformerLens' prepend_bos does by default. One fixed token, so positions after it are the same for every model.
    /// </summary>
    int StartOfSequence => EndOfText;

    /// <summary>
    /// The ids every prompt and document is read after: <see cref="StartOfSequence"/> alone, or nothing when the start
    /// token is switched off (<c>--no-bos</c>, <see cref="StartToken"/>). Positions inside a prompt count from its end.
    /// </summary>
    IReadOnlyList<int> PromptStart => [StartOfSequence];

    /// <summary>Token ids of the text; text outside the vocabulary throws (never a silent wrong id).</summary>
    int[] Encode(string text);

    string Decode(IEnumerable<int> ids);

    /// <summary>Saves what is needed to rebuild this tokenizer into a checkpoint folder.</summary>
    void Save(string directory);
}
