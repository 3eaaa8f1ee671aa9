//===- Plan.cpp - Reading a plan file -------------------------------------===//
//
// Turns the JSON of a plan into `Plan`, refusing anything that is not exactly
// what docs/plan-format.md describes: every missing field or wrong type is
// reported with its path ("steps[12].reads"). The rules that relate fields to
// each other live in Verify.cpp.
//
//===----------------------------------------------------------------------===//

#include "runtime/plan/Plan.h"

#include "format/PlanChecksum.h"
#include "runtime/plan/Verify.h"

#include <fstream>
#include <limits>
#include <sstream>

using namespace densenet::runtime;
using Json = nlohmann::ordered_json;

const char *densenet::runtime::stringify(DType dtype) {
  switch (dtype) {
  case DType::F32: return "f32";
  case DType::BF16: return "bf16";
  case DType::F16: return "f16";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::U8: return "u8";
  }
  return "?";
}

int64_t densenet::runtime::sizeOf(DType dtype) {
  switch (dtype) {
  case DType::F32: case DType::I32: return 4;
  case DType::BF16: case DType::F16: return 2;
  case DType::I64: return 8;
  case DType::U8: return 1;
  }
  return 0;
}

int64_t Buffer::elements() const {
  int64_t count = 1;
  for (int64_t dimension : shape)
    count *= dimension;
  return count;
}

int Plan::find(const std::string &name) const {
  for (const Buffer &buffer : buffers)
    if (buffer.name == name)
      return buffer.id;
  return -1;
}

namespace {

/// Field access that names the path of whatever is missing or mistyped.
class Reader {
public:
  explicit Reader(std::string source) : source(std::move(source)) {}

  [[noreturn]] void fail(const std::string &path,
                         const std::string &problem) const {
    throw PlanError(source + ": " + path + ": " + problem);
  }

  const Json &field(const Json &object, const std::string &path,
                    const char *key) const {
    if (!object.is_object())
      fail(path, "expected an object");
    auto found = object.find(key);
    if (found == object.end())
      fail(join(path, key), "missing field");
    return *found;
  }
  int64_t integer(const Json &object, const std::string &path,
                  const char *key) const {
    const Json &value = field(object, path, key);
    if (!value.is_number_integer())
      fail(join(path, key), "expected an integer, found " + value.dump());
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(join(path, key), "integer out of range");
    return value.get<int64_t>();
  }
  double number(const Json &object, const std::string &path,
                const char *key) const {
    const Json &value = field(object, path, key);
    if (!value.is_number())
      fail(join(path, key), "expected a number, found " + value.dump());
    return value.get<double>();
  }
  std::string text(const Json &object, const std::string &path,
                   const char *key) const {
    const Json &value = field(object, path, key);
    if (!value.is_string())
      fail(join(path, key), "expected a string, found " + value.dump());
    return value.get<std::string>();
  }
  bool boolean(const Json &object, const std::string &path,
               const char *key) const {
    const Json &value = field(object, path, key);
    if (!value.is_boolean())
      fail(join(path, key), "expected true or false, found " + value.dump());
    return value.get<bool>();
  }
  std::vector<int64_t> integers(const Json &value,
                                const std::string &path) const {
    if (!value.is_array())
      fail(path, "expected an array of integers");
    std::vector<int64_t> result;
    for (const Json &element : value) {
      if (!element.is_number_integer())
        fail(path, "expected an array of integers, found " + value.dump());
      result.push_back(element.get<int64_t>());
    }
    return result;
  }
  std::vector<int> ids(const Json &object, const std::string &path,
                       const char *key) const {
    std::vector<int> result;
    for (int64_t id : integers(field(object, path, key), join(path, key))) {
      if (id < 0 || id > std::numeric_limits<int>::max())
        fail(join(path, key), "buffer id " + std::to_string(id) +
                                  " out of range");
      result.push_back(static_cast<int>(id));
    }
    return result;
  }

