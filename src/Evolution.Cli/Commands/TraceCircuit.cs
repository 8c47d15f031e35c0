using System.Diagnostics;
using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Cli.Commands;

/// <summary>
/// <c>evolution trace --methods circuit</c>: knowledge circuits by EAP-IG (Yao et al. 2024; Hanna et
/// al. 2024) for one fact or a sample of facts, each fact with its own circuit; faithfulness and
/// Hit@10 by real ablation, the curve over edge fractions, head roles, and optionally exact edge
/// ablation and a diff against a second model.
/// </summary>
public static class TraceCircuit
{
    public sealed record Settings(double EdgeFraction, int IgSteps, bool Exact, string Corruption, Ablation Ablation, int Epoch, string Selection);

    static readonly double[] CurveFractions = [0.01, 0.02, 0.05, 0.1, 0.2];

    /// <summary>The first <paramref name="count"/> sampled facts the model answers right (first token, as ROME traces only known facts).</summary>
    public static (List<Fact> Facts, List<CircuitExample> Examples, int Skipped) Sample(Gpt model, ITextTokenizer tokenizer, World world, int count, Settings s)
    {
        var random = new Random(Seeds.Mix("trace", count));
        var facts = world.FactsAt(s.Epoch).ToArray();
        random.Shuffle(facts);
        var chosen = new List<Fact>();
        var examples = new List<CircuitExample>();
        int skipped = 0;
        foreach (var fact in facts)
        {
            if (examples.Count >= count) break;
            var example = FactCircuits.Example(tokenizer, world, fact, s.Corruption, s.Epoch);
            if (example is null || LogitLens.Run(model, example.Prompt)[^1].Rank != 1) { skipped++; continue; }
            chosen.Add(fact);
            examples.Add(example);
        }
        return (chosen, examples, skipped);
    }

