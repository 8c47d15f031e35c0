using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>A checkpoint file that is not a valid safetensors file; names the file and the offending tensor or field.</summary>
public sealed class CheckpointFormatException(string file, string? field, string problem)
    : InputException(file, field, problem);

/// <summary>One entry of a safetensors header; offsets are relative to the start of the data buffer.</summary>
public sealed record TensorEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>A validated header: entries in file order, the free-form metadata, and where the data buffer starts in the file.</summary>
public sealed record SafeTensorsHeader(IReadOnlyList<TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long BufferStart);

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
/// <c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>, then the
/// raw little-endian tensor bytes. No code is executed on load (unlike pickle). The reader checks
/// everything the reference implementation checks before touching the data, so a corrupt file is
/// reported as such rather than as a shape error (or garbage weights) much later.
/// </summary>
public static class SafeTensors
{
    /// <summary>Same bound as the reference implementation: a header above 100 MB is refused.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    const string MetadataKey = "__metadata__";

    static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Reads and validates the header only (cheap even for a multi-GB file).</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>
    /// Reads and validates the file, then every tensor (or those <paramref name="nameFilter"/> keeps) onto
    /// <paramref name="device"/> (CPU when null). Each tensor's bytes go straight from the file into the
    /// tensor's own storage: no intermediate managed copy, so a 500 MB checkpoint costs 500 MB.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null, Func<string, bool>? nameFilter = null)
    {
        using var stream = OpenRead(path);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var entry in header.Tensors)
            {
                if (nameFilter is not null && !nameFilter(entry.Name)) continue;
                var tensor = ReadTensor(stream, header, entry);
                if (device is not null && device.type != DeviceType.CPU)
                {
                    using var cpu = tensor;
                    tensor = cpu.to(device);
                }
                result[entry.Name] = tensor;
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Reads the tensors <paramref name="wanted"/> keeps one at a time on the CPU, in their stored dtype, hands each to
    /// <paramref name="consume"/> and frees it: a loader that copies into existing parameters then needs no more than
    /// the largest tensor on top of the model.
    /// </summary>
    public static void ReadEach(string path, Func<string, bool> wanted, Action<string, Tensor> consume)
    {
        using var stream = OpenRead(path);
        var header = ReadHeader(stream, path);
        foreach (var entry in header.Tensors.Where(e => wanted(e.Name)))
        {
            using var tensor = ReadTensor(stream, header, entry);
            consume(entry.Name, tensor);
        }
    }

    static Tensor ReadTensor(FileStream stream, SafeTensorsHeader header, TensorEntry entry)
    {
        var tensor = empty(entry.Shape, DTypes[entry.DType].Type);
        if (entry.End > entry.Begin)
        {
            stream.Position = header.BufferStart + entry.Begin;
            stream.ReadExactly(tensor.bytes); // a view of the (contiguous, CPU) tensor's memory
        }
        return tensor;
    }

    /// <summary>
    /// Writes tensors (sorted by name, contiguous little-endian CPU bytes) and optional metadata.
    /// The header is padded with spaces to a multiple of 8 bytes, as the reference writer does, so the
    /// data buffer is aligned for memory-mapping readers. Written to a temporary file in the same folder
    /// and renamed: never a half-written checkpoint. Tensors are copied out one at a time.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var sorted = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var headerBytes = EncodeHeader(sorted, metadata);
        AtomicFile.Write(path, temp =>
        {
            using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
            stream.Write(length);
            stream.Write(headerBytes);
            foreach (var (_, tensor) in sorted)
            {
                if (tensor.numel() == 0) continue;
                using var scope = NewDisposeScope(); // frees the detached/moved/contiguous copies, never the caller's tensor
                stream.Write(tensor.detach().cpu().contiguous().bytes);
            }
            stream.Flush(flushToDisk: true);
        });
    }

    static byte[] EncodeHeader(List<KeyValuePair<string, Tensor>> sorted, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            string? previous = null;
            foreach (var (name, tensor) in sorted)
            {
                if (name == MetadataKey) throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor");
                if (name == previous) throw new ArgumentException($"tensor name '{name}' appears twice");
                previous = name;
                var dtype = DTypes.FirstOrDefault(d => d.Value.Type == tensor.dtype).Key
                    ?? throw new ArgumentException($"tensor '{name}': dtype {tensor.dtype} cannot be stored in safetensors");
                long bytes = tensor.numel() * DTypes[dtype].Size;
                writer.WriteStartObject(name);
                writer.WriteString("dtype", dtype);
                writer.WriteStartArray("shape");
                foreach (var d in tensor.shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');
        return json.ToArray();
    }

    static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, null, "file not found");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
    }

