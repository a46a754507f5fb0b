using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Bitswap.Cli;
using Xunit;

namespace Bitswap.Tests.Interop.Cli;

/// <summary>The real <c>bitswap</c> process (<c>dotnet bitswap.dll</c>): how serve stops, and what the process prints.</summary>
public sealed class CliProcessTests
{
    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "bitswap.dll"), .. args])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment[BitswapHome.EnvironmentVariable] = Path.Combine(Path.GetTempPath(), "bitswap-cli-test-home");
        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
    }

    [Fact]
    public async Task Serve_announces_itself_on_the_first_line_and_exits_cleanly_when_stdin_closes()
    {
        using var temp = CliRun.Temp();
        Directory.CreateDirectory(temp["blocks"]);
        await File.WriteAllTextAsync(Path.Combine(temp["blocks"], "one"), "one block");
        using var serve = Start("serve", "--blocks", temp["blocks"], "--key", temp["k"]);

        var first = await serve.StandardOutput.ReadLineAsync().WaitAsync(CliRun.Patience);
        serve.StandardInput.Close();
        await serve.WaitForExitAsync().WaitAsync(CliRun.Patience);

        var announcement = JsonNode.Parse(first!)!.AsObject();
        Assert.StartsWith("/ip4/127.0.0.1/tcp/", announcement["multiaddrs"]![0]!.GetValue<string>());
        Assert.Equal(Bitswap.Domain.Block.Raw("one block"u8.ToArray()).Cid.ToString(), announcement["cids"]![0]!.GetValue<string>());
        Assert.Equal(0, serve.ExitCode);
        Assert.Equal("", await serve.StandardError.ReadToEndAsync());
    }

    [Fact]
    public async Task Serve_stops_cleanly_on_sigterm_while_stdin_stays_open()
    {
        using var temp = CliRun.Temp();
        Directory.CreateDirectory(temp["blocks"]);
        await File.WriteAllTextAsync(Path.Combine(temp["blocks"], "one"), "one block");
        using var serve = Start("serve", "--blocks", temp["blocks"], "--key", temp["k"]);
        Assert.NotNull(await serve.StandardOutput.ReadLineAsync().WaitAsync(CliRun.Patience));

        using (var kill = Process.Start("kill", ["-TERM", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().WaitAsync(CliRun.Patience);
        }

        await serve.WaitForExitAsync().WaitAsync(CliRun.Patience);
        Assert.Equal(0, serve.ExitCode);
    }

    [Fact]
    public async Task A_failing_process_prints_exactly_one_line_on_stderr()
    {
        using var process = Start("car", "import", "/nonexistent.car", "--repo", "/tmp/bitswap-cli-test-unused");

        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(CliRun.Patience);
        await process.WaitForExitAsync().WaitAsync(CliRun.Patience);

        Assert.Equal(1, process.ExitCode);
        Assert.Equal("bitswap: no such file: /nonexistent.car", stderr.TrimEnd('\n'));
    }
}

/// <summary>The <c>ipfs_bitswap_*</c> instruments on the <c>Bitswap</c> meter see a transfer.</summary>
public sealed class BitswapMetricsTests
{
    [Fact]
    public async Task A_demo_transfer_records_received_and_sent_block_bytes()
    {
        var totals = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == BitswapMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        listener.Start();

        var result = await CliRun.RunAsync("demo", "--size-mib", "2", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.True(totals.GetValueOrDefault("ipfs_bitswap_recv_all_blocks_bytes") >= 2 * 1024 * 1024);
        Assert.True(totals.GetValueOrDefault("ipfs_bitswap_sent_all_blocks_bytes") >= 2 * 1024 * 1024);
    }
}
