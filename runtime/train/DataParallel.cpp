//===- DataParallel.cpp - The training loop's side of data parallelism ----===//

#include "runtime/train/DataParallel.h"

#include <optional>
#include <sstream>
#include <vector>

using namespace densenet::runtime;
namespace dist = densenet::dist;

std::unique_ptr<dist::Communicator>
densenet::runtime::joinJob(const Plan &plan, double timeoutSeconds) {
  int launched = dist::launchedWorldSize();
  if (launched == 1 && plan.worldSize == 1)
    return nullptr;
  if (launched == 1)
    throw PlanError(plan.source + " averages gradients over " +
                    std::to_string(plan.worldSize) +
                    " ranks (densenetc --world-size " +
                    std::to_string(plan.worldSize) + "); run it with mpirun -np " +
                    std::to_string(plan.worldSize) +
                    " densenet-run ..., or compile a plan for one process "
                    "without --world-size");
  if (launched != plan.worldSize)
    throw PlanError("this job has " + std::to_string(launched) +
                    " ranks, but " + plan.source +
                    " was compiled for " + std::to_string(plan.worldSize) +
                    "; compile it with densenetc --world-size " +
                    std::to_string(launched) + " or run mpirun -np " +
                    std::to_string(plan.worldSize));
  try {
    return dist::createMpiCommunicator(timeoutSeconds);
  } catch (const std::exception &error) {
    throw PlanError(error.what());
  }
}

void densenet::runtime::checkRanksAgree(dist::Communicator &communicator,
                                        const std::string &fingerprint) {
  std::vector<std::string> all =
      communicator.gather(fingerprint, "comparing the ranks' settings");
  for (int rank = 1; rank < communicator.size(); ++rank) {
    if (all[rank] == all[0])
      continue;
    std::istringstream ours(all[0]), theirs(all[rank]);
    std::string mine, other;
    while (std::getline(ours, mine) && std::getline(theirs, other))
      if (mine != other)
        break;
    throw PlanError("the ranks disagree: rank 0 has " + mine + ", rank " +
                    std::to_string(rank) + " has " + other +
                    "; every rank must run the same plan on the same data "
                    "with the same flags");
  }
}

void densenet::runtime::broadcastState(dist::Communicator &communicator,
                                       const Plan &plan, Backend &backend,
                                       Progress &progress) {
  std::vector<uint8_t> host;
  for (const Buffer &buffer : plan.buffers) {
    if (!buffer.persistent || buffer.isView())
      continue;
    host.resize(buffer.bytes);
    backend.read(buffer.id, host.data(), host.size());
    communicator.broadcast(host.data(), buffer.bytes, 0,
                           "the broadcast of " + buffer.name);
    backend.write(buffer.id, host.data(), host.size());
  }
  int64_t numbers[4] = {progress.epoch, progress.batch, progress.step,
                        static_cast<int64_t>(progress.seed)};
  communicator.broadcast(numbers, sizeof numbers, 0,
                         "the broadcast of the progress");
  progress.epoch = numbers[0];
  progress.batch = numbers[1];
  progress.step = numbers[2];
  progress.seed = static_cast<uint64_t>(numbers[3]);
  // f16: the loss scale too. Every rank scales its gradients by its own
  // scale and unscales their average by it, so ranks with different scales
  // (only rank 0 read the checkpoint) would update differently for good.
  if (std::optional<Backend::LossScaleStatus> status =
          backend.lossScaleStatus()) {
    double scale = status->scale;
    int64_t counts[2] = {status->goodSteps, status->skipped};
    communicator.broadcast(&scale, sizeof scale, 0,
                           "the broadcast of the loss scale");
    communicator.broadcast(counts, sizeof counts, 0,
                           "the broadcast of the loss scale");
    backend.restoreLossScale({scale, counts[0], counts[1]});
  }
}

void densenet::runtime::averageRunningStatistics(
    dist::Communicator &communicator, const Plan &plan, Backend &backend) {
  std::vector<int> ids;
  int64_t count = 0;
  for (const Buffer &buffer : plan.buffers)
    if (buffer.persistent && !buffer.isView() &&
        buffer.category == "bn_statistics" && buffer.dtype == DType::F32) {
      ids.push_back(buffer.id);
      count += buffer.elements();
    }
  std::vector<float> host;
  std::vector<double> values;
  values.reserve(count);
  for (int id : ids) {
    host.resize(plan.buffers[id].elements());
    backend.read(id, host.data(), host.size() * sizeof(float));
    values.insert(values.end(), host.begin(), host.end());
  }
  communicator.sum(values.data(), count,
                   "the average of the running statistics");
  size_t at = 0;
  for (int id : ids) {
    host.resize(plan.buffers[id].elements());
    for (float &value : host)
      value = static_cast<float>(values[at++] / communicator.size());
    backend.write(id, host.data(), host.size() * sizeof(float));
  }
}
