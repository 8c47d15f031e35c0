using System.Text.Json;
using System.Text.Json.Nodes;
using Evolution.Core.Text;

namespace Evolution.Core.Tests.Text;

/// <summary>
/// Hugging Face tokenizer.json folders written by the test: a toy byte-level BPE (GPT-2's 256-symbol byte
/// alphabet, a handful of merges, added tokens) under the pre-tokenizers of Llama 3, GPT-2, Qwen2 and
/// SmolLM2. The expected ids are Hugging Face's own tokenization of the very same files (see
/// <see cref="KnownIds"/>), not this code's output copied back.
/// </summary>
public class HfTokenizerTests
{
    /// <summary>Llama 3's Split pattern (meta-llama/Meta-Llama-3-8B tokenizer.json).</summary>
    const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's Split pattern (Qwen/Qwen2-0.5B tokenizer.json): digits one by one.</summary>
    const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    static readonly string[][] Merges =
    [
        ["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["o", "r"], ["l", "d"], ["Ġw", "or"], ["Ġwor", "ld"],
        ["Ġ", "t"], ["t", "h"], ["th", "e"], ["Ġt", "he"], ["1", "2"], ["12", "3"], ["'", "s"], ["Ċ", "Ċ"], ["Ġ", "Ġ"],
        ["c", "a"], ["ca", "f"], ["Ã", "©"], ["caf", "Ã©"], ["<", "|"], ["e", "o"], ["t", "_"],
    ];

    /// <summary>In the vocabulary, but no merge leads to it: only <c>ignore_merges</c> (Llama 3) produces it.</summary>
    const string UnreachableToken = "Ġhello";

    public enum Variant { Llama3, Gpt2, Qwen2, SmolLM2 }

    static readonly string[] Specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|endoftext|>", "<|im_end|>"];

    /// <summary>Writes tokenizer.json, tokenizer_config.json and config.json of the variant into a new folder.</summary>
    public static string WriteToyFolder(Variant variant)
    {
        var dir = Directory.CreateTempSubdirectory($"hftok-{variant.ToString().ToLowerInvariant()}-").FullName;
        var vocab = new JsonObject();
        foreach (var c in Gpt2TokenizerTests.ByteAlphabet()) vocab[c.ToString()] = vocab.Count;
        foreach (var m in Merges) vocab[m[0] + m[1]] = vocab.Count;
        vocab[UnreachableToken] = vocab.Count;
        if (variant == Variant.Gpt2) vocab["<|endoftext|>"] = vocab.Count; // GPT-2 keeps it in model.vocab too

        int SpecialId(string token) => variant == Variant.Gpt2 && token == "<|endoftext|>" ? (int)vocab[token]! : vocab.Count + Array.IndexOf(Specials, token);
        var added = new JsonArray([.. Specials.Select(t => new JsonObject
        {
            ["id"] = SpecialId(t), ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        })]);

        JsonObject Split(string pattern) => new() { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = pattern }, ["behavior"] = "Isolated", ["invert"] = false };
        JsonObject ByteLevel(bool useRegex) => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = useRegex };
        JsonObject Sequence(params JsonObject[] steps) => new() { ["type"] = "Sequence", ["pretokenizers"] = new JsonArray([.. steps]) };
        var preTokenizer = variant switch
        {
            Variant.Llama3 => Sequence(Split(Llama3Pattern), ByteLevel(false)),
            Variant.Qwen2 => Sequence(Split(Qwen2Pattern), ByteLevel(false)),
            Variant.SmolLM2 => Sequence(new JsonObject { ["type"] = "Digits", ["individual_digits"] = true }, ByteLevel(true)),
            _ => ByteLevel(true),
        };
        // Llama 3 and Qwen2 write merges as pairs (tokenizers >= 0.20); GPT-2 and SmolLM2 files as "a b" strings.
        var merges = variant is Variant.Llama3 or Variant.Qwen2
            ? new JsonArray([.. Merges.Select(m => new JsonArray(m[0], m[1]))])
            : new JsonArray([.. Merges.Select(m => JsonValue.Create(m[0] + " " + m[1]))]);

        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = variant == Variant.Qwen2 ? new JsonObject { ["type"] = "NFC" } : null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = ByteLevel(false),
            ["decoder"] = ByteLevel(true),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["ignore_merges"] = variant == Variant.Llama3,
                ["vocab"] = vocab, ["merges"] = merges,
            },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        JsonObject? tokenizerConfig = variant switch
        {
            // Llama 3 Instruct: EOS as an AddedToken object, the end of a turn rather than of the text.
            Variant.Llama3 => new() { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = new JsonObject { ["__type"] = "AddedToken", ["content"] = "<|eot_id|>", ["special"] = true } },
            // Qwen2: no BOS at all, though config.json has a placeholder bos_token_id.
            Variant.Qwen2 => new() { ["bos_token"] = null, ["eos_token"] = "<|im_end|>" },
            Variant.SmolLM2 => new() { ["bos_token"] = "<|endoftext|>", ["eos_token"] = "<|im_end|>" },
            // GPT-2's names neither: config.json's ids are the source.
            _ => new() { ["model_max_length"] = 1024 },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig.ToJsonString());
        var endOfText = SpecialId("<|endoftext|>");
        File.WriteAllText(Path.Combine(dir, "config.json"), new JsonObject { ["bos_token_id"] = endOfText, ["eos_token_id"] = endOfText }.ToJsonString());
        return dir;
    }

    /// <summary>
    /// Hugging Face's ids for these files: @huggingface/tokenizers 0.2.0 (the tokenizer of transformers.js
    /// 4.3.2) in Node 20, <c>new Tokenizer(tokenizerJson, tokenizerConfig).encode(text, { add_special_tokens: false })</c>
    /// on the folders <see cref="WriteToyFolder"/> writes (a throwaway script outside the repository). They show
    /// Llama 3's ignore_merges ("the" and " hello" whole), its digit triples, Qwen2's NFC and single digits,
    /// case-insensitive contractions ("'S"), newline runs, byte-level UTF-8 (é, ü, 🙂) and added tokens in text.
    /// </summary>
    public static readonly (Variant Variant, string Text, int[] Ids)[] KnownIds =
    [
        (Variant.Llama3, "hello world", [259, 264]),
        (Variant.Llama3, " hello", [281]),
        (Variant.Llama3, "the 12345 apples", [267, 220, 270, 19, 20, 220, 64, 79, 79, 75, 68, 82]),
        (Variant.Llama3, "it's IT'S", [72, 83, 271, 220, 40, 51, 6, 50]),
        (Variant.Llama3, "caf\u00e9 \u00fc", [277, 220, 127, 120]),
        (Variant.Llama3, "cafe\u0301", [275, 68, 136, 223]),
        (Variant.Llama3, "a\n\nb", [64, 272, 65]),
        (Variant.Llama3, "tabs\t\tand  spaces  ", [83, 64, 65, 82, 197, 197, 64, 77, 67, 220, 220, 82, 79, 64, 66, 68, 82, 273]),
        (Variant.Llama3, "emoji \ud83d\ude42!", [68, 76, 78, 73, 72, 220, 172, 253, 247, 224, 0]),
        (Variant.Llama3, "hi<|eot_id|>there", [71, 72, 284, 83, 256, 81, 68]),
        (Variant.Llama3, "<|begin_of_text|>hello world<|eot_id|>", [282, 259, 264, 284]),
        (Variant.Llama3, "<|eot_id", [278, 279, 83, 62, 72, 67]),
        (Variant.Llama3, "x<|endoftext|>y", [87, 285, 88]),
        (Variant.Gpt2, "hello world", [259, 264]),
        (Variant.Gpt2, " hello", [220, 259]),
        (Variant.Gpt2, "the 12345 apples", [83, 256, 220, 270, 19, 20, 220, 64, 79, 79, 75, 68, 82]),
        (Variant.Gpt2, "it's IT'S", [72, 83, 271, 220, 40, 51, 6, 50]),
        (Variant.Gpt2, "caf\u00e9 \u00fc", [277, 220, 127, 120]),
        (Variant.Gpt2, "cafe\u0301", [275, 68, 136, 223]),
        (Variant.Gpt2, "a\n\nb", [64, 198, 198, 65]),
        (Variant.Gpt2, "tabs\t\tand  spaces  ", [83, 64, 65, 82, 197, 197, 64, 77, 67, 220, 220, 82, 79, 64, 66, 68, 82, 273]),
        (Variant.Gpt2, "emoji \ud83d\ude42!", [68, 76, 78, 73, 72, 220, 172, 253, 247, 224, 0]),
        (Variant.Gpt2, "hi<|eot_id|>there", [71, 72, 285, 83, 256, 81, 68]),
        (Variant.Gpt2, "<|begin_of_text|>hello world<|eot_id|>", [283, 259, 264, 285]),
        (Variant.Gpt2, "<|eot_id", [278, 279, 83, 62, 72, 67]),
        (Variant.Gpt2, "x<|endoftext|>y", [87, 282, 88]),
        (Variant.Qwen2, "hello world", [259, 264]),
        (Variant.Qwen2, " hello", [220, 259]),
        (Variant.Qwen2, "the 12345 apples", [83, 256, 220, 16, 17, 18, 19, 20, 220, 64, 79, 79, 75, 68, 82]),
        (Variant.Qwen2, "it's IT'S", [72, 83, 271, 220, 40, 51, 6, 50]),
        (Variant.Qwen2, "caf\u00e9 \u00fc", [277, 220, 127, 120]),
        (Variant.Qwen2, "cafe\u0301", [277]),
        (Variant.Qwen2, "a\n\nb", [64, 272, 65]),
        (Variant.Qwen2, "tabs\t\tand  spaces  ", [83, 64, 65, 82, 197, 197, 64, 77, 67, 220, 220, 82, 79, 64, 66, 68, 82, 273]),
        (Variant.Qwen2, "emoji \ud83d\ude42!", [68, 76, 78, 73, 72, 220, 172, 253, 247, 224, 0]),
        (Variant.Qwen2, "hi<|eot_id|>there", [71, 72, 284, 83, 256, 81, 68]),
        (Variant.Qwen2, "<|begin_of_text|>hello world<|eot_id|>", [282, 259, 264, 284]),
        (Variant.Qwen2, "<|eot_id", [278, 279, 83, 62, 72, 67]),
        (Variant.Qwen2, "x<|endoftext|>y", [87, 285, 88]),
        (Variant.SmolLM2, "hello world", [259, 264]),
        (Variant.SmolLM2, " hello", [220, 259]),
        (Variant.SmolLM2, "the 12345 apples", [83, 256, 220, 16, 17, 18, 19, 20, 220, 64, 79, 79, 75, 68, 82]),
        (Variant.SmolLM2, "it's IT'S", [72, 83, 271, 220, 40, 51, 6, 50]),
        (Variant.SmolLM2, "caf\u00e9 \u00fc", [277, 220, 127, 120]),
        (Variant.SmolLM2, "cafe\u0301", [275, 68, 136, 223]),
        (Variant.SmolLM2, "a\n\nb", [64, 198, 198, 65]),
        (Variant.SmolLM2, "tabs\t\tand  spaces  ", [83, 64, 65, 82, 197, 197, 64, 77, 67, 220, 220, 82, 79, 64, 66, 68, 82, 273]),
        (Variant.SmolLM2, "emoji \ud83d\ude42!", [68, 76, 78, 73, 72, 220, 172, 253, 247, 224, 0]),
        (Variant.SmolLM2, "hi<|eot_id|>there", [71, 72, 284, 83, 256, 81, 68]),
        (Variant.SmolLM2, "<|begin_of_text|>hello world<|eot_id|>", [282, 259, 264, 284]),
        (Variant.SmolLM2, "<|eot_id", [278, 279, 83, 62, 72, 67]),
        (Variant.SmolLM2, "x<|endoftext|>y", [87, 285, 88]),
    ];

    public static TheoryData<Variant, string, int[]> KnownCases()
    {
        var data = new TheoryData<Variant, string, int[]>();
        foreach (var (variant, text, ids) in KnownIds) data.Add(variant, text, ids);
        return data;
    }

    static readonly Dictionary<Variant, Lazy<IHfTokenizer>> Toys =
        Enum.GetValues<Variant>().ToDictionary(v => v, v => new Lazy<IHfTokenizer>(() => HfTokenizers.Load(WriteToyFolder(v))));

    [Theory]
    [MemberData(nameof(KnownCases))]
    public void EncodesAsHuggingFaceDoes(Variant variant, string text, int[] expected)
    {
        var tokenizer = Toys[variant].Value;
        Assert.IsType<HfByteLevelBpeTokenizer>(tokenizer);
        Assert.Equal(expected, tokenizer.Encode(text));
    }

    [Fact]
    public void DecodeRoundTrips()
    {
        foreach (var (variant, text, ids) in KnownIds)
        {
            var tokenizer = Toys[variant].Value;
            // Qwen2 normalizes to NFC first, as Hugging Face does, so the decomposed "cafe\u0301" comes back composed.
            var expected = variant == Variant.Qwen2 ? text.Replace("e\u0301", "\u00e9") : text;
            Assert.Equal(expected, tokenizer.Decode(ids));
            Assert.Equal(expected, tokenizer.Decode(tokenizer.Encode(text)));
        }
        Assert.Empty(Toys[Variant.Llama3].Value.Encode(""));
        Assert.Equal("", Toys[Variant.Llama3].Value.Decode([]));
    }

    [Fact]
    public void AddedTokensAreMatchedWholeAndNeverMadeByMerges()
    {
        var tokenizer = (HfByteLevelBpeTokenizer)Toys[Variant.Llama3].Value;
        var eot = tokenizer.IdOf("<|eot_id|>")!.Value;
        var firstSpecial = tokenizer.IdOf("<|begin_of_text|>")!.Value;
        Assert.Equal([eot], tokenizer.Encode("<|eot_id|>"));
        Assert.Equal([eot, eot], tokenizer.Encode("<|eot_id|><|eot_id|>"));
        // Spelled out in pieces, or cut short, the text is ordinary bytes; no merge leads to an added token.
        foreach (var text in new[] { "<|eot_id", "<| eot_id|>", "eot_id|>", "<|EOT_ID|>", "<|begin_of_text|" })
            Assert.All(tokenizer.Encode(text), id => Assert.True(id < firstSpecial, $"'{text}' produced added id {id}"));
    }

    [Fact]
    public void MergesAsStringsOrPairsAreTheSame()
    {
        var dir = WriteToyFolder(Variant.Llama3);
        var path = Path.Combine(dir, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["model"]!["merges"] = new JsonArray([.. Merges.Select(m => JsonValue.Create(m[0] + " " + m[1]))]);
        File.WriteAllText(path, json.ToJsonString());
        var fromStrings = HfTokenizers.Load(dir);
        foreach (var (variant, text, ids) in KnownIds.Where(k => k.Variant == Variant.Llama3))
            Assert.Equal(ids, fromStrings.Encode(text));
    }

    [Fact]
    public void BosAndEosComeFromTokenizerConfigThenConfigJson()
    {
        var llama3 = (HfByteLevelBpeTokenizer)Toys[Variant.Llama3].Value;
        Assert.Equal(llama3.IdOf("<|begin_of_text|>"), llama3.BosId);
        Assert.Equal(llama3.IdOf("<|eot_id|>"), llama3.EosId); // an AddedToken object {"content": ...}
        Assert.Equal(llama3.EosId, llama3.EndOfText);
        Assert.Equal(llama3.IdOf("<|im_end|>")!.Value + 1, llama3.VocabSize);
        // Encode never adds BOS: callers put it in front themselves.
        Assert.NotEqual(llama3.BosId, llama3.Encode("hello world")[0]);

        var gpt2 = (HfByteLevelBpeTokenizer)Toys[Variant.Gpt2].Value;
        Assert.Equal(gpt2.IdOf("<|endoftext|>"), gpt2.BosId); // from config.json's bos_token_id / eos_token_id
        Assert.Equal(gpt2.IdOf("<|endoftext|>"), gpt2.EosId);

        var qwen2 = (HfByteLevelBpeTokenizer)Toys[Variant.Qwen2].Value;
        Assert.Null(qwen2.BosId); // "bos_token": null wins over config.json's placeholder
        Assert.Equal(qwen2.IdOf("<|im_end|>"), qwen2.EosId);
    }

    [Fact]
    public void ConfigJsonMayListSeveralEndIds()
    {
        var dir = WriteToyFolder(Variant.Gpt2);
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"bos_token_id": 282, "eos_token_id": [284, 282]}""");
        var tokenizer = HfTokenizers.Load(dir);
        Assert.Equal(282, tokenizer.BosId);
        Assert.Equal(284, tokenizer.EosId);

        File.WriteAllText(Path.Combine(dir, "config.json"), """{"eos_token_id": 99999}""");
        var error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
        Assert.Contains("config.json", error.Message);
        Assert.Contains("eos_token_id", error.Message);
    }

    [Fact]
    public void SaveCopiesTheFilesAndKeepsBosAndEos()
    {
        var llama3 = Toys[Variant.Llama3].Value;
        var saved = Path.Combine(Directory.CreateTempSubdirectory("hftok-saved-").FullName, "tok");
        llama3.Save(saved);
        Assert.Equal(new[] { "tokenizer.json", "tokenizer_config.json" }, Directory.GetFiles(saved).Select(Path.GetFileName).Order());
        var reloaded = HfTokenizers.Load(saved);
        Assert.Equal((llama3.BosId, llama3.EosId), (reloaded.BosId, reloaded.EosId));
        Assert.Equal(llama3.Encode("hi<|eot_id|>there"), reloaded.Encode("hi<|eot_id|>there"));

        // GPT-2's ids came from config.json, which the saved folder lacks: they are written into tokenizer_config.json.
        var gpt2 = Toys[Variant.Gpt2].Value;
        var savedGpt2 = Path.Combine(Directory.CreateTempSubdirectory("hftok-saved-").FullName, "tok");
        gpt2.Save(savedGpt2);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(savedGpt2, "tokenizer_config.json")))!;
        Assert.Equal("<|endoftext|>", (string?)config["eos_token"]);
        Assert.Equal(1024, (int?)config["model_max_length"]);
        var reloadedGpt2 = HfTokenizers.Load(savedGpt2);
        Assert.Equal((gpt2.BosId, gpt2.EosId), (reloadedGpt2.BosId, reloadedGpt2.EosId));

        gpt2.Save(Path.GetDirectoryName(savedGpt2 + "/")!); // saving onto its own folder is harmless
        Assert.Equal(gpt2.Encode("hello world"), HfTokenizers.Load(savedGpt2).Encode("hello world"));
    }

    [Fact]
    public void TheProjectsCompactTokenizerJsonIsRefusedByName()
    {
        var dir = Directory.CreateTempSubdirectory("hftok-compact-").FullName;
        CompactTokenizer.Build(["hello world"]).Save(dir);
        var error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("compact", error.Message);
        Assert.Contains("agent checkpoint", error.Message);
    }

    [Fact]
    public void MalformedFilesNameTheField()
    {
        InputException Broken(Action<JsonNode> edit, Variant variant = Variant.Llama3)
        {
            var dir = WriteToyFolder(variant);
            var path = Path.Combine(dir, "tokenizer.json");
            var json = JsonNode.Parse(File.ReadAllText(path))!;
            edit(json);
            File.WriteAllText(path, json.ToJsonString());
            var error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
            Assert.Equal(path, error.File);
            return error;
        }

        var error = Broken(j => j["model"]!.AsObject().Remove("vocab"));
        Assert.Equal("model.vocab", error.Field);
        Assert.Contains("tokenizer.json", error.Message);

        foreach (var type in new[] { "WordPiece", "Unigram" })
        {
            error = Broken(j => j["model"]!["type"] = type);
            Assert.Equal("model.type", error.Field);
            Assert.Contains(type, error.Message);
        }

        error = Broken(j => j["model"]!["merges"]!.AsArray().Add(new JsonArray("x", "q")));
        Assert.Equal($"model.merges[{Merges.Length}]", error.Field);
        Assert.Contains("'xq'", error.Message);

        // A pattern .NET's Regex cannot compile.
        error = Broken(j => j["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"\p{NoSuchCategory}+");
        Assert.Equal("pre_tokenizer.pretokenizers[0].pattern.Regex", error.Field);

        error = Broken(j => j["pre_tokenizer"]!["pretokenizers"]![0]!["behavior"] = "MergedWithPrevious");
        Assert.Equal("pre_tokenizer.pretokenizers[0].behavior", error.Field);

        error = Broken(j => j["normalizer"] = new JsonObject { ["type"] = "Lowercase" });
        Assert.Equal("normalizer.type", error.Field);

        // SentencePiece-style BPE (Llama 2's tokenizer.json) without the tokenizer.model that would serve instead.
        error = Broken(j => j["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" });
        Assert.Equal("pre_tokenizer", error.Field);
        Assert.Contains("tokenizer.model", error.Message);

        var dir = WriteToyFolder(Variant.Llama3);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": "<|no_such_token|>"}""");
        error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
        Assert.Equal("eos_token", error.Field);
        Assert.Contains("tokenizer_config.json", error.Message);
    }

    [Fact]
    public void AFolderWithoutATokenizerIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("hftok-empty-").FullName;
        var error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
        Assert.Contains(dir, error.Message);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("tokenizer.model", error.Message);
    }
}
