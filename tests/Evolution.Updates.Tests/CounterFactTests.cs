using System.Text.Json.Nodes;
using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Updates.FactSets;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

/// <summary>
/// Real fact sets: the CounterFact and zsRE formats read from the shipped samples, malformed records refused by file,
/// record and field, and both metric families checked against plain computations on a tiny model.
/// </summary>
public class CounterFactTests : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-facts").FullName;

    static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir.FullName, "Evolution.sln"))) dir = dir.Parent!;
        return dir.FullName;
    }

    static string Sample(string name) => Path.Combine(Root(), "scenarios", "facts", name);

    [Fact]
    public void TheShippedCounterFactSampleReadsAsCounterFact()
    {
        var facts = FactSet.Load(Sample("counterfact-sample.json"));
        Assert.Equal(FactSetFormat.CounterFact, facts.Format);
        Assert.Equal(20, facts.Records.Count);
        var first = facts.Records[0];
        Assert.Equal("0", first.Id);
        Assert.Equal("Lake Varrowmere is located in", first.Prompt); // "{} is located in" with the subject in place
        Assert.Equal(("Caldessia", "Norvania", "P131"), (first.TargetNew, first.TargetTrue, first.RelationId));
        Assert.Equal(2, first.Paraphrases.Count);
        Assert.All(first.Neighbours, n => Assert.Equal("Norvania", n.Truth)); // CounterFact's neighbours share the true object
        Assert.Equal(new EditRequest("Lake Varrowmere is located in", "Lake Varrowmere", "Caldessia"), first.Request);
        Assert.All(facts.Records, r => Assert.Contains(r.Subject, r.Prompt));
        Assert.Equal(facts.Records.Count, facts.Records.Select(r => r.Id).Distinct().Count());
    }

    [Fact]
    public void TheShippedZsReSampleReadsAsEasyEditReadsZsRe()
    {
        var facts = FactSet.Load(Sample("zsre-sample.json"));
        Assert.Equal(FactSetFormat.ZsRe, facts.Format);
        Assert.Equal(5, facts.Records.Count);
        var first = facts.Records[0];
        Assert.Equal(("Imelda Vossberg", "What is the occupation of Imelda Vossberg?", "pilot", "nurse"), (first.Subject, first.Prompt, first.TargetNew, first.TargetTrue));
        Assert.Equal(["What does Imelda Vossberg do for a living?"], first.Paraphrases);
        Assert.Equal(new NeighbourPrompt("nq question: who built the lighthouse at port elbrin", "Hesper Calloway"), Assert.Single(first.Neighbours));
        Assert.Equal("Port Elbrin", facts.Records[3].TargetTrue); // answers[0]
    }

    public static TheoryData<string, string, string, string> Malformed() => new()
    {
        // file, record to break (index 1), how, then the field and the words the message must hold
        { "counterfact-sample.json", "requested_rewrite.prompt=The mother tongue of it is", "requested_rewrite.prompt", "has no {}" },
        { "counterfact-sample.json", "-requested_rewrite.target_new", "requested_rewrite.target_new.str", "missing" },
        { "counterfact-sample.json", "requested_rewrite.target_true.str=", "requested_rewrite.target_true.str", "is empty" },
        { "counterfact-sample.json", "-paraphrase_prompts", "paraphrase_prompts", "missing" },
        { "counterfact-sample.json", "-requested_rewrite.subject", "requested_rewrite.subject", "missing" },
        { "zsre-sample.json", "subject=Nobody Atall", "subject", "does not occur in src" },
        { "zsre-sample.json", "-alt", "alt", "missing" },
        { "zsre-sample.json", "alt= ", "alt", "is empty" },
        { "zsre-sample.json", "-loc_ans", "loc_ans", "missing" },
    };

    [Theory, MemberData(nameof(Malformed))]
    public void AMalformedRecordIsRefusedNamingTheFileTheRecordAndTheField(string sample, string change, string field, string problem)
    {
        var records = JsonNode.Parse(File.ReadAllText(Sample(sample)))!.AsArray();
        var record = records[1]!.AsObject();
        var (path, value) = change.StartsWith('-') ? (change[1..], null) : (change[..change.IndexOf('=')], change[(change.IndexOf('=') + 1)..]);
        var steps = path.Split('.');
        var parent = steps[..^1].Aggregate(record, (node, step) => node[step]!.AsObject());
        if (value is null) parent.Remove(steps[^1]); else parent[steps[^1]] = value;
        var file = Path.Combine(directory, sample);
        File.WriteAllText(file, records.ToJsonString());

        var error = Assert.Throws<InputException>(() => FactSet.Load(file));
        Assert.Equal(file, error.File);
        Assert.Equal(field, error.Field);
        Assert.Contains("record 1", error.Message);
        if (sample.StartsWith("counterfact")) Assert.Contains("(case_id 1)", error.Message);
        Assert.Contains(problem, error.Message);
        Assert.StartsWith($"{file}: field '{field}'", error.Message);
    }

    [Fact]
    public void AFileOfNeitherFormatOrNotJsonIsRefused()
    {
        var other = Path.Combine(directory, "other.json");
        File.WriteAllText(other, """[{"question": "Who?", "answer": "Me"}]""");
        Assert.Contains("neither a CounterFact record", Assert.Throws<InputException>(() => FactSet.Load(other)).Message);
        File.WriteAllText(other, "[\n{\"case_id\": 0,\n");
        var broken = Assert.Throws<InputException>(() => FactSet.Load(other));
        Assert.Contains("not valid JSON", broken.Message);
        Assert.NotNull(broken.Line);
    }

    /// <summary>A tiny random model whose vocabulary covers every text of the CounterFact sample.</summary>
    static (Gpt Model, ITextTokenizer Tokenizer) TinyModel(FactSet facts, int seed)
    {
        var texts = facts.Sentences().Concat(facts.Records.SelectMany(FactMetrics.Rows).SelectMany(r => new[] { r.Prompt, " " + r.Target }))
            .Concat(facts.Records.Select(r => $"{r.Subject} is a"));
        var tokenizer = CompactTokenizer.Build(texts);
        return (new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 64, DModel = 32, NLayers = 2, NHeads = 2 }, seed), tokenizer);
    }

    /// <summary>log p of each target token and the argmax before it, one unbatched forward of &lt;eot&gt; prompt " "target.</summary>
    static (double[] LogProbs, long[] Argmax) ByHand(Gpt model, ITextTokenizer tokenizer, string prompt, string target)
    {
        int[] p = [tokenizer.EndOfText, .. tokenizer.Encode(prompt)];
        var t = tokenizer.Encode(" " + target);
        using var _ = no_grad();
        var logits = model.forward(tensor(p.Concat(t).Select(x => (long)x).ToArray(), [1, p.Length + t.Length]))[0].log_softmax(-1);
        var logProbs = new double[t.Length];
        var argmax = new long[t.Length];
        for (int j = 0; j < t.Length; j++)
        {
            logProbs[j] = logits[p.Length + j - 1, t[j]].item<float>();
            argmax[j] = logits[p.Length + j - 1].argmax().item<long>();
        }
        return (logProbs, argmax);
    }

    [Fact]
    public void BothFamiliesMatchAPlainComputationWithTheModel()
    {
        var facts = FactSet.Load(Sample("counterfact-sample.json"));
        var (before, tokenizer) = TinyModel(facts, seed: 1);
        var (after, _) = TinyModel(facts, seed: 2); // stands in for an edited model: locality compares its argmaxes with before's
        using var b = before;
        using var a = after;
        var computed = new List<FactScores>();
        var byHand = new List<(double Efficacy, double Paraphrase, double Neighbourhood, double EfficacyMagnitude, double Reliability, double Generalization, double Locality)>();
        foreach (var r in facts.Records)
        {
            computed.Add(FactMetrics.Score(r, FactMetrics.Read(after, tokenizer, r), FactMetrics.NeighbourArgmax(r, FactMetrics.Read(before, tokenizer, r))));
            double P(string prompt, string target) => Math.Exp(ByHand(after, tokenizer, prompt, target).LogProbs.Sum());
            double Accuracy(string prompt, string target)
            {
                var (_, argmax) = ByHand(after, tokenizer, prompt, target);
                var tokens = tokenizer.Encode(" " + target);
                int hits = 0;
                for (int j = 0; j < tokens.Length; j++) if (argmax[j] == tokens[j]) hits++;
                return hits / (double)tokens.Length;
            }
            double Unchanged(NeighbourPrompt n)
            {
                var (_, was) = ByHand(before, tokenizer, n.Prompt, n.Truth);
                var (_, now) = ByHand(after, tokenizer, n.Prompt, n.Truth);
                int same = 0;
                for (int j = 0; j < was.Length; j++) if (was[j] == now[j]) same++;
                return same / (double)was.Length;
            }
            byHand.Add((
                P(r.Prompt, r.TargetNew) > P(r.Prompt, r.TargetTrue) ? 1 : 0,
                r.Paraphrases.Average(p => P(p, r.TargetNew) > P(p, r.TargetTrue) ? 1.0 : 0.0),
                r.Neighbours.Average(n => P(n.Prompt, n.Truth) > P(n.Prompt, r.TargetNew) ? 1.0 : 0.0),
                P(r.Prompt, r.TargetNew) - P(r.Prompt, r.TargetTrue),
                Accuracy(r.Prompt, r.TargetNew),
                r.Paraphrases.Average(p => Accuracy(p, r.TargetNew)),
                r.Neighbours.Average(Unchanged)));
        }
        for (int i = 0; i < computed.Count; i++)
        {
            var (s, acc, h) = (computed[i].Success, computed[i].Accuracy, byHand[i]);
            Assert.Equal(h.Efficacy, s.Efficacy);
            Assert.Equal(h.Paraphrase, s.ParaphraseSuccess);
            Assert.Equal(h.Neighbourhood, s.NeighborhoodSuccess);
            Assert.Equal(h.EfficacyMagnitude, s.EfficacyMagnitude, 1e-5);
            Assert.Equal(h.Reliability, acc.Reliability);
            Assert.Equal(h.Generalization, acc.Generalization);
            Assert.Equal(h.Locality, acc.Locality);
        }
        var mean = FactScores.Mean(computed);
        Assert.Equal(byHand.Average(h => h.Efficacy), mean.Success.Efficacy, 1e-12);
        Assert.Equal(byHand.Average(h => h.Locality), mean.Accuracy.Locality, 1e-12);
        // Two different random models disagree somewhere: locality below 1 shows the comparison is made.
        Assert.True(mean.Accuracy.Locality < 1, "a different model kept every neighbour argmax");
        // The same model before and after: locality 1.
        var r0 = facts.Records[0];
        Assert.Equal(1.0, FactMetrics.Score(r0, FactMetrics.Read(before, tokenizer, r0), FactMetrics.NeighbourArgmax(r0, FactMetrics.Read(before, tokenizer, r0))).Accuracy.Locality);
    }

    [Fact]
    public void SingleAndSequentialRunsLeaveTheModelAsItWasAndTheCurveCountsRecordsEdited()
    {
        var facts = FactSet.Load(Sample("counterfact-sample.json")).Take(4);
        var (model, tokenizer) = TinyModel(facts, seed: 3);
        using var _ = model;
        var weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var evaluation = new FactSetEvaluation(model, tokenizer, facts.Records, new EditorCorpus(facts.Sentences));
        var single = evaluation.Run("ft-l");
        var sequential = evaluation.RunSequential("ft-l", batch: 2);
        foreach (var (name, value) in model.state_dict()) Assert.True(value.allclose(weights[name], 0, 0), $"{name} changed");
        Assert.Equal(4, single.Cases.Count);
        Assert.Equal([2, 4], sequential.Curve.Select(p => p.Records));
        Assert.Equal(sequential.Curve[^1].Scores, sequential.Scores);
        Assert.Equal(1.0, evaluation.Run("none").Scores.Accuracy.Locality);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
