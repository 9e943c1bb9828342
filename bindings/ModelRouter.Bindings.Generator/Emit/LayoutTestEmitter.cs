using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Emit;

/// <summary>
/// Emits one xunit fact per complete struct comparing C#'s layout with clang's. Offsets are measured with
/// pointer arithmetic on a local (not Marshal.OffsetOf, which reports the marshalled layout, not the real one).
/// </summary>
internal static class LayoutTestEmitter
{
    public const string FileName = "StructLayoutTests.g.cs";

    public static SortedDictionary<string, string> Emit(BindingModel model, string interopNamespace, string commit)
    {
        var writer = new CodeWriter();
        writer.Line("// Expected sizes and offsets were computed by clang for x86-64 Linux (--target=x86_64-pc-linux-gnu);");
        writer.Line("// other LP64 targets agree for these types, Windows (LLP64) would not where C long appears.");
        writer.Line("public sealed unsafe partial class StructLayoutTests");
        writer.Open();

        var headers = model.Files.SelectMany(f => f.Headers).Distinct(StringComparer.Ordinal).ToList();
        var ordered = model.Records
            .Where(r => !r.IsOpaque)
            .OrderBy(r => Rank(headers, r.Site!.Header))
            .ThenBy(r => r.Site!.Header, StringComparer.Ordinal)
            .ThenBy(r => r.Site!.Offset);
        foreach (var record in ordered)
        {
            EmitRecord(writer, record, record.Name);
        }

        writer.Close();
        var body = writer.ToString();
        // The tests namespace nests inside the bindings namespace, so the bound types need no using.
        var text = FileHeader.Build(headers, commit, FileHeader.UsingsFor(body), interopNamespace + ".Tests") + body;
        return new SortedDictionary<string, string>(StringComparer.Ordinal) { [FileName] = text };
    }

    private static int Rank(List<string> headers, string header)
    {
        var index = headers.IndexOf(header);
        return index < 0 ? headers.Count : index;
    }

    private static void EmitRecord(CodeWriter writer, RecordModel record, string qualifiedName)
    {
        writer.Line("[Fact]");
        writer.Line($"public void Layout_{qualifiedName.Replace('.', '_')}()");
        writer.Open();
        writer.Line($"Assert.Equal({record.Size}, sizeof({qualifiedName}));");
        if (record.Fields.Count > 0)
        {
            writer.Line($"var value = default({qualifiedName});");
            foreach (var field in record.Fields)
            {
                // A fixed buffer of a local is already a pointer to its first element.
                var address = field.Kind == FieldKind.FixedBuffer ? $"value.{field.Name}" : $"&value.{field.Name}";
                writer.Line($"Assert.Equal({field.Offset}, (int)((byte*){address} - (byte*)&value));");
            }
        }

        writer.Close();
        writer.Blank();

        foreach (var nested in record.NestedRecords)
        {
            EmitRecord(writer, nested, $"{qualifiedName}.{nested.Name}");
        }

        foreach (var array in record.InlineArrays)
        {
            writer.Line("[Fact]");
            writer.Line($"public void Layout_{qualifiedName.Replace('.', '_')}_{array.Name}()");
            writer.Open();
            writer.Line($"Assert.Equal({array.Size}, sizeof({qualifiedName}.{array.Name}));");
            writer.Close();
            writer.Blank();
        }
    }
}
