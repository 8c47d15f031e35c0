using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Text;

/// <summary>
/// GPT-2's byte-level BPE from a Hugging Face folder's <c>vocab.json</c> and <c>merges.txt</c>,
/// through Microsoft.ML.Tokenizers' CodeGen tokenizer (CodeGen reuses GPT-2's byte-level BPE).
/// </summary>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    const string EndOfTextToken = "<|endoftext|>";
    readonly CodeGenTokenizer inner;
    readonly string vocabPath, mergesPath;

    Gpt2Tokenizer(CodeGenTokenizer inner, string vocabPath, string mergesPath)
    {
        this.inner = inner;
        this.vocabPath = vocabPath;
        this.mergesPath = mergesPath;
        EndOfText = inner.Vocabulary.TryGetValue(EndOfTextToken, out var id) ? id : inner.Vocabulary.Count - 1;
    }

    public static Gpt2Tokenizer Load(string directory)
    {
        var vocab = Path.Combine(directory, "vocab.json");
        var merges = Path.Combine(directory, "merges.txt");
        foreach (var f in new[] { vocab, merges })
            if (!File.Exists(f)) throw new InputException(f, null, "not found");
        try
        {
            using var v = File.OpenRead(vocab);
            using var m = File.OpenRead(merges);
            return new Gpt2Tokenizer(CodeGenTokenizer.Create(v, m, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false), vocab, merges);
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException(vocab, null, $"cannot read the GPT-2 tokenizer files: {e.Message}");
        }
    }

    public int VocabSize => inner.Vocabulary.Count;
    public int EndOfText { get; }

    public int[] Encode(string text) => inner.EncodeToIds(text).ToArray();

    public string Decode(IEnumerable<int> ids) => inner.Decode(ids) ?? "";

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.Copy(vocabPath, Path.Combine(directory, "vocab.json"), overwrite: true);
        File.Copy(mergesPath, Path.Combine(directory, "merges.txt"), overwrite: true);
    }
}
