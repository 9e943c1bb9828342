using System.Text.Json.Serialization;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Commands;

/// <summary>What `modelrouter info --json` writes.</summary>
internal sealed record InfoReport(NativeBuildInfo Build, IReadOnlyList<ComputeDevice> Devices, HostMemoryInfo HostMemory);

// Source-generated so the trimmed, self-contained CLI serialises without reflection.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    WriteIndented = true)]
[JsonSerializable(typeof(InfoReport))]
internal sealed partial class InfoJson : JsonSerializerContext;
