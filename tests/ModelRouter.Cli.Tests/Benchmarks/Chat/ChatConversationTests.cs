using ModelRouter.Cli.Benchmarks.Chat;

namespace ModelRouter.Cli.Tests.Benchmarks.Chat;

public sealed class ChatConversationTests
{
    [Fact]
    public void Turn_one_is_the_first_user_message_alone()
    {
        var messages = ChatConversation.Messages(1, []);

        var only = Assert.Single(messages);
        Assert.Equal(new ChatMessage("user", ChatConversation.UserMessages[0]), only);
    }

    [Fact]
    public void Turn_n_sends_every_earlier_exchange_in_order_then_the_new_user_message()
    {
        string[] answers = ["a1", "a2", "a3"];

        var messages = ChatConversation.Messages(4, answers);

        Assert.Equal(
            [
                new ChatMessage("user", ChatConversation.UserMessages[0]), new ChatMessage("assistant", "a1"),
                new ChatMessage("user", ChatConversation.UserMessages[1]), new ChatMessage("assistant", "a2"),
                new ChatMessage("user", ChatConversation.UserMessages[2]), new ChatMessage("assistant", "a3"),
                new ChatMessage("user", ChatConversation.UserMessages[3]),
            ],
            messages);
    }

    [Fact]
    public void Each_turn_extends_the_previous_request_so_its_prompt_can_share_the_prefix()
    {
        string[] answers = ["first answer", "second answer"];

        var turn2 = ChatConversation.Messages(2, answers);
        var turn3 = ChatConversation.Messages(3, answers);

        Assert.Equal(turn2, turn3.Take(turn2.Count));
        Assert.Equal(new ChatMessage("assistant", "second answer"), turn3[turn2.Count]);
    }

    [Fact]
    public void Missing_earlier_answers_are_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatConversation.Messages(3, ["only one"]));
        Assert.Contains("2 earlier answers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Turn_zero_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ChatConversation.Messages(0, []));

    [Fact]
    public void Ten_distinct_user_messages_of_a_realistic_length_and_new_text_past_ten()
    {
        Assert.Equal(10, ChatConversation.UserMessages.Count);
        Assert.Equal(10, ChatConversation.UserMessages.Distinct(StringComparer.Ordinal).Count());
        // ~60-100 tokens: English runs about 1.2-1.4 tokens a word with the Qwen2 and Llama 3 tokenizers.
        Assert.All(ChatConversation.UserMessages, m => Assert.InRange(m.Split(' ').Length, 45, 80));
        Assert.NotEqual(ChatConversation.UserMessage(1), ChatConversation.UserMessage(11));
        Assert.EndsWith(ChatConversation.UserMessage(1), ChatConversation.UserMessage(11), StringComparison.Ordinal);
    }
}
