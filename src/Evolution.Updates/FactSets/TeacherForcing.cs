using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Updates.FactSets;

/// <summary>
/// A target read after a prompt with teacher forcing: the target's tokens, the log-probability of each given the prompt and
/// the target tokens before it, and the model's argmax next token at each of those positions.
/// </summary>
public sealed record TargetScore(int[] Target, double[] LogProbs, int[] Argmax)
{
    /// <summary>log P(target | prompt) = Σ_j log p(t_j | prompt, t_&lt;j): the sequence probability ROME's paper compares (§3.2).</summary>
    public double LogProb => LogProbs.Sum();

    /// <summary>
    /// EasyEdit's token accuracy (Yao et al. 2023, <c>test_prediction_acc</c>): the share of target tokens that are the
    /// argmax next token given the prompt and the target tokens before them.
    /// </summary>
    public double TokenAccuracy => Target.Length == 0 ? double.NaN : Target.Zip(Argmax).Count(x => x.First == x.Second) / (double)Target.Length;
}

/// <summary>
/// One forward per (prompt, target) row, <c>start prompt " "target</c>, the prompt and the target tokenised
/// apart (ROME's <c>tok(f" {target}")</c>; the editors write targets the same way). The tokenizer's start-of-sequence token
/// (<see cref="Core.Text.ITextTokenizer.StartOfSequence"/>: GPT-2's &lt;|endoftext|&gt;, Llama's BOS) is prepended because
/// the editors read every prompt after it (<see cref="RomeEditor"/>, <see cref="FineTuningEditor"/>), so edits are judged on
/// the sequences they were written on; Hugging Face pipelines, ROME's and EasyEdit's code prepend nothing to GPT-2.
/// </summary>
public static class TeacherForcing
{
    /// <summary>Scores every row, batched; a row longer than the model's context is an <see cref="InputException"/>.</summary>
    public static IReadOnlyList<TargetScore> Score(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<(string Prompt, string Target)> rows, int rowsPerBatch = 16)
    {
        var encoded = rows.Select(r => (Prompt: (int[])[.. tokenizer.PromptStart, .. tokenizer.Encode(r.Prompt)], Target: tokenizer.Encode(" " + r.Target))).ToList();
        foreach (var (row, e) in rows.Zip(encoded))
            if (e.Prompt.Length + e.Target.Length > model.Config.ContextLength)
                throw new InputException(null, "--facts", $"\"{row.Prompt} {row.Target}\" takes {e.Prompt.Length + e.Target.Length} positions with the start token, the model's context is {model.Config.ContextLength}");
        var scores = new List<TargetScore>(rows.Count);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            foreach (var batch in encoded.Chunk(rowsPerBatch))
            {
                using var scope = NewDisposeScope();
                int length = batch.Max(b => b.Prompt.Length + b.Target.Length);
                var tokens = new long[batch.Length * length]; // right-padded: a causal model's positions do not see what follows them
                for (int b = 0; b < batch.Length; b++)
                {
                    int[] row = [.. batch[b].Prompt, .. batch[b].Target];
                    for (int t = 0; t < row.Length; t++) tokens[b * length + t] = row[t];
                }
                // Only the positions that predict a target token are normalised: target token j at prompt.Length + j − 1.
                var rowsAt = batch.SelectMany((e, b) => e.Target.Select(_ => (long)b)).ToArray();
                var positions = batch.SelectMany(e => e.Target.Select((_, j) => (long)(e.Prompt.Length + j - 1))).ToArray();
                var targets = batch.SelectMany(e => e.Target.Select(t => (long)t)).ToArray();
                var device = model.Unembedding.device;
                var logits = model.forward(tensor(tokens, [batch.Length, length], device: device));
                var read = logits[tensor(rowsAt, device: device), tensor(positions, device: device)].log_softmax(-1);
                var logProbs = read.gather(1, tensor(targets, device: device).unsqueeze(1)).squeeze(1).to(ScalarType.Float64).cpu().data<double>().ToArray();
                var argmax = read.argmax(-1).cpu().data<long>().ToArray();
                int at = 0;
                foreach (var (_, target) in batch)
                {
                    scores.Add(new TargetScore(target, logProbs[at..(at + target.Length)], argmax[at..(at + target.Length)].Select(a => (int)a).ToArray()));
                    at += target.Length;
                }
            }
        }
        finally { model.train(wasTraining); }
        return scores;
    }
}
