using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests;

/// <summary>A small, clearly separable labelled set (no shared data needed) for trainer and file tests.</summary>
internal static class SyntheticData
{
    public static readonly string[] Labels = ["code", "math_reasoning", "summarization"];

    public static TrainingSet Create(int perLabel = 40, int seed = 7)
    {
        var random = new Random(seed);
        string[] languages = ["Python", "C#", "Rust", "Go", "JavaScript"];
        string[] tasks = ["reverses a list", "parses a date", "sorts strings", "counts words", "merges two maps"];
        string[] names = ["Ann", "Bob", "Carla", "Dev", "Eli"];
        string[] things = ["apples", "marbles", "books", "coins", "stamps"];
        string[] topics = ["the Roman empire", "photosynthesis", "the stock market", "jazz music", "volcanoes"];
        var examples = new List<LabeledText>();
        for (var i = 0; i < perLabel; i++)
        {
            examples.Add(new LabeledText($"Write a {Pick(random, languages)} function that {Pick(random, tasks)}.", 0));
            examples.Add(new LabeledText($"{Pick(random, names)} has {random.Next(2, 50)} {Pick(random, things)} and buys {random.Next(2, 9)} more each day. How many {Pick(random, things)} after {random.Next(2, 9)} days?", 1));
            examples.Add(new LabeledText($"Summarize this text about {Pick(random, topics)}\n\n{Pick(random, topics)} is a subject that many people study. It has a long history and several parts.", 2));
        }

        return TrainingSet.Create(Labels, examples);
    }

    private static string Pick(Random random, string[] items) => items[random.Next(items.Length)];
}
