using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Text;

/// <summary>
/// cl100k BPE (tiktoken data, Microsoft.ML.Tokenizers) restricted to the token ids that occur in a
/// world, renumbered densely: id 0 is &lt;|endoftext|&gt;, id 1 is &lt;|unk|&gt;, then the used cl100k
/// ids in increasing order. A 100k-row embedding would dwarf a 1M-parameter agent; the world's
/// texts use a few thousand ids. Text that needs an id outside the vocabulary is an error unless
/// the caller asks for the explicit unknown token.
/// </summary>
public sealed class CompactTokenizer : ITextTokenizer
{
    public const string EndOfTextToken = "<|endoftext|>";
    public const string UnknownToken = "<|unk|>";
    public const string FileName = "tokenizer.json";
    const int SpecialCount = 2;
    const string BaseEncoding = "cl100k_base";

    static readonly Lazy<TiktokenTokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForEncoding(BaseEncoding));

    readonly int[] denseToBase;
    readonly Dictionary<int, int> baseToDense;

    CompactTokenizer(int[] sortedBaseIds)
    {
        denseToBase = sortedBaseIds;
        baseToDense = new Dictionary<int, int>(sortedBaseIds.Length);
        for (int i = 0; i < sortedBaseIds.Length; i++) baseToDense[sortedBaseIds[i]] = i + SpecialCount;
    }

    public int VocabSize => denseToBase.Length + SpecialCount;
    public int EndOfText => 0;
    public int Unknown => 1;

    /// <summary>Vocabulary of every cl100k id used by <paramref name="texts"/>.</summary>
    public static CompactTokenizer Build(IEnumerable<string> texts)
    {
        var used = new HashSet<int>();
        foreach (var text in texts)
            foreach (var id in Cl100k.Value.EncodeToIds(text)) used.Add(id);
        return new CompactTokenizer(used.Order().ToArray());
    }

    public int[] Encode(string text) => Encode(text, allowUnknown: false);

    public int[] Encode(string text, bool allowUnknown)
    {
        var baseIds = Cl100k.Value.EncodeToIds(text);
        var ids = new int[baseIds.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (baseToDense.TryGetValue(baseIds[i], out var dense)) ids[i] = dense;
            else if (allowUnknown) ids[i] = Unknown;
            else
                throw new InputException(null, "text",
                    $"'{Cl100k.Value.Decode([baseIds[i]])}' in \"{Shorten(text)}\" is not in this model's vocabulary " +
                    "(it was built from the texts of the model's world)");
        }
        return ids;
    }

    public bool Covers(string text) => Cl100k.Value.EncodeToIds(text).All(baseToDense.ContainsKey);

    public string Decode(IEnumerable<int> ids)
    {
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(Cl100k.Value.Decode(run));
            run.Clear();
        }
        foreach (var id in ids)
        {
            if (id == EndOfText) { Flush(); text.Append(EndOfTextToken); }
            else if (id == Unknown || id < 0 || id >= VocabSize) { Flush(); text.Append(UnknownToken); }
            else run.Add(denseToBase[id - SpecialCount]);
        }
        Flush();
        return text.ToString();
    }

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var json = JsonSerializer.Serialize(new TokenizerFile("compact-tiktoken", BaseEncoding, [EndOfTextToken, UnknownToken], denseToBase));
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), json);
    }

    public static CompactTokenizer Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new InputException(path, null, "tokenizer file not found");
        TokenizerFile? file;
        try { file = JsonSerializer.Deserialize<TokenizerFile>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InputException(path, e.Path, $"not a valid tokenizer file: {e.Message}", (int?)e.LineNumber + 1); }
        if (file is null || file.Kind != "compact-tiktoken") throw new InputException(path, "kind", "expected 'compact-tiktoken'");
        if (file.Base != BaseEncoding) throw new InputException(path, "base", $"unsupported base encoding '{file.Base}'");
        if (file.Ids is null || file.Ids.Length == 0) throw new InputException(path, "ids", "missing or empty");
        for (int i = 1; i < file.Ids.Length; i++)
            if (file.Ids[i] <= file.Ids[i - 1]) throw new InputException(path, $"ids[{i}]", "ids must be strictly increasing");
        return new CompactTokenizer(file.Ids);
    }

    static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";

    sealed record TokenizerFile(string Kind, string Base, string[] Specials, int[] Ids);
}
