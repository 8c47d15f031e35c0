using Evolution.Core.Model;
using Evolution.Core.Training;
using Evolution.Core.Worlds;
using Evolution.Core.Yaml;

namespace Evolution.Core.Agents;

/// <summary>Size of an agent's transformer; the vocabulary comes from the world.</summary>
public sealed record ModelShape
{
    public int Layers { get; init; } = 4;
    public int DModel { get; init; } = 128;
    public int Heads { get; init; } = 4;
    public int Context { get; init; } = 128;
    public bool TiedEmbeddings { get; init; } = true;

    public GptConfig ToConfig(int vocabSize) => new()
    {
        VocabSize = vocabSize, ContextLength = Context, DModel = DModel, NLayers = Layers, NHeads = Heads, TiedEmbeddings = TiedEmbeddings,
    };
}

/// <summary>
/// An agent profile (agents/*.yaml): model size, training data mix and training options.
/// Sections <c>model</c>, <c>data</c> (<see cref="DataMix"/>), <c>training</c> (<see cref="TrainingOptions"/>);
/// every key optional with documented defaults, unknown keys rejected.
/// </summary>
public sealed record AgentProfile
{
    public string Name { get; init; } = "default";
    public ModelShape Model { get; init; } = new();
    public DataMix Data { get; init; } = new();
    public TrainingOptions Training { get; init; } = new();
    [System.Text.Json.Serialization.JsonIgnore] public string Source { get; init; } = "<default profile>";

    public static AgentProfile Load(string path) => FromYaml(YamlMap.Load(path));

    public static AgentProfile Parse(string yaml, string sourceName) => FromYaml(YamlMap.Parse(yaml, sourceName));

    static AgentProfile FromYaml(YamlMap yaml)
    {
        var m = yaml.Map("model");
        var d = new ModelShape();
        var shape = new ModelShape
        {
            Layers = m.Int("layers", d.Layers), DModel = m.Int("d_model", d.DModel), Heads = m.Int("heads", d.Heads),
            Context = m.Int("context", d.Context), TiedEmbeddings = m.Bool("tied_embeddings", d.TiedEmbeddings),
        };
        if (shape.Layers < 1) throw m.Invalid("layers", $"must be at least 1, got {shape.Layers}");
        if (shape.Heads < 1) throw m.Invalid("heads", $"must be at least 1, got {shape.Heads}");
        if (shape.DModel < 1 || shape.DModel % shape.Heads != 0) throw m.Invalid("d_model", $"must be a positive multiple of heads ({shape.Heads}), got {shape.DModel}");
        if (shape.Context < 16) throw m.Invalid("context", $"must be at least 16, got {shape.Context}");
        m.RejectUnknownKeys();

        var data = DataMix.FromYaml(yaml.Map("data"));

        var t = yaml.Map("training");
        var o = new TrainingOptions();
        var training = new TrainingOptions
        {
            Seed = t.Int("seed", o.Seed), BatchSize = t.Int("batch_size", o.BatchSize), MaxSteps = t.Int("steps", o.MaxSteps),
            LearningRate = t.Double("learning_rate", o.LearningRate), MinLearningRateRatio = t.Double("min_learning_rate_ratio", o.MinLearningRateRatio),
            WarmupSteps = t.Int("warmup_steps", o.WarmupSteps), WeightDecay = t.Double("weight_decay", o.WeightDecay),
            GradientClip = t.Double("gradient_clip", o.GradientClip), EvalEvery = t.Int("eval_every", o.EvalEvery),
            TargetHit1 = t.OptionalDouble("target_hit1"),
        };
        t.RejectUnknownKeys();
        training.Validate(yaml.File);

        var profile = new AgentProfile { Name = yaml.String("name", "default"), Model = shape, Data = data, Training = training, Source = yaml.File };
        yaml.RejectUnknownKeys();
        return profile;
    }
}
