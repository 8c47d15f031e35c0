using System.Buffers.Binary;

namespace Evolution.Mechanisms.Tests;

public class PlotTests
{
    static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Fact]
    public void TracePicturesAreWrittenAsPngsOfTheRequestedSize()
    {
        var dir = Directory.CreateTempSubdirectory("plots").FullName;
        var trace = new CausalTrace(TraceKind.Mlp, 0.9, 0.1, new double[,] { { 0.1, 0.2, 0.8 }, { 0.1, 0.3, 0.5 } }, 1, 2);
        TracePlots.CausalHeatmap(trace, ["<eot>", " Val", " is"], Path.Combine(dir, "heat.png"), 300, 200);
        TracePlots.CategoryHeatmap(TraceAggregation.MeanIndirectEffect([trace]), TraceKind.Mlp, 1, Path.Combine(dir, "mean.png"), 320, 240);
        TracePlots.LogitLensCurve(["embed", "blocks.0.hook_resid_post"], [0.01, 0.7], "lens", Path.Combine(dir, "lens.png"), 280, 180);
        Assert.Equal((300, 200), PngSize(Path.Combine(dir, "heat.png")));
        Assert.Equal((320, 240), PngSize(Path.Combine(dir, "mean.png")));
        Assert.Equal((280, 180), PngSize(Path.Combine(dir, "lens.png")));
        Assert.Equal(3, Directory.GetFiles(dir).Length); // no temporary files left behind
    }
}
