using System.Globalization;
using System.Runtime.InteropServices;
using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Config;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Mapping;

internal sealed partial class ModelBuilder
{
    private void AddConstants(HeaderConfig header)
    {
        foreach (var macro in header.Constants)
        {
            var definition = _index.Macros.FirstOrDefault(m => m.Name == macro && IsIn(m.Position, header));
            if (definition.Name is null)
            {
                _missingNames.Add($"constant '{macro}' is not #defined in {header.Path}");
                continue;
            }

            if (!_index.ConstantVariables.TryGetValue(macro, out var variable))
            {
                _missingNames.Add($"constant '{macro}' is #undef'd again before the end of the headers");
                continue;
            }

            var tokens = _tu.Tokens(definition.Cursor);
            var text = "#define " + string.Join(' ', tokens);
            var (csType, literal) = Evaluate(macro, variable, tokens);
            _model.Constants.Add(new ConstantModel(macro, csType, literal, text, Site(definition.Position, $"constant {macro}")));
        }
    }

    /// <summary>Evaluates the synthetic "static __auto_type __mr_const_X = X;" so C's own typing applies.</summary>
    private unsafe (string CsType, string Literal) Evaluate(string macro, CXCursor variable, List<string> tokens)
    {
        var type = LibClang.clang_getCanonicalType(variable.Type());
        var result = LibClang.clang_Cursor_Evaluate(variable);
        if (result == null)
        {
            throw new GeneratorException(ExitCodes.Input, $"constant {macro} does not evaluate to a constant; remove it from constants in {_configName}");
        }

        try
        {
            var kind = LibClang.clang_EvalResult_getKind(result);
            var hex = tokens.Skip(1).Any(t => t.StartsWith("0x", StringComparison.OrdinalIgnoreCase));
            switch (kind)
            {
                case CXEvalResultKind.Int:
                    return IntegerConstant(macro, type, result, hex);
                case CXEvalResultKind.Float:
                    {
                        var value = LibClang.clang_EvalResult_getAsDouble(result);
                        return type.kind == CXTypeKind.Float
                            ? ("float", ((float)value).ToString("R", CultureInfo.InvariantCulture) + "f")
                            : ("double", value.ToString("R", CultureInfo.InvariantCulture));
                    }

                case CXEvalResultKind.StrLiteral:
                    {
                        var text = Marshal.PtrToStringUTF8((nint)LibClang.clang_EvalResult_getAsStr(result)) ?? string.Empty;
                        return ("string", Names.CsStringLiteral(text));
                    }

                default:
                    throw new GeneratorException(ExitCodes.Input, $"constant {macro} evaluates to {kind}, which the generator cannot emit; remove it from constants in {_configName}");
            }
        }
        finally
        {
            LibClang.clang_EvalResult_dispose(result);
        }
    }

    private static unsafe (string CsType, string Literal) IntegerConstant(string macro, CXType type, void* result, bool hex)
    {
        // C's type of the expression decides the C# type: 0xFFFFFFFF is unsigned int in C, so uint here.
        var csType = type.kind switch
        {
            CXTypeKind.Int or CXTypeKind.Short or CXTypeKind.SChar or CXTypeKind.Char_S => "int",
            CXTypeKind.UInt or CXTypeKind.UShort or CXTypeKind.UChar or CXTypeKind.Char_U => "uint",
            CXTypeKind.Long or CXTypeKind.LongLong => "long",
            CXTypeKind.ULong or CXTypeKind.ULongLong => "ulong",
            CXTypeKind.Bool => "bool",
            _ => throw new GeneratorException(ExitCodes.Input, $"constant {macro} has C type {type.Spelling()}, which the generator cannot emit"),
        };

        if (csType == "bool")
        {
            return (csType, LibClang.clang_EvalResult_getAsLongLong(result) != 0 ? "true" : "false");
        }

        if (csType is "uint" or "ulong")
        {
            var value = LibClang.clang_EvalResult_getAsUnsigned(result);
            var text = hex ? "0x" + value.ToString("X", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);
            return (csType, text);
        }

        var signed = LibClang.clang_EvalResult_getAsLongLong(result);
        return (csType, signed.ToString(CultureInfo.InvariantCulture));
    }
}
