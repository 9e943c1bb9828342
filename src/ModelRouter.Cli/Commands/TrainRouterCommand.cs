using System.CommandLine;
using System.Globalization;
using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Encoders;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Training;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter train-router [--data FILE.jsonl ...] --out FILE [--seed S]` (default inputs: DefaultTrainingData): trains the task classifier (held-out split
/// for model selection and calibration, then a refit on all data) and writes one memory-mappable classifier file.
/// Progress goes to stderr; the held-out summary to stdout.
/// </summary>
internal static class TrainRouterCommand
{
    private const int Failure = 1;
    private const int UsageError = 2;

    public static Command Create()
    {
        var data = new Option<string[]>("--data")
        {
            Description = "Labelled JSON Lines: {\"text\",\"label\"} records and/or {\"route\",\"utterances\"} route definitions; several files are read as one set. "
                + "Default: ../shared/routing-data/train.jsonl (or $MODELROUTER_ROUTING_DATA) plus data/routing/*.jsonl of the repository found above the current directory or the app.",
            AllowMultipleArgumentsPerToken = true,
        };
        var output = new Option<string>("--out") { Description = "Path of the classifier file to write.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the held-out split and example order (same seed and data, same file).", DefaultValueFactory = _ => 1 };
        var embeddings = new Option<string>("--embeddings")
        {
            // The default is the measured best (docs/benchmarks.md#router): on held-out macro-F1 neither pretrained source
            // beat hashed n-grams alone by more than the seed-to-seed spread, and n-grams alone are the cheapest.
            Description = "Pooled embedding rows: none (default: hashed n-grams only), glove (the build's GloVe 6B 100-d table) or gguf (needs --gguf).",
            DefaultValueFactory = _ => "none",
        };
        var glove = new Option<string?>("--glove") { Description = "Path of the converted GloVe table (default: $MODELROUTER_GLOVE, then artifacts/glove/glove-6b-100d.mrwv)." };
        var gguf = new Option<string?>("--gguf") { Description = "GGUF model whose token embedding table and tokenizer to pool (with --embeddings gguf)." };
        var epochs = new Option<int>("--max-epochs") { Description = "Upper bound on epochs (the count is chosen on held-out macro-F1).", DefaultValueFactory = _ => new TrainerOptions().MaxEpochs };
        var hashBits = new Option<int>("--hash-bits") { Description = "log2 of the hashed n-gram rows.", DefaultValueFactory = _ => new FeatureSettings().HashBits };
        var learningRate = new Option<float>("--learning-rate") { Description = "AdaGrad base step.", DefaultValueFactory = _ => new TrainerOptions().LearningRate };
        var l2 = new Option<float>("--l2") { Description = "L2 penalty.", DefaultValueFactory = _ => new TrainerOptions().L2 };
        var noRefit = new Option<bool>("--no-refit") { Description = "Keep the model trained without the held-out split instead of refitting on all data." };
        var average = new Option<bool>("--average") { Description = "Use the average of the epoch-end weights instead of the last epoch's." };
        var features = new Option<string?>("--features") { Description = "Comma-separated feature families instead of the default (every family but trigrams): unigrams, bigrams, trigrams, first-word, shape, position, conjunction, overlap, passage-words, structure; all = every family; basic = unigrams,bigrams,first-word,shape (cheaper, 0.004 lower macro-F1)." };
        var precision = new Option<double>("--target-precision") { Description = "Per-route thresholds are set for this held-out precision of sure decisions (0: never unsure).", DefaultValueFactory = _ => new TrainerOptions().TargetPrecision };

        var ensemble = new Option<int>("--ensemble") { Description = "Models trained on differently seeded example orders and averaged into one.", DefaultValueFactory = _ => new TrainerOptions().Ensemble };
        var biasFolds = new Option<int>("--bias-folds") { Description = "Tune per-route bias offsets for macro-F1 on this many cross-validation folds of the fit examples (0: off).", DefaultValueFactory = _ => new TrainerOptions().BiasFolds };
        var smoothing = new Option<float>("--label-smoothing") { Description = "Label smoothing of the training targets.", DefaultValueFactory = _ => new TrainerOptions().LabelSmoothing };
        var decay = new Option<bool>("--lr-decay") { Description = "Decay the step linearly to zero over the epochs." };
        var balanced = new Option<bool>("--class-balance") { Description = "Weigh each example's loss by n / (K * n_label) (off by default: the tuned bias offsets do better)." };
        var augment = new Option<double>("--augment-rate") { Description = "Share of training examples that also get one chat-style variant (conversational framing, passage first or quoted); 0: off.", DefaultValueFactory = _ => new TrainerOptions().AugmentRate };
        var stage2 = new Option<bool>("--stage2") { Description = "Also train the cascade's stage 2 (MiniLM sentence embeddings + logistic head) and write it next to --out as FILE.stage2." };
        var stage2PerLabel = new Option<int>("--stage2-per-label") { Description = "Examples per label embedded for stage 2 (embedding costs milliseconds each).", DefaultValueFactory = _ => new EncoderHeadOptions().PerLabel };
        var stage2Tokens = new Option<int>("--stage2-tokens") { Description = "Tokens the stage-2 encoder reads per prompt (stored in the head).", DefaultValueFactory = _ => new EncoderHeadOptions().MaxTokens };
        var cv = new Option<int>("--cv") { Description = "Only report K-fold cross-validated macro-F1 on the data (each fold held out in turn); writes no file.", DefaultValueFactory = _ => 0 };

        var command = new Command("train-router", "Train the task classifier from labelled JSON Lines and write a classifier file.")
        {
            data, output, seed, embeddings, glove, gguf, epochs, hashBits, learningRate, l2, noRefit, average, features, precision,
            ensemble, biasFolds, smoothing, decay, balanced, cv, augment, stage2, stage2PerLabel, stage2Tokens,
        };
        command.SetAction(parse =>
        {
            var families = new FeatureSettings().Families;
            if (parse.GetValue(features) is { } list)
            {
                families = FeatureFamilies.None;
                foreach (var name in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    FeatureFamilies? family = name switch
                    {
                        "unigrams" => FeatureFamilies.Unigrams,
                        "bigrams" => FeatureFamilies.Bigrams,
                        "trigrams" => FeatureFamilies.Trigrams,
                        "first-word" => FeatureFamilies.FirstWord,
                        "shape" => FeatureFamilies.Shape,
                        "position" => FeatureFamilies.Position,
                        "conjunction" => FeatureFamilies.PassageConjunction,
                        "overlap" => FeatureFamilies.Overlap,
                        "passage-words" => FeatureFamilies.PassageWords,
                        "structure" => FeatureFamilies.Structure,
                        "all" => FeatureFamilies.All,
                        "basic" => FeatureFamilies.Basic,
                        _ => null,
                    };
                    if (family is null)
                    {
                        Console.Error.WriteLine($"error: unknown feature family '{name}' (unigrams, bigrams, trigrams, first-word, shape, position, conjunction, overlap, passage-words, structure, all, basic)");
                        return UsageError;
                    }

                    families |= family.Value;
                }
            }

            var options = new TrainerOptions
            {
                Seed = parse.GetValue(seed),
                MaxEpochs = parse.GetValue(epochs),
                LearningRate = parse.GetValue(learningRate),
                L2 = parse.GetValue(l2),
                Refit = !parse.GetValue(noRefit),
                Average = parse.GetValue(average),
                TargetPrecision = parse.GetValue(precision),
                Features = new FeatureSettings { HashBits = parse.GetValue(hashBits), Families = families },
                Ensemble = parse.GetValue(ensemble),
                BiasFolds = parse.GetValue(biasFolds),
                LabelSmoothing = parse.GetValue(smoothing),
                LearningRateDecay = parse.GetValue(decay),
                ClassBalanced = parse.GetValue(balanced),
                AugmentRate = parse.GetValue(augment),
                Log = line => Console.Error.WriteLine("[train] " + line),
            };
            var head = parse.GetValue(stage2)
                ? new EncoderHeadOptions { Seed = options.Seed, PerLabel = parse.GetValue(stage2PerLabel), MaxTokens = parse.GetValue(stage2Tokens), Log = options.Log }
                : null;
            return Run(parse.GetValue(data), parse.GetValue(output)!, parse.GetValue(embeddings)!, parse.GetValue(glove), parse.GetValue(gguf), options, parse.GetValue(cv), head);
        });
        return command;
    }

    private static int Run(string[]? dataPaths, string output, string embeddings, string? glovePath, string? ggufPath, TrainerOptions options, int cvFolds, EncoderHeadOptions? stage2 = null)
    {
        TrainingSet set;
        try
        {
            var paths = dataPaths is { Length: > 0 } ? dataPaths : DefaultTrainingData.Locate();
            Console.Error.WriteLine("[train] data: " + string.Join(" + ", paths));
            set = TrainingSet.Load(paths);
            options.Features.Validate();
        }
        catch (TrainingDataException ex)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return Failure;
        }
        catch (ArgumentOutOfRangeException ex)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return UsageError;
        }

        WordVectorFile? table = null;
        GgufEmbeddingSource? source = null;
        try
        {
            switch (embeddings)
            {
                case "glove":
                    var located = WordVectorFile.Locate(glovePath);
                    if (located is null || !File.Exists(located))
                    {
                        Console.Error.WriteLine($"error: no GloVe table found ({(located ?? WordVectorFile.DefaultRelativePath)}); run ./build.sh build (it fetches and converts it), pass --glove PATH, or use --embeddings none.");
                        return Failure;
                    }

                    table = WordVectorFile.Open(located);
                    options = options with { WordVectors = table };
                    break;
                case "gguf":
                    if (ggufPath is null)
                    {
                        Console.Error.WriteLine("error: --embeddings gguf needs --gguf MODEL.gguf");
                        return UsageError;
                    }

                    source = GgufEmbeddingSource.Open(ggufPath);
                    options = options with { Gguf = source };
                    break;
                case "none":
                    break;
                default:
                    Console.Error.WriteLine($"error: unknown --embeddings '{embeddings}'; use glove, gguf or none");
                    return UsageError;
            }

            if (cvFolds >= 2)
            {
                var cvMetrics = RouterTrainer.CrossValidate(set, options, cvFolds);
                var perLabel = string.Join(", ", cvMetrics.PerLabel.Select(m => string.Format(CultureInfo.InvariantCulture, "{0} {1:F3}", m.Label, m.F1)));
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}-fold cross-validated (seed {1}, {2} examples): macro-F1 {3:F4}, accuracy {4:F4}; {5}", cvFolds, options.Seed, cvMetrics.Count, cvMetrics.MacroF1, cvMetrics.Accuracy, perLabel));
                return 0;
            }

            var result = RouterTrainer.Train(set, options);
            Routing.Classification.ClassifierFileWriter.Write(result.Model, output);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Format(inv, "wrote {0} ({1:N0} bytes): {2} labels, {3} examples, {4} epochs, embeddings {5}", output, new FileInfo(output).Length, set.Labels.Count, set.Examples.Count, result.Epochs, options.Gguf?.Description ?? (table is null ? "none" : "glove-6b-100d")));
            Console.WriteLine(string.Format(inv, "held-out ({0} examples, seed {1}): macro-F1 {2:F4}, accuracy {3:F4}; temperature {4:F3}; trained in {5:F1} s", result.HoldoutCount, options.Seed, result.Holdout.MacroF1, result.Holdout.Accuracy, result.Temperature, result.Elapsed.TotalSeconds));
            if (stage2 is not null)
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                using var encoder = new SentenceEncoder(stage2.Threads, stage2.MaxTokens);
                var head = EncoderHeadTrainer.Train(set, encoder, stage2);
                var headPath = EncoderHead.PathFor(output);
                head.Save(headPath);
                Console.WriteLine(string.Format(inv, "wrote {0} ({1:N0} bytes): stage 2 on {2}, {3} tokens, temperature {4:F3}; trained in {5:F1} s", headPath, new FileInfo(headPath).Length, head.EncoderId, head.MaxTokens, head.Temperature, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds));
            }

            return 0;
        }
        catch (Exception ex) when (ex is TrainingDataException or InvalidDataException or FileNotFoundException or Runtime.InvalidModelFileException or Runtime.Models.ModelLoadException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return Failure;
        }
        finally
        {
            table?.Dispose();
            source?.Dispose();
        }
    }
}
