using Kiln.Contracts;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Kiln.Cli.Workflows;

/// <summary>
/// Reads a job's <c>matrix:</c> into a <see cref="MatrixDocument"/>: every key is an axis (a list
/// of values) except <c>include</c> and <c>exclude</c>, which are lists of <c>key: value</c>
/// mappings. Nested values go through the deserializer, so its line-numbered errors still apply.
/// </summary>
internal sealed class MatrixYamlConverter : IYamlTypeConverter
{
    public bool Accepts(Type type) => type == typeof(MatrixDocument);

    public object? ReadYaml(IParser parser, Type type, ObjectDeserializer rootDeserializer)
    {
        var start = parser.Current?.Start ?? Mark.Empty;
        if (!parser.TryConsume<MappingStart>(out _))
        {
            throw new YamlException(start, start, "a matrix is a mapping of axes (name: [values]) with optional include: and exclude: lists");
        }
        var matrix = new MatrixDocument();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (!parser.TryConsume<MappingEnd>(out _))
        {
            var key = parser.Consume<Scalar>();
            if (!seen.Add(key.Value))
            {
                throw new YamlException(key.Start, key.End, $"Duplicate key '{key.Value}' in the matrix");
            }
            switch (key.Value)
            {
                case MatrixDocument.IncludeKey:
                    matrix.Include = (List<Dictionary<string, string>>?)rootDeserializer(typeof(List<Dictionary<string, string>>));
                    break;
                case MatrixDocument.ExcludeKey:
                    matrix.Exclude = (List<Dictionary<string, string>>?)rootDeserializer(typeof(List<Dictionary<string, string>>));
                    break;
                default:
                    matrix[key.Value] = (List<string>?)rootDeserializer(typeof(List<string>))!;
                    break;
            }
        }
        return matrix;
    }

    public void WriteYaml(IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
        throw new NotSupportedException("workflow files are only read");
}
