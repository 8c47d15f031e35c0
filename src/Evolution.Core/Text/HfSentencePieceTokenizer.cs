using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Text;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (Llama 2, TinyLlama, Mistral), read by Microsoft.ML.Tokenizers'
/// <see cref="SentencePieceTokenizer"/> (BPE or Unigram, byte fallback, the dummy-prefix "▁"). Hugging
/// Face folders of these models also carry a tokenizer.json, but a SentencePiece-style one (Metaspace,
/// byte fallback) that <see cref="HfByteLevelBpeTokenizer"/> does not translate: the .model file is the
/// original. Its control tokens (&lt;s&gt;, &lt;/s&gt;, &lt;unk&gt;) written in a text map to their ids, as
/// Hugging Face's Llama tokenizer has them as added tokens; BOS is never added by <see cref="Encode"/>.
/// </summary>
public sealed class HfSentencePieceTokenizer : IHfTokenizer
{
    public const string FileName = "tokenizer.model";

    readonly SentencePieceTokenizer inner;
    readonly string directory;

    HfSentencePieceTokenizer(SentencePieceTokenizer inner, string directory, string path)
    {
        this.inner = inner;
        this.directory = directory;
        VocabSize = inner.Vocabulary.Values.Max() + 1;
        (BosId, EosId) = HfSpecialTokens.Read(directory, token => inner.Vocabulary.TryGetValue(token, out var id) ? id : null, VocabSize,
            defaultBos: NonNegative(inner.BeginningOfSentenceId), defaultEos: NonNegative(inner.EndOfSentenceId));
        EndOfText = EosId ?? BosId ?? throw new InputException(path, "trainer_spec.eos_id", "the model has neither an end-of-sentence nor a beginning-of-sentence token");
    }

    /// <summary>Largest piece id + 1.</summary>
    public int VocabSize { get; }

    /// <summary>EOS, or BOS when the model has no EOS.</summary>
    public int EndOfText { get; }

    /// <summary>BOS, or the end-of-text id where the model has none (see <see cref="ITextTokenizer.StartOfSequence"/>).</summary>
    public int StartOfSequence => BosId ?? EndOfText;

    public int? BosId { get; }

    public int? EosId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>, without BOS, with SentencePiece's dummy prefix ("hello" →
    /// "▁hello", as Hugging Face's Llama tokenizer encodes it). A character the model cannot represent
    /// (no piece, no byte fallback) would become &lt;unk&gt;: that throws (never a silent wrong id).
    /// </summary>
    public int[] Encode(string text)
    {
        int[] ids = [.. inner.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)];
        if (Array.IndexOf(ids, inner.UnknownId) >= 0 && !text.Contains(inner.UnknownToken, StringComparison.Ordinal))
            throw new InputException(null, "text", $"\"{(text.Length > 60 ? text[..60] + "…" : text)}\" has characters that {Path.Combine(directory, FileName)} cannot represent (it has no byte fallback)");
        return ids;
    }

    /// <summary>Text of the ids, control tokens written out ("&lt;/s&gt;"), the dummy prefix's space removed.</summary>
    public string Decode(IEnumerable<int> ids) => inner.Decode(ids, considerSpecialTokens: true) ?? "";

    /// <summary>Copies tokenizer.model and tokenizer_config.json (BOS/EOS taken from elsewhere written into the latter).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        HfSpecialTokens.CopyFile(Path.Combine(this.directory, FileName), Path.Combine(directory, FileName));
        HfSpecialTokens.Save(this.directory, directory, BosId, EosId, id => inner.Vocabulary.FirstOrDefault(kv => kv.Value == id).Key);
    }

    /// <summary>Reads <c>tokenizer.model</c> (and tokenizer_config.json / config.json for BOS and EOS) from <paramref name="directory"/>.</summary>
    public static HfSentencePieceTokenizer Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new InputException(path, null, "not found");
        var bytes = File.ReadAllBytes(path);
        SentencePieceTokenizer Create(IReadOnlyDictionary<string, int>? specialTokens)
        {
            try { return SentencePieceTokenizer.Create(new MemoryStream(bytes), addBeginningOfSentence: false, addEndOfSentence: false, specialTokens); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InputException(path, null, $"not a SentencePiece model the library can read: {e.Message}", inner: e);
            }
        }

        // The control tokens are known only once the model is read; the second reading makes them matchable in text.
        var plain = Create(null);
        var control = new Dictionary<string, int>();
        foreach (var (token, id) in new[] { (plain.BeginningOfSentenceToken, plain.BeginningOfSentenceId), (plain.EndOfSentenceToken, plain.EndOfSentenceId), (plain.UnknownToken, plain.UnknownId) })
            if (id >= 0 && !string.IsNullOrEmpty(token)) control.TryAdd(token, id);
        return new HfSentencePieceTokenizer(control.Count > 0 ? Create(control) : plain, directory, path);
    }

    static int? NonNegative(int id) => id >= 0 ? id : null;
}
