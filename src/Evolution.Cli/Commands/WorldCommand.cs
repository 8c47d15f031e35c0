using System.CommandLine;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution world</c>: generate a world and write it as JSONL.</summary>
public static class WorldCommand
{
    public static Command Create()
    {
        var spec = new Argument<string>("spec") { Description = "world spec (scenarios/worlds/*.yaml)" };
        var output = new Option<string>("--out") { Description = "output folder", Required = true };
        var agent = new Option<string?>("--agent") { Description = $"agent profile whose data mix shapes the corpus (default: {ShippedFiles.DefaultAgent}, built in)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var command = new Command("world", "Generate a world: entities, facts per epoch, changes, corpus and eval sets as JSONL.") { spec, output, agent, json };
        command.SetAction(parse => Run(parse.GetRequiredValue(spec), parse.GetRequiredValue(output), parse.GetValue(agent), parse.GetValue(json)));
        return command;
    }

    static int Run(string specPath, string outDir, string? profilePath, bool json)
    {
        var spec = WorldSpec.Load(specPath);
        var profile = AgentProfile.LoadOrDefault(profilePath).Profile;
        var world = World.Generate(spec);
        profile.Data.Validate(world, profile.Source);
        var counts = WorldExport.Write(world, profile.Data, profile.Training.Seed, outDir);
        var summary = new
        {
            world = spec.Name,
            @out = Path.GetFullPath(outDir),
            entities = world.Entities.Count,
            relations = world.Relations.Count,
            facts_epoch0 = world.FactsAt(0).Count,
            changes = world.Changes.Count,
            files = counts,
        };
        if (json) Output.Json(summary);
        else
        {
            var table = new Table().AddColumns("file", "rows");
            foreach (var (file, rows) in counts) table.AddRow(file, rows.ToString());
            Output.Status.Write(table);
            Output.Status.MarkupLine($"world [bold]{Markup.Escape(spec.Name)}[/]: {summary.entities} entities, {summary.relations} relations, {summary.facts_epoch0} facts at epoch 0, {summary.changes} changes → {Markup.Escape(summary.@out)}");
        }
        return 0;
    }
}
