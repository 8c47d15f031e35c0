using Akka.Actor;
using Akka.Event;

namespace Evolution.Agents.Cluster;

/// <summary>
/// Akka's log on stderr: a cluster node's warnings (a node leaving, an association lost) are progress, and stdout stays clean for
/// <c>--json</c> (Akka's own default logger writes to stdout).
/// </summary>
public sealed class StderrLogger : ReceiveActor
{
    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Console.Error.WriteLine(e.ToString()));
    }
}
