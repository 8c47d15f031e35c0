using ADRaffy.ENSNormalize;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Text;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a byte-level BPE model, as Llama 3, Qwen2, SmolLM2 and GPT-2
/// ship it. The file is translated into Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (ByteLevel on):
/// <c>model.vocab</c> and <c>model.merges</c> (the "a b" strings or the newer ["a", "b"] pairs), the
/// pre-tokenizer (ByteLevel, with GPT-2's regex when <c>use_regex</c>; a <c>Split</c> regex read from the
/// file, as Llama 3 and Qwen2 use; <c>Digits</c>, as SmolLM2 uses; a <c>Sequence</c> of those) as a
/// <see cref="CompositePreTokenizer"/>, and <c>added_tokens</c> as special tokens, matched whole in the
/// text before any splitting and never produced by merges (they live outside the merges' vocabulary).
/// What the library lacks is done here: the NFC normalizer (Qwen2; ADRaffy.ENSNormalize's Unicode tables) and <c>ignore_merges</c> (Llama 3: a
/// pre-token that is itself in the vocabulary is one token, even when no merge path leads to it).
/// Anything else the file asks for is refused with the field named rather than tokenized differently.
/// </summary>
/// <remarks>
/// Known gap: .NET's Regex sees UTF-16 code units, so a letter outside the Basic Multilingual Plane
/// (mathematical alphanumerics such as "𝐀") is not <c>\p{L}</c> as it is for Hugging Face's regex; such
/// text still round-trips, but may split differently. Emoji are symbols in both and split alike.
/// </remarks>
public sealed class HfByteLevelBpeTokenizer : IHfTokenizer
{
    public const string FileName = "tokenizer.json";

    readonly BpeTokenizer inner;
    readonly IReadOnlyDictionary<string, int> specialTokens;
    readonly Dictionary<int, string> tokenById;
    /// <summary>Decoded text → id of every vocabulary token whose bytes are whole UTF-8; null unless <c>ignore_merges</c>.</summary>
    readonly Dictionary<string, int>? wholeTokens;
    readonly bool nfc;
    readonly string directory;

    HfByteLevelBpeTokenizer(BpeTokenizer inner, IReadOnlyDictionary<string, int> specialTokens, Dictionary<int, string> tokenById,
        bool ignoreMerges, bool nfc, string directory, string path)
    {
        this.inner = inner;
        this.specialTokens = specialTokens;
        this.tokenById = tokenById;
        this.nfc = nfc;
        this.directory = directory;
        VocabSize = tokenById.Keys.Max() + 1;
        if (ignoreMerges)
        {
            wholeTokens = [];
            foreach (var (id, token) in tokenById)
            {
                if (specialTokens.ContainsKey(token)) continue;
                var text = inner.Decode([id], considerSpecialTokens: false) ?? "";
                if (text.Length > 0 && !text.Contains('\uFFFD')) wholeTokens.TryAdd(text, id);
            }
        }
        (BosId, EosId) = HfSpecialTokens.Read(directory, IdOf, VocabSize);
        EndOfText = EosId ?? BosId ?? throw new InputException(Path.Combine(directory, HfSpecialTokens.TokenizerConfigFile), "eos_token",
            $"no end-of-text token: neither {HfSpecialTokens.TokenizerConfigFile} (eos_token, bos_token) nor {HfSpecialTokens.ModelConfigFile} (eos_token_id, bos_token_id) names one for {path}");
    }

    /// <summary>Largest id + 1 over the vocabulary and the added tokens (a model's embedding table may be larger).</summary>
    public int VocabSize { get; }

    /// <summary>EOS, or BOS when the folder names no EOS.</summary>
    public int EndOfText { get; }

    /// <summary>BOS, or the end-of-text id where the model has none (see <see cref="ITextTokenizer.StartOfSequence"/>).</summary>
    public int StartOfSequence => BosId ?? EndOfText;

    public int? BosId { get; }

    public int? EosId { get; }

    /// <summary>Id of a vocabulary or added token given as text ("&lt;|eot_id|&gt;", "Ġthe"), or null.</summary>
    public int? IdOf(string token) =>
        specialTokens.TryGetValue(token, out var special) ? special : inner.Vocabulary.TryGetValue(token, out var id) ? id : null;

