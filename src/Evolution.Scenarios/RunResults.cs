using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Evolution.Agents.Recording;
using Evolution.Core;

namespace Evolution.Scenarios;

/// <summary>Writes a run folder's results from its database: summary.json, metrics.csv, plots/*.png and report.html, each atomically.</summary>
public static class RunResults
{
    public const string SummaryFile = "summary.json", MetricsFile = "metrics.csv", ReportFile = "report.html", PlotsDirectory = "plots";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DictionaryKeyPolicy = null,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static RunResult Write(string directory, IProgress<string>? progress = null)
    {
        var dbPath = Path.Combine(directory, RunDatabase.FileName);
        if (!File.Exists(dbPath)) throw new InputException(directory, null, $"no {RunDatabase.FileName} here: not a run folder");
        using var db = new RunDatabase(dbPath);
        var info = db.Info ?? throw new InputException(dbPath, "run", "the run database has no run record");
        var scenario = Scenario.Parse(info.ScenarioText, info.ScenarioPath);
        var summary = RunMetrics.Compute(db, scenario);
        var files = new List<string>();

        AtomicFile.WriteAllText(Path.Combine(directory, SummaryFile), JsonSerializer.Serialize(summary, Json));
        files.Add(SummaryFile);
        AtomicFile.WriteAllText(Path.Combine(directory, MetricsFile), Csv(summary, db));
        files.Add(MetricsFile);
        var plots = RunPlots.Draw(summary, Path.Combine(directory, PlotsDirectory));
        files.AddRange(plots.Select(p => $"{PlotsDirectory}/{p.File}"));
        AtomicFile.WriteAllText(Path.Combine(directory, ReportFile), RunReport.Html(summary, info, Costs(db), plots.Select(p => (p.Title, File.ReadAllBytes(Path.Combine(directory, PlotsDirectory, p.File)))).ToList()));
        files.Add(ReportFile);
        progress?.Report($"results written to {directory}");
        return new RunResult(directory, summary, files);
    }

    /// <summary>Compute cost: seconds answering and updating per agent, step and round (timings vary run to run, so they stay out of summary.json).</summary>
    public static IReadOnlyList<(int Step, int Round, string Agent, int Answers, double AnswerSeconds, double UpdateSeconds)> Costs(RunDatabase db)
    {
        var answers = db.Answers.FindAll().ToLookup(a => (a.Step, a.Round, a.Agent));
        var updates = db.Updates.FindAll().ToLookup(u => (u.Step, Round: 0, u.Agent));
        return answers.Select(g => g.Key).Concat(updates.Select(g => g.Key)).Distinct()
            .OrderBy(x => x.Step).ThenBy(x => x.Round).ThenBy(x => x.Agent, StringComparer.Ordinal)
            .Select(x => (x.Step, x.Round, x.Agent, answers[x].Count(), answers[x].Sum(a => a.Seconds), updates[x].Sum(u => u.Seconds)))
            .ToList();
    }

