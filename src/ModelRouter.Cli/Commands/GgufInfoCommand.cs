using System.CommandLine;
using System.Globalization;
using System.Text;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter gguf-info PATH`: the header, metadata (arrays summarised) and tensor index of a GGUF file, read
/// by the managed reader without loading llama.cpp; a malformed file is reported with the exact problem.
/// </summary>
internal static class GgufInfoCommand
{
    private const int MaxShownArrayItems = 5;
    private const int MaxShownStringChars = 96;

    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "The GGUF file to describe." };
        var noTensors = new Option<bool>("--no-tensors") { Description = "Leave out the tensor index." };
        var command = new Command("gguf-info", "Show a GGUF file's header, metadata and tensor index, and whether llama.cpp can read it.")
        {
            path,
            noTensors,
        };
        command.SetAction(parse => Run(parse.GetValue(path)!, !parse.GetValue(noTensors)));
        return command;
    }

    private static int Run(string path, bool showTensors)
    {
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (InvalidModelFileException ex)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return 1;
        }

        using (file)
        {
            var inv = CultureInfo.InvariantCulture;
            var output = Console.Out;
            output.WriteLine($"file:        {file.FilePath}");
            output.WriteLine(string.Format(inv, "size:        {0:N0} bytes", file.FileLength));
            output.WriteLine($"version:     {file.Version}");
            output.WriteLine($"alignment:   {file.Alignment}");
            output.WriteLine($"data offset: {file.DataOffset}");
            output.WriteLine($"metadata:    {file.Metadata.Count} entries");
            output.WriteLine($"tensors:     {file.Tensors.Count}");
            output.WriteLine();

            foreach (var entry in file.Metadata)
            {
                var type = entry.IsArray ? $"{entry.ArrayElementType}[{entry.ArrayLength}]" : entry.Type.ToString();
                output.WriteLine($"  {entry.Key} ({type}) = {FormatValue(file, entry)}");
            }

            if (showTensors && file.Tensors.Count > 0)
            {
                output.WriteLine();
                var nameWidth = Math.Max(4, file.Tensors.Max(t => t.Name.Length));
                output.WriteLine($"  {"name".PadRight(nameWidth)}  {"type",-7} {"shape",-24} {"offset",14} {"bytes",14}");
                long total = 0;
                foreach (var t in file.Tensors)
                {
                    var shape = "[" + string.Join(", ", t.Dimensions.ToArray()) + "]";
                    output.WriteLine(string.Format(inv, "  {0}  {1,-7} {2,-24} {3,14} {4,14:N0}", t.Name.PadRight(nameWidth), GgmlTypeTraits.Get(t.Type).Name, shape, t.AbsoluteOffset, t.ByteSize));
                    total += t.ByteSize;
                }

                output.WriteLine(string.Format(inv, "  {0:N0} bytes of tensor data", total));
            }

            try
            {
                GgufValidator.CheckLlamaCppRules(file);
                output.WriteLine();
                output.WriteLine("llama.cpp: the file's layout is readable by llama.cpp");
                return 0;
            }
            catch (InvalidModelFileException ex)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
        }
    }

    private static string FormatValue(GgufFile file, GgufMetadataEntry entry)
    {
        if (!entry.IsArray)
        {
            return FormatScalar(file, entry);
        }

        var array = file.GetArray(entry);
        var items = new List<string>();
        switch (array.ElementType)
        {
            case GgufValueType.String:
                foreach (var utf8 in array.EnumerateStrings())
                {
                    if (items.Count == MaxShownArrayItems)
                    {
                        break;
                    }

                    items.Add(Quote(Encoding.UTF8.GetString(utf8)));
                }

                break;
            case GgufValueType.Array:
                foreach (var inner in array.EnumerateArrays())
                {
                    if (items.Count == MaxShownArrayItems)
                    {
                        break;
                    }

                    items.Add($"{inner.ElementType}[{inner.Count}]");
                }

                break;
            default:
                var raw = array.RawBytes;
                var size = GgufFormat.FixedSize(array.ElementType);
                for (var i = 0; i < Math.Min(array.Count, MaxShownArrayItems); i++)
                {
                    items.Add(FormatFixed(array.ElementType, raw.Slice(i * size, size)));
                }

                break;
        }

        return "[" + string.Join(", ", items) + (array.Count > items.Count ? $", ... ({array.Count} items)" : string.Empty) + "]";
    }

    private static string FormatScalar(GgufFile file, GgufMetadataEntry entry) => entry.Type == GgufValueType.String
        ? Quote(Encoding.UTF8.GetString(file.GetStringBytes(entry)))
        : FormatFixed(entry.Type, file.GetEncodedValue(entry));

    private static string FormatFixed(GgufValueType type, ReadOnlySpan<byte> bytes)
    {
        var inv = CultureInfo.InvariantCulture;
        return type switch
        {
            GgufValueType.UInt8 => bytes[0].ToString(inv),
            GgufValueType.Int8 => ((sbyte)bytes[0]).ToString(inv),
            GgufValueType.Bool => bytes[0] != 0 ? "true" : "false",
            GgufValueType.UInt16 => BitConverter.ToUInt16(bytes).ToString(inv),
            GgufValueType.Int16 => BitConverter.ToInt16(bytes).ToString(inv),
            GgufValueType.UInt32 => BitConverter.ToUInt32(bytes).ToString(inv),
            GgufValueType.Int32 => BitConverter.ToInt32(bytes).ToString(inv),
            GgufValueType.Float32 => BitConverter.ToSingle(bytes).ToString("R", inv),
            GgufValueType.UInt64 => BitConverter.ToUInt64(bytes).ToString(inv),
            GgufValueType.Int64 => BitConverter.ToInt64(bytes).ToString(inv),
            GgufValueType.Float64 => BitConverter.ToDouble(bytes).ToString("R", inv),
            _ => "?",
        };
    }

    private static string Quote(string text)
    {
        var escaped = text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        return escaped.Length > MaxShownStringChars ? "\"" + escaped[..MaxShownStringChars] + "\"..." : "\"" + escaped + "\"";
    }
}
