using System.Text.Json;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// A model on disk: a folder with <c>config.json</c> (<see cref="GptConfig"/>), <c>model.safetensors</c>
/// and the tokenizer's files. Agent checkpoints use the compact tokenizer (<c>tokenizer.json</c>);
/// Hugging Face GPT-2 folders (<c>vocab.json</c> + <c>merges.txt</c>) load through <see cref="HfGpt2"/>.
/// Saving writes a temporary folder and renames it, so a checkpoint is either whole or absent.
/// </summary>
public static class Checkpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    public static bool IsHuggingFaceGpt2(string directory) =>
        File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt"));

    /// <summary>
    /// A Hugging Face Llama-family folder: config.json names one of <see cref="HfLlama.ModelTypes"/> in HF's own fields
    /// (num_hidden_layers). Our agent checkpoints of the Llama architecture also say model_type llama, with our field names.
    /// </summary>
    public static bool IsHuggingFaceLlama(string directory)
    {
        var path = Path.Combine(directory, ConfigFile);
        if (!File.Exists(path)) return false;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("num_hidden_layers", out _)
                && root.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String && HfLlama.ModelTypes.Contains(type.GetString()!);
        }
        catch (JsonException) { return false; } // reported with its line by the loader that reads it
    }

    /// <summary>Writes model, config and tokenizer into <paramref name="directory"/>; <paramref name="extraFiles"/> (name → text) go alongside.</summary>
    public static void Save(string directory, Gpt model, ITextTokenizer tokenizer, IReadOnlyDictionary<string, string>? extraFiles = null)
    {
        var full = Path.GetFullPath(directory);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            File.WriteAllText(Path.Combine(temp, ConfigFile), JsonSerializer.Serialize(model.Config, new JsonSerializerOptions { WriteIndented = true }));
            using (var _ = no_grad())
                SafeTensors.Save(Path.Combine(temp, WeightsFile), model.state_dict().Select(kv => KeyValuePair.Create(kv.Key, kv.Value.cpu())),
                    new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "evolution" });
            tokenizer.Save(temp);
            foreach (var (name, text) in extraFiles ?? new Dictionary<string, string>())
                File.WriteAllText(Path.Combine(temp, name), text);
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            Directory.Move(temp, full);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Loads an agent checkpoint, a Hugging Face GPT-2 folder or a Llama-family one.</summary>
    public static (Gpt Model, ITextTokenizer Tokenizer) Load(string directory, Device? device = null)
    {
        device ??= CPU;
        if (!Directory.Exists(directory)) throw new InputException(directory, null, "model folder not found");
        if (IsHuggingFaceGpt2(directory))
        {
            // Tokenizer first: it is cheap, and an id beyond the embedding table would fail only at forward time.
            var gpt2Tokenizer = Gpt2Tokenizer.Load(directory);
            var hfConfig = HfGpt2.ReadConfig(directory);
            if (gpt2Tokenizer.VocabSize > hfConfig.VocabSize)
                throw new InputException(Path.Combine(directory, ConfigFile), "vocab_size",
                    $"is {hfConfig.VocabSize} but vocab.json has ids up to {gpt2Tokenizer.VocabSize - 1}");
            return (HfGpt2.Load(directory, device), gpt2Tokenizer);
        }
        if (IsHuggingFaceLlama(directory))
        {
            var hfTokenizer = HfTokenizers.Load(directory);
            var hfConfig = HfLlama.ReadConfig(directory);
            if (hfTokenizer.VocabSize > hfConfig.VocabSize)
                throw new InputException(Path.Combine(directory, ConfigFile), "vocab_size",
                    $"is {hfConfig.VocabSize} but the tokenizer has ids up to {hfTokenizer.VocabSize - 1}");
            return (HfLlama.Load(directory, device), hfTokenizer);
        }

        var configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) throw new InputException(configPath, null, "not found: a model folder needs config.json and model.safetensors");
        GptConfig config;
        try { config = JsonSerializer.Deserialize<GptConfig>(File.ReadAllText(configPath)) ?? throw new InputException(configPath, null, "empty config"); }
        catch (JsonException e) { throw new InputException(configPath, null, $"invalid JSON: {e.Message}", (int?)e.LineNumber + 1); }
        config.Validate(configPath);

        var tokenizer = CompactTokenizer.Load(directory);
        if (tokenizer.VocabSize != config.VocabSize)
            throw new InputException(configPath, "vocab_size", $"is {config.VocabSize} but the tokenizer has {tokenizer.VocabSize} ids");

        var weightsPath = Path.Combine(directory, WeightsFile);
        var model = new Gpt(config);
        LoadWeights(model, SafeTensors.Load(weightsPath), weightsPath);
        model.to(device);
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>Copies tensors into the model, requiring exactly the model's names and shapes.</summary>
    public static void LoadWeights(Gpt model, Dictionary<string, Tensor> tensors, string source)
    {
        using var _ = no_grad();
        var expected = model.state_dict();
        foreach (var (name, target) in expected)
        {
            if (!tensors.TryGetValue(name, out var value))
                throw new InputException(source, name, "tensor missing from the checkpoint");
            if (!value.shape.SequenceEqual(target.shape))
                throw new InputException(source, name, $"shape [{string.Join(",", value.shape)}] does not match the model's [{string.Join(",", target.shape)}]");
            target.copy_(value.to(target.dtype));
        }
        var unexpected = tensors.Keys.Except(expected.Keys).ToList();
        if (unexpected.Count > 0)
            throw new InputException(source, unexpected[0], $"unexpected tensor{(unexpected.Count > 1 ? $" (and {unexpected.Count - 1} more)" : "")} for this model config");
        foreach (var t in tensors.Values) t.Dispose();
    }
}
