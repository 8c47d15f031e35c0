using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Evaluation;

/// <summary>One question with a closed set of possible answers (each with its leading space).</summary>
public sealed record RankingItem(string Group, string Prompt, string Answer, IReadOnlyList<string> Candidates);

/// <summary>Where the right answer landed among the candidates, and the top-ranked candidate.</summary>
public sealed record RankedAnswer(RankingItem Item, int Rank, string Top, double AnswerLogProb, double TopLogProb)
{
    public bool Hit1 => Rank == 1;
    public bool Hit10 => Rank <= 10;
}

/// <summary>
/// Hooks for one batched forward of <see cref="CandidateRanker"/>, given the query each of its rows scores
/// (<paramref name="rowQueries"/>[b] indexes the queries passed in). Lets rows of one batch run with different
/// hooks, e.g. each its own agent's weight change over a shared base. Called inside the batch's dispose scope.
/// </summary>
public delegate IReadOnlyList<Hook> RowHooks(IReadOnlyList<int> rowQueries);

/// <summary>
/// Ranks the candidate objects of a query by the model's sequence log-probability
/// log p(candidate | prompt) = Σ_t log p(c_t | prompt, c_&lt;t), as in closed-set knowledge probing
/// (LAMA-style, with multi-token objects scored as whole sequences). Each sequence starts with
/// &lt;|endoftext|&gt;, as documents do in training. Ties rank pessimistically (a candidate scoring
/// the same as the answer is placed above it).
/// </summary>
public sealed class CandidateRanker
{
    readonly Gpt model;
    readonly ITextTokenizer tokenizer;
    readonly int tokensPerBatch;

