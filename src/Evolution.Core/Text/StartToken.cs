namespace Evolution.Core.Text;

/// <summary>
/// Whether prompts start with the tokenizer's start token, as the <c>--bos</c> / <c>--no-bos</c> options of the commands
/// that read prompts set it. The default is on for every architecture: GPT-2's &lt;|endoftext|&gt; (TransformerLens'
/// prepend_bos default, and what our agents were trained after), Llama's and Mistral's BOS (which their Hugging Face
/// tokenizers add too), Qwen2's end-of-text token (TransformerLens' convention; Hugging Face adds nothing there, so
/// <c>--no-bos</c> reproduces a Hugging Face pipeline on Qwen2 and GPT-2).
/// </summary>
public static class StartToken
{
    public const string Description = "start every prompt with the model's start token (GPT-2 <|endoftext|>, Llama BOS, Qwen2 <|endoftext|>; the default)";
    public const string NoDescription = "read prompts without the start token, as Hugging Face pipelines read GPT-2 and Qwen2";

    /// <summary>Whether the options leave the start token out; both at once are refused.</summary>
    public static bool LeftOut(bool bos, bool noBos)
    {
        if (bos && noBos) throw new InputException(null, "--no-bos", "contradicts --bos: give one of them");
        return noBos;
    }

    /// <summary>The tokenizer itself, or, with <paramref name="leftOut"/>, one whose prompts start with nothing.</summary>
    public static ITextTokenizer Apply(ITextTokenizer tokenizer, bool leftOut) => leftOut ? new Without(tokenizer) : tokenizer;

    /// <summary>The same tokenizer with an empty <see cref="ITextTokenizer.PromptStart"/>.</summary>
    sealed class Without(ITextTokenizer inner) : ITextTokenizer
    {
        public int VocabSize => inner.VocabSize;
        public int EndOfText => inner.EndOfText;
        public int StartOfSequence => inner.StartOfSequence;
        public IReadOnlyList<int> PromptStart => [];
        public int[] Encode(string text) => inner.Encode(text);
        public string Decode(IEnumerable<int> ids) => inner.Decode(ids);
        public void Save(string directory) => inner.Save(directory);
    }
}