    static SafeTensorsHeader ReadHeader(FileStream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw new CheckpointFormatException(path, null, $"file has {fileLength} bytes, too short for the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes) throw new CheckpointFormatException(path, "header", $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if ((long)headerLength > fileLength - 8) throw new CheckpointFormatException(path, "header", $"header length {headerLength} exceeds the file ({fileLength} bytes): truncated file?");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);

        JsonDocument document;
        try { document = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw new CheckpointFormatException(path, "header", $"header is not valid JSON: {e.Message}"); }
        using var _ = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, "header", "header must be a JSON object");

        long bufferStart = 8 + (long)headerLength, bufferLength = fileLength - bufferStart;
        var metadata = new Dictionary<string, string>();
        var entries = new List<TensorEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            // JSON parsers differ on repeated keys (first or last wins): refuse rather than guess.
            if (!seen.Add(property.Name)) throw new CheckpointFormatException(path, property.Name, "name appears twice in the header");
            if (property.Name == MetadataKey)
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, MetadataKey, "must be an object of strings");
                foreach (var m in property.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new CheckpointFormatException(path, $"{MetadataKey}.{m.Name}", "must be a string");
                continue;
            }
            entries.Add(ParseEntry(property, path));
        }

        // Tensors must tile the buffer exactly (as the reference requires): sorted by offset, each starts
        // where the previous ended, and the last ends at the end of the file. Zero-byte tensors may share an offset.
        long expectedBegin = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.End > bufferLength)
                throw new CheckpointFormatException(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] lie outside the {bufferLength}-byte data buffer");
            if (entry.Begin < expectedBegin)
                throw new CheckpointFormatException(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] overlap another tensor (which ends at {expectedBegin})");
            if (entry.Begin > expectedBegin)
                throw new CheckpointFormatException(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] leave bytes {expectedBegin}..{entry.Begin} of the data buffer uncovered");
            expectedBegin = entry.End;
        }
        if (expectedBegin != bufferLength)
            throw new CheckpointFormatException(path, "header", $"tensors cover {expectedBegin} of the {bufferLength} data bytes (trailing bytes not covered by any tensor)");
        return new SafeTensorsHeader(entries, metadata, bufferStart);
    }

    static TensorEntry ParseEntry(JsonProperty property, string path)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, name, "entry must be an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(path, $"{name}.dtype", "missing or not a string");
        var dtype = dtypeElement.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info))
            throw new CheckpointFormatException(path, $"{name}.dtype", $"unsupported dtype '{dtype}' (supported: {string.Join(", ", DTypes.Keys)})");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException(path, $"{name}.shape", "missing or not an array");
        var shape = shapeElement.EnumerateArray().Select(d =>
            d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0 ? n
                : throw new CheckpointFormatException(path, $"{name}.shape", $"dimension {d} is not a non-negative integer")).ToArray();
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new CheckpointFormatException(path, $"{name}.data_offsets", "must be [begin, end]");
        long Offset(int i) => offsets[i].ValueKind == JsonValueKind.Number && offsets[i].TryGetInt64(out var o) && o >= 0 ? o
            : throw new CheckpointFormatException(path, $"{name}.data_offsets", $"offset {offsets[i]} is not a non-negative integer");
        long begin = Offset(0), end = Offset(1);
        if (end < begin) throw new CheckpointFormatException(path, $"{name}.data_offsets", $"end {end} is before begin {begin}");
        long bytes;
        try
        {
            long elements = 1;
            foreach (var d in shape) elements = checked(elements * d);
            bytes = checked(elements * info.Size);
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path, $"{name}.shape", $"shape [{string.Join(",", shape)}] overflows a 64-bit byte count");
        }
        if (bytes != end - begin)
            throw new CheckpointFormatException(path, name, $"shape [{string.Join(",", shape)}] × {dtype} ({info.Size} bytes) = {bytes} bytes, but data_offsets span {end - begin}");
        return new TensorEntry(name, dtype, shape, begin, end);
    }
}
