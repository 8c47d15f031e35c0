using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Evaluation;

public class CandidateRankerTests
{
    static readonly string[] Documents = ["Aldo Vekmar was born in Pellamund.", "Q: Where was Bria Tolun born? A: Ostravel", "Context: Cass Remdor was born in Kinmora. Q: Where was Cass Remdor born? A: Kinmora",
        "Q: Where was Aldo Vekmar born? A: Aldo Vekmar, Cass, Bria Tolun was born in Ostravel. A"];

    // Prompts of different lengths (so packed rows pad), candidates of one to several tokens, of different lengths within a query.
    static readonly List<(string Prompt, IReadOnlyList<string> Continuations)> Queries =
    [
        ("Q: Where was Bria Tolun born? A:", [" Ostravel", " Pellamund", " Kinmora Pellamund"]),
        ("Context: Cass Remdor was born in Kinmora. Q: Where was Cass Remdor born? A:", [" Kinmora", " Ostravel"]),
        ("Aldo Vekmar was born in", [" Pellamund", " Ostravel Kinmora"]),
        ("Q: Where was Aldo Vekmar born? A:", [" Pellamund", " Kinmora", " Ostravel", " Aldo Vekmar", " Bria Tolun was born in Ostravel", " A"]),
    ];

    static (CompactTokenizer Tokenizer, Gpt Model) Tiny(int contextLength = 64)
    {
        var tokenizer = CompactTokenizer.Build(Documents);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = contextLength, DModel = 32, NLayers = 2, NHeads = 2 }, initSeed: 5);
        model.eval();
        return (tokenizer, model);
    }

    /// <summary>Reference: every position's logits, log-softmax, the continuation's tokens summed; one sequence at a time.</summary>
    static double[][] Reference(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<(string Prompt, IReadOnlyList<string> Continuations)> queries) =>
        queries.Select(q => q.Continuations.Select(c =>
        {
            int[] prompt = [tokenizer.EndOfText, .. tokenizer.Encode(q.Prompt)];
            int[] all = [.. prompt, .. tokenizer.Encode(c)];
            using var _ = no_grad();
            var logProbs = model.forward(tensor(all.Select(t => (long)t).ToArray(), [1, all.Length])).log_softmax(-1);
            return Enumerable.Range(prompt.Length, all.Length - prompt.Length).Sum(t => (double)logProbs[0, t - 1, all[t]].item<float>());
        }).ToArray()).ToArray();

    static void AssertClose(double[][] expected, double[][] scores, string what)
    {
        for (int q = 0; q < expected.Length; q++)
            for (int c = 0; c < expected[q].Length; c++)
                Assert.True(Math.Abs(scores[q][c] - expected[q][c]) < 1e-4, $"{what}, query {q}, candidate {c}: {scores[q][c]} vs {expected[q][c]}");
    }

    [Fact]
    public void ScoresEqualTheFullForwardsLogProbabilitiesWhateverTheBatchSize()
    {
        var (tokenizer, model) = Tiny();
        var expected = Reference(model, tokenizer, Queries);
        // A budget of one short sequence per batch, a few per batch, and everything in one batch.
        foreach (int budget in new[] { 1, 60, 16384 })
            AssertClose(expected, new CandidateRanker(model, tokenizer, tokensPerBatch: budget).ScoreMany(Queries), $"budget {budget}");
    }

    [Fact]
    public void PackedScoresSharingThePromptEqualTheFullForwardsWhateverTheBatchSize()
    {
        var (tokenizer, model) = Tiny();
        Assert.Contains(Queries[3].Continuations, c => tokenizer.Encode(c).Length >= 4);
        var expected = Reference(model, tokenizer, Queries);
        foreach (int budget in new[] { 1, 60, 16384 })
            AssertClose(expected, new CandidateRanker(model, tokenizer, tokensPerBatch: budget, sharePrompt: true).ScoreMany(Queries), $"packed, budget {budget}");
    }

    [Fact]
    public void PackedScoresThroughTheExplicitPatternEqualTheFullForwardsAndNoCandidateSeesAnother()
    {
        var (tokenizer, model) = Tiny();
        var expected = Reference(model, tokenizer, Queries);
        foreach (int budget in new[] { 60, 16384 })
        {
            var seen = new List<(int[] RowQueries, long[] Shape, float[] Pattern)>();
            RowHooks hooks = rowQueries =>
            [
                Hook.On("blocks.0.attn.hook_pattern", (pattern, _) =>
                {
                    seen.Add(([.. rowQueries], pattern.shape, pattern.cpu().data<float>().ToArray()));
                    return pattern;
                }),
            ];
            var ranker = new CandidateRanker(model, tokenizer, tokensPerBatch: budget, sharePrompt: true);
            AssertClose(expected, ranker.ScoreMany(Queries, hooks), $"packed through hook_pattern, budget {budget}");

            // One row per query, each query once.
            Assert.Equal(Enumerable.Range(0, Queries.Count), seen.SelectMany(s => s.RowQueries).Order());
            foreach (var (rowQueries, shape, pattern) in seen)
            {
                long heads = shape[1], length = shape[2];
                for (int b = 0; b < rowQueries.Length; b++)
                {
                    // Segments of the packed row: 0 for <|endoftext|> and the prompt, c + 1 for candidate c.
                    var query = Queries[rowQueries[b]];
                    int[] segment = [0, .. tokenizer.Encode(query.Prompt).Select(_ => 0),
                        .. query.Continuations.SelectMany((c, i) => tokenizer.Encode(c).Select(_ => i + 1))];
                    int crossings = 0;
                    for (int h = 0; h < heads; h++)
                        for (int i = 0; i < segment.Length; i++)
                            for (int j = 0; j < segment.Length; j++)
                            {
                                float p = pattern[((b * heads + h) * length + i) * length + j];
                                if (segment[i] > 0 && segment[j] > 0 && segment[i] != segment[j]) { Assert.Equal(0f, p); crossings++; }
                                if (j > i) Assert.Equal(0f, p);
                            }
                    if (query.Continuations.Count > 1) Assert.True(crossings > 0);
                }
            }
        }
    }

    [Fact]
    public void APackedRowMayBeLongerThanTheContextButNoCandidateMayEndBeyondIt()
    {
        var queries = new List<(string Prompt, IReadOnlyList<string> Continuations)>
        {
            ("Aldo Vekmar was born in", [" Ostravel", " Pellamund", " Kinmora", " Aldo", " Cass", " Bria Tolun"]),
        };
        // A context just long enough for the prompt and its longest candidate.
        var tokenizer = CompactTokenizer.Build(Documents);
        int promptPositions = 1 + tokenizer.Encode(queries[0].Prompt).Length;
        int context = promptPositions + queries[0].Continuations.Max(c => tokenizer.Encode(c).Length);
        var model = Tiny(context).Model;
        Assert.True(promptPositions + queries[0].Continuations.Sum(c => tokenizer.Encode(c).Length) > context, "the packed row should be longer than the context");
        AssertClose(Reference(model, tokenizer, queries), new CandidateRanker(model, tokenizer, sharePrompt: true).ScoreMany(queries), "longer than the context");

        var tooLong = new List<(string Prompt, IReadOnlyList<string> Continuations)>
        {
            ("Context: Cass Remdor was born in Kinmora. Q: Where was Cass Remdor born? A:", [" Kinmora"]),
        };
        foreach (bool share in new[] { true, false })
        {
            var error = Assert.Throws<ArgumentException>(() => new CandidateRanker(model, tokenizer, sharePrompt: share).ScoreMany(tooLong));
            Assert.Contains($"context is {context}", error.Message);
            Assert.Contains("Kinmora", error.Message);
        }
    }
}
