namespace ModelRouter.Routing.Training;

/// <summary>
/// Documented augmentation of the training prompts toward what chat users send (issue 17): training data such as
/// Dolly is short, single-task and neatly laid out ("instruction, blank line, passage"), while chat prompts wrap the
/// task in conversation, put the pasted document first, quote it, or add a second request. Each example gets at most
/// one variant (with probability <see cref="TrainerOptions.AugmentRate"/>), made by a template that is the same for
/// every label, so the templates carry no label signal: the model only learns that the wrapping does not change the
/// task. Variants are added to the training examples only, never to the held-out split.
/// </summary>
public static class Augmentation
{
    private static readonly string[] Openers =
    [
        "Hi! ", "Hey, quick question. ", "I was wondering: ", "Can you help me with something? ", "Hello, ",
        "My friend and I were talking about this. ", "I need some help. ", "Okay so ", "Please help: ",
        "I've been thinking about this for a while. ",
    ];

    private static readonly string[] Closers =
    [
        " Thanks!", " Thanks in advance.", " Please be detailed.", " Keep it short please.", "\n\nThank you!",
        " I'd appreciate a clear answer.", " Answer in a friendly tone.", "\n\nAlso, please format the answer nicely.",
        " Please explain your reasoning.", " No need for a long intro.",
    ];

    private static readonly string[] PassageIntros =
    [
        "Here is a text:", "Read this:", "I found this online:", "Context:", "Below is some text I copied.", "Text:",
        "Here's what I have:",
    ];

    /// <summary>Variants of <paramref name="examples"/> (at most one each), with the index of the example each came from.</summary>
    public static IReadOnlyList<(LabeledText Example, int Origin)> Variants(IReadOnlyList<LabeledText> examples, double rate, int seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var random = new Random(seed ^ 0xA96);
        var variants = new List<(LabeledText, int)>();
        for (var i = 0; i < examples.Count; i++)
        {
            var pick = random.NextDouble();
            var template = random.Next(1 << 20);
            if (pick >= rate)
            {
                continue;
            }

            var example = examples[i];
            var text = Variant(example.Text, template);
            if (text != example.Text)
            {
                variants.Add((example with { Text = text, Source = "augmented:" + (example.Source ?? "unknown") }, i));
            }
        }

        return variants;
    }

    /// <summary>One variant of <paramref name="text"/>, chosen by <paramref name="template"/>.</summary>
    public static string Variant(string text, int template)
    {
        ArgumentNullException.ThrowIfNull(text);
        var split = FirstBlankLine(text);
        var opener = Openers[template % Openers.Length];
        var closer = Closers[(template / 16) % Closers.Length];
        if (split < 0)
        {
            return ((template / 256) % 3) switch
            {
                0 => opener + LowerFirst(text),
                1 => text.TrimEnd() + closer,
                _ => opener + LowerFirst(text.TrimEnd()) + closer,
            };
        }

        var instruction = text[..split].Trim();
        var passage = text[split..].Trim();
        var intro = PassageIntros[(template / 256) % PassageIntros.Length];
        return ((template / 4096) % 4) switch
        {
            0 => passage + "\n\n" + instruction,
            1 => instruction + "\n\n\"\"\"\n" + passage + "\n\"\"\"",
            2 => intro + "\n\n" + passage + "\n\n" + instruction + closer,
            _ => opener + LowerFirst(instruction) + "\n\n" + passage,
        };
    }

    private static int FirstBlankLine(string text)
    {
        var at = text.IndexOf("\n\n", StringComparison.Ordinal);
        return at < 0 || string.IsNullOrWhiteSpace(text[at..]) ? -1 : at;
    }

    private static string LowerFirst(string text) =>
        text.Length > 1 && char.IsUpper(text[0]) && char.IsLower(text[1]) ? char.ToLowerInvariant(text[0]) + text[1..] : text;
}
