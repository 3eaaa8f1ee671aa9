//===- densenet-run.cpp - Train a DenseNet with a densenetc plan ----------===//
//
// Parses the command line and hands over to runtime/train. Exit codes: 0
// done, 1 error (message on stderr), 2 bad usage, 130 interrupted (after
// writing a checkpoint when --checkpoint-dir is given).
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Dataset.h"
#include "runtime/io/Safetensors.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/Trainer.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>

using namespace densenet;

int main(int argc, char **argv) {
  runtime::TrainOptions options;
  CLI::App app{
      "densenet-run: train a DenseNet with a plan made by densenetc, on the CPU\n"
      "(oneDNN) or a GPU (CUDA, --device cuda).\n"
      "\n"
      "  densenetc --target cpu --model densenet-bc-100 --dataset fashion-mnist "
      "--mem-budget 300MB -o plan\n"
      "  densenetc --target h200 --model densenet121 --mem-budget 12GB -o gpu-plan\n"
      "  densenet-run gpu-plan --data cifar10 --device cuda\n"
      "  densenet-run plan --data fashion-mnist --epochs 2\n"
      "  densenet-run plan --data synthetic --steps 20 --save-weights "
      "w.safetensors\n"
      "  densenet-run plan --data cifar10 --checkpoint-dir ck --resume\n"
      "  mpirun -np 2 densenet-run plan --data fashion-mnist   # plan compiled "
      "with --world-size 2\n",
      "densenet-run"};
  app.add_option("plan", options.planPath, "Plan file written by densenetc")
      ->required();
  app.add_option("--data", options.data,
                 "Dataset: fashion-mnist, cifar10 or synthetic")
      ->capture_default_str();
  app.add_option("--data-dir", options.dataDirectory,
                 "Where the dataset is (cifar10: else "
                 "$DENSENET_DATA/cifar-10-batches-bin, then "
                 "./data/cifar-10-batches-bin; fashion-mnist: else " +
                     data::defaultFashionMnistDirectory() + ")");
  app.add_option("--device", options.device,
                 "auto (the plan's target: cpu, or cuda when a GPU is usable), "
                 "cpu or cuda")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  int64_t epochs = 0, steps = 0;
  auto *epochsOption =
      app.add_option("--epochs", epochs, "Epochs to train (default 1)")
          ->check(CLI::PositiveNumber);
  auto *stepsOption =
      app.add_option("--steps", steps, "Optimizer steps to train instead")
          ->check(CLI::PositiveNumber);
  epochsOption->excludes(stepsOption);
  app.add_option("--lr", options.learningRate, "Initial learning rate")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string &text) -> std::string {
            double value = 0;
            size_t used = 0;
            try {
              value = std::stod(text, &used);
            } catch (const std::exception &) {
            }
            if (used != text.size() || !(value > 0) || !std::isfinite(value))
              return "must be a positive number, got " + text;
            return "";
          },
          "POSITIVE"));
  app.add_option("--schedule", options.schedule,
                 "Learning-rate schedule: step (x0.1 at 50% and 75% of "
                 "training, as in the DenseNet paper), cosine or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"step", "cosine", "constant"}));
  app.add_option("--lr-scaling", options.lrScaling,
                 "Under mpirun: none (--lr as given) or linear (--lr x the "
                 "number of ranks, for the ranks x larger global batch)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "linear"}));
  app.add_option("--seed", options.seed,
                 "Seed of initialization, shuffling, augmentation, dropout")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t(0), uint64_t(INT64_MAX)));
  app.add_option("--limit-train", options.limitTrain,
                 "Use only the first N training images")
      ->check(CLI::PositiveNumber);
  app.add_option("--limit-test", options.limitTest,
                 "Evaluate on only the first N test images")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", options.threads,
                 "CPU threads (default: all cores)")
      ->check(CLI::PositiveNumber);
  app.add_option("--metrics", options.metricsPath,
                 "Append one JSON object per epoch to this file");
  app.add_option("--save-weights", options.saveWeightsPath,
                 "Write the trained state dict (torchvision names) as "
                 "safetensors");
  app.add_option("--load-weights", options.loadWeightsPath,
                 "Start from the weights of a safetensors state dict");
  app.add_option("--export-batches", options.exportBatchesPath,
                 "Write the first 16 training batches as fed (images.K, "
                 "labels.K) to this safetensors file, for cross-checks");
  app.add_option("--checkpoint-dir", options.checkpointDirectory,
                 "Write a checkpoint here after every epoch and on Ctrl-C");
  app.add_option("--checkpoint-every", options.checkpointEvery,
                 "Also checkpoint every N steps")
      ->check(CLI::PositiveNumber);
  app.add_option("--collective-timeout", options.collectiveTimeout,
                 "Under mpirun: seconds a collective may wait for the other "
                 "ranks before the job is ended")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--resume", options.resume,
               "Continue from the checkpoint in --checkpoint-dir");
  app.add_flag("!--no-eval", options.evaluate,
               "Skip the test-set evaluation after each epoch");
  app.add_option("--progress", options.progress,
                 "auto (a bar on a terminal, lines otherwise), bar, lines or "
                 "none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &error) {
    // CLI11's own codes (105, 108, ...) mean nothing to a shell script:
    // help is 0, any usage error 2.
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (*epochsOption)
    options.epochs = epochs;
  if (*stepsOption)
    options.steps = steps;

  // Past a file-size limit (ulimit -f) a write then fails with EFBIG and is
  // reported like a full disk, instead of killing the process mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return runtime::runTraining(options);
  } catch (const runtime::PlanError &error) {
    std::fprintf(stderr, "densenet-run: error: %s\n", error.what());
  } catch (const data::DataError &error) {
    std::fprintf(stderr, "densenet-run: error: %s\n", error.what());
  } catch (const io::IoError &error) {
    std::fprintf(stderr, "densenet-run: error: %s\n", error.what());
  } catch (const std::exception &error) {
    std::fprintf(stderr, "densenet-run: error: %s\n", error.what());
  }
  return 1;
}
