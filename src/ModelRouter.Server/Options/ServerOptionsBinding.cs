using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace ModelRouter.Server.Options;

/// <summary>
/// Binds the "ModelRouter" section to <see cref="ServerOptions"/> without letting one value of the wrong type end the
/// start with the binder's exception: every value that does not convert to its option's type is recorded (key, value,
/// expected type) and left out, the rest is bound, and <see cref="ServerOptionsValidator"/> reports the recorded
/// problems together with its own. Start-time only, so the reflection here costs nothing on a request path.
/// </summary>
public sealed class ServerOptionsBinding
{
    private readonly List<string> problems = [];

    /// <summary>One line per value that did not convert, e.g. "ModelRouter:Scheduler:Threads = 'abc': expected a whole number (int)".</summary>
    public IReadOnlyList<string> Problems => problems;

    /// <summary>Binds <paramref name="section"/> onto <paramref name="options"/>, recording instead of throwing on values of the wrong type.</summary>
    public void Bind(IConfigurationSection section, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(options);
        problems.Clear();
        var accepted = new List<KeyValuePair<string, string?>>();
        foreach (var (key, value) in section.AsEnumerable())
        {
            if (value is not null && TargetType(section.Path, key) is { } type && !Converts(type, value))
            {
                problems.Add($"{key} = '{value}': expected {Describe(type)}");
                continue;
            }

            accepted.Add(new(key, value));
        }

        if (problems.Count == 0)
        {
            section.Bind(options);
            return;
        }

        // The binder stops at the first value it cannot convert: bind a copy without the bad ones so that the
        // validator still sees (and reports) everything else.
        new ConfigurationBuilder().AddInMemoryCollection(accepted).Build().GetSection(section.Path).Bind(options);
    }

    /// <summary>The scalar type the binder would convert <paramref name="key"/>'s value to; null when it is not one (unknown keys are ignored, as the binder does).</summary>
    private static Type? TargetType(string sectionPath, string key)
    {
        if (key.Length <= sectionPath.Length)
        {
            return null;
        }

        var type = typeof(ServerOptions);
        foreach (var segment in key[(sectionPath.Length + 1)..].Split(ConfigurationPath.KeyDelimiter))
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                type = type.GetGenericArguments()[0];
                continue;
            }

            var property = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || IsScalar(type))
            {
                return null;
            }

            type = property.PropertyType;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return IsScalar(type) && type != typeof(string) ? type : null;
    }

    private static bool IsScalar(Type type) => type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal);

    // The same conversion as the configuration binder's (the type's TypeConverter, invariant culture).
    private static bool Converts(Type type, string value)
    {
        try
        {
            _ = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(int) => string.Create(CultureInfo.InvariantCulture, $"a whole number (int, {int.MinValue}..{int.MaxValue})"),
        _ when type == typeof(long) => string.Create(CultureInfo.InvariantCulture, $"a whole number (long, {long.MinValue}..{long.MaxValue})"),
        _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => $"a number ({type.Name}, '.' as the decimal point)",
        _ when type == typeof(bool) => "true or false (bool)",
        { IsEnum: true } => $"one of {string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))} ({type.Name})",
        _ => type.Name,
    };
}
