//===- State.h - Weights, optimizer state and checkpoints -------*- C++ -*-===//
//
// The persistent buffers of a plan under their torchvision state-dict names:
// initialization as torchvision's DenseNet does it, export as safetensors
// that `load_state_dict` accepts, and checkpoints that also carry the
// optimizer state and where training stands.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_TRAIN_STATE_H
#define DENSENET_RUNTIME_TRAIN_STATE_H

#include "runtime/backend/Backend.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <map>
#include <string>

namespace densenet::runtime {

/// Where training stands; saved in every checkpoint.
struct Progress {
  int64_t epoch = 0;      // the epoch in progress (0-based)
  int64_t batch = 0;      // the next batch of that epoch
  int64_t step = 0;       // optimizer steps taken
  uint64_t seed = 0;
};

/// torchvision's initialization: Kaiming-normal convolutions, batch norm
/// weight 1 and bias 0, nn.Linear's default uniform weight with a zero bias;
/// running mean 0 and variance 1; momentum buffers 0. Deterministic in seed.
void initializeState(const Plan &plan, Backend &backend, uint64_t seed);

/// Copies tensors of a state-dict file into the matching persistent buffers
/// (weights and batch-norm statistics; momentum too when present). Every
/// weight and statistic of the plan must be there with its shape.
void loadWeights(const Plan &plan, Backend &backend, const std::string &path);

/// Writes the model's state dict (parameters, running statistics and
/// num_batches_tracked) as safetensors with torchvision's names.
void saveWeights(const Plan &plan, const Backend &backend,
                 const std::string &path, int64_t steps);

/// Checkpoint: the state dict, the momentum buffers and `progress`, written
/// atomically to `directory`/checkpoint.safetensors.
void saveCheckpoint(const Plan &plan, const Backend &backend,
                    const std::string &directory, const Progress &progress,
                    const std::map<std::string, std::string> &settings);
std::string checkpointPath(const std::string &directory);
/// Restores a checkpoint into the backend and returns its progress. The
/// checkpoint must hold exactly this model's state (a plan of the same model
/// at another budget is fine); `settings` must match what was saved.
Progress loadCheckpoint(const Plan &plan, Backend &backend,
                        const std::string &directory,
                        const std::map<std::string, std::string> &settings);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_TRAIN_STATE_H