  static std::string join(const std::string &path, const char *key) {
    return path.empty() ? key : path + "." + key;
  }

private:
  std::string source;
};

DType parseDType(const Reader &reader, const std::string &path,
                 const std::string &name) {
  static const std::pair<const char *, DType> names[] = {
      {"f32", DType::F32}, {"bf16", DType::BF16}, {"f16", DType::F16},
      {"i32", DType::I32}, {"i64", DType::I64},   {"u8", DType::U8}};
  for (auto [text, dtype] : names)
    if (name == text)
      return dtype;
  reader.fail(path, "unknown dtype '" + name +
                        "' (expected f32, bf16, f16, i32, i64 or u8)");
}

OpKind parseOp(const Reader &reader, const std::string &path,
               const std::string &name) {
  static const std::pair<const char *, OpKind> names[] = {
      {"tg.conv2d", OpKind::Conv2d},
      {"tg.conv2d_grad_input", OpKind::Conv2dGradInput},
      {"tg.conv2d_grad_filter", OpKind::Conv2dGradFilter},
      {"tg.batch_norm", OpKind::BatchNorm},
      {"tg.batch_norm_grad", OpKind::BatchNormGrad},
      {"tg.running_stats_update", OpKind::RunningStatsUpdate},
      {"tg.relu", OpKind::Relu},
      {"tg.relu_grad", OpKind::ReluGrad},
      {"tg.concat", OpKind::Concat},
      {"tg.max_pool", OpKind::MaxPool},
      {"tg.max_pool_grad", OpKind::MaxPoolGrad},
      {"tg.avg_pool", OpKind::AvgPool},
      {"tg.avg_pool_grad", OpKind::AvgPoolGrad},
      {"tg.global_avg_pool", OpKind::GlobalAvgPool},
      {"tg.global_avg_pool_grad", OpKind::GlobalAvgPoolGrad},
      {"tg.linear", OpKind::Linear},
      {"tg.linear_grad", OpKind::LinearGrad},
      {"tg.dropout", OpKind::Dropout},
      {"tg.dropout_grad", OpKind::DropoutGrad},
      {"tg.softmax_cross_entropy", OpKind::SoftmaxCrossEntropy},
      {"tg.softmax_cross_entropy_grad", OpKind::SoftmaxCrossEntropyGrad},
      {"tg.accumulate", OpKind::Accumulate},
      {"tg.sgd_update", OpKind::SgdUpdate},
      {"tg.all_reduce", OpKind::AllReduce},
  };
  for (auto [text, op] : names)
    if (name == text)
      return op;
  reader.fail(path, "unknown op '" + name +
                        "'; this densenet-run understands the ops of "
                        "docs/training-semantics.md");
}

Phase parsePhase(const Reader &reader, const std::string &path,
                 const std::string &name) {
  if (name == "forward") return Phase::Forward;
  if (name == "recompute") return Phase::Recompute;
  if (name == "backward") return Phase::Backward;
  if (name == "update") return Phase::Update;
  reader.fail(path, "unknown phase '" + name +
                        "' (expected forward, recompute, backward or update)");
}

Attributes parseAttributes(const Reader &reader, const Json &object,
                           const std::string &path) {
  Attributes attributes;
  if (!object.is_object())
    reader.fail(path, "expected an object");
  for (auto &[key, value] : object.items()) {
    std::string where = path + "." + key;
    auto pair = [&]() {
      std::vector<int64_t> values = reader.integers(value, where);
      if (values.size() != 2 || values[0] < 0 || values[1] < 0 ||
          values[0] > 1024 || values[1] > 1024)
        reader.fail(where, "expected two integers in [0, 1024]");
      return values;
    };
    auto real = [&]() {
      if (!value.is_number())
        reader.fail(where, "expected a number");
      return value.get<double>();
    };
    auto whole = [&]() {
      if (!value.is_number_integer())
        reader.fail(where, "expected an integer");
      return value.get<int64_t>();
    };
    if (key == "stride") attributes.stride = pair();
    else if (key == "padding") attributes.padding = pair();
    else if (key == "kernel") attributes.kernel = pair();
    else if (key == "epsilon") attributes.epsilon = real();
    else if (key == "momentum") attributes.momentum = real();
    else if (key == "rate") attributes.rate = real();
    else if (key == "weight_decay") attributes.weightDecay = real();
    else if (key == "offset") attributes.offset = whole();
    else if (key == "samples") attributes.samples = whole();
    else if (key == "world_size") attributes.worldSize = whole();
    else if (key == "nesterov") {
      if (!value.is_boolean())
        reader.fail(where, "expected true or false");
      attributes.nesterov = value.get<bool>();
    } else {
      reader.fail(where, "unknown attribute");
    }
  }
  return attributes;
}

} // namespace