    public static object Run(Gpt model, IReadOnlyList<CircuitExample> examples, int skipped, Settings s, string? outDir,
        Func<IReadOnlyList<CircuitExample>, (Gpt Model, IReadOnlyList<CircuitExample> Examples)>? compareWith)
    {
        var graph = ComputationGraph.For(model);
        var options = new CircuitOptions(IgSteps: s.IgSteps);
        var clock = Stopwatch.StartNew();
        var scores = Output.WithProgress("EAP-IG", examples.Count, report =>
            EapIg.Scores(model, examples, options, done => report(done, $"EAP-IG {done}/{examples.Count}")));
        double eapSeconds = clock.Elapsed.TotalSeconds;

        var fractions = CurveFractions.Append(s.EdgeFraction).Distinct().Order().ToList();
        var sets = fractions.Select(f => (IReadOnlyList<Circuit>)scores.Select(x => Circuit.Select(graph, x, f, s.Selection)).ToList()).ToList();
        var meanScores = Circuit.MeanScores(scores);
        var shared = Circuit.Select(graph, meanScores, s.EdgeFraction, s.Selection);
        sets.Add(examples.Select(_ => shared).ToList()); // one circuit for all facts, for comparison
        clock.Restart();
        var results = CircuitEvaluation.Evaluate(model, examples, sets, s.Ablation, options);
        double evalSeconds = clock.Elapsed.TotalSeconds;
        var main = results[fractions.IndexOf(s.EdgeFraction)];
        var circuits = sets[fractions.IndexOf(s.EdgeFraction)];

        var roles = examples.SelectMany((e, i) => HeadRoles.Label(model, e, circuits[i])).ToList();
        if (outDir is not null)
        {
            var dot = Path.Combine(outDir, "circuit.dot");
            AtomicFile.WriteAllText(dot, CircuitDot.Write(examples.Count == 1 ? circuits[0] : shared,
                examples.Count == 1 ? $"{examples[0].Prompt.Text} → {examples[0].Prompt.Target}" : $"mean EAP-IG circuit over {examples.Count} facts"));
            CircuitDot.TryRenderSvg(dot, Path.Combine(outDir, "circuit.svg"));
        }

        object? exact = null;
        if (s.Exact)
        {
            clock.Restart();
            var exactScores = ExactEdgeScores.Scores(model, examples, options);
            var rho = exactScores.Select((x, i) => ExactEdgeScores.Spearman(scores[i].Select(Math.Abs).ToArray(), x.Select(Math.Abs).ToArray())).ToList();
            exact = new
            {
                mean_spearman_abs = rho.Average(),
                spearman_abs_of_mean_scores = ExactEdgeScores.Spearman(meanScores.Select(Math.Abs).ToArray(), Circuit.MeanScores(exactScores).Select(Math.Abs).ToArray()),
                spearman_signed_of_mean_scores = ExactEdgeScores.Spearman(meanScores, Circuit.MeanScores(exactScores)),
                seconds = clock.Elapsed.TotalSeconds,
            };
        }

        object? comparison = null;
        if (compareWith is not null)
        {
            var (other, otherExamples) = compareWith(examples);
            var otherGraph = ComputationGraph.For(other);
            if (otherGraph.Layers != graph.Layers || otherGraph.Heads != graph.Heads)
                throw new InputException(null, "--compare", $"the second model has {otherGraph.Layers} layers × {otherGraph.Heads} heads, this one {graph.Layers} × {graph.Heads}: circuits need the same graph");
            var otherScores = EapIg.Scores(other, otherExamples, options);
            var perFact = otherScores.Select((x, i) => CircuitDiff.Compare(circuits[i], Circuit.Select(otherGraph, x, s.EdgeFraction, s.Selection))).ToList();
            comparison = new
            {
                mean_edge_jaccard = perFact.Average(c => c.EdgeJaccard),
                mean_weighted_overlap = perFact.Average(c => c.WeightedOverlap),
                mean_circuit = CircuitDiff.Compare(shared, Circuit.Select(otherGraph, Circuit.MeanScores(otherScores), s.EdgeFraction, s.Selection)),
            };
        }

        return new
        {
            facts = examples.Count,
            skipped,
            corruption = s.Corruption,
            ablation = s.Ablation.ToString().ToLowerInvariant(),
            selection = s.Selection,
            metric = "logit(target) − logit(corrupted subject's answer), or − mean logit of the other candidates",
            faithfulness_definition = "(mean L_circuit − mean L_corrupted) / (mean L_clean − mean L_corrupted); one circuit per fact",
            ig_steps = s.IgSteps,
            edges_total = graph.Edges.Count,
            edge_fraction = s.EdgeFraction,
            edges_in_circuit = circuits[0].EdgeCount,
            mean_faithfulness = main.Faithfulness,
            median_fact_faithfulness = main.MedianExampleFaithfulness,
            mean_hit10 = main.Hit10Circuit,
            mean_hit10_full = main.Hit10Full,
            mean_hit1 = main.Hit1Circuit,
            mean_hit1_full = main.Hit1Full,
            candidates = examples.Average(e => e.Candidates.Length),
            logit_difference = new { clean = main.Clean.Average(), corrupted = main.Corrupted.Average(), circuit = main.CircuitMetric.Average() },
            curve = fractions.Select((f, i) => new { edge_fraction = f, edges = sets[i][0].EdgeCount, faithfulness = results[i].Faithfulness, hit10 = results[i].Hit10Circuit, hit1 = results[i].Hit1Circuit }).ToList(),
            shared_circuit = new { edge_fraction = s.EdgeFraction, faithfulness = results[^1].Faithfulness, hit10 = results[^1].Hit10Circuit, hit1 = results[^1].Hit1Circuit },
            top_edges = graph.Edges.OrderByDescending(e => Math.Abs(meanScores[e.Index])).Take(15).Select(e => new { edge = e.Name, mean_score = meanScores[e.Index] }).ToList(),
            head_roles = new
            {
                counts = Enum.GetValues<HeadRole>().ToDictionary(r => r.ToString().ToLowerInvariant(), r => roles.Count(x => x.Role == r)),
                heads = roles.GroupBy(x => x.Head).OrderBy(g => g.First().Layer).ThenBy(g => g.First().HeadIndex).Select(g => new
                {
                    head = g.Key,
                    in_circuits = g.Count(),
                    mover = g.Count(x => x.Role == HeadRole.Mover),
                    relation = g.Count(x => x.Role == HeadRole.Relation),
                    other = g.Count(x => x.Role == HeadRole.Other),
                    mean_subject_attention = g.Average(x => x.SubjectAttention),
                    mean_relation_attention = g.Average(x => x.RelationAttention),
                    mean_target_rank = g.Average(x => x.TargetRank),
                }).ToList(),
            },
            exact,
            compare = comparison,
            per_fact = examples.Select((e, i) => new
            {
                prompt = e.Prompt.Text,
                target = e.Prompt.Target,
                logit_difference = new { clean = main.Clean[i], corrupted = main.Corrupted[i], circuit = main.CircuitMetric[i] },
                rank_full = main.FullRank[i],
                rank_circuit = main.CircuitRank[i],
            }).ToList(),
            seconds = new { eap_ig = eapSeconds, evaluation = evalSeconds },
        };
    }
}
