namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>One message of an OpenAI chat request: role ("user" or "assistant") and text.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// The bench-chat conversation: fixed user messages (each about 60-100 tokens with the Qwen2/Llama 3 tokenizers), and
/// the request of turn N = every earlier user message followed by the answer the model gave to it, then user message N,
/// as a chat client sends the whole history every turn. The answers are the served model's own (greedy), so each mode
/// builds its history from what it was answered; the modes are compared by checking those answers are identical.
/// </summary>
public static class ChatConversation
{
    /// <summary>
    /// Ten user turns of one plausible conversation. Past ten, they repeat with the turn number in front, so the
    /// history keeps growing with new text (a repeated message would not change what is cached).
    /// </summary>
    public static IReadOnlyList<string> UserMessages { get; } =
    [
        "I want to turn the sunny strip behind my house into a vegetable garden this spring. It is about six metres long " +
        "and two metres wide, the soil is heavy clay, and it gets direct sun from late morning until evening. I have never " +
        "grown anything except herbs in pots on the balcony. Where should I start, and what should I do in the first two weeks?",
        "Thanks. I tested the soil with a cheap kit from the garden centre and it says the pH is around 7.5, with low nitrogen " +
        "and medium phosphorus. Should I add compost, manure, or something else before planting? I can get well-rotted horse " +
        "manure for free from a stable down the road, but I am worried that it might carry weed seeds into the beds.",
        "I would like to build raised beds instead of digging the clay. How deep should they be for carrots, potatoes and " +
        "tomatoes, and is untreated pine good enough for the frames, or will it rot in two or three years? My budget for the " +
        "whole project is about three hundred euros, including soil, wood, screws, seeds and a few young plants.",
        "Let us say I build three beds, each two metres by one metre and thirty centimetres deep. How much soil and compost " +
        "do I need to fill them, in cubic metres and in bags of fifty litres, and what mix would you recommend for heavy " +
        "feeders like tomatoes compared with roots like carrots and beetroot? Please show the arithmetic so I can check it.",
        "My neighbour says I should plant marigolds and basil between the tomatoes to keep pests away, and that onions and " +
        "carrots help each other. Is there real evidence for companion planting, or is it mostly garden folklore? I would " +
        "rather use the space for food if the flowers do not actually make a difference to the harvest or to the insects.",
        "Watering is my biggest worry, because I travel for work about one week in every month. Would a drip line on a cheap " +
        "battery timer be reliable enough, and how would I connect it to an outdoor tap that also feeds the hose? I read that " +
        "soaker hoses clog easily in hard water areas, and the water here leaves white marks on everything in the kitchen.",
        "The first seedlings are up, but something is eating the lettuce at night and leaving silvery trails on the wooden " +
        "frames. I assume these are slugs. What can I do that is safe for the hedgehog that visits the garden and for the " +
        "neighbour's cat? I would prefer not to use pellets at all, even the ones that are sold as organic or wildlife friendly.",
        "By midsummer the tomato plants are almost two metres tall and the lower leaves are turning yellow with brown spots " +
        "that spread upwards after every rainy week. Is this blight, or something less serious like early leaf spot? What " +
        "should I remove, what should I burn or throw away, and can I still eat the green fruit that is already on the plants?",
        "I ended up with far more courgettes and beans than we can eat, about four kilograms a week. Which of them freeze well, " +
        "which are better pickled or dried, and how long do they keep each way? We have a small freezer drawer and a cool " +
        "cellar that stays around twelve degrees all year, but no room for a second freezer or a big dehydrator in the kitchen.",
        "Looking back at the whole season, what should I change next year? Please give me a short plan month by month from " +
        "February to October, including crop rotation between the three beds, what to sow indoors first, and one or two new " +
        "vegetables worth trying for a beginner who now has a bit more confidence and a slightly larger budget than last time.",
    ];

    /// <summary>The user message of turn <paramref name="turn"/> (1-based).</summary>
    public static string UserMessage(int turn)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(turn, 1);
        var index = (turn - 1) % UserMessages.Count;
        return turn <= UserMessages.Count ? UserMessages[index] : $"(Question {turn}.) {UserMessages[index]}";
    }

    /// <summary>
    /// The messages of turn <paramref name="turn"/>: user 1, answer 1, ..., user N−1, answer N−1, user N.
    /// <paramref name="answers"/> holds at least the N−1 earlier answers (more are ignored).
    /// </summary>
    public static IReadOnlyList<ChatMessage> Messages(int turn, IReadOnlyList<string> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentOutOfRangeException.ThrowIfLessThan(turn, 1);
        if (answers.Count < turn - 1)
        {
            throw new ArgumentException($"turn {turn} needs the {turn - 1} earlier answers; {answers.Count} given", nameof(answers));
        }

        var messages = new List<ChatMessage>(2 * turn - 1);
        for (var t = 1; t < turn; t++)
        {
            messages.Add(new ChatMessage("user", UserMessage(t)));
            messages.Add(new ChatMessage("assistant", answers[t - 1]));
        }

        messages.Add(new ChatMessage("user", UserMessage(turn)));
        return messages;
    }
}
