//===- Trainer.h - The training loop of densenet-run ------------*- C++ -*-===//

#ifndef DENSENET_RUNTIME_TRAIN_TRAINER_H
#define DENSENET_RUNTIME_TRAIN_TRAINER_H

#include <cstdint>
#include <optional>
#include <string>

namespace densenet::runtime {

struct TrainOptions {
  std::string planPath;
  std::string data = "synthetic"; // fashion-mnist | cifar10 | synthetic
  std::string dataDirectory;      // --data-dir
  std::string device = "auto";    // auto | cpu | cuda
  std::optional<int64_t> epochs, steps;
  double learningRate = 0.1;
  std::string schedule = "step"; // step (x0.1 at 50% and 75%) | cosine | constant
  /// Data parallelism: "none" uses --lr as given, "linear" multiplies it by
  /// the number of ranks (Goyal et al.'s rule for an N x larger batch).
  std::string lrScaling = "none";
  uint64_t seed = 0;
  int64_t limitTrain = -1, limitTest = -1;
  int threads = 0;
  std::string metricsPath;
  std::string saveWeightsPath;
  std::string loadWeightsPath;
  std::string exportBatchesPath; // cross-checks: the first batches, as fed
  std::string checkpointDirectory;
  int64_t checkpointEvery = 0; // steps; 0 = at the end of every epoch only
  bool resume = false;
  bool evaluate = true;
  std::string progress = "auto"; // auto | bar | lines | none
  /// Under mpirun: seconds a collective may take before the job is ended.
  double collectiveTimeout = 300;
};

/// Runs a whole training job; returns the process exit code (0 success,
/// 130 interrupted after checkpointing). Throws on errors, with messages.
int runTraining(const TrainOptions &options);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_TRAIN_TRAINER_H
