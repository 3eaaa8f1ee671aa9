//===- Trainer.cpp - The training loop of densenet-run --------------------===//
//
// Loads and verifies the plan, creates the backend (which allocates the one
// arena), checks the dataset against the plan's input, then alternates
// training epochs and evaluation. Everything that can fail is checked before
// the first step; during training, only a non-finite loss, a signal or an
// I/O error stops the run, and each of those leaves the last checkpoint
// intact.
//
//===----------------------------------------------------------------------===//

#include "runtime/train/Trainer.h"

#include "runtime/backend/Backend.h"
#include "runtime/backend/Precision.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Loader.h"
#include "runtime/io/Safetensors.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/DataParallel.h"
#include "runtime/train/State.h"

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

using namespace densenet::runtime;
namespace data = densenet::data;
namespace dist = densenet::dist;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<int> interruptSignal{0};

extern "C" void onInterrupt(int signal) { interruptSignal = signal; }

std::string formatBytes(int64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / (1 << 20));
  return text;
}

std::string formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  int64_t total = static_cast<int64_t>(seconds + 0.5);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld",
                  (long long)(total / 3600), (long long)(total / 60 % 60),
                  (long long)(total % 60));
  else
    std::snprintf(text, sizeof text, "%lld:%02lld", (long long)(total / 60),
                  (long long)(total % 60));
  return text;
}

int64_t maxResidentBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;
}

data::Dataset loadDataset(const TrainOptions &options, const Plan &plan) {
  if (options.data == "fashion-mnist")
    return data::loadFashionMnist(options.dataDirectory.empty()
                                      ? data::defaultFashionMnistDirectory()
                                      : options.dataDirectory);
  if (options.data == "cifar10")
    return data::loadCifar10(options.dataDirectory);
  if (options.data == "synthetic") {
    data::ImageShape shape;
    shape.channels = static_cast<int>(plan.inputChannels());
    shape.height = static_cast<int>(plan.inputHeight());
    shape.width = static_cast<int>(plan.inputWidth());
    int64_t train = std::max<int64_t>(1024, 4 * plan.batchSize);
    int64_t test = std::max<int64_t>(256, plan.batchSize);
    return data::makeSynthetic(shape, static_cast<int>(plan.classes()), train,
                               test, options.seed);
  }
  throw PlanError("unknown --data '" + options.data +
                  "'; use fashion-mnist, cifar10 or synthetic");
}

/// The plan must take the dataset's images and classes.
void checkDatasetFitsPlan(const data::Dataset &dataset, const Plan &plan) {
  bool shapeFits = dataset.shape.channels == plan.inputChannels() &&
                   dataset.shape.height == plan.inputHeight() &&
                   dataset.shape.width == plan.inputWidth();
  if (shapeFits && dataset.classes == plan.classes())
    return;
  std::ostringstream message;
  message << plan.source << " takes " << plan.inputChannels() << "x"
          << plan.inputHeight() << "x" << plan.inputWidth() << " images and "
          << plan.classes() << " classes, but " << dataset.name << " has "
          << dataset.shape.channels << "x" << dataset.shape.height << "x"
          << dataset.shape.width << " images and " << dataset.classes
          << " classes; compile a plan for it with densenetc --dataset "
          << dataset.name << " (or --input " << dataset.shape.channels << "x"
          << dataset.shape.height << "x" << dataset.shape.width
          << " --classes " << dataset.classes << ")";
  throw PlanError(message.str());
}

/// The learning rate of `step` of `totalSteps` (epoch-based milestones when
/// training by epochs, as in the DenseNet paper).
double learningRateAt(const TrainOptions &options, int64_t epoch,
                      int64_t totalEpochs, int64_t step, int64_t totalSteps) {
  if (options.schedule == "constant")
    return options.learningRate;
  double progress = totalEpochs > 0 ? double(epoch) / double(totalEpochs)
                                    : double(step) / double(totalSteps);
  if (options.schedule == "cosine") {
    double fraction = double(step) / double(std::max<int64_t>(totalSteps, 1));
    return options.learningRate * 0.5 * (1 + std::cos(M_PI * fraction));
  }
  double rate = options.learningRate;
  if (progress >= 0.5)
    rate *= 0.1;
  if (progress >= 0.75)
    rate *= 0.1;
  return rate;
}

