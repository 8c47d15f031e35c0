using PuppeteerSharp;

namespace Evolution.Scenarios.Tests;

/// <summary>A run's report.html as a real browser shows it (Debian's headless chromium): image widths, table body rows, text, errors.</summary>
public sealed record HeadlessReport(int[] ImageWidths, int[] TableRows, string Text, IReadOnlyList<string> Errors)
{
    const string Chromium = "/usr/bin/chromium";

    public static async Task<HeadlessReport> Open(string runDirectory)
    {
        Assert.True(File.Exists(Chromium), "Debian's chromium is needed for this test; .ci/run installs it (apt-get install chromium)");
        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });
        await using var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, e) => { if (e.Message.Type == ConsoleType.Error) errors.Add(e.Message.Text); };
        page.PageError += (_, e) => errors.Add(e.Message);
        page.RequestFailed += (_, e) => errors.Add($"request failed: {e.Request.Url}");
        await page.GoToAsync(new Uri(Path.Combine(runDirectory, RunResults.ReportFile)).AbsoluteUri, WaitUntilNavigation.Load);
        return new HeadlessReport(
            await page.EvaluateExpressionAsync<int[]>("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"),
            await page.EvaluateExpressionAsync<int[]>("Array.from(document.querySelectorAll('table')).map(t => t.tBodies[0].rows.length)"),
            await page.EvaluateExpressionAsync<string>("document.body.innerText"),
            errors);
    }
}
