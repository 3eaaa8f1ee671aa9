//===- DataParallel.h - The training loop's side of data parallelism -*- C++ -*-===//
//
// Data parallelism as PyTorch's DistributedDataParallel defines it: every
// rank starts from rank 0's state, trains on its own shard of each epoch,
// averages gradients in the plan's all-reduce steps (so every rank holds the
// same weights after every step), and keeps batch-norm statistics of its own
// until they are averaged for evaluation and checkpoints.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_TRAIN_DATAPARALLEL_H
#define DENSENET_RUNTIME_TRAIN_DATAPARALLEL_H

#include "runtime/backend/Backend.h"
#include "runtime/dist/Communicator.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/State.h"

#include <memory>
#include <string>

namespace densenet::runtime {

/// Joins the MPI job when mpirun started this process (null otherwise),
/// after checking that the job has the plan's world size.
std::unique_ptr<dist::Communicator> joinJob(const Plan &plan,
                                            double timeoutSeconds);

/// Every rank must run the same plan on the same data with the same
/// settings (`fingerprint` lists them, one "key=value" per line); a
/// difference is an error on every rank that names the rank and the field.
void checkRanksAgree(dist::Communicator &communicator,
                     const std::string &fingerprint);

/// Copies rank 0's weights, optimizer state, running statistics, progress
/// and (f16) loss scale to every rank.
void broadcastState(dist::Communicator &communicator, const Plan &plan,
                    Backend &backend, Progress &progress);

/// Replaces every rank's batch-norm running statistics by their mean.
void averageRunningStatistics(dist::Communicator &communicator,
                              const Plan &plan, Backend &backend);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_TRAIN_DATAPARALLEL_H