    /// <summary>
    /// Token ids of <paramref name="text"/>, without BOS. Added tokens in the text map to their ids. With a
    /// full byte alphabet every text encodes; a vocabulary lacking some byte would make the library drop
    /// it, so the round trip is checked and a failure throws (never a silent wrong id).
    /// </summary>
    public int[] Encode(string text)
    {
        if (nfc) text = ENSNormalize.NF.NFC(text); // not string.Normalize: a silent no-op under InvariantGlobalization
        int[] ids;
        if (wholeTokens is null) ids = [.. inner.EncodeToIds(text)];
        else
        {
            var list = new List<int>();
            foreach (var (offset, length) in inner.PreTokenizer!.PreTokenize(text))
            {
                var piece = text.Substring(offset, length);
                if (!specialTokens.ContainsKey(piece) && wholeTokens.TryGetValue(piece, out var whole)) list.Add(whole);
                else list.AddRange(inner.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false));
            }
            ids = [.. list];
        }
        if (Decode(ids) != text)
            throw new InputException(null, "text", $"\"{(text.Length > 60 ? text[..60] + "…" : text)}\" cannot be encoded exactly by {Path.Combine(directory, FileName)}");
        return ids;
    }

    /// <summary>Text of the ids, added tokens written out ("&lt;|eot_id|&gt;"), as Hugging Face's decode without skip_special_tokens.</summary>
    public string Decode(IEnumerable<int> ids) => inner.Decode(ids) ?? "";

    /// <summary>Copies tokenizer.json and tokenizer_config.json (BOS/EOS from config.json written into the latter).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        HfSpecialTokens.CopyFile(Path.Combine(this.directory, FileName), Path.Combine(directory, FileName));
        HfSpecialTokens.Save(this.directory, directory, BosId, EosId, id => tokenById.GetValueOrDefault(id));
    }

    /// <summary>Reads <c>tokenizer.json</c> (and tokenizer_config.json / config.json for BOS and EOS) from <paramref name="directory"/>.</summary>
    public static HfByteLevelBpeTokenizer Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        using var document = HfJson.ReadObject(path);
        var root = document.RootElement;
        var model = ReadModel(root, path);
        // First what makes the file byte-level BPE or not: HfTokenizers falls back to tokenizer.model on exactly those two fields.
        var preTokenizers = ReadPreTokenizers(root, path);
        var nfc = ReadNormalizer(root, path);
        var vocab = ReadVocab(model, path);
        var merges = ReadMerges(model, vocab, path);
        var specialTokens = ReadAddedTokens(root, path);

        BpeTokenizer inner;
        try
        {
            inner = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                // Added tokens are split out first, then each stretch between them goes through the pre-tokenizers in order.
                PreTokenizer = new CompositePreTokenizer(preTokenizers, specialTokens.Count > 0 ? specialTokens : null),
                SpecialTokens = specialTokens,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new InputException(path, "model", e.Message, inner: e);
        }

        var tokenById = new Dictionary<int, string>(vocab.Count + specialTokens.Count);
        foreach (var (token, id) in vocab) tokenById[id] = token;
        foreach (var (token, id) in specialTokens) tokenById[id] = token;
        var ignoreMerges = HfJson.OptionalBool(model, "ignore_merges", false, path, "model.ignore_merges");
        return new HfByteLevelBpeTokenizer(inner, specialTokens, tokenById, ignoreMerges, nfc, directory, path);
    }

    /// <summary>True when <paramref name="root"/> is a Hugging Face tokenizer.json's: a top-level "model" object with a "type".</summary>
    internal static bool IsHuggingFaceFormat(JsonElement root) =>
        HfJson.Optional(root, "model") is { ValueKind: JsonValueKind.Object } model && HfJson.Optional(model, "type") is { ValueKind: JsonValueKind.String };

    static JsonElement ReadModel(JsonElement root, string path)
    {
        if (!IsHuggingFaceFormat(root))
        {
            // This project's agent checkpoints write their own, compact tokenizer.json beside their weights.
            if (HfJson.Optional(root, "Kind") is { ValueKind: JsonValueKind.String } kind)
                throw new InputException(path, "model",
                    $"this is the project's own compact tokenizer (Kind '{kind.GetString()}', written with an agent checkpoint), not a Hugging Face tokenizer.json; load the folder as an agent checkpoint");
            throw new InputException(path, "model.type", "missing: not a Hugging Face tokenizer.json (expected a top-level \"model\" object with a \"type\")");
        }
        var model = root.GetProperty("model");
        var type = model.GetProperty("type").GetString();
        if (type != "BPE")
            throw new InputException(path, "model.type", $"'{type}' is not supported: only byte-level BPE models load (Llama 3, Qwen2, SmolLM2, GPT-2)");
        foreach (var field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (HfJson.OptionalString(model, field, path, "model." + field) is { Length: > 0 } value)
                throw new InputException(path, "model." + field, $"'{value}' is not supported: byte-level BPE models have none");
        return model;
    }

    static Dictionary<string, int> ReadVocab(JsonElement model, string path)
    {
        var element = HfJson.Required(model, "vocab", JsonValueKind.Object, path, "model.vocab", "a BPE model needs its vocabulary (token → id)");
        var vocab = new Dictionary<string, int>();
        foreach (var entry in element.EnumerateObject())
            vocab[entry.Name] = HfJson.Id(entry.Value, path, $"model.vocab.{entry.Name}");
        if (vocab.Count == 0) throw new InputException(path, "model.vocab", "empty vocabulary");
        return vocab;
    }

    /// <summary>"a b" strings (older files) or ["a", "b"] pairs (tokenizers ≥ 0.20); both parts and the merged token must be in the vocabulary.</summary>
    static List<string> ReadMerges(JsonElement model, Dictionary<string, int> vocab, string path)
    {
        var element = HfJson.Required(model, "merges", JsonValueKind.Array, path, "model.merges", "a BPE model needs its merges (an empty list if none)");
        var merges = new List<string>(element.GetArrayLength());
        var i = 0;
        foreach (var merge in element.EnumerateArray())
        {
            var field = $"model.merges[{i++}]";
            string[] parts = merge.ValueKind switch
            {
                JsonValueKind.String => merge.GetString()!.Split(' '),
                JsonValueKind.Array when merge.EnumerateArray().All(p => p.ValueKind == JsonValueKind.String) => [.. merge.EnumerateArray().Select(p => p.GetString()!)],
                _ => [],
            };
            if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Contains(' ')))
                throw new InputException(path, field, $"expected \"left right\" or [\"left\", \"right\"] (two non-empty tokens without spaces), got {merge.GetRawText()}");
            foreach (var token in new[] { parts[0], parts[1], parts[0] + parts[1] })
                if (!vocab.ContainsKey(token)) throw new InputException(path, field, $"'{token}' is not in model.vocab");
            merges.Add(parts[0] + " " + parts[1]);
        }
        return merges;
    }

    /// <summary>Every added token, special or not: Hugging Face matches both whole in the text, before normalizing and splitting.</summary>
    static Dictionary<string, int> ReadAddedTokens(JsonElement root, string path)
    {
        var tokens = new Dictionary<string, int>();
        if (HfJson.Optional(root, "added_tokens") is not { } added) return tokens;
        if (added.ValueKind != JsonValueKind.Array) throw new InputException(path, "added_tokens", "expected an array");
        var i = 0;
        foreach (var token in added.EnumerateArray())
        {
            var field = $"added_tokens[{i++}]";
            var content = HfJson.Required(token, "content", JsonValueKind.String, path, field + ".content", "an added token needs its text").GetString()!;
            if (content.Length == 0) throw new InputException(path, field + ".content", "empty");
            tokens[content] = HfJson.Id(HfJson.Required(token, "id", JsonValueKind.Number, path, field + ".id", "an added token needs its id"), path, field + ".id");
            // Stripping neighbouring spaces or matching only whole words would change where the token is found.
            foreach (var flag in new[] { "lstrip", "rstrip", "single_word" })
                if (HfJson.OptionalBool(token, flag, false, path, $"{field}.{flag}"))
                    throw new InputException(path, $"{field}.{flag}", $"true is not supported (added token '{content}')");
        }
        return tokens;
    }

    /// <summary>True for NFC (Qwen2); none is the common case; anything else is refused.</summary>
    static bool ReadNormalizer(JsonElement root, string path)
    {
        if (HfJson.Optional(root, "normalizer") is not { } normalizer) return false;
        var type = HfJson.OptionalString(normalizer, "type", path, "normalizer.type");
        if (type == "NFC") return true;
        if (type == "Sequence" && HfJson.Optional(normalizer, "normalizers") is { ValueKind: JsonValueKind.Array } list)
        {
            var nfc = false;
            var i = 0;
            foreach (var step in list.EnumerateArray())
            {
                var field = $"normalizer.normalizers[{i++}].type";
                var stepType = HfJson.OptionalString(step, "type", path, field);
                if (stepType != "NFC") throw new InputException(path, field, $"'{stepType}' is not supported (only NFC)");
                nfc = true;
            }
            return nfc;
        }
        throw new InputException(path, "normalizer.type", $"'{type}' is not supported (only NFC or none)");
    }

    /// <summary>
    /// The pre-tokenizer chain; ByteLevel must come last (it maps text to the byte alphabet, after which
    /// the other steps' patterns would no longer apply) and must be there: without it the file is a
    /// SentencePiece-style BPE (Llama 2, Mistral, TinyLlama), whose folder's tokenizer.model is the way in.
    /// </summary>
    static List<PreTokenizer> ReadPreTokenizers(JsonElement root, string path)
    {
        var steps = new List<(JsonElement Step, string Field)>();
        if (HfJson.Optional(root, "pre_tokenizer") is { } preTokenizer)
        {
            if (HfJson.OptionalString(preTokenizer, "type", path, "pre_tokenizer.type") == "Sequence")
            {
                var list = HfJson.Required(preTokenizer, "pretokenizers", JsonValueKind.Array, path, "pre_tokenizer.pretokenizers", "a Sequence lists its pre-tokenizers");
                var i = 0;
                foreach (var step in list.EnumerateArray()) steps.Add((step, $"pre_tokenizer.pretokenizers[{i++}]"));
            }
            else steps.Add((preTokenizer, "pre_tokenizer"));
        }
        if (steps.Count == 0 || HfJson.OptionalString(steps[^1].Step, "type", path, steps[^1].Field + ".type") != "ByteLevel")
            throw new InputException(path, "pre_tokenizer",
                "not byte-level BPE (the last pre-tokenizer is not ByteLevel); a SentencePiece-style tokenizer.json (Llama 2, Mistral, TinyLlama) loads from the folder's tokenizer.model");

        var result = new List<PreTokenizer>();
        for (int i = 0; i < steps.Count; i++)
        {
            var (step, field) = steps[i];
            var type = HfJson.OptionalString(step, "type", path, field + ".type");
            switch (type)
            {
                case "ByteLevel" when i == steps.Count - 1:
                    if (HfJson.OptionalBool(step, "add_prefix_space", false, path, field + ".add_prefix_space"))
                        throw new InputException(path, field + ".add_prefix_space", "true is not supported (a leading space would be invented and decoded back)");
                    if (HfJson.OptionalBool(step, "use_regex", true, path, field + ".use_regex"))
                        result.Add(new RegexPreTokenizer(Gpt2Tokenizer.PreTokenizerPattern, null));
                    break;
                case "Split":
                    result.Add(new RegexPreTokenizer(ReadSplitPattern(step, path, field), null));
                    break;
                case "Digits":
                    var individual = HfJson.OptionalBool(step, "individual_digits", false, path, field + ".individual_digits");
                    result.Add(new RegexPreTokenizer(new Regex(individual ? @"\p{N}" : @"\p{N}+", RegexOptions.Compiled), null));
                    break;
                default:
                    throw new InputException(path, field + ".type", $"'{type}' is not supported here (Split, Digits, then ByteLevel last)");
            }
        }
        return result;
    }

    /// <summary>A Split step's pattern; only "Isolated" behaviour (each match its own piece, as Llama 3 and Qwen2 use) without invert.</summary>
    static Regex ReadSplitPattern(JsonElement step, string path, string field)
    {
        var behavior = HfJson.OptionalString(step, "behavior", path, field + ".behavior");
        if (behavior != "Isolated") throw new InputException(path, field + ".behavior", $"'{behavior}' is not supported (only Isolated)");
        if (HfJson.OptionalBool(step, "invert", false, path, field + ".invert")) throw new InputException(path, field + ".invert", "true is not supported");
        var pattern = HfJson.Required(step, "pattern", JsonValueKind.Object, path, field + ".pattern", "a Split needs {\"Regex\": ...} or {\"String\": ...}");
        if (HfJson.OptionalString(pattern, "String", path, field + ".pattern.String") is { } literal)
            return new Regex(Regex.Escape(literal), RegexOptions.Compiled);
        var regex = HfJson.OptionalString(pattern, "Regex", path, field + ".pattern.Regex")
            ?? throw new InputException(path, field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
        try { return new Regex(regex, RegexOptions.Compiled | RegexOptions.CultureInvariant); }
        catch (ArgumentException e) { throw new InputException(path, field + ".pattern.Regex", $".NET cannot compile this pattern: {e.Message}", inner: e); }
    }
}
