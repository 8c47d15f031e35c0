using Evolution.Agents.Population;

namespace Evolution.Scenarios.Population;

/// <summary>A spread's rounds as the log <see cref="SpreadMetrics"/> reads: statements by name, and who each agent read.</summary>
public static class SpreadLogs
{
    /// <summary>
    /// The spread's summary: every agent's stated object per fact and step, with the neighbours it actually read as its
    /// exposures (so cascade parents and the herd curve count only statements an agent saw).
    /// </summary>
    public static SpreadSummary Summarise(SpreadPlan plan, IReadOnlyList<SpreadRound> rounds, IReadOnlyList<SpreadGrouping>? groupings = null)
    {
        var settings = plan.Settings;
        var names = settings.Facts.Select(f => f.Fact.ToString()).ToList();
        var statements = new List<SpreadStatement>();
        var exposures = new Dictionary<(int Step, int Agent, string Fact), IReadOnlyList<int>>();
        foreach (var round in rounds)
            for (int f = 0; f < round.Facts.Count; f++)
            {
                var candidates = plan.Questions[f].Candidates;
                for (int agent = 0; agent < round.Facts[f].Stated.Length; agent++)
                {
                    statements.Add(new SpreadStatement(round.Step, agent, names[f], candidates[round.Facts[f].Stated[agent]].Trim()));
                    if (round.Step > 0) exposures[(round.Step, agent, names[f])] = plan.Read(round.Step, agent, f);
                }
            }
        var facts = settings.Facts.Select((f, i) => new SpreadFact(names[i], f.True.Trim(), f.Rumour?.Trim(), f.Old.Trim())).ToList();
        return SpreadMetrics.Compute(statements, facts, plan.Network, groupings, exposures);
    }
}
