using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>
/// A numeric attribute of named entities to probe for, with the group each entity belongs to for
/// block hold-out. <see cref="Context"/> places the name in a text ("{s}" alone probes the entity's
/// own last token; "{s} lies at latitude" probes the position where the value is predicted).
/// </summary>
public sealed record ProbeDataset(string Attribute, IReadOnlyList<string> Names, double[] Values, int[] Blocks, string Context = "{s}");

/// <summary>One layer: cross-validated fit quality against the two controls.</summary>
public sealed record ProbeLayer(string Hook, double R2, double R2BlockHoldOut, double ProximityError, double R2ShuffledLabels, double R2UntrainedModel);

public sealed record AlignedNeuron(int Layer, int Neuron, double Cosine);

public sealed record ProbeResult(string Attribute, string Context, int Entities, IReadOnlyList<ProbeLayer> Layers, int BestLayer, IReadOnlyList<AlignedNeuron> Neurons);

/// <summary>
/// Linear probes for numeric attributes (Gurnee &amp; Tegmark 2023, "Language Models Represent Space
/// and Time"): per layer, ridge regression from the residual stream at the entity's last token to
/// the attribute. Reported as 5-fold cross-validated R², R² when whole blocks are held out (a country,
/// a decade), proximity error, and two controls: the same probe on shuffled labels, and on a model
/// with the same shape but untrained weights. Finally the MLP neurons whose output weights point
/// most along the best layer's probe direction.
/// </summary>
public static class LinearProbes
{
    /// <summary>Residual at each text's last token, per layer: entry 0 is the embedding, entry l+1 block l's output.</summary>
    public static IReadOnlyList<(string Hook, double[][] Features)> EntityResiduals(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<string> names)
    {
        var hooks = new List<string> { "blocks.0.hook_resid_pre" };
        hooks.AddRange(Enumerable.Range(0, model.Config.NLayers).Select(l => $"blocks.{l}.hook_resid_post"));
        // Names as documents start: right after <|endoftext|>, no leading space.
        var encoded = names.Select(n => (int[])[.. tokenizer.PromptStart, .. tokenizer.Encode(n)]).ToList();
        int length = encoded.Max(e => e.Length);
        var tokens = new long[names.Count * length];
        for (int i = 0; i < names.Count; i++)
            for (int t = 0; t < encoded[i].Length; t++) tokens[i * length + t] = encoded[i][t];
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (_, cache) = model.RunWithCache(tensor(tokens, [names.Count, length], device: model.Unembedding.device), hooks.Contains);
        using (cache)
        {
            var lastPositions = tensor(encoded.Select(e => (long)e.Length - 1).ToArray(), device: model.Unembedding.device);
            using var rowCount = names.Count.ToScalar();
            var rows = arange(Scalars.Zero, rowCount, Scalars.One, device: model.Unembedding.device);
            return hooks.Select(hook =>
            {
                var last = cache[hook].index([rows, lastPositions]).to(ScalarType.Float64).cpu();
                var flat = last.data<double>().ToArray();
                int d = (int)last.shape[1];
                return (hook, Enumerable.Range(0, names.Count).Select(i => flat.AsSpan(i * d, d).ToArray()).ToArray());
            }).ToList();
        }
    }

    public static ProbeResult Run(Gpt model, Gpt untrained, ITextTokenizer tokenizer, ProbeDataset data, int seed = 0)
    {
        var random = new Random(seed);
        int n = data.Values.Length;
        var folds = Enumerable.Range(0, n).Select(i => i % 5).ToArray();
        random.Shuffle(folds);
        var shuffled = data.Values.ToArray();
        random.Shuffle(shuffled);

        var texts = data.Names.Select(name => data.Context.Replace("{s}", name)).ToList();
        var trained = EntityResiduals(model, tokenizer, texts);
        var control = EntityResiduals(untrained, tokenizer, texts);
        var layers = trained.Select((layer, i) =>
        {
            var predicted = Ridge.CrossValidatedPredictions(layer.Features, data.Values, folds);
            var blockPredicted = Ridge.CrossValidatedPredictions(layer.Features, data.Values, data.Blocks);
            return new ProbeLayer(layer.Hook,
                Ridge.RSquared(data.Values, predicted),
                Ridge.RSquared(data.Values, blockPredicted),
                Ridge.ProximityError(data.Values, predicted),
                Ridge.RSquared(shuffled, Ridge.CrossValidatedPredictions(layer.Features, shuffled, folds)),
                Ridge.RSquared(data.Values, Ridge.CrossValidatedPredictions(control[i].Features, data.Values, folds)));
        }).ToList();
        int best = layers.Select((l, i) => (l.R2, i)).Max().i;
        return new ProbeResult(data.Attribute, data.Context, n, layers, best, AlignedNeurons(model, Ridge.Fit(trained[best].Features, data.Values).Weights, best));
    }

    /// <summary>Neurons of the MLPs up to the probed layer whose output weight vector has the highest |cosine| with the probe direction.</summary>
    static IReadOnlyList<AlignedNeuron> AlignedNeurons(Gpt model, double[] direction, int probedEntry, int top = 5)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var probe = tensor(direction, ScalarType.Float64);
        probe /= probe.norm();
        var neurons = new List<AlignedNeuron>();
        for (int l = 0; l < probedEntry; l++) // entry l+1 is block l's output, so blocks 0..entry-1 wrote into it
        {
            var values = model.Blocks[l].Mlp.Out.weight!.to(ScalarType.Float64).cpu(); // [d_model, d_mlp]
            var cosines = (probe.matmul(values) / values.norm(0, false)).data<double>().ToArray();
            neurons.AddRange(cosines.Select((c, j) => new AlignedNeuron(l, j, c)));
        }
        return neurons.OrderByDescending(a => Math.Abs(a.Cosine)).Take(top).ToList();
    }
}
