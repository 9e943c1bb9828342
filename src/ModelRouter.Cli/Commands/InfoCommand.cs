using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Commands;

/// <summary>`modelrouter info`: which native build is loaded, from where, and what devices and memory it sees.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Write one JSON object to stdout instead of text." };
        var command = new Command("info", "Show the native build (llama.cpp commit, backends), devices and host memory.")
        {
            json,
        };
        command.SetAction(parse => Run(parse.GetValue(json)));
        return command;
    }

    private static int Run(bool asJson)
    {
        NativeBuildInfo build;
        try
        {
            build = NativeRuntime.EnsureInitialized();
        }
        catch (NativeLibraryLoadException ex)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return 2;
        }

        var devices = NativeRuntime.GetDevices();
        var host = NativeRuntime.GetHostMemory();
        if (asJson)
        {
            var report = new InfoReport(build, devices, host);
            Console.Out.WriteLine(JsonSerializer.Serialize(report, InfoJson.Default.InfoReport));
            return 0;
        }

        var invariant = CultureInfo.InvariantCulture;
        Console.Out.WriteLine($"native libraries: {build.LibraryDirectory}");
        Console.Out.WriteLine($"llama.cpp commit: {build.LlamaCommit}");
        Console.Out.WriteLine($"ggml:             {build.GgmlVersion} ({build.GgmlCommit})");
        Console.Out.WriteLine($"shim ABI:         {build.AbiVersion}");
        Console.Out.WriteLine($"backends:         {string.Join(", ", build.CompiledBackends)}");
        Console.Out.WriteLine($"devices:          {devices.Count}");
        foreach (var device in devices)
        {
            Console.Out.WriteLine(string.Format(invariant, "  [{0}] {1} ({2}): {3}, {4:F1} GiB free of {5:F1} GiB",
                device.Index, device.Name, device.Kind, device.Description, GiB(device.MemoryFreeBytes), GiB(device.MemoryTotalBytes)));
        }

        Console.Out.WriteLine(string.Format(invariant, "host memory:      {0:F1} GiB, {1:F1} GiB available, page {2} B",
            GiB(host.TotalBytes), GiB(host.AvailableBytes), host.PageSizeBytes));
        return 0;
    }

    private static double GiB(ulong bytes) => bytes / (1024.0 * 1024 * 1024);
}
