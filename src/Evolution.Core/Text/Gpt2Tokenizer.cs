using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Text;

/// <summary>
/// GPT-2's byte-level BPE from a Hugging Face folder's <c>vocab.json</c> and <c>merges.txt</c>.
/// Built on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with <c>ByteLevel</c> on and GPT-2's
/// pre-tokenizer regex. Not <c>CodeGenTokenizer.Create</c>: that one adds CodeGen's 38 whitespace-run
/// tokens (ids 50257–50294, outside GPT-2's vocabulary, so "a    b" would encode to an id the model
/// has no embedding for) and fixes &lt;|endoftext|&gt; at 50256 whatever vocab.json says.
/// </summary>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    public const string EndOfTextToken = "<|endoftext|>";
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";

    /// <summary>GPT-2's pre-tokenizer (openai/gpt-2 encoder.py): contractions, letter runs, digit runs, other symbols, whitespace.</summary>
    internal static readonly Regex PreTokenizerPattern = new(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);

    readonly BpeTokenizer inner;
    readonly string vocabPath, mergesPath;

    Gpt2Tokenizer(BpeTokenizer inner, string vocabPath, string mergesPath, int vocabSize, int endOfText)
    {
        this.inner = inner;
        this.vocabPath = vocabPath;
        this.mergesPath = mergesPath;
        VocabSize = vocabSize;
        EndOfText = endOfText;
    }

    /// <summary>Reads <c>vocab.json</c> and <c>merges.txt</c> from <paramref name="directory"/>; errors name the file, line and token.</summary>
    public static Gpt2Tokenizer Load(string directory)
    {
        var vocabPath = Path.Combine(directory, VocabFile);
        var mergesPath = Path.Combine(directory, MergesFile);
        foreach (var f in new[] { vocabPath, mergesPath })
            if (!File.Exists(f)) throw new InputException(f, null, "not found: a GPT-2 folder needs vocab.json and merges.txt");

        var vocab = ReadVocab(vocabPath);
        var merges = ReadMerges(mergesPath, vocab);
        if (!vocab.TryGetValue(EndOfTextToken, out var endOfText))
            throw new InputException(vocabPath, EndOfTextToken, "GPT-2's end-of-text token is missing from the vocabulary");

        var special = new Dictionary<string, int> { [EndOfTextToken] = endOfText };
        var inner = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true, // text → UTF-8 bytes → GPT-2's printable byte alphabet (space is 'Ġ')
            PreTokenizer = new RegexPreTokenizer(PreTokenizerPattern, special),
            SpecialTokens = special,
        });
        return new Gpt2Tokenizer(inner, vocabPath, mergesPath, vocab.Values.Max() + 1, endOfText);
    }

    /// <summary>Largest id + 1 (ids need not be dense, though GPT-2's are).</summary>
    public int VocabSize { get; }

    public int EndOfText { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>. With GPT-2's full byte alphabet every text encodes; with a
    /// vocabulary lacking some byte the library would substitute or drop it, so the round trip is
    /// checked and a failure throws (never a silent wrong id).
    /// </summary>
    public int[] Encode(string text)
    {
        var ids = inner.EncodeToIds(text).ToArray();
        if (inner.Decode(ids) != text)
            throw new InputException(null, "text", $"\"{(text.Length > 60 ? text[..60] + "…" : text)}\" cannot be encoded exactly by this GPT-2 vocabulary ({vocabPath})");
        return ids;
    }

    public string Decode(IEnumerable<int> ids) => inner.Decode(ids) ?? "";

    /// <summary>Copies vocab.json and merges.txt into <paramref name="directory"/> (each atomically; saving onto the source is a no-op).</summary>
    public void Save(string directory)
    {
        foreach (var (source, name) in new[] { (vocabPath, VocabFile), (mergesPath, MergesFile) })
        {
            var target = Path.Combine(directory, name);
            if (Path.GetFullPath(target) == Path.GetFullPath(source)) continue;
            AtomicFile.Write(target, temp => File.Copy(source, temp));
        }
    }

    static Dictionary<string, int> ReadVocab(string path)
    {
        Dictionary<string, int>? vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InputException(path, e.Path, $"expected a JSON object of token → id: {e.Message}", (int?)e.LineNumber + 1); }
        if (vocab is null || vocab.Count == 0) throw new InputException(path, null, "empty vocabulary");
        var negative = vocab.FirstOrDefault(kv => kv.Value < 0);
        if (negative.Key is not null) throw new InputException(path, negative.Key, $"negative id {negative.Value}");
        var duplicate = vocab.GroupBy(kv => kv.Value).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InputException(path, duplicate.First().Key, $"id {duplicate.Key} is shared by {string.Join(", ", duplicate.Select(kv => $"'{kv.Key}'"))}");
        return vocab;
    }

    /// <summary>One merge per line, "left right", after an optional "#version" line; both parts and the merged token must be in the vocabulary.</summary>
    static List<string> ReadMerges(string path, Dictionary<string, int> vocab)
    {
        var merges = new List<string>();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InputException(path, null, $"expected two tokens separated by one space, got \"{line}\"", i + 1);
            foreach (var token in new[] { parts[0], parts[1], parts[0] + parts[1] })
                if (!vocab.ContainsKey(token))
                    throw new InputException(path, token, "merge token is not in vocab.json", i + 1);
            merges.Add(line);
        }
        return merges;
    }
}