    /// <summary>Long format: one metric value per row (step, protocol, condition, round, agent, metric, value).</summary>
    static string Csv(RunSummary summary, RunDatabase db)
    {
        var csv = new StringBuilder("step,protocol,condition,round,agent,metric,value\n");
        void Row(int? step, string protocol, string condition, int? round, string agent, string metric, double? value)
        {
            if (value is null) return;
            csv.Append(CultureInfo.InvariantCulture, $"{step?.ToString(CultureInfo.InvariantCulture) ?? ""},{protocol},{condition},{round?.ToString(CultureInfo.InvariantCulture) ?? ""},{agent},{metric},{value.Value.ToString("R", CultureInfo.InvariantCulture)}\n");
        }
        foreach (var s in summary.Steps)
        {
            foreach (var (agent, accuracy) in s.AccuracyByAgent ?? new Dictionary<string, double>()) Row(s.Step, s.Protocol, "", 0, agent, "accuracy", accuracy);
            Row(s.Step, s.Protocol, "", 0, "", "majority_accuracy", s.MajorityAccuracy);
            foreach (var d in s.Debates ?? [])
            {
                foreach (var r in d.Rounds)
                {
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "accuracy", r.Accuracy);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "majority_accuracy", r.MajorityAccuracy);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "answer_entropy", r.AnswerEntropy);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "distinct_answers", r.DistinctAnswers);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "conformity_rate", r.ConformityRate);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "new_answer_share", r.NewAnswerShare);
                    Row(s.Step, s.Protocol, d.Condition, r.Round, "", "flips", r.Flips);
                }
                Row(s.Step, s.Protocol, d.Condition, null, "", "consensus_share", d.ConsensusShare);
                Row(s.Step, s.Protocol, d.Condition, null, "", "wrong_consensus_rate", d.WrongConsensusRate);
                Row(s.Step, s.Protocol, d.Condition, null, "", "oracle_gap", d.OracleGap);
            }
            foreach (var c in (s.ConformityByAgent ?? []).Concat(s.ConformityByTraits ?? []))
            {
                foreach (var (k, v) in c.WrongMajorityAdoption) Row(s.Step, s.Protocol, $"wrong={k}", 0, c.Group, "wrong_majority_adoption", v);
                foreach (var (k, v) in c.AllyAdoption ?? new Dictionary<int, double>()) Row(s.Step, s.Protocol, $"ally={k}", 0, c.Group, "wrong_majority_adoption", v);
            }
            foreach (var l in s.Convergence ?? [])
            {
                Row(s.Step, s.Protocol, l.Hook, null, "", "linear_cka", l.LinearCka);
                Row(s.Step, s.Protocol, l.Hook, null, "", "mutual_knn", l.MutualKnn);
            }
            foreach (var p in s.PeerPressure ?? [])
            {
                Row(s.Step, s.Protocol, "", null, p.Agent, "peer_pressure_answers", p.Answers);
                Row(s.Step, s.Protocol, "", null, p.Agent, "peer_pressure_conform_share", p.ConformShare);
                Row(s.Step, s.Protocol, "", null, p.Agent, "peer_pressure_logit_difference_shift", p.MeanLogitDifferenceShift);
                Row(s.Step, s.Protocol, "", null, p.Agent, "peer_pressure_memorization_ratio", p.MeanMemorizationRatio);
                Row(s.Step, s.Protocol, "", null, p.Agent, "peer_pressure_top_reader_attention", p.MeanTopReaderAttention);
            }
            foreach (var c in s.CircuitSimilarity ?? [])
            {
                Row(s.Step, s.Protocol, c.Fact, null, "", "circuit_edge_jaccard", c.EdgeJaccard);
                Row(s.Step, s.Protocol, c.Fact, null, "", "circuit_weighted_overlap", c.WeightedOverlap);
            }
        }
        // Per epoch (quizzes pooled, no single step): the lifelong view of each agent.
        foreach (var e in summary.Epochs ?? [])
        {
            Row(null, "epoch", $"epoch={e.Epoch}", null, e.Agent, "current_accuracy", e.CurrentAccuracy);
            Row(null, "epoch", $"epoch={e.Epoch}", null, e.Agent, "stale_share", e.StaleShare);
            Row(null, "epoch", $"epoch={e.Epoch}", null, e.Agent, "unchanged_accuracy", e.UnchangedAccuracy);
        }
        foreach (var (step, round, agent, answers, answerSeconds, updateSeconds) in Costs(db))
        {
            Row(step, "cost", "", round, agent, "answer_seconds", answers == 0 ? null : answerSeconds);
            Row(step, "cost", "", round, agent, "seconds_per_answer", answers == 0 ? null : answerSeconds / answers);
            Row(step, "cost", "", round, agent, "update_seconds", updateSeconds);
        }
        // What the per-answer mechanism record of answers under peer pressure costs, against answering those questions.
        foreach (var g in db.Answers.FindAll().Where(a => a.PeerTrace is not null).GroupBy(a => a.Step).OrderBy(g => g.Key))
        {
            Row(g.Key, "cost", "", null, "", "peer_trace_seconds_per_answer", g.Average(a => a.PeerTrace!.Seconds));
            Row(g.Key, "cost", "", null, "", "seconds_per_traced_answer", g.Average(a => a.Seconds));
        }
        return csv.ToString();
    }
}