    /// <param name="tokensPerBatch">Padded tokens per forward pass (sequences × longest). A bound on tokens, not on
    /// sequences, keeps a batch's activations the same size whether the prompts are bare questions or carry a context of
    /// peers' statements (512 sequences of 128 tokens held about 1 GB per agent, and a group answers in parallel).</param>
    public CandidateRanker(Gpt model, ITextTokenizer tokenizer, int tokensPerBatch = 16384)
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.tokensPerBatch = tokensPerBatch;
    }

    /// <summary>Log-probability of each continuation given the prompt.</summary>
    public double[] Score(string prompt, IReadOnlyList<string> continuations) =>
        ScoreMany([(prompt, continuations)])[0];

    /// <param name="rowHooks">Hooks for each batch's forward (null: the plain forward), see <see cref="RowHooks"/>; the
    /// items are the queries it indexes.</param>
    public IReadOnlyList<RankedAnswer> Rank(IEnumerable<RankingItem> items, RowHooks? rowHooks = null)
    {
        var list = items.ToList();
        var scores = ScoreMany(list.Select(i => (i.Prompt, i.Candidates)).ToList(), rowHooks);
        var results = new List<RankedAnswer>(list.Count);
        for (int q = 0; q < list.Count; q++)
        {
            var item = list[q];
            int answerIndex = IndexOf(item.Candidates, item.Answer);
            if (answerIndex < 0) throw new ArgumentException($"answer '{item.Answer}' is not among the candidates of \"{item.Prompt}\"");
            var s = scores[q];
            int rank = 1, top = 0;
            for (int c = 0; c < s.Length; c++)
            {
                if (c != answerIndex && s[c] >= s[answerIndex]) rank++;
                if (s[c] > s[top]) top = c;
            }
            results.Add(new RankedAnswer(item, rank, item.Candidates[top], s[answerIndex], s[top]));
        }
        return results;
    }

    /// <summary>Softmax over one query's sequence log-probabilities: the model's belief restricted to the candidates.</summary>
    public static double[] Softmax(double[] scores)
    {
        double max = scores.Max();
        var exp = scores.Select(s => Math.Exp(s - max)).ToArray();
        double sum = exp.Sum();
        return exp.Select(e => e / sum).ToArray();
    }

    /// <summary>Scores every (prompt, continuation) pair, batching across queries.</summary>
    /// <param name="rowHooks">Hooks for each batch's forward (null: the plain forward), see <see cref="RowHooks"/>.</param>
    public double[][] ScoreMany(IReadOnlyList<(string Prompt, IReadOnlyList<string> Continuations)> queries, RowHooks? rowHooks = null)
    {
        var sequences = new List<(int Query, int Index, int[] Tokens, int PromptLength)>();
        for (int q = 0; q < queries.Count; q++)
        {
            var promptIds = tokenizer.Encode(queries[q].Prompt);
            for (int c = 0; c < queries[q].Continuations.Count; c++)
            {
                var continuation = tokenizer.Encode(queries[q].Continuations[c]);
                sequences.Add((q, c, [tokenizer.EndOfText, .. promptIds, .. continuation], promptIds.Length + 1));
            }
        }
        var scores = queries.Select(q => new double[q.Continuations.Count]).ToArray();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            // Sort by length so batches pad little; results go back by (query, index).
            var ordered = sequences.OrderBy(s => s.Tokens.Length).ToList();
            var device = model.Unembedding.device;
            for (int start = 0; start < ordered.Count;)
            {
                using var scope = NewDisposeScope();
                int count = 1;
                while (start + count < ordered.Count && (count + 1) * ordered[start + count].Tokens.Length <= tokensPerBatch) count++;
                var batch = ordered.GetRange(start, count);
                start += count;
                int length = batch[^1].Tokens.Length;
                var tokens = new long[batch.Count * length];
                for (int b = 0; b < batch.Count; b++)
                    for (int t = 0; t < batch[b].Tokens.Length; t++) tokens[b * length + t] = batch[b].Tokens[t];
                // log p(token_t | tokens_<t) is read from the residual at t-1: only the continuations' positions are unembedded.
                var rows = new List<long>();
                var targets = new List<long>();
                foreach (var (b, sequence) in batch.Select((s, b) => (b, s)))
                    for (int t = sequence.PromptLength; t < sequence.Tokens.Length; t++) { rows.Add((long)b * length + t - 1); targets.Add(sequence.Tokens[t]); }
                var hooks = rowHooks is null ? null : new HookContext([.. rowHooks(batch.Select(s => s.Query).ToList())]);
                var residual = model.FinalResidual(tensor(tokens, [batch.Count, length], device: device), hooks);
                var logits = residual.reshape(-1, residual.shape[^1]).index_select(0, tensor(rows.ToArray(), device: device)).matmul(model.Unembedding.t());
                var values = logits.log_softmax(-1).gather(1, tensor(targets.ToArray(), device: device).unsqueeze(-1)).squeeze(-1).cpu().data<float>().ToArray();
                int next = 0;
                foreach (var sequence in batch)
                {
                    double sum = 0;
                    for (int t = sequence.PromptLength; t < sequence.Tokens.Length; t++) sum += values[next++];
                    scores[sequence.Query][sequence.Index] = sum;
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return scores;
    }

    /// <summary>Greedy decoding until <paramref name="maxTokens"/>, end of text, or a stop string.</summary>
    public string Generate(string prompt, int maxTokens = 16, string? stopAt = null)
    {
        var ids = new List<int> { tokenizer.EndOfText };
        ids.AddRange(tokenizer.Encode(prompt));
        int promptLength = ids.Count;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            for (int i = 0; i < maxTokens; i++)
            {
                using var scope = NewDisposeScope();
                var window = ids.Skip(Math.Max(0, ids.Count - model.Config.ContextLength)).Select(x => (long)x).ToArray();
                var logits = model.forward(tensor(window, [1, window.Length], device: model.Unembedding.device));
                int next = (int)logits[0, -1].argmax().item<long>();
                if (next == tokenizer.EndOfText) break;
                ids.Add(next);
                var text = tokenizer.Decode(ids.Skip(promptLength));
                if (stopAt is not null && text.Contains(stopAt)) return text[..(text.IndexOf(stopAt, StringComparison.Ordinal) + stopAt.Length)];
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return tokenizer.Decode(ids.Skip(promptLength));
    }

    static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        return -1;
    }
}
