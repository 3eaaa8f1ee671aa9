//===- State.cpp - Weights, optimizer state and checkpoints ---------------===//

#include "runtime/train/State.h"

#include "runtime/backend/Philox.h"
#include "runtime/io/Safetensors.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace densenet::runtime;
namespace io = densenet::io;

namespace {

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isMomentum(const Buffer &buffer) {
  return endsWith(buffer.name, ".momentum_buffer");
}

/// The state dict's tensors: weights and running statistics, not momentum.
std::vector<const Buffer *> stateDictBuffers(const Plan &plan) {
  std::vector<const Buffer *> result;
  for (const Buffer &buffer : plan.buffers)
    if (buffer.persistent && !isMomentum(buffer))
      result.push_back(&buffer);
  return result;
}

/// Batch-norm modules, named by their running_mean buffers.
std::vector<std::string> normModules(const Plan &plan) {
  std::vector<std::string> modules;
  for (const Buffer &buffer : plan.buffers)
    if (buffer.persistent && endsWith(buffer.name, ".running_mean"))
      modules.push_back(
          buffer.name.substr(0, buffer.name.size() - strlen(".running_mean")));
  return modules;
}

std::vector<float> readFloats(const Backend &backend, const Buffer &buffer) {
  std::vector<float> values(buffer.elements());
  backend.read(buffer.id, values.data(), buffer.bytes);
  return values;
}

/// Host copies of buffers plus the int64 counters, kept alive while a file
/// is written from views of them.
struct HostTensors {
  std::vector<std::vector<float>> floats;
  std::vector<int64_t> counters;
  std::vector<std::string> counterNames;
  std::vector<io::TensorView> views;
};

HostTensors collect(const Plan &plan, const Backend &backend,
                    bool withMomentum, int64_t steps) {
  HostTensors host;
  std::vector<const Buffer *> buffers = stateDictBuffers(plan);
  if (withMomentum)
    for (const Buffer &buffer : plan.buffers)
      if (buffer.persistent && isMomentum(buffer))
        buffers.push_back(&buffer);
  host.floats.reserve(buffers.size());
  for (const Buffer *buffer : buffers)
    host.floats.push_back(readFloats(backend, *buffer));
  for (const std::string &module : normModules(plan)) {
    host.counterNames.push_back(module + ".num_batches_tracked");
    host.counters.push_back(steps);
  }
  for (size_t i = 0; i < buffers.size(); ++i)
    host.views.push_back({buffers[i]->name, io::TensorDtype::F32,
                          buffers[i]->shape, host.floats[i].data(),
                          static_cast<size_t>(buffers[i]->bytes)});
  for (size_t i = 0; i < host.counters.size(); ++i)
    host.views.push_back({host.counterNames[i], io::TensorDtype::I64, {},
                          &host.counters[i], sizeof(int64_t)});
  return host;
}

void restore(const Plan &plan, Backend &backend, const io::SafetensorsFile &file,
             const std::string &source, bool withMomentum) {
  for (const Buffer &buffer : plan.buffers) {
    if (!buffer.persistent || (isMomentum(buffer) && !withMomentum))
      continue;
    const io::SafetensorsFile::Entry *entry = file.find(buffer.name);
    if (!entry)
      throw PlanError(source + " has no tensor '" + buffer.name +
                      "': it holds the state of a different model");
    if (entry->dtype != io::TensorDtype::F32 || entry->shape != buffer.shape)
      throw PlanError(source + ": tensor '" + buffer.name + "' is " +
                      io::dtypeName(entry->dtype) + " " +
                      shapeText(entry->shape) + ", the plan's is F32 " +
                      shapeText(buffer.shape) +
                      ": it holds the state of a different model");
    backend.write(buffer.id, file.dataOf(*entry), entry->bytes);
  }
}

} // namespace

void densenet::runtime::initializeState(const Plan &plan, Backend &backend,
                                        uint64_t seed) {
  for (const Buffer &buffer : plan.buffers) {
    if (!buffer.persistent)
      continue;
    std::vector<float> values(buffer.elements(), 0.0f);
    std::mt19937_64 generator(seed ^ layerKey(buffer.name));
    const std::string &name = buffer.name;
    if (endsWith(name, ".running_var")) {
      std::fill(values.begin(), values.end(), 1.0f);
    } else if (buffer.category == "weights" && endsWith(name, ".weight")) {
      if (buffer.shape.size() == 4) {
        // nn.init.kaiming_normal_: std = sqrt(2 / fan_in).
        double fanIn = double(buffer.shape[1] * buffer.shape[2] *
                              buffer.shape[3]);
        std::normal_distribution<double> normal(0.0, std::sqrt(2.0 / fanIn));
        for (float &value : values)
          value = static_cast<float>(normal(generator));
      } else if (buffer.shape.size() == 2) {
        // nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        double bound = 1.0 / std::sqrt(double(buffer.shape[1]));
        std::uniform_real_distribution<double> uniform(-bound, bound);
        for (float &value : values)
          value = static_cast<float>(uniform(generator));
      } else {
        std::fill(values.begin(), values.end(), 1.0f); // batch norm scale
      }
    }
    backend.write(buffer.id, values.data(), buffer.bytes);
  }
}

