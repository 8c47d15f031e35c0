using System.Text.Json;
using System.Text.Json.Nodes;

namespace Evolution.Core.Text;

/// <summary>
/// BOS and EOS ids of a Hugging Face model folder. <c>tokenizer_config.json</c>'s <c>bos_token</c> /
/// <c>eos_token</c> come first: they are what transformers' tokenizer and chat template use, and an
/// Instruct model's EOS there (&lt;|eot_id|&gt;) differs from the base model's. Each is a token string or an
/// AddedToken object <c>{"content": ...}</c>; an explicit null means the model has none (Qwen2 has no
/// BOS, although its config.json carries a placeholder <c>bos_token_id</c>). Only a field that is absent
/// falls back to <c>config.json</c>'s <c>bos_token_id</c> / <c>eos_token_id</c> (GPT-2's
/// tokenizer_config.json names neither), then to the tokenizer's own default (a SentencePiece model's).
/// </summary>
internal static class HfSpecialTokens
{
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string ModelConfigFile = "config.json";

    static readonly (string TokenField, string IdField)[] Fields = [("bos_token", "bos_token_id"), ("eos_token", "eos_token_id")];

    /// <summary>
    /// (BOS, EOS) of the folder. <paramref name="idOf"/> maps a token string to its id (null when the
    /// tokenizer lacks it); ids must lie below <paramref name="vocabSize"/>.
    /// </summary>
    public static (int? Bos, int? Eos) Read(string directory, Func<string, int?> idOf, int vocabSize, int? defaultBos = null, int? defaultEos = null)
    {
        var tokenizerConfigPath = Path.Combine(directory, TokenizerConfigFile);
        var modelConfigPath = Path.Combine(directory, ModelConfigFile);
        using var tokenizerConfig = File.Exists(tokenizerConfigPath) ? HfJson.ReadObject(tokenizerConfigPath) : null;
        using var modelConfig = File.Exists(modelConfigPath) ? HfJson.ReadObject(modelConfigPath) : null;

        int? Resolve(string tokenField, string idField, int? fallback)
        {
            if (tokenizerConfig is not null && tokenizerConfig.RootElement.TryGetProperty(tokenField, out var declared))
            {
                var token = TokenText(declared, tokenizerConfigPath, tokenField);
                if (token is null) return null;
                return idOf(token) ?? throw new InputException(tokenizerConfigPath, tokenField,
                    $"'{token}' is neither an added token nor in the tokenizer's vocabulary");
            }
            if (modelConfig is not null && HfJson.Optional(modelConfig.RootElement, idField) is { } value)
            {
                // Llama 3.1's config.json lists several end ids ([128001, 128008, 128009]); the first is the primary one.
                var first = value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0 ? value[0] : value;
                var id = HfJson.Id(first, modelConfigPath, idField);
                if (id >= vocabSize) throw new InputException(modelConfigPath, idField, $"{id} is outside the tokenizer's ids 0..{vocabSize - 1}");
                return id;
            }
            return fallback;
        }

        return (Resolve(Fields[0].TokenField, Fields[0].IdField, defaultBos), Resolve(Fields[1].TokenField, Fields[1].IdField, defaultEos));
    }

    /// <summary>
    /// Writes tokenizer_config.json into <paramref name="targetDirectory"/>: the source folder's, byte for
    /// byte, unless BOS or EOS came from elsewhere (config.json, the model's default); then those are
    /// added as token strings, so the saved folder rebuilds the same ids without the model's config.json.
    /// </summary>
    public static void Save(string sourceDirectory, string targetDirectory, int? bosId, int? eosId, Func<int, string?> tokenOf)
    {
        var source = Path.Combine(sourceDirectory, TokenizerConfigFile);
        var target = Path.Combine(targetDirectory, TokenizerConfigFile);
        var config = File.Exists(source) ? JsonNode.Parse(File.ReadAllText(source)) as JsonObject ?? [] : [];
        var added = false;
        foreach (var ((tokenField, _), id) in Fields.Zip([bosId, eosId]))
            if (id is int known && !config.ContainsKey(tokenField) && tokenOf(known) is string token)
            {
                config[tokenField] = token;
                added = true;
            }

        if (added) AtomicFile.WriteAllText(target, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        else if (File.Exists(source)) CopyFile(source, target);
    }

    /// <summary>Copies atomically; copying a file onto itself is a no-op.</summary>
    public static void CopyFile(string source, string target)
    {
        if (Path.GetFullPath(source) == Path.GetFullPath(target)) return;
        AtomicFile.Write(target, temp => File.Copy(source, temp));
    }

    /// <summary>"&lt;s&gt;", {"content": "&lt;s&gt;", ...} or null.</summary>
    static string? TokenText(JsonElement declared, string path, string field) => declared.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => declared.GetString(),
        JsonValueKind.Object => HfJson.Required(declared, "content", JsonValueKind.String, path, field + ".content", "an AddedToken object needs its text").GetString(),
        _ => throw new InputException(path, field, $"expected a token string or an object with \"content\", got {declared.GetRawText()}"),
    };
}
