using System.Text.Json;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// The weight files of a Hugging Face folder: <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (<c>{"weight_map": {tensor: file}}</c>). Only headers are read up front, so names,
/// shapes and dtypes are checked before any data is touched; <see cref="ReadEach"/> then streams one tensor at a time in
/// its stored dtype, so a loader can widen it into the model's parameter without holding a second copy of the model.
/// </summary>
public sealed class HfWeights
{
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Every tensor by name: the file holding it and its header entry.</summary>
    public IReadOnlyDictionary<string, (string File, TensorEntry Entry)> Tensors { get; }

    /// <summary>The file that lists the tensors (model.safetensors or the index), for errors about a tensor that is in none.</summary>
    public string Source { get; }

    HfWeights(Dictionary<string, (string, TensorEntry)> tensors, string source) => (Tensors, Source) = (tensors, source);

    public static HfWeights Open(string directory)
    {
        var single = Path.Combine(directory, Checkpoint.WeightsFile);
        var index = Path.Combine(directory, IndexFile);
        var tensors = new Dictionary<string, (string, TensorEntry)>(StringComparer.Ordinal);
        if (File.Exists(single))
        {
            foreach (var entry in SafeTensors.ReadHeader(single).Tensors) tensors[entry.Name] = (single, entry);
            return new HfWeights(tensors, single);
        }
        if (!File.Exists(index)) throw new InputException(single, null, $"not found (nor a sharded {IndexFile})");

        var map = ReadWeightMap(index);
        foreach (var file in map.Values.Distinct())
        {
            var shard = Path.Combine(directory, file);
            if (!File.Exists(shard)) throw new InputException(index, $"weight_map", $"names shard '{file}', which is not in the folder");
            foreach (var entry in SafeTensors.ReadHeader(shard).Tensors)
            {
                if (!map.TryGetValue(entry.Name, out var listed) || listed != file)
                    throw new CheckpointFormatException(shard, entry.Name, listed is null ? $"not listed in {IndexFile}" : $"{IndexFile} places it in '{listed}'");
                if (!tensors.TryAdd(entry.Name, (shard, entry)))
                    throw new CheckpointFormatException(shard, entry.Name, "present in two shards");
            }
        }
        var absent = map.Keys.FirstOrDefault(name => !tensors.ContainsKey(name));
        if (absent is not null) throw new CheckpointFormatException(Path.Combine(directory, map[absent]), absent, $"listed in {IndexFile} but not in the shard");
        return new HfWeights(tensors, index);
    }

    /// <summary>Reads the tensors <paramref name="wanted"/> keeps, file by file, each handed to <paramref name="consume"/> and freed after.</summary>
    public void ReadEach(Func<string, bool> wanted, Action<string, Tensor> consume)
    {
        foreach (var file in Tensors.Values.Select(t => t.File).Distinct())
            SafeTensors.ReadEach(file, wanted, consume);
    }

    static Dictionary<string, string> ReadWeightMap(string index)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(index));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InputException(index, "weight_map", "missing or not an object of tensor name → shard file");
            return map.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() is { Length: > 0 } file && Path.GetFileName(file) == file
                    ? file : throw new InputException(index, $"weight_map.{p.Name}", $"must be a shard file name in the folder, got {p.Value}"), StringComparer.Ordinal);
        }
        catch (JsonException e) { throw new InputException(index, null, $"invalid JSON: {e.Message}", (int?)e.LineNumber + 1); }
    }
}