Plan densenet::runtime::parsePlan(const std::string &text,
                                  const std::string &source) {
  Reader reader(source);
  // The JSON library parses any depth, but copying and printing a value
  // recurse: a file of 100000 '[' would overflow the stack below (the
  // checksum copies the document). The deepest value of a plan is an
  // attribute's pair (steps[i].attributes.stride[0], depth 4).
  constexpr int kMaxJsonDepth = 16;
  Json::parser_callback_t limitDepth = [&](int depth, Json::parse_event_t event,
                                           Json &) {
    if ((event == Json::parse_event_t::object_start ||
         event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw PlanError(source + ": not a plan file: its JSON nests more than " +
                      std::to_string(kMaxJsonDepth) + " levels deep");
    return true;
  };
  Json json;
  try {
    json = Json::parse(text, limitDepth);
  } catch (const nlohmann::json::exception &error) {
    throw PlanError(source + ": not a plan file: invalid JSON (" +
                    std::string(error.what()) + ")");
  }
  if (!json.is_object())
    reader.fail("", "not a plan file: the top level is not a JSON object");

  Plan plan;
  plan.source = source;
  std::string format = reader.text(json, "", "format");
  if (format != "densenet-plan")
    reader.fail("format", "is '" + format +
                              "', not 'densenet-plan': not a densenetc plan");
  int64_t version = reader.integer(json, "", "version");
  if (version != format::kPlanFormatVersion)
    reader.fail("version",
                "is " + std::to_string(version) + ", but this densenet-run "
                "reads version " + std::to_string(format::kPlanFormatVersion) +
                "; recompile the plan with the densenetc of this build");

  // The checksum covers everything else, so it is checked before anything
  // is believed: a hand-edited plan is refused here.
  plan.checksum = reader.text(json, "", "checksum");
  {
    Json unsealed = json;
    unsealed.erase("checksum");
    std::string expected = format::planChecksum(unsealed.dump());
    if (expected != plan.checksum)
      reader.fail("checksum",
                  "is " + plan.checksum + " but the contents hash to " +
                      expected +
                      ": the plan was edited or damaged after densenetc "
                      "wrote it; recompile it with densenetc");
  }

  const Json &target = reader.field(json, "", "target");
  plan.targetName = reader.text(target, "target", "name");
  plan.targetKind = reader.text(target, "target", "kind");
  plan.alignment = reader.integer(target, "target", "alignment");
  std::string layout = reader.text(target, "target", "layout");
  if (layout != "nchw")
    reader.fail("target.layout", "is '" + layout + "'; only nchw is supported");

  plan.model = nlohmann::json::parse(reader.field(json, "", "model").dump());
  plan.batchSize = reader.integer(json, "", "batch_size");
  plan.dtype = parseDType(reader, "dtype", reader.text(json, "", "dtype"));
  plan.policy = reader.text(json, "", "policy");
  const Json &optimizer = reader.field(json, "", "optimizer");
  plan.optimizer.momentum = reader.number(optimizer, "optimizer", "momentum");
  plan.optimizer.weightDecay =
      reader.number(optimizer, "optimizer", "weight_decay");
  plan.optimizer.nesterov = reader.boolean(optimizer, "optimizer", "nesterov");
  plan.optimizer.decayNormAndBias =
      reader.boolean(optimizer, "optimizer", "decay_norm_and_bias");
  if (json.contains("loss_scale") && !json["loss_scale"].is_null()) {
    const Json &scale = reader.field(json, "", "loss_scale");
    Plan::LossScale settings;
    settings.initial = reader.number(scale, "loss_scale", "initial");
    settings.growth = reader.number(scale, "loss_scale", "growth_factor");
    settings.backoff = reader.number(scale, "loss_scale", "backoff_factor");
    settings.interval = reader.integer(scale, "loss_scale", "growth_interval");
    if (!(settings.initial >= 1 && settings.initial <= 0x1p64))
      reader.fail("loss_scale.initial", "must be in [1, 2^64]");
    if (!(settings.growth >= 1 && settings.growth <= 1024))
      reader.fail("loss_scale.growth_factor", "must be in [1, 1024]");
    if (!(settings.backoff > 0 && settings.backoff < 1))
      reader.fail("loss_scale.backoff_factor", "must be in (0, 1)");
    if (settings.interval < 1)
      reader.fail("loss_scale.growth_interval", "must be at least 1");
    plan.lossScale = settings;
  }
  // Absent in plans of one process written before data parallelism.
  if (json.contains("data_parallel")) {
    const Json &parallel = reader.field(json, "", "data_parallel");
    plan.worldSize = reader.integer(parallel, "data_parallel", "world_size");
    plan.bucketBytes =
        reader.integer(parallel, "data_parallel", "bucket_bytes");
    if (plan.worldSize < 1 || plan.worldSize > 65536)
      reader.fail("data_parallel.world_size",
                  "is " + std::to_string(plan.worldSize) +
                      ", expected 1 to 65536");
  }
  const Json &budget = reader.field(json, "", "budget_bytes");
  if (!budget.is_null())
    plan.budgetBytes = reader.integer(json, "", "budget_bytes");
  plan.arenaBytes = reader.integer(json, "", "arena_bytes");
  plan.reserveBytes = reader.integer(json, "", "reserve_bytes");
  plan.predictedPeakBytes = reader.integer(json, "", "predicted_peak_bytes");
  plan.minBudgetBytes = reader.integer(json, "", "min_budget_bytes");
  for (const Json &layer : reader.field(json, "", "recomputed_layers")) {
    if (!layer.is_string())
      reader.fail("recomputed_layers", "expected strings");
    plan.recomputedLayers.push_back(layer.get<std::string>());
  }
  plan.predictedStepSeconds = reader.number(reader.field(json, "", "cost"),
                                            "cost", "predicted_step_seconds");

  const Json &inputs = reader.field(json, "", "inputs");
  plan.input = static_cast<int>(reader.integer(inputs, "inputs", "input"));
  plan.labels = static_cast<int>(reader.integer(inputs, "inputs", "labels"));
  plan.learningRate =
      static_cast<int>(reader.integer(inputs, "inputs", "learning_rate"));
  const Json &outputs = reader.field(json, "", "outputs");
  plan.loss = static_cast<int>(reader.integer(outputs, "outputs", "loss"));
  plan.correct =
      static_cast<int>(reader.integer(outputs, "outputs", "correct"));

  const Json &buffers = reader.field(json, "", "buffers");
  if (!buffers.is_array())
    reader.fail("buffers", "expected an array");
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Json &entry = buffers[i];
    std::string path = "buffers[" + std::to_string(i) + "]";
    Buffer buffer;
    int64_t id = reader.integer(entry, path, "id");
    if (id != static_cast<int64_t>(i))
      reader.fail(path + ".id", "is " + std::to_string(id) +
                                    "; ids must be 0, 1, 2, ... in order");
    buffer.id = static_cast<int>(i);
    buffer.name = reader.text(entry, path, "name");
    buffer.bytes = reader.integer(entry, path, "bytes");
    buffer.dtype =
        parseDType(reader, path + ".dtype", reader.text(entry, path, "dtype"));
    buffer.shape = reader.integers(reader.field(entry, path, "shape"),
                                   path + ".shape");
    buffer.category = reader.text(entry, path, "category");
    buffer.persistent = reader.boolean(entry, path, "persistent");
    bool root = entry.contains("offset"), view = entry.contains("view_of");
    if (root == view)
      reader.fail(path, "must have exactly one of 'offset' (a root buffer) "
                        "and 'view_of' (a view)");
    if (root) {
      buffer.offset = reader.integer(entry, path, "offset");
    } else {
      int64_t of = reader.integer(entry, path, "view_of");
      if (of < 0 || of >= static_cast<int64_t>(buffers.size()))
        reader.fail(path + ".view_of", "buffer id " + std::to_string(of) +
                                           " does not exist");
      buffer.viewOf = static_cast<int>(of);
      if (entry.contains("byte_offset")) {
        buffer.byteOffset = reader.integer(entry, path, "byte_offset");
        if (buffer.byteOffset < 0)
          reader.fail(path + ".byte_offset", "must be >= 0");
      } else {
        buffer.channelOffset = reader.integer(entry, path, "channel_offset");
        buffer.channels = reader.integer(entry, path, "channels");
      }
    }
    plan.buffers.push_back(std::move(buffer));
  }

  const Json &steps = reader.field(json, "", "steps");
  if (!steps.is_array())
    reader.fail("steps", "expected an array");
  for (size_t i = 0; i < steps.size(); ++i) {
    const Json &entry = steps[i];
    std::string path = "steps[" + std::to_string(i) + "]";
    Step step;
    step.opName = reader.text(entry, path, "op");
    step.op = parseOp(reader, path + ".op", step.opName);
    step.layer = reader.text(entry, path, "layer");
    step.phase =
        parsePhase(reader, path + ".phase", reader.text(entry, path, "phase"));
    step.reads = reader.ids(entry, path, "reads");
    step.writes = reader.ids(entry, path, "writes");
    step.updates = reader.ids(entry, path, "updates");
    step.flops = reader.integer(entry, path, "flops");
    step.workspaceBytes = reader.integer(entry, path, "workspace_bytes");
    step.attributes = parseAttributes(
        reader, reader.field(entry, path, "attributes"), path + ".attributes");
    plan.steps.push_back(std::move(step));
  }

  verifyPlan(plan);
  return plan;
}

Plan densenet::runtime::loadPlan(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw PlanError("cannot open plan '" + path + "': " +
                    std::strerror(errno) +
                    "; make one with: densenetc --model NAME -o " + path);
  std::stringstream contents;
  contents << file.rdbuf();
  if (file.bad())
    throw PlanError("cannot read plan '" + path + "': " +
                    std::strerror(errno));
  return parsePlan(contents.str(), path);
}
