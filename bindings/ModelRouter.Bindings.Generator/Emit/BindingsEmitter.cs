using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Emit;

/// <summary>Writes one *.g.cs per configured header (enums, structs, then the static class) in declaration order.</summary>
internal static class BindingsEmitter
{
    public const string AssemblyAttributesFile = "AssemblyAttributes.g.cs";

    public static SortedDictionary<string, string> Emit(BindingModel model, string ns, string commit)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in model.Files)
        {
            files[file.FileName] = EmitFile(model, file, ns, commit);
        }

        files[AssemblyAttributesFile] = EmitAssemblyAttributes(model, commit);
        return files;
    }

    private static string EmitAssemblyAttributes(BindingModel model, string commit)
    {
        // Disabled runtime marshalling makes bool a plain 1-byte value and lets LibraryImport pass every
        // blittable signature straight through; it must be declared exactly once per assembly.
        var headers = model.Files.SelectMany(f => f.Headers).Distinct(StringComparer.Ordinal).ToList();
        const string body = "[assembly: DisableRuntimeMarshalling]\n";
        return FileHeader.Build(headers, commit, FileHeader.UsingsFor(body), ns: null) + body;
    }

    private static string EmitFile(BindingModel model, OutputFileModel file, string ns, string commit)
    {
        int HeaderRank(DeclarationSite site)
        {
            var rank = 0;
            foreach (var header in file.Headers)
            {
                if (header == site.Header)
                {
                    return rank;
                }

                rank++;
            }

            return rank;
        }

        var types = model.Enums.Select(e => (Site: e.Site, Emit: (Action<CodeWriter>)(w => EmitEnum(w, e))))
            .Concat(model.Records.Select(r => (Site: r.Site!, Emit: (Action<CodeWriter>)(w => RecordEmitter.Emit(w, r)))))
            .Where(t => t.Site.Output == file.FileName)
            .OrderBy(t => HeaderRank(t.Site))
            .ThenBy(t => t.Site.Offset)
            .ToList();

        var writer = new CodeWriter();
        foreach (var (_, emit) in types)
        {
            emit(writer);
            writer.Blank();
        }

        var constants = model.Constants.Where(c => c.Site.Output == file.FileName).OrderBy(c => c.Site.Offset).ToList();
        var functions = model.Functions.Where(f => f.Site.Output == file.FileName).OrderBy(f => f.Site.Offset).ToList();
        if (file.ClassName is not null && (constants.Count > 0 || functions.Count > 0))
        {
            writer.Line($"public static unsafe partial class {file.ClassName}");
            writer.Open();
            foreach (var constant in constants)
            {
                EmitConstant(writer, constant);
                writer.Blank();
            }

            foreach (var function in functions)
            {
                EmitFunction(writer, function);
                writer.Blank();
            }

            writer.Close();
        }

        var body = writer.ToString();
        return FileHeader.Build(file.Headers, commit, FileHeader.UsingsFor(body), ns) + body;
    }

    // LibraryImport refuses a bare bool even with runtime marshalling disabled (SYSLIB1051); U1 is C's
    // 1-byte _Bool, and the conversion happens in the generated stub, not in the runtime marshaller.
    private const string BoolMarshalling = "MarshalAs(UnmanagedType.U1)";

    private static string Parameter(ParameterModel parameter)
    {
        var attributes = new List<string>();
        if (parameter.NativeType is not null)
        {
            attributes.Add($"NativeTypeName({Mapping.Names.CsStringLiteral(parameter.NativeType)})");
        }

        if (parameter.CsType == "bool")
        {
            attributes.Add(BoolMarshalling);
        }

        return attributes.Count == 0
            ? $"{parameter.CsType} {parameter.Name}"
            : $"[{string.Join(", ", attributes)}] {parameter.CsType} {parameter.Name}";
    }

    private static void EmitEnum(CodeWriter writer, EnumModel model)
    {
        writer.Line(model.UnderlyingType is null ? $"public enum {model.Name}" : $"public enum {model.Name} : {model.UnderlyingType}");
        writer.Open();
        foreach (var member in model.Members)
        {
            writer.Line($"{member.Name} = {member.Value},");
        }

        writer.Close();
    }

    private static void EmitConstant(CodeWriter writer, ConstantModel constant)
    {
        writer.Line($"[NativeTypeName({Mapping.Names.CsStringLiteral(constant.Definition)})]");
        writer.Line($"public const {constant.CsType} {constant.Name} = {constant.Literal};");
    }

    private static void EmitFunction(CodeWriter writer, FunctionModel function)
    {
        writer.Line($"[LibraryImport(\"{function.Library}\", EntryPoint = \"{function.EntryPoint}\")]");
        writer.Line("[UnmanagedCallConv(CallConvs = new[] { typeof(CallConvCdecl) })]");
        if (function.ObsoleteMessage is not null)
        {
            writer.Line(function.ObsoleteMessage.Length == 0 ? "[Obsolete]" : $"[Obsolete({Mapping.Names.CsStringLiteral(function.ObsoleteMessage)})]");
        }

        if (function.ReturnNativeType is not null)
        {
            writer.Line($"[return: NativeTypeName({Mapping.Names.CsStringLiteral(function.ReturnNativeType)})]");
        }

        if (function.ReturnType == "bool")
        {
            writer.Line($"[return: {BoolMarshalling}]");
        }

        var parameters = string.Join(", ", function.Parameters.Select(Parameter));
        writer.Line($"public static partial {function.ReturnType} {function.Name}({parameters});");
    }
}
