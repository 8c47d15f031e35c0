using System.CommandLine;
using Evolution.Cli;
using Evolution.Cli.Commands;
using Evolution.Core;

var root = new RootCommand("Evolution: a multi-agent knowledge-evolution simulator (small transformers, hooks, editing, retrieval).");
root.Add(RunCommand.Create());
root.Add(RunCommand.CreateResume());
root.Add(RunCommand.CreateReport());
root.Add(NodeCommand.Create());
root.Add(WorldCommand.Create());
root.Add(TrainCommand.Create());
root.Add(AskCommand.Create());
root.Add(TraceCommand.Create());
root.Add(EditCommand.Create());
root.Add(CompareUpdatesCommand.Create());
root.Add(BenchCommand.Create());

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (InputException e)
{
    // A user mistake: say what and where, no stack trace.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Evolution.Scenarios.RunFailedException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
