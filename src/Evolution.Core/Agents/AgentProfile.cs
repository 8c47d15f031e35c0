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
    /// <summary>
    /// The layout, one of <see cref="GptConfig.Architectures"/> (see <see cref="GptConfig.WithArchitecture"/>); null is
    /// GPT-2's. Left out of the cache key when null, so agents trained before the field existed keep their cache.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Architecture { get; init; }
    /// <summary>
    /// A pretrained model folder (a Hugging Face gpt2, llama, qwen2 or mistral folder, or an agent checkpoint) the agent is
    /// instead of a model trained on the world; the path as resolved against the profile's folder. Null: trained.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Checkpoint { get; init; }
    /// <summary>
    /// The MLP's hidden width (the editors' key dimension); null is GPT-2's 4·<see cref="DModel"/>. Left out of the cache key
    /// when null, so agents trained before the field existed keep their cache.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? DMlp { get; init; }

    /// <summary>The model config; <see cref="TiedEmbeddings"/> applies whatever the architecture.</summary>
    public GptConfig ToConfig(int vocabSize) =>
        new GptConfig { VocabSize = vocabSize, ContextLength = Context, DModel = DModel, NLayers = Layers, NHeads = Heads }
            .WithArchitecture(Architecture ?? "gpt2") with { TiedEmbeddings = TiedEmbeddings, DMlpOverride = DMlp };
}

/// <summary>
/// How an agent decides in a group (after MachineSoM's "overconfident" and "easy-going" traits):
/// it keeps its own answer without reading its peers when its own probability for that answer,
/// normalised over the candidates, is at least <see cref="KeepOwnAbove"/>.
/// </summary>
public sealed record AgentTraits
{
    /// <summary>1 (the default) never keeps without listening: the model's own reading of its peers decides. 0 never listens.</summary>
    public double KeepOwnAbove { get; init; } = 1.0;
}

/// <summary>How an agent takes in news (a statement about a changed fact): nowhere, in its memory, or in its weights.</summary>
public enum UpdateChannel { None, Rag, Rome, Memit, AlphaEdit, FtL, Hybrid, Adaptive }

/// <summary>Which stored statements a question may retrieve: those about its subject, or any.</summary>
public enum RetrievalScope { Subject, All }

/// <summary>What follows the retrieved statements: the relation's trained question, or the prompt as it was asked.</summary>
public enum RetrievalQuery { Question, AsAsked }

/// <summary>The agent's update policy: the channel and its main knobs (the editors' own hyper-parameters keep their defaults).</summary>
public sealed record UpdatePolicy
{
    public UpdateChannel Channel { get; init; } = UpdateChannel.None;
    /// <summary>Retrieval: statements put into the prompt.</summary>
    public int TopK { get; init; } = 3;
    /// <summary>
    /// Retrieval: <see cref="RetrievalScope.Subject"/> (the default) ranks only the statements about the question's subject,
    /// an entity-linked retrieval with a metadata filter; <see cref="RetrievalScope.All"/> ranks every statement. With all
    /// statements in scope the default agent read news about other subjects as if it were about this one (accuracy when
    /// retrieved 0.41 at k = 3 against 0.93, locality 0.21 against 0.85; README, "Update channels compared").
    /// </summary>
    public RetrievalScope Scope { get; init; } = RetrievalScope.Subject;
    /// <summary>
    /// Retrieval: <see cref="RetrievalQuery.Question"/> (the default) asks, after the retrieved statements, the relation's first
    /// training question ("Q: Where was X born? A:"), the query the agent's context lines were trained with;
    /// <see cref="RetrievalQuery.AsAsked"/> keeps the prompt as asked, where a bare statement ("X was born in") after a
    /// context reads as one more sentence of a biography and the agent answers from memory (accuracy when retrieved 0.27 against 0.93).
    /// </summary>
    public RetrievalQuery Query { get; init; } = RetrievalQuery.Question;
    /// <summary>
    /// <see cref="UpdateChannel.Adaptive"/>, news: a piece of news about a fact the weights already answer with probability above
    /// this (over the candidates, without context) is written into the weights by ROME, the rest into memory (the survey's
    /// split: parametric updates for knowledge the model holds firmly, retrieval for the long tail). 0 sends all news to the
    /// weights, 1 all to memory. Default 0.99: on the default agent every lower threshold measured sent more news to ROME and
    /// lost reliability and locality to the kept edits (README, "Update channels compared").
    /// </summary>
    public double RouteAbove { get; init; } = 0.99;
    /// <summary>
    /// <see cref="UpdateChannel.Adaptive"/>, questions: a question the weights alone answer with probability above this is
    /// answered without retrieval (adaptive retrieval, Mallen et al. 2023: retrieve where the model's own recall is weak),
    /// unless the memory holds news about that very fact (confidence cannot tell a firmly held stale fact from a true one).
    /// 0 retrieves only for facts with news, 1 for every question. Default 0.5 (README, "Update channels compared").
    /// </summary>
    public double AnswerAloneAbove { get; init; } = 0.5;

