using System.CommandLine;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Evaluation;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Spectre.Console;
using static TorchSharp.torch;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution ask</c>: what a model predicts after a prompt.</summary>
public static class AskCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "agent checkpoint folder, or a Hugging Face folder (model_type gpt2, llama, qwen2, mistral)", Required = true };
        var prompt = new Argument<string>("prompt") { Description = "the text the model continues" };
        var top = new Option<int>("--top") { Description = "how many next tokens to list", DefaultValueFactory = _ => 10 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "greedy continuation length", DefaultValueFactory = _ => 12 };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("ask", "The K most likely next tokens after a prompt, and the model's ranked answer.") { prompt, model, top, maxTokens, json, device };
        var start = new PromptStartOptions();
        start.AddTo(command);
        command.SetAction(parse => Run(parse.GetRequiredValue(model), parse.GetRequiredValue(prompt), parse.GetValue(top),
            parse.GetValue(maxTokens), parse.GetValue(json), parse.GetValue(device)!, start.LeftOut(parse)));
        return command;
    }

    static int Run(string modelDir, string prompt, int top, int maxTokens, bool json, string deviceName, bool withoutStart)
    {
        if (top < 1) throw new InputException(null, "--top", $"must be at least 1, got {top}");
        var (model, loaded) = Checkpoint.Load(modelDir, Devices.Parse(deviceName));
        var tokenizer = StartToken.Apply(loaded, withoutStart);
        var promptIds = loaded is CompactTokenizer compact ? compact.Encode(prompt, allowUnknown: true) : tokenizer.Encode(prompt);
        if (loaded is CompactTokenizer c && promptIds.Contains(c.Unknown))
            Output.Status.MarkupLine("[yellow]warning:[/] the prompt has text outside this model's vocabulary; it was encoded as <|unk|>");

        long[] input = [.. tokenizer.PromptStart.Select(i => (long)i), .. promptIds.Select(i => (long)i)];
        if (input.Length == 0) throw new InputException(null, "--no-bos", "with an empty prompt leaves nothing to read the next token after");
        if (input.Length > model.Config.ContextLength) input = input[^model.Config.ContextLength..];
        List<NextToken> next;
        using (no_grad())
        {
            var logProbs = model.forward(tensor(input, [1, input.Length], device: model.Unembedding.device))[0, -1].log_softmax(-1).cpu();
            var (values, indices) = logProbs.topk(Math.Min(top, model.Config.VocabSize));
            next = Enumerable.Range(0, (int)values.shape[0])
                .Select(i => new NextToken((int)indices[i].item<long>(), tokenizer.Decode([(int)indices[i].item<long>()]), values[i].item<float>()))
                .ToList();
        }
        var ranker = new CandidateRanker(model, tokenizer);
        var answer = ranker.Generate(prompt, maxTokens, stopAt: null);
        var ranked = loaded is CompactTokenizer vocabulary && !vocabulary.Covers(prompt) ? null : RankWorldEntities(modelDir, ranker, prompt, top);

        if (json)
        {
            Output.Json(new { prompt, input_ids = input, next_tokens = next, answer, ranked_answers = ranked }); // input_ids: what the model read, its start token first
            return 0;
        }
        var table = new Table().AddColumns("rank", "id", "token", "log p");
        for (int i = 0; i < next.Count; i++)
            table.AddRow((i + 1).ToString(), next[i].Id.ToString(), Markup.Escape($"\"{next[i].Text}\""), next[i].LogProb.ToString("F3"));
        Output.Status.Write(table);
        if (ranked is not null)
        {
            var answers = new Table().AddColumns("rank", "entity", "type", "log p(answer | prompt)");
            for (int i = 0; i < ranked.Count; i++)
                answers.AddRow((i + 1).ToString(), Markup.Escape(ranked[i].Entity), ranked[i].Type, ranked[i].LogProb.ToString("F3"));
            Output.Status.Write(answers);
        }
        Console.Out.WriteLine(answer);
        return 0;
    }

    /// <summary>
    /// For an agent checkpoint (which keeps its world spec), every entity of the world ranked as the
    /// answer by sequence log-probability; null for other models (no closed answer set).
    /// </summary>
    static List<RankedEntity>? RankWorldEntities(string modelDir, CandidateRanker ranker, string prompt, int top)
    {
        var worldFile = Path.Combine(modelDir, AgentTraining.WorldFile);
        if (!File.Exists(worldFile)) return null;
        var world = World.Generate(WorldSpec.Load(worldFile));
        var candidates = world.Entities.Select(e => " " + e.Name).ToList();
        var scores = ranker.Score(prompt, candidates);
        return Enumerable.Range(0, candidates.Count).OrderByDescending(i => scores[i]).Take(top)
            .Select(i => new RankedEntity(world.Entities[i].Name, world.Entities[i].Type, scores[i])).ToList();
    }

    sealed record RankedEntity(string Entity, string Type, double LogProb);

    sealed record NextToken(int Id, string Text, double LogProb);
}