/// A live bar on a terminal, a line every so often otherwise.
class ProgressPrinter {
public:
  ProgressPrinter(const std::string &mode) {
    bar = mode == "bar" || (mode == "auto" && isatty(STDERR_FILENO));
    quiet = mode == "none";
  }

  void update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches,
              double imagesPerSecond, double loss, double accuracy,
              double etaSeconds) {
    if (quiet)
      return;
    char text[256];
    std::snprintf(text, sizeof text,
                  "epoch %lld/%lld  step %lld/%lld  %.1f img/s  loss %.4f  "
                  "acc %.2f%%  eta %s",
                  (long long)epoch + 1, (long long)epochs, (long long)batch,
                  (long long)batches, imagesPerSecond, loss, accuracy * 100,
                  formatDuration(etaSeconds).c_str());
    if (bar) {
      int width = 24;
      int filled = batches ? int(width * batch / batches) : width;
      std::string gauge(filled, '#');
      gauge.resize(width, '.');
      std::fprintf(stderr, "\r[%s] %s\033[K", gauge.c_str(), text);
      std::fflush(stderr);
      return;
    }
    int64_t every = std::max<int64_t>(1, batches / 10);
    if (batch % every == 0 || batch == batches)
      std::fprintf(stderr, "%s\n", text);
  }
  void finishLine() {
    if (bar && !quiet)
      std::fprintf(stderr, "\n");
  }

private:
  bool bar = false, quiet = false;
};

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle]
                           : 0.5 * (values[middle - 1] + values[middle]);
}

/// Adds up a (loss sum, correct, samples) triple over the ranks of a job.
void sumOverRanks(dist::Communicator &communicator, double &lossSum,
                  int64_t &correct, int64_t &samples, const std::string &what) {
  double sums[3] = {lossSum, double(correct), double(samples)};
  communicator.sum(sums, 3, what);
  lossSum = sums[0];
  correct = static_cast<int64_t>(sums[1]);
  samples = static_cast<int64_t>(sums[2]);
}

/// The batch's images into the plan's input buffer, in the plan's dtype
/// (mixed precision rounds them as the GPU would).
void writeImages(Backend &backend, const Plan &plan, const data::Batch &batch) {
  if (plan.dtype == DType::F32) {
    backend.write(plan.input, batch.images.data(),
                  batch.images.size() * sizeof(float));
    return;
  }
  std::vector<uint8_t> stored =
      toDType(plan.dtype, batch.images.data(), batch.images.size());
  backend.write(plan.input, stored.data(), stored.size());
}

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
};

/// The test accuracy: each rank of a data-parallel job evaluates its shard
/// of the test set, and the sums are added up.
Evaluation evaluate(const Plan &plan, Backend &backend,
                    const data::Dataset &dataset, const TrainOptions &options,
                    dist::Communicator *communicator) {
  data::LoaderOptions loaderOptions;
  loaderOptions.batchSize = plan.batchSize;
  loaderOptions.training = false;
  loaderOptions.limit = options.limitTest;
  if (communicator) {
    loaderOptions.shard = communicator->rank();
    loaderOptions.shards = communicator->size();
  }
  data::BatchLoader loader(dataset, dataset.test, loaderOptions);
  int64_t classes = plan.classes();
  std::vector<float> logits(plan.batchSize * classes);
  data::Batch batch;
  double lossSum = 0;
  int64_t correct = 0, samples = 0;
  while (loader.next(batch)) {
    if (batch.count == 0)
      continue;
    writeImages(backend, plan, batch);
    backend.infer();
    std::vector<uint8_t> stored(logits.size() * size_t(sizeOf(plan.dtype)));
    backend.read(plan.logits, stored.data(), stored.size());
    fromDType(plan.dtype, stored.data(), logits.size(), logits.data());
    // The loss of the training step, over the valid rows only (a last test
    // batch may be partial); the logits are host copies.
    float batchLoss = 0;
    int64_t batchCorrect = 0;
    cpu::softmaxCrossEntropy(logits.data(), batch.labels.data(), batch.count,
                             classes, &batchLoss, &batchCorrect);
    lossSum += double(batchLoss) * double(batch.count);
    correct += batchCorrect;
    samples += batch.count;
  }
  if (communicator)
    sumOverRanks(*communicator, lossSum, correct, samples,
                 "the sum of the test results");
  Evaluation result;
  result.samples = samples;
  if (samples) {
    result.loss = lossSum / double(samples);
    result.accuracy = double(correct) / double(samples);
  }
  return result;
}

} // namespace

