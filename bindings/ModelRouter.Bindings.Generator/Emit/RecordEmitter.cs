using ModelRouter.Bindings.Generator.Mapping;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Emit;

/// <summary>Emits structs and unions ClangSharp-style: sequential structs, explicit unions, nested anonymous types.</summary>
internal static class RecordEmitter
{
    public static void Emit(CodeWriter writer, RecordModel record)
    {
        if (record.IsOpaque)
        {
            // Only ever used through pointers: an empty struct gives llama_model* a distinct type.
            writer.Line($"public partial struct {record.Name}");
            writer.Open();
            writer.Close();
            return;
        }

        writer.Line(record.IsUnion ? "[StructLayout(LayoutKind.Explicit)]" : "[StructLayout(LayoutKind.Sequential)]");
        writer.Line($"public unsafe partial struct {record.Name}");
        writer.Open();
        foreach (var field in record.Fields)
        {
            EmitField(writer, record, field);
            writer.Blank();
        }

        var taken = new HashSet<string>(record.Fields.Select(f => f.Name), StringComparer.Ordinal);
        foreach (var field in record.Fields.Where(f => f.Kind == FieldKind.AnonymousRecord))
        {
            EmitForwarders(writer, field.Name, field.Nested!, field.CsType, taken);
        }

        foreach (var nested in record.NestedRecords)
        {
            Emit(writer, nested);
            writer.Blank();
        }

        foreach (var array in record.InlineArrays)
        {
            EmitFixedBuffer(writer, array);
            writer.Blank();
        }

        writer.Close();
    }

    private static void EmitFixedBuffer(CodeWriter writer, InlineArrayModel array)
    {
        if (!IsPointer(array.ElementType))
        {
            writer.Line($"[InlineArray({array.Length})]");
            writer.Line($"public unsafe partial struct {array.Name}");
            writer.Open();
            writer.Line($"public {array.ElementType} e0;");
            writer.Close();
            return;
        }

        // [InlineArray] rejects pointer elements (CS9184: not valid as a type argument), so pointer arrays
        // spell out every element, with ClangSharp's indexer over them.
        writer.Line("[StructLayout(LayoutKind.Sequential)]");
        writer.Line($"public unsafe partial struct {array.Name}");
        writer.Open();
        for (var i = 0; i < array.Length; i++)
        {
            writer.Line($"public {array.ElementType} e{i};");
        }

        writer.Blank();
        writer.Line($"public ref {array.ElementType} this[int index]");
        writer.Open();
        writer.Line("get");
        writer.Open();
        writer.Line($"fixed ({array.ElementType}* pThis = &e0)");
        writer.Open();
        writer.Line("return ref pThis[index];");
        writer.Close();
        writer.Close();
        writer.Close();
        writer.Close();
    }

    private static bool IsPointer(string csType) => csType.EndsWith('*') || csType.StartsWith("delegate*", StringComparison.Ordinal);

    private static void EmitField(CodeWriter writer, RecordModel record, FieldModel field)
    {
        if (record.IsUnion)
        {
            writer.Line($"[FieldOffset({field.Offset})]");
        }

        if (field.NativeType is not null)
        {
            writer.Line($"[NativeTypeName({Names.CsStringLiteral(field.NativeType)})]");
        }

        writer.Line(field.Kind == FieldKind.FixedBuffer
            ? $"public fixed {field.CsType} {field.Name}[{field.Length}];"
            : $"public {field.CsType} {field.Name};");
    }

    /// <summary>
    /// ClangSharp's accessors for members of anonymous structs/unions, so C's kv.val_i64 reads as
    /// kv.val_i64 in C# too instead of kv.Anonymous.val_i64.
    /// </summary>
    private static void EmitForwarders(CodeWriter writer, string path, RecordModel nested, string typePrefix, HashSet<string> taken)
    {
        foreach (var field in nested.Fields)
        {
            var access = $"{path}.{field.Name}";
            if (field.Kind == FieldKind.AnonymousRecord)
            {
                EmitForwarders(writer, access, field.Nested!, $"{typePrefix}.{field.CsType}", taken);
                continue;
            }

            if (!taken.Add(field.Name))
            {
                continue;
            }

            writer.Line("[UnscopedRef]");
            if (field.Kind == FieldKind.FixedBuffer)
            {
                writer.Line($"public Span<{field.CsType}> {field.Name}");
                writer.Open();
                writer.Line("get");
                writer.Open();
                writer.Line($"return MemoryMarshal.CreateSpan(ref {access}[0], {field.Length});");
                writer.Close();
                writer.Close();
            }
            else
            {
                var type = field.Kind == FieldKind.InlineArray || field.Nested is not null ? $"{typePrefix}.{field.CsType}" : field.CsType;
                writer.Line($"public ref {type} {field.Name}");
                writer.Open();
                writer.Line("get");
                writer.Open();
                writer.Line($"return ref {access};");
                writer.Close();
                writer.Close();
            }

            writer.Blank();
        }
    }
}
