using System.Text.Json;
using System.Text.Json.Nodes;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// A Hugging Face Llama folder goes wherever a model goes: <c>ask</c> (with the ids it fed the model, BOS first),
/// <c>trace</c> (logit lens, DLA, causal tracing; circuits from the command line need an agent's world, and run on Llama
/// layouts in the mechanism tests) and <c>compare-updates --facts</c> (ROME and MEMIT, both metric
/// families) run on a tiny random one written here: config.json, model.safetensors in HF names, and a byte-level BPE
/// tokenizer.json with Llama 3's special tokens.
/// </summary>
public class PretrainedLlamaTests : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-llama-cli").FullName;
    const string Bos = "<|begin_of_text|>", Eos = "<|end_of_text|>";

    /// <summary>The folder; returns it and BOS's id. Words of the sample's objects are merged into single tokens, as in a real vocabulary.</summary>
    (string Folder, int BosId) WriteTinyLlama()
    {
        var dir = Path.Combine(directory, "llama");
        Directory.CreateDirectory(dir);
        var vocab = new JsonObject();
        foreach (var c in ByteSymbols()) vocab[c.ToString()] = vocab.Count;
        var sample = Path.Combine(TinyGroup.RepositoryRoot, "scenarios", "facts", "counterfact-sample.json");
        var merges = new JsonArray();
        foreach (var word in Updates.FactSets.FactSet.Load(sample).Records.SelectMany(r => new[] { r.TargetNew, r.TargetTrue }).SelectMany(o => o.Split(' ')).Distinct().Select(w => "Ġ" + w))
            for (int k = 1; k < word.Length; k++)
                if (!vocab.ContainsKey(word[..(k + 1)]))
                {
                    vocab[word[..(k + 1)]] = vocab.Count;
                    merges.Add(new JsonArray(word[..k], word[k].ToString()));
                }
        int bos = vocab.Count, eos = vocab.Count + 1;
        JsonObject Added(int id, string content) => new() { ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true };
        JsonObject ByteLevel(bool useRegex) => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = useRegex };
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(Added(bos, Bos), Added(eos, Eos)), ["normalizer"] = null,
            ["pre_tokenizer"] = ByteLevel(true), ["post_processor"] = ByteLevel(false), ["decoder"] = ByteLevel(true),
            ["model"] = new JsonObject { ["type"] = "BPE", ["ignore_merges"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = merges },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject { ["bos_token"] = Bos, ["eos_token"] = Eos }.ToJsonString());

        var config = new GptConfig { VocabSize = eos + 1, ContextLength = 256, DModel = 32, NLayers = 2, NHeads = 4 }.WithArchitecture("llama");
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new
        {
            model_type = "llama", vocab_size = config.VocabSize, hidden_size = config.DModel, intermediate_size = config.DMlp, num_hidden_layers = config.NLayers,
            num_attention_heads = config.NHeads, num_key_value_heads = config.KeyValueHeads, max_position_embeddings = config.ContextLength,
            rms_norm_eps = config.LayerNormEps, rope_theta = 10000.0, tie_word_embeddings = false, hidden_act = "silu",
        }));
        using var model = new Gpt(config, initSeed: 3);
        var ours = model.state_dict();
        var hf = HfLlama.ExpectedTensors(config).ToDictionary(kv => kv.Key, kv => ours[kv.Value.Parameter].detach().narrow(0, kv.Value.FirstRow, kv.Value.HfShape[0]).clone());
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), hf);
        return (dir, bos);
    }

    /// <summary>GPT-2's bytes_to_unicode: the 256 symbols a byte-level vocabulary needs to encode any text.</summary>
    static IEnumerable<char> ByteSymbols()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range(0xA1, 12)).Concat(Enumerable.Range(0xAE, 0x100 - 0xAE)).ToHashSet();
        int next = 0;
        return Enumerable.Range(0, 256).Select(b => printable.Contains(b) ? (char)b : (char)(256 + next++));
    }

    [Fact]
    public void AskTraceAndCompareUpdatesRunOnALlamaFolder()
    {
        var (model, bos) = WriteTinyLlama();

        var (stdout, stderr, exit) = EditorDefaultsTests.Cli("ask", "--model", model, "Vantel Ostrow speaks", "--top", "3", "--max-tokens", "2", "--json", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var ask = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(bos, ask.GetProperty("input_ids")[0].GetInt32()); // BOS first, as Llama reads every prompt
        Assert.Equal(3, ask.GetProperty("next_tokens").GetArrayLength());
        int promptLength = ask.GetProperty("input_ids").GetArrayLength();

        (stdout, stderr, exit) = EditorDefaultsTests.Cli("ask", "--model", model, "Vantel Ostrow speaks", "--no-bos", "--json", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var bare = JsonDocument.Parse(stdout).RootElement.GetProperty("input_ids");
        Assert.Equal(promptLength - 1, bare.GetArrayLength());
        Assert.NotEqual(bos, bare[0].GetInt32());
        (_, stderr, exit) = EditorDefaultsTests.Cli("ask", "--model", model, "Vantel Ostrow speaks", "--bos", "--no-bos", "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--no-bos", stderr);

        (stdout, stderr, exit) = EditorDefaultsTests.Cli("trace", "--model", model, "--prompt", "Vantel Ostrow speaks", "--subject", "Vantel Ostrow",
            "--target", " Caldessian", "--methods", "lens,dla,causal", "--samples", "2", "--json", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var trace = JsonDocument.Parse(stdout).RootElement.ToString();
        foreach (var section in new[] { "lens", "dla", "causal" }) Assert.Contains($"\"{section}", trace);

        (stdout, stderr, exit) = EditorDefaultsTests.Cli("compare-updates", "--facts", Path.Combine(TinyGroup.RepositoryRoot, "scenarios", "facts", "counterfact-sample.json"),
            "--model", model, "--methods", "none,rome,memit", "--changes", "3", "--no-bos", "--json", "--out", Path.Combine(directory, "out"), "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var methods = JsonDocument.Parse(stdout).RootElement.GetProperty("methods");
        foreach (var method in new[] { "none", "rome", "memit" })
        {
            Assert.InRange(methods.GetProperty(method).GetProperty("success").GetProperty("efficacy").GetDouble(), 0, 1);
            Assert.InRange(methods.GetProperty(method).GetProperty("token_accuracy").GetProperty("reliability").GetDouble(), 0, 1);
        }

        // edit on a model folder without a world: the fact set gives the edits.
        (stdout, stderr, exit) = EditorDefaultsTests.Cli("edit", "--facts", Path.Combine(TinyGroup.RepositoryRoot, "scenarios", "facts", "zsre-sample.json"),
            "--model", model, "--method", "memit", "--changes", "2", "--json", "--out", Path.Combine(directory, "edit"), "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var edited = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(2, edited.GetProperty("records").GetInt32());
        Assert.InRange(edited.GetProperty("methods").GetProperty("memit").GetProperty("success").GetProperty("efficacy").GetDouble(), 0, 1);
        (_, stderr, exit) = EditorDefaultsTests.Cli("edit", "--facts", Path.Combine(TinyGroup.RepositoryRoot, "scenarios", "facts", "zsre-sample.json"),
            "--model", model, "--method", "rome", "--save", Path.Combine(directory, "saved"), "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--save", stderr);
    }

    [Fact]
    public void AScenarioAgentCanBeAPretrainedCheckpoint()
    {
        var (model, _) = WriteTinyLlama();
        File.WriteAllText(Path.Combine(directory, "pretrained.yaml"), "name: pretrained-llama\nmodel: {checkpoint: llama}\n");
        var scenario = Path.Combine(directory, "pretrained-scenario.yaml");
        File.WriteAllText(scenario, $"""
            name: pretrained
            seed: 2
            world: {TinyGroup.TinyWorld}
            agents:
              - name: lin
                profile: pretrained.yaml
                update: rag
              - name: mo
                profile: pretrained.yaml
                update: rome
            steps:
              - quiz:
                  facts: 4
              - news:
                  epoch: 1
                  learners: [lin, mo]
              - debate:
                  facts: news
                  rounds: 1
                  topology: all-to-all
            """);
        var output = Path.Combine(directory, "run");
        var summary = ScenarioRunner.Run(Scenario.Load(scenario), new RunOptions(output, Path.Combine(directory, "cache"), CPU), force: true).Summary;
        Assert.True(File.Exists(Path.Combine(output, "summary.json")));
        Assert.NotEmpty(summary.Steps);
        Assert.False(Directory.Exists(Path.Combine(directory, "cache", "checkpoints")), "a pretrained agent is loaded, never trained into the cache");

        // Settings a pretrained agent cannot have are refused with the profile's file and field.
        File.WriteAllText(Path.Combine(directory, "shaped.yaml"), "name: shaped\nmodel: {checkpoint: llama, layers: 4}\n");
        var error = Assert.Throws<Core.InputException>(() => Core.Agents.AgentProfile.Load(Path.Combine(directory, "shaped.yaml")));
        Assert.Contains("shaped.yaml", error.Message);
        Assert.Contains("layers", error.Message);
        File.WriteAllText(Path.Combine(directory, "missing.yaml"), "name: missing\nmodel: {checkpoint: nowhere}\n");
        error = Assert.Throws<Core.InputException>(() => Core.Agents.AgentProfile.Load(Path.Combine(directory, "missing.yaml")));
        Assert.Contains("checkpoint", error.Message);
        Assert.Contains("nowhere", error.Message);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
