using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Worlds;
using Evolution.Updates.Population;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

/// <summary>Compact per-agent deltas: what the editors' dense deltas compress to, and that nothing is lost.</summary>
[Collection(TinyAgentCollection.Name)]
public class AgentDeltaTests(TinyAgent tiny)
{
    IReadOnlyList<string> Corpus() => CorpusBuilder.Build(tiny.Agent.World, tiny.Agent.Profile.Data, 1).Documents;

    /// <summary>A change of <paramref name="relation"/> for the person at <paramref name="index"/> to another object of the type.</summary>
    EditRequest Request(int index, string relation = "studied_at", string type = "university")
    {
        var world = tiny.Agent.World;
        var person = world.OfType("person")[index];
        int old = world.ObjectOf(person.Id, relation, 0);
        return EditEvaluation.RequestFor(world, new FactChange(1, person.Id, relation, old, world.OfType(type).First(o => o.Id != old).Id));
    }

    /// <summary>‖ΔW − UVᵀ‖_F / ‖ΔW‖_F in float64.</summary>
    static double RelativeError(Tensor dense, LayerDelta compact)
    {
        var reference = dense.to(ScalarType.Float64);
        return (compact.ToDense().to(ScalarType.Float64) - reference).norm().item<double>() / reference.norm().item<double>();
    }

    [Fact]
    public void RomeEditCompressesToRankOneAndReproducesTheDenseDelta()
    {
        var corpus = Corpus();
        var editor = new RomeEditor(new RomeHyperParams(Layer: 0, Steps: 10), new KeyStatistics(corpus), corpus);
        using var dense = editor.ComputeDelta(tiny.Agent.Model, tiny.Agent.Tokenizer, [Request(1)]);
        using var compact = AgentDelta.From(dense);
        var layer = Assert.Single(compact.Layers);
        Assert.Equal(0, layer.Key);
        Assert.False(layer.Value.IsDense);
        Assert.Equal(1, layer.Value.Rank);
        double error = RelativeError(dense.Delta["blocks.0.mlp.c_proj.weight"], layer.Value);
        Assert.True(error < 1e-5, $"relative error {error:G3}");
        var config = tiny.Agent.Model.Config;
        Assert.Equal(4L * (config.DModel + config.DMlp), compact.Bytes); // u and v, against 4·d_model·d_mlp dense
    }

    [Fact]
    public void MemitBatchIsLowRankPerLayerWithRankAtMostItsEdits()
    {
        var corpus = Corpus();
        var editor = new MemitEditor(new MemitHyperParams(Layers: [0, 1], Steps: 5), new KeyStatistics(corpus), corpus);
        using var dense = editor.ComputeDelta(tiny.Agent.Model, tiny.Agent.Tokenizer, [Request(1), Request(3), Request(4)]);
        using var compact = AgentDelta.From(dense);
        Assert.Equal([0, 1], compact.Layers.Keys);
        foreach (var (layer, delta) in compact.Layers)
        {
            Assert.False(delta.IsDense);
            Assert.InRange(delta.Rank, 1, 3);
            double error = RelativeError(dense.Delta[AgentDelta.WeightName(layer)], delta);
            Assert.True(error < 1e-5, $"layer {layer}: relative error {error:G3}");
        }
    }

    [Fact]
    public void FtLDeltaStaysDenseAndExact()
    {
        using var dense = new FineTuningEditor(new FtLHyperParams(Steps: 5)).ComputeDelta(tiny.Agent.Model, tiny.Agent.Tokenizer, [Request(2)]);
        using var compact = AgentDelta.From(dense);
        var layer = Assert.Single(compact.Layers);
        Assert.True(layer.Value.IsDense, $"an FT-L change kept as rank {layer.Value.Rank}");
        Assert.True(layer.Value.ToDense().allclose(dense.Delta[AgentDelta.WeightName(layer.Key)], 0, 0));
        var config = tiny.Agent.Model.Config;
        Assert.Equal(4L * config.DModel * config.DMlp, compact.Bytes);
    }

    [Fact]
    public void FactoringFindsTheRankOfALowRankMatrixAndKeepsAFullRankOneDense()
    {
        var generator = new Generator(5, CPU);
        var lowRank = randn([64, 3], generator: generator).matmul(randn([3, 256], generator: generator));
        using var three = LayerDelta.Factor(lowRank);
        Assert.Equal(3, three.Rank);
        Assert.True(RelativeError(lowRank, three) < 1e-6);
        using var full = LayerDelta.Factor(randn([64, 256], generator: generator));
        Assert.True(full.IsDense);
        using var zero = LayerDelta.Factor(zeros(64, 256));
        Assert.Equal(0, zero.Rank);
        Assert.Equal(0, zero.Bytes);
    }

