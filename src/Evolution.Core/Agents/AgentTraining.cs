using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Evolution.Core.Checkpoints;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Training;
using Evolution.Core.Worlds;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Agents;

/// <summary>Accuracy of an agent on its eval sets: per set, and per set and relation.</summary>
public sealed record AgentEvaluation(IReadOnlyDictionary<string, RankingMetrics> BySet, IReadOnlyDictionary<string, RankingMetrics> BySetAndRelation);

/// <summary>What a training run produced (saved as training.json in the checkpoint).</summary>
public sealed record TrainingReport(string CacheKey, long Parameters, int VocabSize, int Documents, int Steps, long Tokens, double Seconds,
    double TokensPerSecond, double FinalLoss, AgentEvaluation Evaluation);

public sealed record TrainedAgent(string Checkpoint, Gpt Model, ITextTokenizer Tokenizer, World World, AgentProfile Profile, TrainingReport Report, bool FromCache);

/// <summary>
/// World + profile → a trained agent, through a cache: the checkpoint folder is named by a hash of
/// everything that determines the weights (world spec, model shape, data mix, training options and
/// seed, and <see cref="CodeVersion"/>), so a second run with the same inputs loads instead of training.
/// </summary>
public static class AgentTraining
{
    /// <summary>Bump when a change to the generator, tokenizer or trainer changes the weights for the same inputs.</summary>
    public const int CodeVersion = 5; // 5: statement queries of context lines carry the "Q:" marker
    public const string ReportFile = "training.json";
    public const string WorldFile = "world.yaml";
    public const string ProfileFile = "profile.yaml";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string CacheKey(WorldSpec world, AgentProfile profile)
    {
        var identity = JsonSerializer.Serialize(new { CodeVersion, world, profile.Model, profile.Data, profile.Training }, Json);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
    }

    /// <summary>Where the agent trained from these inputs is cached.</summary>
    public static string CheckpointDirectory(WorldSpec world, AgentProfile profile, string cacheRoot) =>
        Path.Combine(cacheRoot, "checkpoints", $"{world.Name}-{profile.Name}-{CacheKey(world, profile)}");

    public static string DefaultCacheRoot() =>
        Environment.GetEnvironmentVariable("EVOLUTION_CACHE") is { Length: > 0 } root ? root : Path.Combine(Directory.GetCurrentDirectory(), ".cache", "evolution");

    /// <summary>Loads the cached agent for these inputs, or trains, evaluates and caches it; without a profile, <see cref="AgentProfile.Default"/>.</summary>
    public static TrainedAgent TrainOrLoad(string worldPath, string? profilePath, string cacheRoot, Device device,
        IProgress<TrainingProgress>? progress = null, bool retrain = false)
    {
        var (profile, profileText) = AgentProfile.LoadOrDefault(profilePath);
        return TrainOrLoad(worldPath, profile, profileText, cacheRoot, device, progress, retrain);
    }