    /// <summary>Whether the channel keeps statements in a memory (and so needs one).</summary>
    public bool UsesMemory => Channel is UpdateChannel.Rag or UpdateChannel.Hybrid or UpdateChannel.Adaptive;

    public static readonly IReadOnlyDictionary<string, UpdateChannel> Names = new Dictionary<string, UpdateChannel>
    {
        ["none"] = UpdateChannel.None, ["rag"] = UpdateChannel.Rag, ["rome"] = UpdateChannel.Rome,
        ["memit"] = UpdateChannel.Memit, ["alphaedit"] = UpdateChannel.AlphaEdit, ["ft-l"] = UpdateChannel.FtL, ["hybrid"] = UpdateChannel.Hybrid,
        ["adaptive"] = UpdateChannel.Adaptive,
    };

    public static string NameOf(UpdateChannel channel) => Names.First(n => n.Value == channel).Key;
}

/// <summary>
/// An agent profile (agents/*.yaml): model size, training data mix and training options.
/// Sections <c>model</c>, <c>data</c> (<see cref="DataMix"/>), <c>training</c> (<see cref="TrainingOptions"/>),
/// <c>traits</c> (<see cref="AgentTraits"/>) and <c>update</c> (<see cref="UpdatePolicy"/>; traits and update
/// do not change the weights, so they are not part of the training cache key);
/// every key optional with documented defaults, unknown keys rejected.
/// </summary>
public sealed record AgentProfile
{
    public string Name { get; init; } = "default";
    public ModelShape Model { get; init; } = new();
    public DataMix Data { get; init; } = new();
    public TrainingOptions Training { get; init; } = new();
    public AgentTraits Traits { get; init; } = new();
    public UpdatePolicy Update { get; init; } = new();
    [System.Text.Json.Serialization.JsonIgnore] public string Source { get; init; } = "<default profile>";

    public static AgentProfile Load(string path) => FromYaml(YamlMap.Load(path));

    /// <summary>
    /// The documented default agent: agents/default.yaml, built in and read with the same parser as <see cref="Load"/>. It, not
    /// <c>new AgentProfile()</c> (every key's fallback), is what runs when no profile is named: the fallbacks train an agent
    /// without the default's context lines and distractors, which reads retrieved news far worse (RAG reliability 0.04 against 0.96).
    /// </summary>
    public static AgentProfile Default => DefaultProfile.Value;

    /// <summary>The text of agents/default.yaml as built in, stored with checkpoints trained from <see cref="Default"/>.</summary>
    public static string DefaultText => ShippedFiles.Text(ShippedFiles.DefaultAgent);

    static readonly Lazy<AgentProfile> DefaultProfile = new(() => Parse(DefaultText, ShippedFiles.SourceName(ShippedFiles.DefaultAgent)));

    /// <summary>The profile at <paramref name="path"/> and its text, or, without a path, <see cref="Default"/> and its text.</summary>
    public static (AgentProfile Profile, string Text) LoadOrDefault(string? path) =>
        path is null ? (Default, DefaultText) : (Load(path), File.ReadAllText(path));

    public static AgentProfile Parse(string yaml, string sourceName) => FromYaml(YamlMap.Parse(yaml, sourceName));

