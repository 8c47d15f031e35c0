using System.Text.Json;
using Evolution.Core.Text;

namespace Evolution.Core.Tests.Text;

/// <summary>
/// GPT-2 byte-level BPE on a hand-written vocabulary: the 256-symbol byte alphabet in GPT-2's own id
/// order (so 'Ġ' = 220 and 'Ċ' = 198, as in the real vocab.json), a few merges, and &lt;|endoftext|&gt;.
/// </summary>
public class Gpt2TokenizerTests
{
    static readonly string[] Merges = ["Ġ Ġ", "ĠĠ Ġ", "a b", "Ġ ab", "Ġ b", "Ċ Ċ"];

    /// <summary>GPT-2's bytes_to_unicode (openai/gpt-2 encoder.py): printable bytes map to themselves, the rest to U+0100 onwards.</summary>
    internal static List<char> ByteAlphabet()
    {
        var bytes = new List<int>();
        for (int b = '!'; b <= '~'; b++) bytes.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) bytes.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) bytes.Add(b);
        var chars = bytes.Select(b => (char)b).ToList();
        int next = 0;
        for (int b = 0; b < 256; b++)
            if (!bytes.Contains(b)) chars.Add((char)(256 + next++));
        return chars;
    }

    /// <summary>Writes vocab.json + merges.txt; returns the vocabulary.</summary>
    public static Dictionary<string, int> WriteByteLevelVocab(string dir, IEnumerable<char>? alphabet = null, string[]? merges = null, bool endOfText = true)
    {
        var vocab = new Dictionary<string, int>();
        foreach (var c in alphabet ?? ByteAlphabet()) vocab[c.ToString()] = vocab.Count;
        foreach (var m in merges ?? Merges) vocab[m.Replace(" ", "")] = vocab.Count;
        if (endOfText) vocab[Gpt2Tokenizer.EndOfTextToken] = vocab.Count;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n" + string.Join("\n", merges ?? Merges) + "\n");
        return vocab;
    }

    static (Gpt2Tokenizer Tokenizer, Dictionary<string, int> Vocab, string Dir) Build()
    {
        var dir = Directory.CreateTempSubdirectory("gpt2tok").FullName;
        var vocab = WriteByteLevelVocab(dir);
        return (Gpt2Tokenizer.Load(dir), vocab, dir);
    }

    [Fact]
    public void SplitsAndMergesLikeGpt2()
    {
        var (tokenizer, vocab, _) = Build();
        Assert.Equal(220, vocab["Ġ"]);
        Assert.Equal(198, vocab["Ċ"]);
        int[] Ids(params string[] tokens) => tokens.Select(t => vocab[t]).ToArray();

        Assert.Equal(Ids("ab", "Ġab", "Ġ", "c"), tokenizer.Encode("ab ab c"));
        // Whitespace runs: all but the last space stay apart from the next word ("\s+(?!\S)").
        Assert.Equal(Ids("a", "ĠĠĠ", "Ġb"), tokenizer.Encode("a    b"));
        // Newlines are pre-tokenized one by one before a word, so the "Ċ Ċ" merge does not apply.
        Assert.Equal(Ids("a", "Ċ", "Ċ", "b"), tokenizer.Encode("a\n\nb"));
    }

    [Fact]
    public void RoundTripsAnyTextThroughBytes()
    {
        var (tokenizer, _, _) = Build();
        foreach (var text in new[] { "héllo wörld ✓ 日本\n\ttabs", "  leading", "trailing  ", "it's 42!", "" })
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        // 'é' is two UTF-8 bytes, so two byte-level tokens.
        Assert.Equal(2, tokenizer.Encode("é").Length);
    }

    [Fact]
    public void EndOfTextComesFromTheVocabulary()
    {
        var (tokenizer, vocab, _) = Build();
        Assert.Equal(vocab[Gpt2Tokenizer.EndOfTextToken], tokenizer.EndOfText);
        Assert.Equal(vocab.Count, tokenizer.VocabSize);
        var ids = tokenizer.Encode("ab<|endoftext|>ab");
        Assert.Equal(new[] { vocab["ab"], tokenizer.EndOfText, vocab["ab"] }, ids);
    }

    [Fact]
    public void TextOutsideAPartialVocabularyThrows()
    {
        var dir = Directory.CreateTempSubdirectory("gpt2tok").FullName;
        WriteByteLevelVocab(dir, alphabet: "abĠ", merges: ["a b"]);
        var tokenizer = Gpt2Tokenizer.Load(dir);
        Assert.Equal(new[] { 3, 2, 0, 2, 1 }, tokenizer.Encode("ab a b")); // ab, Ġ, a, Ġ, b
        var error = Assert.Throws<InputException>(() => tokenizer.Encode("a z"));
        Assert.Contains("a z", error.Message);
    }

    [Fact]
    public void BadFilesAreNamed()
    {
        var dir = Directory.CreateTempSubdirectory("gpt2tok").FullName;
        WriteByteLevelVocab(dir, endOfText: false);
        var error = Assert.Throws<InputException>(() => Gpt2Tokenizer.Load(dir));
        Assert.Contains("vocab.json", error.Message);
        Assert.Contains("<|endoftext|>", error.Message);

        WriteByteLevelVocab(dir);
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b\nq r s\n");
        error = Assert.Throws<InputException>(() => Gpt2Tokenizer.Load(dir));
        Assert.Contains("merges.txt:3", error.Message);

        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nb a\n");
        error = Assert.Throws<InputException>(() => Gpt2Tokenizer.Load(dir));
        Assert.Contains("merges.txt:2", error.Message);
        Assert.Contains("'ba'", error.Message);

        File.Delete(Path.Combine(dir, "merges.txt"));
        error = Assert.Throws<InputException>(() => Gpt2Tokenizer.Load(dir));
        Assert.Contains("merges.txt", error.Message);
    }

    [Fact]
    public void SaveCopiesBothFilesAndSavingInPlaceIsHarmless()
    {
        var (tokenizer, _, dir) = Build();
        var vocabBytes = File.ReadAllBytes(Path.Combine(dir, "vocab.json"));
        tokenizer.Save(dir);
        Assert.Equal(vocabBytes, File.ReadAllBytes(Path.Combine(dir, "vocab.json")));

        var copy = Path.Combine(Directory.CreateTempSubdirectory("gpt2tok").FullName, "saved");
        tokenizer.Save(copy);
        Assert.Equal(new[] { "merges.txt", "vocab.json" }, Directory.GetFiles(copy).Select(Path.GetFileName).Order());
        var reloaded = Gpt2Tokenizer.Load(copy);
        Assert.Equal(tokenizer.Encode("a    b ab\n"), reloaded.Encode("a    b ab\n"));
    }
}