    /// <summary>As above, for a profile already read (and perhaps changed, e.g. a scenario's seed override); <paramref name="profileText"/> is stored with the checkpoint.</summary>
    /// <param name="fetch">Asked for the checkpoint directory before training when the cache lacks it (e.g. a cluster worker getting
    /// it from the coordinator: training elsewhere would give other weights); true when it put a complete checkpoint there.</param>
    public static TrainedAgent TrainOrLoad(string worldPath, AgentProfile profile, string profileText, string cacheRoot, Device device,
        IProgress<TrainingProgress>? progress = null, bool retrain = false, Func<string, bool>? fetch = null)
    {
        var spec = WorldSpec.Load(worldPath);
        var world = World.Generate(spec);
        profile.Data.Validate(world, profile.Source);
        if (profile.Model.Checkpoint is { } pretrained) return LoadPretrained(pretrained, world, profile, device);
        var key = CacheKey(spec, profile);
        var directory = CheckpointDirectory(spec, profile, cacheRoot);
        if (!retrain && !File.Exists(Path.Combine(directory, ReportFile))) fetch?.Invoke(directory);

        if (!retrain && File.Exists(Path.Combine(directory, ReportFile)))
        {
            var (cachedModel, cachedTokenizer) = Checkpoint.Load(directory, device);
            var cachedReport = JsonSerializer.Deserialize<TrainingReport>(File.ReadAllText(Path.Combine(directory, ReportFile)), Json)!;
            return new TrainedAgent(directory, cachedModel, cachedTokenizer, world, profile, cachedReport, FromCache: true);
        }

        var tokenizer = CompactTokenizer.Build(WorldTexts.All(world));
        var corpus = CorpusBuilder.Build(world, profile.Data, profile.Training.Seed);
        var model = new Gpt(profile.Model.ToConfig(tokenizer.VocabSize), profile.Training.Seed);
        model.to(device);

        var trainQueries = EvalSets.TrainQueries(world, profile.Data);
        var sample = trainQueries.OrderBy(q => Seeds.Mix(profile.Training.Seed, q.Subject, q.Relation)).Take(128).Select(q => q.ToRankingItem()).ToList();
        var ranker = new CandidateRanker(model, tokenizer);
        double LiveHit1() => RankingMetrics.Of(ranker.Rank(sample).ToList()).Hit1;

        var firstPass = corpus.Documents.Select(tokenizer.Encode).ToList();
        IReadOnlyList<int[]> DocumentsOfPass(int pass) => pass == 0 || !profile.Data.FreshPasses
            ? firstPass
            : CorpusBuilder.Build(world, profile.Data, profile.Training.Seed, pass).Documents.Select(tokenizer.Encode).ToList();
        var result = new Trainer(model, profile.Training).TrainOnPasses(DocumentsOfPass, tokenizer.EndOfText, LiveHit1, progress);
        var evaluation = Evaluate(model, tokenizer, world, profile.Data);
        var report = new TrainingReport(key, model.ParameterCount(), tokenizer.VocabSize, corpus.Documents.Count, result.Steps, result.Tokens,
            result.Seconds, result.TokensPerSecond, result.FinalLoss, evaluation);

        Checkpoint.Save(directory, model, tokenizer, new Dictionary<string, string>
        {
            [WorldFile] = File.ReadAllText(worldPath),
            [ProfileFile] = profileText,
            [ReportFile] = JsonSerializer.Serialize(report, Json),
        });
        return new TrainedAgent(directory, model, tokenizer, world, profile, report, FromCache: false);
    }

    /// <summary>
    /// An agent that is a pretrained model (the profile's model.checkpoint) rather than one trained on the world: loaded as
    /// it is, and evaluated on the world's questions like a trained agent (a model that never read the world answers them
    /// by what it already knows or guesses), so reports show what it starts from.
    /// </summary>
    static TrainedAgent LoadPretrained(string folder, World world, AgentProfile profile, Device device)
    {
        var (model, tokenizer) = Checkpoint.Load(folder, device);
        var evaluation = Evaluate(model, tokenizer, world, profile.Data);
        var report = new TrainingReport("pretrained", model.ParameterCount(), tokenizer.VocabSize, Documents: 0, Steps: 0, Tokens: 0,
            Seconds: 0, TokensPerSecond: 0, FinalLoss: double.NaN, evaluation);
        return new TrainedAgent(folder, model, tokenizer, world, profile, report, FromCache: true);
    }

    /// <summary>Hit@1, Hit@10 and MRR on the training-template, paraphrase and two-hop sets.</summary>
    public static AgentEvaluation Evaluate(Gpt model, ITextTokenizer tokenizer, World world, DataMix mix)
    {
        var queries = EvalSets.TrainQueries(world, mix).Concat(EvalSets.ParaphraseQueries(world, mix)).Concat(EvalSets.TwoHopQueries(world, mix)).ToList();
        var ranked = new CandidateRanker(model, tokenizer).Rank(queries.Select(q => q.ToRankingItem()));
        return new AgentEvaluation(
            RankingMetrics.ByGroup(ranked, a => a.Item.Group.Split('/')[0]),
            RankingMetrics.ByGroup(ranked, a => a.Item.Group));
    }
}
