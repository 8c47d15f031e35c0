using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Evaluation;

public class CandidateRankerTests
{
    [Fact]
    public void ScoresEqualTheFullForwardsLogProbabilitiesWhateverTheBatchSize()
    {
        string[] documents = ["Aldo Vekmar was born in Pellamund.", "Q: Where was Bria Tolun born? A: Ostravel", "Context: Cass Remdor was born in Kinmora. Q: Where was Cass Remdor born? A: Kinmora"];
        var tokenizer = CompactTokenizer.Build(documents);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 64, DModel = 32, NLayers = 2, NHeads = 2 }, initSeed: 5);
        model.eval();
        var queries = new List<(string Prompt, IReadOnlyList<string> Continuations)>
        {
            ("Q: Where was Bria Tolun born? A:", [" Ostravel", " Pellamund", " Kinmora Pellamund"]),
            ("Context: Cass Remdor was born in Kinmora. Q: Where was Cass Remdor born? A:", [" Kinmora", " Ostravel"]),
            ("Aldo Vekmar was born in", [" Pellamund", " Ostravel Kinmora"]),
        };

        // Reference: every position's logits, log-softmax, the continuation's tokens summed; one sequence at a time.
        var expected = queries.Select(q => q.Continuations.Select(c =>
        {
            int[] prompt = [tokenizer.EndOfText, .. tokenizer.Encode(q.Prompt)];
            int[] all = [.. prompt, .. tokenizer.Encode(c)];
            using var _ = no_grad();
            var logProbs = model.forward(tensor(all.Select(t => (long)t).ToArray(), [1, all.Length])).log_softmax(-1);
            return Enumerable.Range(prompt.Length, all.Length - prompt.Length).Sum(t => (double)logProbs[0, t - 1, all[t]].item<float>());
        }).ToArray()).ToArray();

        // A budget of one short sequence per batch, a few per batch, and everything in one batch.
        foreach (int budget in new[] { 1, 60, 16384 })
        {
            var scores = new CandidateRanker(model, tokenizer, tokensPerBatch: budget).ScoreMany(queries);
            for (int q = 0; q < queries.Count; q++)
                for (int c = 0; c < queries[q].Continuations.Count; c++)
                    Assert.True(Math.Abs(scores[q][c] - expected[q][c]) < 1e-4, $"budget {budget}, query {q}, candidate {c}: {scores[q][c]} vs {expected[q][c]}");
        }
    }
}
