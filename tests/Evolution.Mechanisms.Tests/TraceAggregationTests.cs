namespace Evolution.Mechanisms.Tests;

public class TraceAggregationTests
{
    [Fact]
    public void PositionsFallIntoRomesTokenCategories()
    {
        // <eot> The capital of [Val dor ia] is ... last : subject = positions 4..6
        int start = 4, end = 7, last = 10;
        var categories = Enumerable.Range(0, last + 1).Select(t => TraceAggregation.CategoryOf(t, start, end, last)).ToArray();
        Assert.Equal(new[] { -1, -1, -1, -1, 0, 1, 2, 3, 4, 4, 5 }, categories);
    }

    [Fact]
    public void MeanIndirectEffectAveragesPerCategoryAcrossPromptsOfDifferentLength()
    {
        var a = new CausalTrace(TraceKind.Mlp, 1, 0.2, new double[,] { { 0.2, 0.6, 0.2, 0.9 } }, 1, 2);       // subject = position 1
        var b = new CausalTrace(TraceKind.Mlp, 1, 0.4, new double[,] { { 0.4, 0.4, 0.8, 0.4, 0.5 } }, 1, 3); // subject = 1..2
        var mean = TraceAggregation.MeanIndirectEffect([a, b]);
        // a's one-token subject counts as the last subject token (as in ROME), so "first subject" is b's alone
        Assert.Equal(0.4 - 0.4, mean[0, 0], 9);
        Assert.Equal(((0.6 - 0.2) + (0.8 - 0.4)) / 2, mean[0, 2], 9); // last subject token
        Assert.Equal(((0.2 - 0.2) + (0.4 - 0.4)) / 2, mean[0, 3], 9); // first token after the subject
        Assert.Equal(((0.9 - 0.2) + (0.5 - 0.4)) / 2, mean[0, 5], 9); // last token
        Assert.True(double.IsNaN(mean[0, 1]), "neither prompt has a middle subject token");
        Assert.True(double.IsNaN(mean[0, 4]), "neither prompt has tokens between the first subsequent and the last");
    }
}
