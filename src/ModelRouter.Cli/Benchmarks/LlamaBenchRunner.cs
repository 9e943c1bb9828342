using System.Diagnostics;
using System.Text;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>Finds llama.cpp's llama-bench (built by `./build.sh peers`) and runs it with `-o json`.</summary>
public sealed class LlamaBenchRunner
{
    private const string ExecutableName = "llama-bench";

    public LlamaBenchRunner(string executablePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(executablePath);
        ExecutablePath = executablePath;
    }

    public string ExecutablePath { get; }

    /// <summary>
    /// The llama-bench of <paramref name="flavor"/> (cpu, cuda) under artifacts/peers/, looked for from the current
    /// directory and from this program's directory upwards (the repository root holds artifacts/).
    /// </summary>
    /// <exception cref="FileNotFoundException">Not built yet; the message gives the command that builds it.</exception>
    public static LlamaBenchRunner Locate(string flavor)
    {
        var tried = new List<string>();
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "artifacts", "peers", flavor, ExecutableName);
                if (File.Exists(candidate))
                {
                    return new LlamaBenchRunner(candidate);
                }

                tried.Add(candidate);
            }
        }

        var build = flavor == "cpu" ? "./build.sh peers" : $"./build.sh peers --{flavor}";
        throw new FileNotFoundException(
            $"llama-bench ({flavor}) is not built. Fix: run `{build}` in the repository (it builds llama-bench and llama-server " +
            $"from the pinned llama.cpp into artifacts/peers/{flavor}/), or pass --llama-bench PATH. Looked for: {string.Join(", ", tried.Distinct())}");
    }

    /// <summary>The arguments of one llama-bench run: pp and tg tests of one model, JSON on stdout.</summary>
    public static IReadOnlyList<string> Arguments(string model, int promptTokens, int generatedTokens, int threads, int repetitions, int? gpuLayers)
    {
        var args = new List<string>
        {
            "-m", model,
            "-p", promptTokens.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-n", generatedTokens.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-t", threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-r", repetitions.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-o", "json",
            "--progress",
        };
        if (gpuLayers is { } layers)
        {
            args.Add("-ngl");
            args.Add(layers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return args;
    }

    /// <summary>Runs llama-bench; its progress is forwarded to <paramref name="progress"/>, its JSON parsed.</summary>
    /// <exception cref="InvalidOperationException">It failed to start or exited with an error (its stderr is in the message).</exception>
    public IReadOnlyList<LlamaBenchResult> Run(IReadOnlyList<string> arguments, TextWriter progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(progress);
        var start = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {ExecutablePath}");
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (errors)
            {
                errors.AppendLine(e.Data);
            }

            progress.WriteLine("  " + e.Data);
        };
        process.BeginErrorReadLine();
        string stdout;
        using (cancellation.Register(() => TryKill(process)))
        {
            stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
        }

        cancellation.ThrowIfCancellationRequested();
        if (process.ExitCode != 0)
        {
            string text;
            lock (errors)
            {
                text = errors.ToString().Trim();
            }

            throw new InvalidOperationException($"{ExecutablePath} exited with code {process.ExitCode}: {text}");
        }

        try
        {
            return LlamaBenchJson.Parse(stdout);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{ExecutablePath}: {ex.Message}", ex);
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }
}