void densenet::runtime::loadWeights(const Plan &plan, Backend &backend,
                                    const std::string &path) {
  io::SafetensorsFile file = io::readSafetensors(path);
  restore(plan, backend, file, path, /*withMomentum=*/false);
}

void densenet::runtime::saveWeights(const Plan &plan, const Backend &backend,
                                    const std::string &path, int64_t steps) {
  HostTensors host = collect(plan, backend, /*withMomentum=*/false, steps);
  std::map<std::string, std::string> metadata{
      {"format", "pt"},
      {"model", plan.model.value("name", std::string("densenet"))},
      {"producer", "densenet-run"}};
  io::writeSafetensors(path, host.views, metadata, "weights");
}

std::string densenet::runtime::checkpointPath(const std::string &directory) {
  return directory + "/checkpoint.safetensors";
}

void densenet::runtime::saveCheckpoint(
    const Plan &plan, const Backend &backend, const std::string &directory,
    const Progress &progress,
    const std::map<std::string, std::string> &settings) {
  if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
    throw io::IoError("cannot create checkpoint directory '" + directory +
                      "': " + std::strerror(errno));
  HostTensors host = collect(plan, backend, /*withMomentum=*/true,
                             progress.step);
  // A checkpoint is only worth keeping if training can continue from it.
  for (size_t i = 0; i < host.floats.size(); ++i)
    for (float value : host.floats[i])
      if (!std::isfinite(value))
        throw PlanError("tensor '" + host.views[i].name + "' holds " +
                        (std::isnan(value) ? "NaN" : "an infinity") +
                        " after step " + std::to_string(progress.step) +
                        "; no checkpoint written, the previous one is kept; "
                        "try a lower --lr");
  std::map<std::string, std::string> metadata = settings;
  metadata["epoch"] = std::to_string(progress.epoch);
  metadata["batch"] = std::to_string(progress.batch);
  metadata["step"] = std::to_string(progress.step);
  metadata["seed"] = std::to_string(progress.seed);
  metadata["producer"] = "densenet-run";
  if (std::optional<Backend::LossScaleStatus> scaling =
          backend.lossScaleStatus()) {
    // f16: dynamic loss scaling continues where it stood.
    char scale[32];
    std::snprintf(scale, sizeof scale, "%.9g", scaling->scale);
    metadata["loss_scale"] = scale;
    metadata["loss_scale_good_steps"] = std::to_string(scaling->goodSteps);
    metadata["skipped_steps"] = std::to_string(scaling->skipped);
  }
  io::writeSafetensors(checkpointPath(directory), host.views, metadata,
                       "checkpoint");
}

Progress densenet::runtime::loadCheckpoint(
    const Plan &plan, Backend &backend, const std::string &directory,
    const std::map<std::string, std::string> &settings) {
  std::string path = checkpointPath(directory);
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 && errno == ENOENT)
    throw PlanError("no checkpoint to resume from: '" + path +
                    "' does not exist; start without --resume, or give the "
                    "--checkpoint-dir of the run to continue");
  io::SafetensorsFile file = io::readSafetensors(path);
  for (const auto &[key, value] : settings) {
    auto found = file.metadata.find(key);
    if (found == file.metadata.end() || found->second != value)
      throw PlanError(path + " was written with " + key + " = '" +
                      (found == file.metadata.end() ? "(none)"
                                                    : found->second) +
                      "', this run has '" + value +
                      "'; resume with the same settings or use another "
                      "--checkpoint-dir");
  }
  auto number = [&](const char *key) -> int64_t {
    auto found = file.metadata.find(key);
    if (found == file.metadata.end())
      throw PlanError(path + ": no '" + std::string(key) +
                      "' in the metadata; not a densenet-run checkpoint");
    try {
      size_t used = 0;
      long long value = std::stoll(found->second, &used);
      if (used != found->second.size() || value < 0)
        throw std::invalid_argument(key);
      return value;
    } catch (const std::exception &) {
      throw PlanError(path + ": metadata '" + std::string(key) + "' = '" +
                      found->second + "' is not a count");
    }
  };
  restore(plan, backend, file, path, /*withMomentum=*/true);
  Progress progress;
  progress.epoch = number("epoch");
  progress.batch = number("batch");
  progress.step = number("step");
  progress.seed = static_cast<uint64_t>(number("seed"));
  // f16: the loss scale where it stood (absent when the checkpoint came
  // from a plan without loss scaling: the plan's initial scale stays).
  if (plan.lossScale && file.metadata.count("loss_scale")) {
    Backend::LossScaleStatus status;
    const std::string &text = file.metadata.at("loss_scale");
    char *end = nullptr;
    status.scale = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(status.scale > 0) ||
        !std::isfinite(status.scale))
      throw PlanError(path + ": metadata 'loss_scale' = '" + text +
                      "' is not a positive number");
    status.goodSteps = number("loss_scale_good_steps");
    status.skipped = number("skipped_steps");
    backend.restoreLossScale(status);
  }
  return progress;
}
