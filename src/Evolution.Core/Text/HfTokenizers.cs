namespace Evolution.Core.Text;

/// <summary>
/// Opens the tokenizer of a pretrained Hugging Face model folder (model_type gpt2, llama, qwen2, mistral).
/// A byte-level BPE <c>tokenizer.json</c> (Llama 3, Qwen2, SmolLM2, GPT-2) wins; a folder whose tokenizer.json
/// is SentencePiece-style (Llama 2, TinyLlama, Mistral) or absent uses its <c>tokenizer.model</c>. This
/// project's agent checkpoints also write a file named tokenizer.json, in their own compact format: it is
/// told apart by the Hugging Face file's top-level <c>"model": {"type": ...}</c> and refused by name.
/// </summary>
public static class HfTokenizers
{
    /// <summary>The folder's tokenizer; <see cref="IHfTokenizer.BosId"/> and <see cref="IHfTokenizer.EosId"/> give the sequence ids.</summary>
    public static IHfTokenizer Load(string directory)
    {
        if (!Directory.Exists(directory)) throw new InputException(directory, null, "model folder not found");
        var json = Path.Combine(directory, HfByteLevelBpeTokenizer.FileName);
        var model = Path.Combine(directory, HfSentencePieceTokenizer.FileName);
        if (File.Exists(json))
        {
            try { return HfByteLevelBpeTokenizer.Load(directory); }
            catch (InputException e) when (File.Exists(model) && e.File == json && e.Field is "pre_tokenizer" or "model.type")
            {
                // A SentencePiece-style (or non-BPE) tokenizer.json beside the original tokenizer.model: the latter is the way in.
            }
        }
        if (File.Exists(model)) return HfSentencePieceTokenizer.Load(directory);
        throw new InputException(directory, null,
            $"no tokenizer: expected {HfByteLevelBpeTokenizer.FileName} (Hugging Face, byte-level BPE) or {HfSentencePieceTokenizer.FileName} (SentencePiece)");
    }
}
