using Microsoft.Playwright;
using Xunit;

namespace Kiln.Testing;

/// <summary>
/// Debian's Chromium (/usr/bin/chromium, installed by .ci/run), headless, driven by Playwright;
/// never a downloaded browser. The flags keep it off this machine's closed network.
/// Screenshots are written when KILN_UI_SCREENSHOTS names a directory (docs/ui.md: they were made so).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public static string? ScreenshotDirectory => Environment.GetEnvironmentVariable("KILN_UI_SCREENSHOTS") is { Length: > 0 } d ? d : null;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install Debian's chromium package (.ci/run does)");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh browser profile (no cookies), light or dark.</summary>
    public async Task<IPage> PageAsync(string baseUrl, bool dark = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl,
            ColorScheme = dark ? ColorScheme.Dark : ColorScheme.Light,
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
        });
        context.SetDefaultTimeout(20_000);
        return await context.NewPageAsync();
    }

    /// <summary>Saves a screenshot of the page as NAME-light.png / NAME-dark.png when screenshots are asked for.</summary>
    public static async Task ScreenshotAsync(IPage page, string name, bool dark = false)
    {
        if (ScreenshotDirectory is { } dir)
        {
            Directory.CreateDirectory(dir);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, $"{name}-{(dark ? "dark" : "light")}.png"), FullPage = false });
        }
    }

    /// <summary>Both screenshots of the page as it is now: light, then dark (the page follows the emulated system preference).</summary>
    public static async Task ScreenshotBothAsync(IPage page, string name)
    {
        if (ScreenshotDirectory is null)
        {
            return;
        }
        foreach (var dark in new[] { false, true })
        {
            await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = dark ? ColorScheme.Dark : ColorScheme.Light });
            await ScreenshotAsync(page, name, dark);
        }
        await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = ColorScheme.Light });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
    }
}