    [Fact]
    public void SequentialEditsConcatenateFactorsAndCompressionMergesSharedDirections()
    {
        var generator = new Generator(6, CPU);
        using var first = LayerDelta.LowRank(randn([64, 2], generator: generator), randn([256, 2], generator: generator));
        using var second = LayerDelta.LowRank(randn([64, 1], generator: generator), randn([256, 1], generator: generator));
        using var both = new AgentDelta(new Dictionary<int, LayerDelta> { [1] = first.Copy() })
            .Then(new AgentDelta(new Dictionary<int, LayerDelta> { [0] = second.Copy(), [1] = second.Copy() }));
        Assert.Equal(3, both.Layers[1].Rank);
        Assert.Equal(1, both.Layers[0].Rank);
        Assert.True(both.Layers[1].ToDense().allclose(first.ToDense().add(second.ToDense(), Scalars.One), 1e-5, 1e-6));

        // the same edit twice is one direction, written twice as strong
        using var twice = first.Plus(first);
        Assert.Equal(4, twice.Rank);
        using var merged = twice.Compressed();
        Assert.Equal(2, merged.Rank);
        using var two = 2.ToScalar();
        double error = RelativeError(first.ToDense().mul(two), merged);
        Assert.True(error < 1e-5, $"relative error {error:G3}");
    }

    [Fact]
    public void BadInputNamesTheParameterAndBothShapes()
    {
        var config = tiny.Agent.Model.Config; // d_model 64, d_mlp 256, 2 layers
        using var wrongShape = new AgentDelta(new Dictionary<int, LayerDelta> { [1] = LayerDelta.LowRank(ones(32, 1), ones(128, 1)) });
        var shape = Assert.Throws<ArgumentException>(() => wrongShape.CheckFits(config));
        Assert.Contains("blocks.1.mlp.c_proj.weight", shape.Message);
        Assert.Contains("[32, 128]", shape.Message);
        Assert.Contains($"[{config.DModel}, {config.DMlp}]", shape.Message);

        using var wrongLayer = new AgentDelta(new Dictionary<int, LayerDelta> { [5] = LayerDelta.LowRank(ones(64, 1), ones(256, 1)) });
        var layer = Assert.Throws<ArgumentException>(() => wrongLayer.CheckFits(config));
        Assert.Contains("blocks.5.mlp.c_proj.weight", layer.Message);
        Assert.Contains("0..1", layer.Message);

        using var embedding = new WeightDelta(new() { ["wte.weight"] = zeros(4, 64) }, new() { ["wte.weight"] = zeros(4, 64) });
        Assert.Contains("'wte.weight'", Assert.Throws<ArgumentException>(() => AgentDelta.From(embedding)).Message);
        Assert.Contains("[64, 1]", Assert.Throws<ArgumentException>(() => LayerDelta.LowRank(ones(64, 1), ones(256, 2))).Message);
    }
}

/// <summary>Per-row deltas through hook points, on an untrained model: each row answers as its own weights would.</summary>
public class RowDeltaHookTests
{
    static readonly GptConfig Config = new() { VocabSize = 50, ContextLength = 16, DModel = 32, NLayers = 2, NHeads = 2 };

    [Fact]
    public void HookedBatchEqualsEachRowWithItsDeltaWrittenIntoTheWeights()
    {
        using var model = new Gpt(Config, 3);
        model.eval();
        using var _ = no_grad();
        var generator = new Generator(11, CPU);
        using var scale = 0.3.ToScalar();
        LayerDelta Random(int rank) => LayerDelta.LowRank(randn([32, rank], generator: generator).mul(scale), randn([128, rank], generator: generator).mul(scale));
        var agents = new AgentDelta?[]
        {
            new(new Dictionary<int, LayerDelta> { [1] = Random(1) }),                                      // ROME-like, last layer
            new(new Dictionary<int, LayerDelta> { [0] = Random(3), [1] = Random(2) }),                       // MEMIT-like, two layers, ranks differ
            new(new Dictionary<int, LayerDelta> { [1] = LayerDelta.Dense(randn([32, 128], generator: generator).mul(scale)) }), // FT-L-like
            null,                                                                                            // no update
        };
        int[] rowAgent = [0, 1, 2, 3, 1, 0, 2, 3]; // agents interleaved, each on two rows
        var tokens = randint(0, Config.VocabSize, [rowAgent.Length, 10], generator: generator);
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());

        var hooked = model.RunWithHooks(tokens, [.. RowDeltaHooks.For(rowAgent.Select(a => agents[a]).ToList(), Config)]);
        foreach (var (name, weight) in model.state_dict()) Assert.True(weight.allclose(before[name], 0, 0), $"{name} was written");
        var plain = model.forward(tokens);
        for (int row = 0; row < rowAgent.Length; row++)
        {
            var agent = agents[rowAgent[row]];
            using var written = agent?.ToWeightDelta(model);
            written?.Apply(model);
            var reference = model.forward(tokens[row..(row + 1)])[0];
            written?.Revert(model);
            double difference = (hooked[row] - reference).abs().max().item<float>();
            Assert.True(difference < 1e-5, $"row {row} (agent {rowAgent[row]}): max |Δlogit| {difference:G3}");
            double moved = (hooked[row] - plain[row]).abs().max().item<float>();
            if (agent is null) Assert.Equal(0, moved);
            else Assert.True(moved > 1e-2, $"row {row}: the delta moved no logit ({moved:G3})");
        }
        foreach (var agent in agents) agent?.Dispose();
    }

    [Fact]
    public void ADeltaThatDoesNotFitTheBaseIsRefusedBeforeTheForward()
    {
        using var wrong = new AgentDelta(new Dictionary<int, LayerDelta> { [0] = LayerDelta.LowRank(ones(64, 1), ones(256, 1)) });
        var error = Assert.Throws<ArgumentException>(() => RowDeltaHooks.For([null, wrong], Config));
        Assert.Contains("[64, 256]", error.Message);
        Assert.Contains("[32, 128]", error.Message);
    }
}