/// The training run of this process; `communicator` is the job's when
/// mpirun started it.
static int train(const TrainOptions &options, const Plan &plan,
                 dist::Communicator *communicator) {
  // Rank 0 alone prints progress and writes metrics, checkpoints and weights.
  bool lead = !communicator || communicator->rank() == 0;

  if (options.device != "auto" && options.device != "cpu" &&
      options.device != "cuda")
    throw PlanError("unknown --device '" + options.device +
                    "'; use auto, cpu or cuda");
  // The plan's target decides the device: its memory model is that
  // device's. --device only confirms (or refuses) the choice.
  std::string why;
  bool gpu = plan.targetKind == "cuda";
  if (gpu && options.device == "cpu")
    throw PlanError(plan.source + " was compiled for target '" +
                    plan.targetName + "' (cuda); to train on the CPU, "
                    "compile a plan for it with densenetc --target cpu");
  if (!gpu && options.device == "cuda")
    throw PlanError(plan.source + " was compiled for target '" +
                    plan.targetName + "' (cpu); to train on the GPU, "
                    "compile a plan for it with densenetc --target cuda (or "
                    "h200, a100-80gb, ...)");
  if (gpu && !cudaAvailable(why))
    throw PlanError(plan.source + " was compiled for target '" +
                    plan.targetName + "' (cuda), but there is no usable GPU: " +
                    why + "; to train on the CPU, compile a plan with "
                    "densenetc --target cpu");
  if (options.epochs && options.steps)
    throw PlanError("give --epochs or --steps, not both");
  if (options.resume && options.checkpointDirectory.empty())
    throw PlanError("--resume needs --checkpoint-dir DIR (where the "
                    "checkpoint to resume from is)");

  data::Dataset dataset = loadDataset(options, plan);
  checkDatasetFitsPlan(dataset, plan);
  if (communicator) {
    std::ostringstream fingerprint;
    fingerprint << "plan checksum=" << plan.checksum << "\n"
                << "--data=" << options.data << "\n"
                << "dataset size=" << dataset.train.count << " training, "
                << dataset.test.count << " test images\n"
                << "--epochs=" << options.epochs.value_or(0) << "\n"
                << "--steps=" << options.steps.value_or(0) << "\n"
                << "--seed=" << options.seed << "\n"
                << "--lr=" << options.learningRate << "\n"
                << "--schedule=" << options.schedule << "\n"
                << "--lr-scaling=" << options.lrScaling << "\n"
                << "--limit-train=" << options.limitTrain << "\n"
                << "--limit-test=" << options.limitTest << "\n"
                << "--resume=" << options.resume << "\n";
    checkRanksAgree(*communicator, fingerprint.str());
  }

  CpuOptions cpuOptions;
  cpuOptions.threads = options.threads;
  if (communicator && options.threads == 0)
    // The ranks on this machine share its cores.
    cpuOptions.threads = std::max<int>(
        1, int(std::thread::hardware_concurrency()) / communicator->localSize());
  cpuOptions.communicator = communicator;
  std::unique_ptr<Backend> backend =
      gpu ? createCudaBackend(plan, communicator)
          : createCpuBackend(plan, cpuOptions);

  // The settings a checkpoint must agree with to be resumed.
  std::map<std::string, std::string> settings{
      {"model", plan.model.dump()},
      {"data", options.data},
      {"batch_size", std::to_string(plan.batchSize)},
      {"limit_train", std::to_string(options.limitTrain)},
  };
  Progress progress;
  progress.seed = options.seed;
  if (options.resume && lead) {
    progress = loadCheckpoint(plan, *backend, options.checkpointDirectory,
                              settings);
  } else {
    initializeState(plan, *backend, options.seed);
    if (!options.loadWeightsPath.empty() && lead)
      loadWeights(plan, *backend, options.loadWeightsPath);
  }
  if (communicator)
    broadcastState(*communicator, plan, *backend, progress);
  int shard = communicator ? communicator->rank() : 0;
  int shards = communicator ? communicator->size() : 1;

  data::LoaderOptions probe;
  probe.batchSize = plan.batchSize;
  probe.limit = options.limitTrain;
  probe.shard = shard;
  probe.shards = shards;
  int64_t batchesPerEpoch =
      data::BatchLoader(dataset, dataset.train, probe).batchesPerEpoch();
  int64_t totalEpochs = 0, totalSteps = 0;
  if (options.steps) {
    totalSteps = *options.steps;
  } else {
    totalEpochs = options.epochs.value_or(1);
    totalSteps = totalEpochs * batchesPerEpoch;
  }
  if (totalSteps <= 0)
    throw PlanError("nothing to do: --epochs and --steps must be positive");
  int64_t epochs = totalEpochs > 0
                       ? totalEpochs
                       : (totalSteps + batchesPerEpoch - 1) / batchesPerEpoch;

  if (lead && communicator)
    std::fprintf(stderr,
                 "densenet-run: %d ranks, global batch %lld (%lld per rank); "
                 "each rank's shard of an epoch is %lld batches\n",
                 communicator->size(),
                 (long long)plan.batchSize * communicator->size(),
                 (long long)plan.batchSize, (long long)batchesPerEpoch);
  if (lead)
  std::fprintf(stderr,
               "densenet-run: %s, batch %lld, %s; arena %s, predicted peak %s "
               "(incl. %s reserve); %s\n",
               plan.model.value("name", std::string("model")).c_str(),
               (long long)plan.batchSize, dataset.name.c_str(),
               formatBytes(plan.arenaBytes).c_str(),
               formatBytes(plan.predictedPeakBytes).c_str(),
               formatBytes(plan.reserveBytes).c_str(),
               backend->describe().c_str());
  if (options.resume && lead)
    std::fprintf(stderr, "resuming at epoch %lld, batch %lld (step %lld)\n",
                 (long long)progress.epoch + 1, (long long)progress.batch,
                 (long long)progress.step);

  std::ofstream metrics;
  if (!options.metricsPath.empty() && lead) {
    metrics.open(options.metricsPath,
                 options.resume ? std::ios::app : std::ios::trunc);
    if (!metrics)
      throw PlanError("cannot write --metrics file '" + options.metricsPath +
                      "': " + std::strerror(errno));
  }

  interruptSignal = 0;
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);

  // Every rank takes part (the running statistics are averaged first)
  // unless `alone`: after Ctrl-C the other ranks may have stopped already.
  auto checkpoint = [&](bool alone = false) {
    if (options.checkpointDirectory.empty())
      return;
    if (communicator && !alone)
      averageRunningStatistics(*communicator, plan, *backend);
    if (lead)
      saveCheckpoint(plan, *backend, options.checkpointDirectory, progress,
                     settings);
  };

  // The batches as fed to the first steps, for scripts that replay them
  // elsewhere (scripts/runtime_step_check.py).
  constexpr int64_t kExportedBatches = 16;
  std::vector<data::Batch> exported;

  ProgressPrinter printer(lead ? options.progress : "none");
  double learningRateScale =
      communicator && options.lrScaling == "linear" ? communicator->size() : 1;
  std::vector<float> learningRateValue(1);
  float loss = 0;
  int64_t correct = 0;
  bool memoryChecked = false;
  while (progress.step < totalSteps && progress.epoch < epochs) {
    data::LoaderOptions loaderOptions;
    loaderOptions.batchSize = plan.batchSize;
    loaderOptions.seed = progress.seed;
    loaderOptions.epoch = progress.epoch;
    loaderOptions.firstBatch = progress.batch;
    loaderOptions.limit = options.limitTrain;
    loaderOptions.shard = shard;
    loaderOptions.shards = shards;
    data::BatchLoader loader(dataset, dataset.train, loaderOptions);

    double lossSum = 0;
    int64_t correctSum = 0, seen = 0;
    std::vector<double> stepSeconds;
    auto epochStart = Clock::now();
    data::Batch batch;
    while (progress.step < totalSteps && loader.next(batch)) {
      float rate = static_cast<float>(
          learningRateAt(options, progress.epoch, totalEpochs, progress.step,
                         totalSteps) *
          learningRateScale);
      writeImages(*backend, plan, batch);
      backend->write(plan.labels, batch.labels.data(),
                     batch.labels.size() * sizeof(int32_t));
      backend->write(plan.learningRate, &rate, sizeof rate);
      if (!options.exportBatchesPath.empty() &&
          static_cast<int64_t>(exported.size()) < kExportedBatches)
        exported.push_back(batch);
      auto stepStart = Clock::now();
      backend->train({progress.seed, progress.step});
      stepSeconds.push_back(
          std::chrono::duration<double>(Clock::now() - stepStart).count());
      backend->read(plan.loss, &loss, sizeof loss);
      backend->read(plan.correct, &correct, sizeof correct);
      if (!std::isfinite(loss)) {
        printer.finishLine();
        throw PlanError(
            "the loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
            " at step " + std::to_string(progress.step + 1) + " (epoch " +
            std::to_string(progress.epoch + 1) + ", batch " +
            std::to_string(batch.index + 1) +
            "); training stopped and the last checkpoint is kept; try a "
            "lower --lr");
      }
      if (!memoryChecked) {
        // The memory model's promise, checked on the first step (the
        // lifetimes are the same in every step).
        int64_t measured = backend->measuredPeakBytes() +
                           backend->bytesOutsideArena() + plan.reserveBytes;
        if (measured != plan.predictedPeakBytes)
          throw PlanError("measured peak " + std::to_string(measured) +
                          " bytes differs from the plan's prediction " +
                          std::to_string(plan.predictedPeakBytes) +
                          "; this is a bug in densenet-run or densenetc");
        memoryChecked = true;
      }
      ++progress.step;
      progress.batch = batch.index + 1;
      lossSum += double(loss) * plan.batchSize;
      correctSum += correct;
      seen += plan.batchSize;
      double elapsed =
          std::chrono::duration<double>(Clock::now() - epochStart).count();
      int64_t doneThisRun = progress.batch - loaderOptions.firstBatch;
      double imagesPerSecond = elapsed > 0 ? seen / elapsed : 0;
      int64_t epochBatches =
          std::min(loader.batchesPerEpoch(),
                   progress.batch + (totalSteps - progress.step));
      double eta = doneThisRun > 0
                       ? elapsed / doneThisRun * (epochBatches - progress.batch)
                       : 0;
      printer.update(progress.epoch, epochs, progress.batch, epochBatches,
                     imagesPerSecond, lossSum / seen,
                     double(correctSum) / seen, eta);
      if (options.checkpointEvery > 0 &&
          progress.step % options.checkpointEvery == 0)
        checkpoint();
      if (interruptSignal) {
        printer.finishLine();
        checkpoint(/*alone=*/true);
        std::fprintf(stderr,
                     "interrupted at step %lld%s\n", (long long)progress.step,
                     options.checkpointDirectory.empty()
                         ? " (no --checkpoint-dir: nothing saved)"
                         : "; checkpoint written, continue with --resume");
        return 130;
      }
    }
    printer.finishLine();
    double seconds =
        std::chrono::duration<double>(Clock::now() - epochStart).count();
    bool epochDone = progress.batch >= loader.batchesPerEpoch();
    int64_t finishedEpoch = progress.epoch;
    if (epochDone) {
      ++progress.epoch;
      progress.batch = 0;
    }

    if (communicator) {
      // The epoch's figures over all ranks; evaluation uses the average of
      // the ranks' running statistics.
      sumOverRanks(*communicator, lossSum, correctSum, seen,
                   "the sum of the epoch's training results");
      averageRunningStatistics(*communicator, plan, *backend);
    }
    Evaluation test;
    if (options.evaluate)
      test = evaluate(plan, *backend, dataset, options, communicator);
    int64_t measured = backend->measuredPeakBytes() +
                       backend->bytesOutsideArena() + plan.reserveBytes;
    double imagesPerSecond = seconds > 0 ? seen / seconds : 0;
    // On a GPU, what the device says this process holds, beside the plan's
    // promise; over the budget is an error that names the overshoot.
    std::string deviceSource;
    bool ownOnly = false;
    int64_t deviceBytes = backend->deviceProcessBytes(&deviceSource, &ownOnly);
    if (deviceBytes >= 0 && lead)
      std::fprintf(stderr,
                   "device memory of this process: %s (%s), plan predicts "
                   "%s%s\n",
                   formatBytes(deviceBytes).c_str(), deviceSource.c_str(),
                   formatBytes(plan.predictedPeakBytes).c_str(),
                   plan.budgetBytes ? (", budget " +
                                       formatBytes(*plan.budgetBytes))
                                          .c_str()
                                    : "");
    if (lead) {
      char tested[128] = "no test evaluation (--no-eval)";
      if (options.evaluate)
        std::snprintf(tested, sizeof tested,
                      "test loss %.4f acc %.2f%% (%lld images)", test.loss,
                      100.0 * test.accuracy, (long long)test.samples);
      std::fprintf(stderr,
                   "epoch %lld: train loss %.4f acc %.2f%% | %s | %.1f img/s "
                   "| peak %s measured, %s predicted | max RSS %s\n",
                   (long long)finishedEpoch + 1, seen ? lossSum / seen : 0.0,
                   seen ? 100.0 * correctSum / seen : 0.0, tested,
                   imagesPerSecond, formatBytes(measured).c_str(),
                   formatBytes(plan.predictedPeakBytes).c_str(),
                   formatBytes(maxResidentBytes()).c_str());
    }
    // f16: where dynamic loss scaling stands (LossScale.h).
    std::optional<Backend::LossScaleStatus> scaling =
        backend->lossScaleStatus();
    if (scaling && lead)
      std::fprintf(stderr,
                   "loss scale %g, %lld step%s skipped so far (a gradient "
                   "overflowed f16)\n",
                   scaling->scale, (long long)scaling->skipped,
                   scaling->skipped == 1 ? "" : "s");
    if (metrics.is_open()) {
      nlohmann::json line{
          {"epoch", finishedEpoch + 1},
          {"steps", progress.step},
          {"train_loss", seen ? lossSum / seen : 0.0},
          {"train_acc", seen ? double(correctSum) / seen : 0.0},
          {"images_per_second", imagesPerSecond},
          {"seconds", seconds},
          {"median_step_seconds", median(stepSeconds)},
          {"measured_peak_bytes", measured},
          {"predicted_peak_bytes", plan.predictedPeakBytes},
          {"max_rss_bytes", maxResidentBytes()},
      };
      if (options.evaluate) { // --no-eval: no test figures at all
        line["test_loss"] = test.loss;
        line["test_acc"] = test.accuracy;
      }
      if (deviceBytes >= 0)
        line["device_process_bytes"] = deviceBytes;
      if (scaling) {
        line["loss_scale"] = scaling->scale;
        line["skipped_steps"] = scaling->skipped;
      }
      metrics << line.dump() << "\n";
      metrics.flush();
    }
    checkpoint();
    // Checked once the epoch's figures and checkpoint are written.
    if (deviceBytes >= 0 && plan.budgetBytes &&
        deviceBytes > *plan.budgetBytes) {
      std::string overshoot =
          std::to_string(deviceBytes) + " bytes of device memory (" +
          deviceSource + "), " +
          std::to_string(deviceBytes - *plan.budgetBytes) +
          " bytes over the plan's budget of " +
          std::to_string(*plan.budgetBytes);
      std::string reserve =
          std::to_string((plan.reserveBytes + deviceBytes -
                          *plan.budgetBytes + (1 << 20) - 1) >> 20) +
          "MiB";
      // A device-wide difference also counts other processes on the GPU
      // (other ranks, other users): a warning, not proof.
      if (!ownOnly)
        std::fprintf(stderr,
                     "densenet-run: warning: the device shows %s, counting "
                     "any other process on it; if none, recompile with "
                     "densenetc --reserve %s (or more)\n",
                     overshoot.c_str(), reserve.c_str());
      else
        throw PlanError("this process holds " + overshoot +
                        "; the target's reserve is too small for this GPU "
                        "and software: recompile with densenetc --reserve " +
                        reserve + " (or more)");
    }
  }

  std::string exportPath = options.exportBatchesPath;
  if (communicator && !exportPath.empty()) {
    // Each rank's own batches: batches.safetensors -> batches.rank1.safetensors
    size_t dot = exportPath.rfind('.');
    std::string suffix = ".rank" + std::to_string(communicator->rank());
    exportPath = dot == std::string::npos || exportPath.find('/', dot) != std::string::npos
                     ? exportPath + suffix
                     : exportPath.substr(0, dot) + suffix + exportPath.substr(dot);
  }
  if (!exportPath.empty()) {
    std::vector<densenet::io::TensorView> tensors;
    std::vector<std::string> names;
    std::vector<int64_t> imageShape{plan.batchSize, plan.inputChannels(),
                                    plan.inputHeight(), plan.inputWidth()};
    for (size_t i = 0; i < exported.size(); ++i) {
      tensors.push_back({"images." + std::to_string(i),
                         densenet::io::TensorDtype::F32, imageShape,
                         exported[i].images.data(),
                         exported[i].images.size() * sizeof(float)});
      tensors.push_back({"labels." + std::to_string(i),
                         densenet::io::TensorDtype::I32, {plan.batchSize},
                         exported[i].labels.data(),
                         exported[i].labels.size() * sizeof(int32_t)});
    }
    densenet::io::writeSafetensors(exportPath, tensors, {}, "batches");
  }
  if (!options.saveWeightsPath.empty() && lead) {
    saveWeights(plan, *backend, options.saveWeightsPath, progress.step);
    std::fprintf(stderr, "weights written to %s\n",
                 options.saveWeightsPath.c_str());
  }
  return 0;
}

int densenet::runtime::runTraining(const TrainOptions &options) {
  Plan plan = loadPlan(options.planPath);
  std::unique_ptr<dist::Communicator> communicator =
      joinJob(plan, options.collectiveTimeout);
  if (!communicator)
    return train(options, plan, nullptr);
  try {
    return train(options, plan, communicator.get());
  } catch (const std::exception &error) {
    // The other ranks wait in a collective this rank will never reach:
    // end the whole job, with the reason.
    communicator->abort("rank " + std::to_string(communicator->rank()) +
                        ": " + error.what());
  }
  return 1; // not reached: abort ends the process
}