    static AgentProfile FromYaml(YamlMap yaml)
    {
        var m = yaml.Map("model");
        var d = new ModelShape();
        var shape = new ModelShape
        {
            Layers = m.Int("layers", d.Layers), DModel = m.Int("d_model", d.DModel), Heads = m.Int("heads", d.Heads),
            Context = m.Int("context", d.Context), TiedEmbeddings = m.Bool("tied_embeddings", d.TiedEmbeddings),
            Architecture = m.OptionalString("architecture"), DMlp = m.OptionalInt("d_mlp"),
        };
        if (m.OptionalString("checkpoint") is { } checkpoint)
        {
            // A pretrained agent has no recipe: a shape or training settings next to it would be silently ignored.
            foreach (var key in new[] { "layers", "d_model", "heads", "context", "tied_embeddings", "architecture", "d_mlp" })
                if (m.Has(key)) throw m.Invalid(key, "cannot be set with model.checkpoint: the checkpoint's config.json fixes the model");
            if (yaml.Has("training")) throw yaml.Invalid("training", "cannot be set with model.checkpoint: a pretrained agent is not trained");
            var folder = Path.IsPathRooted(checkpoint) ? checkpoint : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(yaml.File)) ?? ".", checkpoint));
            if (!Directory.Exists(folder)) throw m.Invalid("checkpoint", $"folder not found: {folder}");
            shape = shape with { Checkpoint = folder };
        }
        if (shape.Architecture is { } architecture && !GptConfig.Architectures.Contains(architecture))
            throw m.Invalid("architecture", $"must be one of {string.Join(", ", GptConfig.Architectures)}, got '{architecture}'");
        if (shape.Layers < 1) throw m.Invalid("layers", $"must be at least 1, got {shape.Layers}");
        if (shape.Heads < 1) throw m.Invalid("heads", $"must be at least 1, got {shape.Heads}");
        if (shape.DModel < 1 || shape.DModel % shape.Heads != 0) throw m.Invalid("d_model", $"must be a positive multiple of heads ({shape.Heads}), got {shape.DModel}");
        if (shape.DMlp is < 1) throw m.Invalid("d_mlp", $"must be at least 1, got {shape.DMlp}");
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

        var tr = yaml.Map("traits");
        var traits = new AgentTraits { KeepOwnAbove = tr.Double("keep_own_above", new AgentTraits().KeepOwnAbove) };
        if (traits.KeepOwnAbove is < 0 or > 1) throw tr.Invalid("keep_own_above", $"must be between 0 and 1, got {traits.KeepOwnAbove}");
        tr.RejectUnknownKeys();

        var u = yaml.Map("update");
        var channelName = u.String("policy", "none");
        if (!UpdatePolicy.Names.TryGetValue(channelName, out var channel))
            throw u.Invalid("policy", $"unknown update policy '{channelName}'; use one of {string.Join(", ", UpdatePolicy.Names.Keys)}");
        var scopeName = u.String("retrieval_scope", "subject");
        var queryName = u.String("retrieval_query", "question");
        var update = new UpdatePolicy
        {
            Channel = channel, TopK = u.Int("top_k", new UpdatePolicy().TopK), RouteAbove = u.Double("route_above", new UpdatePolicy().RouteAbove),
            AnswerAloneAbove = u.Double("answer_alone_above", new UpdatePolicy().AnswerAloneAbove),
            Scope = scopeName switch
            {
                "subject" => RetrievalScope.Subject, "all" => RetrievalScope.All,
                _ => throw u.Invalid("retrieval_scope", $"unknown scope '{scopeName}'; use subject or all"),
            },
            Query = queryName switch
            {
                "question" => RetrievalQuery.Question, "as_asked" => RetrievalQuery.AsAsked,
                _ => throw u.Invalid("retrieval_query", $"unknown query '{queryName}'; use question or as_asked"),
            },
        };
        if (update.TopK < 1) throw u.Invalid("top_k", $"must be at least 1, got {update.TopK}");
        if (update.RouteAbove is < 0 or > 1) throw u.Invalid("route_above", $"must be between 0 and 1, got {update.RouteAbove}");
        if (update.AnswerAloneAbove is < 0 or > 1) throw u.Invalid("answer_alone_above", $"must be between 0 and 1, got {update.AnswerAloneAbove}");
        u.RejectUnknownKeys();

        var profile = new AgentProfile { Name = yaml.String("name", "default"), Model = shape, Data = data, Training = training, Traits = traits, Update = update, Source = yaml.File };
        yaml.RejectUnknownKeys();
        return profile;
    }
}
