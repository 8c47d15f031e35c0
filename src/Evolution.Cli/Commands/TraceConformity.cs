using Evolution.Core;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Cli.Commands;

/// <summary>
/// <c>evolution trace --methods conformity</c>: the agent's conformity circuit (<see cref="ConformityCircuits"/>) on a
/// sample of its world's facts, each asked in the context line agents read with <c>--peers</c> confederates stating
/// another candidate than the agent's own answer, and its diff against the agent's fact-recall circuit of the same facts
/// read alone (<see cref="FactCircuits"/>).
/// </summary>
public static class TraceConformity
{
    public sealed record Settings(int Facts, int Peers, double EdgeFraction, int IgSteps, int Epoch, bool MarkStatements);

    /// <summary>
    /// A seeded sample of facts as contrasts: the query alone gives the own answer (the top candidate), the peers state a
    /// seeded other candidate, one of the own answer's token length when there is one, so the two prompts align.
    /// </summary>
    public static (List<Fact> Facts, List<ConformityContrast> Contrasts) Contrasts(Gpt model, ITextTokenizer tokenizer, World world, Settings s)
    {
        var random = new Random(Seeds.Mix("conformity", s.Facts, s.Peers));
        var facts = world.FactsAt(s.Epoch).ToArray();
        random.Shuffle(facts);
        var ranker = new CandidateRanker(model, tokenizer);
        var chosen = facts.Take(s.Facts).ToList();
        var contrasts = chosen.Select(ConformityContrast? (fact) =>
        {
            var relation = RelationCatalogue.Get(fact.Relation);
            var subject = world[fact.Subject].Name;
            var queries = world.TrainingTemplates(relation).Where(t => t.IsQuery).ToList();
            var statements = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Statement).ToList();
            var query = queries[random.Next(queries.Count)].Prompt(subject);
            var candidates = world.CandidateEntities(relation.ObjectType).Select(e => e.Name).ToList();
            var scores = ranker.Score(query, candidates.Select(c => " " + c).ToList());
            var own = candidates[Array.IndexOf(scores, scores.Max())];
            var ownTokens = tokenizer.Encode(" " + own);
            var others = candidates.Where(c => tokenizer.Encode(" " + c)[0] != ownTokens[0]).ToList();
            var aligned = others.Where(c => tokenizer.Encode(" " + c).Length == ownTokens.Length).ToList();
            var pool = aligned.Count > 0 ? aligned : others.Count > 0 ? others : candidates.Where(c => c != own).ToList();
            if (pool.Count == 0) return null; // a one-candidate type: nothing for the peers to say
            var peers = pool[random.Next(pool.Count)];
            var templates = Enumerable.Range(0, s.Peers).Select(_ => statements[random.Next(statements.Count)]).ToList();
            string Line(string said) => ContextFormat.Line(templates.Select(t => t.Render(subject, said)), query, s.MarkStatements);
            return new ConformityContrast(Line(peers), Line(own), own, peers);
        }).OfType<ConformityContrast>().ToList();
        return (chosen, contrasts);
    }

    public static object Run(Gpt model, ITextTokenizer tokenizer, World world, Settings s, string? outDir)
    {
        var (facts, contrasts) = Contrasts(model, tokenizer, world, s);
        var options = new CircuitOptions(IgSteps: s.IgSteps);
        ConformityCircuitResult result;
        try { result = ConformityCircuits.Find(model, tokenizer, contrasts, s.EdgeFraction, options); }
        catch (ArgumentException e) { throw new InputException(null, "--facts", e.Message); }

        // The fact-recall circuit of the same facts, alone (subject swap, as trace --methods circuit), cut at the same size.
        var recallCircuits = FactCircuits.For(model, tokenizer, world, facts, s.Epoch, s.EdgeFraction, options).OfType<Circuit>().ToList();
        object? recall = null;
        if (recallCircuits.Count > 0)
        {
            var graph = result.Circuit.Graph;
            var circuit = Circuit.Greedy(graph, Circuit.MeanScores(recallCircuits.Select(c => c.Scores).ToList()), s.EdgeFraction);
            var diff = CircuitDiff.Compare(circuit, result.Circuit);
            IEnumerable<string> Heads(Circuit c) => c.Nodes().Where(n => n.StartsWith('a')).Select(HeadName);
            recall = new
            {
                facts = recallCircuits.Count,
                edges_in_circuit = circuit.EdgeCount,
                edge_jaccard = diff.EdgeJaccard,
                weighted_overlap = diff.WeightedOverlap,
                shared_edges = diff.SharedEdges,
                edges_only_in_conformity = diff.EdgesOnlyInB,
                edges_only_in_recall = diff.EdgesOnlyInA,
                heads_only_in_conformity = Heads(result.Circuit).Except(Heads(circuit)).Order().ToList(),
                heads_only_in_recall = Heads(circuit).Except(Heads(result.Circuit)).Order().ToList(),
                nodes_only_in_conformity = diff.NodesGained,
                nodes_only_in_recall = diff.NodesLost,
            };
        }
        if (outDir is not null)
        {
            var dot = Path.Combine(outDir, "conformity_circuit.dot");
            AtomicFile.WriteAllText(dot, CircuitDot.Write(result.Circuit, $"conformity circuit over {result.Used} contrasts: logit(peers) − logit(own)"));
            CircuitDot.TryRenderSvg(dot, Path.Combine(outDir, "conformity_circuit.svg"));
        }
        var scores = result.Circuit.Scores;
        return new
        {
            contrasts = result.Used,
            skipped = result.Skipped,
            peers = s.Peers,
            metric = "logit(peers' answer) − logit(own answer), first tokens; corrupted: the peers state the own answer",
            logit_difference = new { clean = result.MeanLogitDifferenceClean, corrupted = result.MeanLogitDifferenceCorrupted },
            ig_steps = s.IgSteps,
            edges_total = scores.Length,
            edge_fraction = s.EdgeFraction,
            edges_in_circuit = result.Circuit.EdgeCount,
            top_heads = result.Heads.Take(8).Select(h => new { head = h.Name, score = h.Score }).ToList(),
            top_edges = result.Circuit.Graph.Edges.OrderByDescending(e => Math.Abs(scores[e.Index])).Take(10).Select(e => new { edge = e.Name, mean_score = scores[e.Index] }).ToList(),
            recall_circuit = recall,
            heads = result.Heads.Select(h => new { head = h.Name, layer = h.Layer, index = h.Head, score = h.Score }).ToList(),
            examples = contrasts.Take(2).Select(c => new { prompt = c.WithPeers, own = c.OwnAnswer, peers = c.PeersAnswer }).ToList(),
        };
    }

    /// <summary>A graph head node "a1.h0" as a head is named elsewhere, "L1H0".</summary>
    static string HeadName(string node)
    {
        var parts = node[1..].Split(".h");
        return new HeadEffect(int.Parse(parts[0]), int.Parse(parts[1]), 0).Name;
    }
}
