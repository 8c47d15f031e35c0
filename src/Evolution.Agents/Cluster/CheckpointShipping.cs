using System.Security.Cryptography;
using Akka.Actor;
using Akka.Cluster;

namespace Evolution.Agents.Cluster;

/// <summary>Asks the coordinator which files make up a cached checkpoint (by its cache directory's name).</summary>
public sealed record ListCheckpoint(string Name);

/// <summary>The checkpoint's files with their lengths and SHA-256 (empty: the coordinator has no complete checkpoint of that name).</summary>
public sealed record CheckpointListed(string Name, IReadOnlyList<CheckpointFile> Files);

public sealed record CheckpointFile(string Name, long Length, string Sha256);

/// <summary>Asks for up to <paramref name="Count"/> bytes of one file of a checkpoint from <paramref name="Offset"/>.</summary>
public sealed record ReadCheckpoint(string Name, string File, long Offset, int Count);

public sealed record CheckpointRead(byte[] Bytes);

/// <summary>
/// Checkpoints shipped from the coordinator to a worker that lacks them, so that every node answers with the coordinator's
/// weights (a worker training a checkpoint itself would get other weights on another machine: float order differs). The
/// coordinator serves its cache (<see cref="Server"/>, at <c>/user/checkpoints</c>); a worker fetches a checkpoint directory in
/// chunks, checks each file's SHA-256 against the coordinator's list, and moves the directory into its cache only when all
/// of it arrived intact (<see cref="Fetch"/>).
/// </summary>
public static class CheckpointShipping
{
    /// <summary>Bytes per chunk: well under the 32 MB frame, few round trips for the agents' few-MB checkpoints.</summary>
    public const int ChunkBytes = 4 << 20;

    public const string ServerName = "checkpoints";

    public static Props Server(string cacheRoot) => Props.Create(() => new CheckpointServer(cacheRoot));

    /// <summary>
    /// Fetches <paramref name="directory"/> (a checkpoint directory of this node's cache) from the cluster's coordinator, waiting up
    /// to <paramref name="timeout"/> for one to join. True when the directory is now complete and verified; false when the
    /// coordinator has no such checkpoint (the caller trains it) or none joined in time.
    /// </summary>
    public static bool Fetch(ActorSystem system, string directory, TimeSpan timeout, IProgress<string>? progress = null)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var deadline = DateTime.UtcNow + timeout;
        Member? coordinator;
        while ((coordinator = cluster.State.Members.FirstOrDefault(m => m.Status == MemberStatus.Up && m.HasRole(ClusterNode.CoordinatorRole))) is null)
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(200);
        }
        var server = system.ActorSelection($"{coordinator.Address}/user/{ServerName}");
        var ask = TimeSpan.FromMinutes(1);
        var listed = server.Ask<CheckpointListed>(new ListCheckpoint(name), ask).GetAwaiter().GetResult();
        if (listed.Files.Count == 0) return false;
        var part = $"{directory}.part-{Guid.NewGuid():N}";
        Directory.CreateDirectory(part);
        try
        {
            foreach (var file in listed.Files)
            {
                using (var output = File.Create(Path.Combine(part, file.Name)))
                    for (long offset = 0; offset < file.Length;)
                    {
                        var chunk = server.Ask<CheckpointRead>(new ReadCheckpoint(name, file.Name, offset, ChunkBytes), ask).GetAwaiter().GetResult().Bytes;
                        if (chunk.Length == 0) throw new IOException($"checkpoint {name}: {file.Name} ended at {offset} of {file.Length} bytes on the coordinator");
                        output.Write(chunk);
                        offset += chunk.Length;
                    }
                var sha = Sha256Of(Path.Combine(part, file.Name));
                if (sha != file.Sha256) throw new IOException($"checkpoint {name}: {file.Name} arrived with SHA-256 {sha}, the coordinator's is {file.Sha256}");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(directory)!);
            try { Directory.Move(part, directory); }
            catch (IOException) when (Directory.Exists(directory)) { Directory.Delete(part, recursive: true); } // another process put it there first
            progress?.Report($"checkpoint {name}: fetched from the coordinator at {coordinator.Address} ({listed.Files.Count} files, {listed.Files.Sum(f => f.Length):N0} bytes, SHA-256 verified)");
            return true;
        }
        catch
        {
            if (Directory.Exists(part)) Directory.Delete(part, recursive: true);
            throw;
        }
    }

    static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Serves the complete checkpoints of a cache, read-only; names that leave the cache are refused.</summary>
    sealed class CheckpointServer : ReceiveActor
    {
        public CheckpointServer(string cacheRoot)
        {
            var root = Path.GetFullPath(Path.Combine(cacheRoot, "checkpoints"));
            string? DirectoryOf(string name)
            {
                var path = Path.GetFullPath(Path.Combine(root, name));
                bool inside = Path.GetDirectoryName(path) == root && name.Length > 0 && !name.Contains(Path.DirectorySeparatorChar) && !name.Contains("..");
                return inside && File.Exists(Path.Combine(path, Core.Agents.AgentTraining.ReportFile)) ? path : null;
            }
            Receive<ListCheckpoint>(m =>
            {
                try
                {
                    var directory = DirectoryOf(m.Name);
                    Sender.Tell(new CheckpointListed(m.Name, directory is null ? [] : [.. Directory.GetFiles(directory).Order(StringComparer.Ordinal)
                        .Select(f => new CheckpointFile(Path.GetFileName(f), new FileInfo(f).Length, Sha256Of(f)))]));
                }
                catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
            });
            Receive<ReadCheckpoint>(m =>
            {
                try
                {
                    var directory = DirectoryOf(m.Name) ?? throw new FileNotFoundException($"no checkpoint {m.Name} in this cache");
                    if (m.File.Contains(Path.DirectorySeparatorChar) || m.File.Contains("..")) throw new ArgumentException($"'{m.File}' is no file of a checkpoint");
                    using var stream = File.OpenRead(Path.Combine(directory, m.File));
                    stream.Seek(m.Offset, SeekOrigin.Begin);
                    var buffer = new byte[Math.Min(Math.Max(0, m.Count), ChunkBytes)];
                    int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                    Sender.Tell(new CheckpointRead(buffer[..read]));
                }
                catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
            });
        }
    }
}
