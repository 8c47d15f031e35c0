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
/// the same as the answer is placed above it). Optionally a query's candidates share one pass over its prompt
/// (tree attention, see the constructor's <c>sharePrompt</c>).
/// </summary>
public sealed class CandidateRanker
{
    readonly Gpt model;
    readonly ITextTokenizer tokenizer;
    readonly int tokensPerBatch;
    readonly bool sharePrompt;

    /// <param name="tokensPerBatch">Padded tokens per forward pass (rows × longest). A bound on tokens, not on
    /// rows, keeps a batch's activations the same size whether the prompts are bare questions or carry a context of
    /// peers' statements (512 sequences of 128 tokens held about 1 GB per agent, and a group answers in parallel). A row
    /// longer than the budget goes alone.</param>
    /// <param name="sharePrompt">Score a query's candidates in one row, [eot, prompt…, cand₁…, cand₂…, …], each candidate
    /// at the positions it would have after the prompt alone and attending only to the prompt and to itself (see
    /// <see cref="SequenceLayout"/>), so the prompt is computed once per query instead of once per candidate. The same
    /// positions and keys as one sequence per candidate (false), so the same scores up to float rounding: with 30
    /// candidates of 1–4 tokens after a 10–120-token prompt the rows hold several times fewer tokens. Measured on the
    /// default world's questions (26 candidates of 4 tokens on average after 9-token prompts; the default agent's shape,
    /// 2 loaded cores): 400 queries in 4.6–4.7 s packed against 8.5–10.5 s one row per candidate.</param>
    public CandidateRanker(Gpt model, ITextTokenizer tokenizer, int tokensPerBatch = 16384, bool sharePrompt = false)
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.tokensPerBatch = tokensPerBatch;
        this.sharePrompt = sharePrompt;
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
    /// <param name="rowHooks">Hooks for each batch's forward (null: the plain forward), see <see cref="RowHooks"/>. With
    /// prompt sharing a row is one query, so each query's candidates run under the same hooks either way.</param>
    public double[][] ScoreMany(IReadOnlyList<(string Prompt, IReadOnlyList<string> Continuations)> queries, RowHooks? rowHooks = null)
    {
        var scores = queries.Select(q => new double[q.Continuations.Count]).ToArray();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            var device = model.Unembedding.device;
            foreach (var batch in Batches(Rows(queries)))
            {
                using var scope = NewDisposeScope();
                int length = batch[^1].Tokens.Length;
                var tokens = new long[batch.Count * length];
                for (int b = 0; b < batch.Count; b++)
                    for (int t = 0; t < batch[b].Tokens.Length; t++) tokens[b * length + t] = batch[b].Tokens[t];
                var hooks = rowHooks is null ? null : new HookContext([.. rowHooks(batch.Select(r => r.Query).ToList())]);
                var residual = model.FinalResidual(tensor(tokens, [batch.Count, length], device: device), hooks,
                    sharePrompt ? Layout(batch, length, device) : null);
                // Only the positions read from are unembedded, each once (a packed row reads every candidate's first token
                // at the prompt's last position); picks index the flattened [position, vocab] log-probabilities.
                var at = new List<long>();
                var slotOf = new Dictionary<long, long>();
                var picks = new List<long>();
                long vocab = model.Unembedding.shape[0];
                for (int b = 0; b < batch.Count; b++)
                    foreach (var reading in batch[b].Readings)
                    {
                        long flat = (long)b * length + reading.At;
                        if (!slotOf.TryGetValue(flat, out long slot)) { slot = at.Count; slotOf[flat] = slot; at.Add(flat); }
                        picks.Add(slot * vocab + reading.Target);
                    }
                var logProbs = residual.reshape(-1, residual.shape[^1]).index_select(0, tensor(at.ToArray(), device: device))
                    .matmul(model.Unembedding.t()).log_softmax(-1);
                var values = logProbs.flatten().index_select(0, tensor(picks.ToArray(), device: device)).cpu().data<float>().ToArray();
                int next = 0;
                foreach (var row in batch)
                    foreach (var reading in row.Readings) scores[row.Query][reading.Candidate] += values[next++];
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return scores;
    }

    /// <summary>
    /// The forward passes <see cref="ScoreMany"/> makes over <paramref name="queries"/> (prompt sharing only: a row is one query),
    /// each as the indices of its queries in the order it holds them. <see cref="ScoreMany"/> on one pass's queries in that order
    /// makes that very pass (the same rows, order and padding), so a large batch can be split at these bounds, and the parts
    /// scored anywhere, with results identical to the bit. Queries without candidates are in no pass.
    /// </summary>
    public IReadOnlyList<int[]> ForwardPasses(IReadOnlyList<(string Prompt, IReadOnlyList<string> Continuations)> queries)
    {
        if (!sharePrompt) throw new InvalidOperationException("forward passes follow queries only with prompt sharing (a row per query)");
        return [.. Batches(Rows(queries)).Select(b => b.Select(r => r.Query).ToArray())];
    }

    /// <summary>The rows of a batch of queries: one per query with prompt sharing, one per (query, candidate) without.</summary>
    List<Row> Rows(IReadOnlyList<(string Prompt, IReadOnlyList<string> Continuations)> queries)
    {
        var rows = new List<Row>();
        for (int q = 0; q < queries.Count; q++)
        {
            int[] prompt = [.. tokenizer.PromptStart, .. tokenizer.Encode(queries[q].Prompt)];
            if (prompt.Length == 0) throw new ArgumentException("an empty prompt without a start token leaves nothing to read the first token after");
            var continuations = queries[q].Continuations.Select(tokenizer.Encode).ToList();
            // Checked before any forward, so a query too long fails the call, not a batch halfway.
            for (int c = 0; c < continuations.Count; c++)
                if (prompt.Length + continuations[c].Length > model.Config.ContextLength)
                    throw new ArgumentException($"\"{queries[q].Prompt}\" followed by \"{queries[q].Continuations[c]}\" takes " +
                        $"{prompt.Length + continuations[c].Length} positions (with the start token), the model's context is {model.Config.ContextLength}");
            if (sharePrompt && continuations.Count > 0) rows.Add(Packed(q, prompt, continuations));
            else for (int c = 0; c < continuations.Count; c++) rows.Add(Alone(q, c, prompt, continuations[c]));
        }
        return rows;
    }

    /// <summary>Rows sorted by length (stable), so batches pad little, cut into batches of at most <see cref="tokensPerBatch"/> padded tokens.</summary>
    IEnumerable<List<Row>> Batches(List<Row> rows)
    {
        var ordered = rows.OrderBy(r => r.Tokens.Length).ToList();
        for (int start = 0; start < ordered.Count;)
        {
            int count = 1;
            while (start + count < ordered.Count && (count + 1) * ordered[start + count].Tokens.Length <= tokensPerBatch) count++;
            yield return ordered.GetRange(start, count);
            start += count;
        }
    }

    /// <summary>
    /// One forward row: its tokens, and the log-probabilities to read from it, log p(Target | tokens up to At) for a
    /// candidate of query <see cref="Query"/>. Packed rows also carry each token's position and segment (0: the prompt,
    /// c + 1: candidate c).
    /// </summary>
    sealed record Row(int Query, int[] Tokens, IReadOnlyList<Reading> Readings, int[]? Positions = null, int[]? Segments = null);

    readonly record struct Reading(int Candidate, int At, int Target);

    /// <summary>One candidate after its prompt: log p(token_t | tokens_&lt;t) is read from the residual at t−1.</summary>
    static Row Alone(int query, int candidate, int[] prompt, int[] continuation)
    {
        int[] tokens = [.. prompt, .. continuation];
        return new Row(query, tokens, Enumerable.Range(prompt.Length, continuation.Length).Select(t => new Reading(candidate, t - 1, tokens[t])).ToList());
    }

    /// <summary>
    /// All candidates of a query after one copy of its prompt, [eot, prompt…, cand₁…, cand₂…, …]. Each candidate's tokens
    /// take positions P, P+1, … (P = the prompt's length with eot), as if it followed the prompt alone; its first token is
    /// read at the prompt's last token, its later ones at its own previous token.
    /// </summary>
    static Row Packed(int query, int[] prompt, IReadOnlyList<int[]> continuations)
    {
        int p = prompt.Length;
        var tokens = new List<int>(prompt);
        var positions = Enumerable.Range(0, p).ToList();
        var segments = Enumerable.Repeat(0, p).ToList();
        var readings = new List<Reading>();
        for (int c = 0; c < continuations.Count; c++)
            for (int i = 0; i < continuations[c].Length; i++)
            {
                readings.Add(new Reading(c, i == 0 ? p - 1 : tokens.Count - 1, continuations[c][i]));
                tokens.Add(continuations[c][i]);
                positions.Add(p + i);
                segments.Add(c + 1);
            }
        return new Row(query, [.. tokens], readings, [.. positions], [.. segments]);
    }

    /// <summary>
    /// Positions and attend mask of a batch of packed rows padded to <paramref name="length"/>. A token attends to the keys
    /// at or before it that are in the prompt or in its own candidate: the prompt causally to itself, a candidate's token
    /// to the whole prompt and to its candidate's tokens so far, never to another candidate. Padding (segment −1, position 0)
    /// attends only to padding, itself included, so no query's row of the mask is empty, and nothing else attends to it.
    /// </summary>
    static SequenceLayout Layout(IReadOnlyList<Row> batch, int length, Device device)
    {
        var positions = new long[batch.Count * length];
        var segments = new long[batch.Count * length];
        Array.Fill(segments, -1L);
        for (int b = 0; b < batch.Count; b++)
            for (int t = 0; t < batch[b].Tokens.Length; t++)
            {
                positions[b * length + t] = batch[b].Positions![t];
                segments[b * length + t] = batch[b].Segments![t];
            }
        var segment = tensor(segments, [batch.Count, length], device: device);
        var query = segment.unsqueeze(2); // [B, T, 1]
        var key = segment.unsqueeze(1);   // [B, 1, T]
        var causal = ones(length, length, dtype: ScalarType.Bool, device: device).tril();
        var attend = key.eq(Scalars.Zero).logical_or(key.eq(query)).logical_and(causal);
        return new SequenceLayout(tensor(positions, [batch.Count, length], device: device), attend.unsqueeze(1));
    }

    /// <summary>Greedy decoding until <paramref name="maxTokens"/>, end of text, or a stop string.</summary>
    public string Generate(string prompt, int maxTokens = 16, string? stopAt = null)
    {
        var ids = new List<int>(tokenizer.PromptStart);
        ids.AddRange(tokenizer.Encode(prompt));
        if (ids.Count == 0) throw new ArgumentException("an empty prompt without a start token leaves nothing to continue");
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
