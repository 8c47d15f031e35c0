using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <param name="Layers">MLP output projections (c_proj) that may change; null = every parameter of the model (plain fine-tuning).</param>
/// <param name="Steps">Optimisation steps over all requests (EasyEdit's FT-L default: 25).</param>
/// <param name="LearningRate">Adam step size (EasyEdit's FT-L default: 5e-4).</param>
/// <param name="NormConstraint">L∞ bound on each weight's change, ‖Δw‖∞ ≤ ε (Zhu et al. 2020); null = unconstrained.</param>
public sealed record FineTuningHyperParams(IReadOnlyList<int>? Layers = null, int Steps = 25, double LearningRate = 5e-4, double? NormConstraint = 5e-4)
{
    /// <summary>FT-L as in EasyEdit: one MLP layer (here the last, where our agents write answers), constrained.</summary>
    public static FineTuningHyperParams FtL(GptConfig config) => new([config.NLayers - 1], Steps: 25, LearningRate: 5e-4, NormConstraint: 5e-4);

    /// <summary>Plain fine-tuning of every parameter, unconstrained: the baseline FT-L improves on.</summary>
    public static FineTuningHyperParams Plain() => new(null, Steps: 25, LearningRate: 5e-4, NormConstraint: null);
}

/// <summary>
/// Fine-tuning on the edit prompts: minimise −log p(target_new | prompt) over the chosen weights,
/// projecting after each step onto the L∞ ball of radius ε around the original weights
/// (constrained fine-tuning, Zhu et al. 2020, "Modifying Memories in Transformer Models"; FT-L in EasyEdit).
/// </summary>
public sealed class FineTuningEditor(FineTuningHyperParams hyperParams, string name = "ft-l") : IKnowledgeEditor
{
    public string Name => name;

    public WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests)
    {
        var all = WeightDelta.Parameters(model);
        var names = hyperParams.Layers is null
            ? all.Keys.ToList()
            : hyperParams.Layers.Select(l => $"blocks.{l}.mlp.c_proj.weight").ToList();
        foreach (var n in names)
            if (!all.ContainsKey(n)) throw new ArgumentException($"the model has no parameter '{n}'");
        var original = names.ToDictionary(n => n, n => all[n].detach().clone());

        // Teacher-forced sequences: <eot> prompt target; the loss covers the target tokens only.
        var sequences = requests.Select(r =>
        {
            var prompt = tokenizer.Encode(r.Prompt);
            var target = tokenizer.Encode(" " + r.TargetNew);
            return (Tokens: (int[])[tokenizer.EndOfText, .. prompt, .. target], PromptLength: prompt.Length + 1);
        }).ToList();
        int length = sequences.Max(s => s.Tokens.Length);
        var input = new long[sequences.Count * length];
        var labels = Enumerable.Repeat(-100L, sequences.Count * length).ToArray();
        for (int i = 0; i < sequences.Count; i++)
            for (int t = 0; t < sequences[i].Tokens.Length; t++)
            {
                input[i * length + t] = sequences[i].Tokens[t];
                if (t >= sequences[i].PromptLength) labels[i * length + t - 1] = sequences[i].Tokens[t]; // predicted at t-1
            }
        var device = model.Unembedding.device;
        using var inputTensor = tensor(input, [sequences.Count, length], device: device);
        using var labelTensor = tensor(labels, [sequences.Count, length], device: device);

        bool wasTraining = model.training;
        var frozen = all.Where(p => !names.Contains(p.Key)).Select(p => p.Value).ToList();
        foreach (var p in frozen) p.requires_grad = false;
        try
        {
            model.eval(); // no dropout in our models, but keep edits deterministic for any model
            using var optimizer = AdamW.Adam(names.Select(n => all[n]), hyperParams.LearningRate);
            for (int step = 0; step < hyperParams.Steps; step++)
            {
                using var scope = NewDisposeScope();
                var logits = model.forward(inputTensor);
                var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), labelTensor.reshape(-1), ignore_index: -100);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                if (hyperParams.NormConstraint is double epsilon)
                    using (no_grad())
                    using (var bound = epsilon.ToScalar())
                    using (var negativeBound = (-epsilon).ToScalar())
                    using (var one = 1.0.ToScalar())
                        foreach (var n in names)
                            all[n].copy_(torch.max(torch.min(all[n], original[n].add(bound, one)), original[n].add(negativeBound, one)));
            }
        }
        finally
        {
            foreach (var p in frozen) p.requires_grad = true;
            model.train(wasTraining);
        }

        // Hand back the change and leave the model as it was.
        using var _ = no_grad();
        var delta = names.ToDictionary(n => n, n => (all[n] - original[n]).detach().clone());
        foreach (var n in names) all[n].copy_(original[n]);
        return new WeightDelta(delta, original);
    }
}
