using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Evolution.Mechanisms.Circuits;

/// <summary>A circuit as Graphviz DOT text (nodes ranked by layer; edge width ∝ |score|, blue positive, red negative).</summary>
public static class CircuitDot
{
    public static string Write(Circuit circuit, string title = "circuit")
    {
        var g = circuit.Graph;
        var edges = circuit.Edges.ToList();
        double largest = Math.Max(1e-12, edges.Select(e => Math.Abs(circuit.Scores[e.Index])).DefaultIfEmpty(0).Max());
        var text = new StringBuilder();
        text.AppendLine($"digraph \"{title.Replace("\"", "'")}\" {{");
        text.AppendLine("  rankdir=BT; node [shape=box, style=filled, fontname=Helvetica, fontsize=10];");
        foreach (var node in circuit.Nodes().Order(StringComparer.Ordinal))
        {
            string colour = node == "input" ? "#dddddd" : node == "logits" ? "#ffe08a" : node.StartsWith('m') ? "#c6e5c6" : "#c9daf8";
            text.AppendLine($"  \"{node}\" [fillcolor=\"{colour}\"];");
        }
        foreach (var e in edges)
        {
            double s = circuit.Scores[e.Index];
            string label = g.DownstreamName(e.Downstream) is var d && d.EndsWith('>') ? d[^2].ToString() : "";
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"  \"{g.UpstreamName(e.Upstream)}\" -> \"{g.DownstreamNode(e.Downstream)}\" [label=\"{label}\", color=\"{(s >= 0 ? "#3366cc" : "#cc3333")}\", penwidth={0.5 + 4 * Math.Abs(s) / largest:F2}, tooltip=\"{s:G4}\"];"));
        }
        text.AppendLine("}");
        return text.ToString();
    }

    /// <summary>Renders DOT to SVG with a `dot` binary on PATH; false when there is none (SVG is optional).</summary>
    public static bool TryRenderSvg(string dotFile, string svgFile)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("dot", ["-Tsvg", dotFile, "-o", svgFile]) { RedirectStandardError = true, UseShellExecute = false });
            if (process is null) return false;
            process.WaitForExit(30_000);
            return process.HasExited && process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no dot binary
        }
    }
}
