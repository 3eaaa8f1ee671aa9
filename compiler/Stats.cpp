//===- Stats.cpp - Sizes and costs of a forward graph ---------------------===//

#include "compiler/Stats.h"

#include "dialects/TG/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <nlohmann/json.hpp>

using namespace mlir;
using namespace densenet;

ForwardStats densenet::computeForwardStats(ModuleOp forward) {
  ForwardStats stats;
  forward.walk([&](func::FuncOp function) {
    for (BlockArgument argument : function.getArguments())
      stats.inputBytes += tg::getStorageBytes(argument.getType());
  });
  stats.naiveActivationBytes = stats.inputBytes;

  forward.walk([&](Operation *op) {
    if (auto parameter = dyn_cast<tg::ParameterOp>(op)) {
      auto type = cast<ShapedType>(parameter.getType());
      stats.parameters += type.getNumElements();
      stats.parameterBytes += tg::getStorageBytes(type);
      ++stats.parameterTensors;
      return;
    }
    if (auto state = dyn_cast<tg::StateOp>(op)) {
      stats.stateBytes += tg::getStorageBytes(state.getType());
      return;
    }
    auto cost = dyn_cast<tg::CostOpInterface>(op);
    if (!cost)
      return;
    OpCost entry{tg::getLayerName(op).str(),
                 op->getName().getStringRef().str(), cost.getFlops(),
                 cost.getBytesRead(), cost.getBytesWritten()};
    // Updates rewrite persistent state in place: no new bytes.
    int64_t outputs = op->hasTrait<tg::UpdateOp>()
                          ? 0
                          : tg::sumStorageBytes(op->getResultTypes());
    stats.forwardFlops += entry.flops;
    stats.forwardBytesRead += entry.bytesRead;
    stats.forwardBytesWritten += entry.bytesWritten;
    stats.naiveActivationBytes += outputs;
    OpKindStats &kind = stats.byKind[entry.kind];
    ++kind.count;
    kind.flops += entry.flops;
    kind.outputBytes += outputs;
    if (isa<tg::Conv2DOp>(op))
      ++stats.convLayers;
    if (isa<tg::LinearOp>(op))
      ++stats.linearLayers;
    stats.ops.push_back(std::move(entry));
  });
  return stats;
}

nlohmann::ordered_json densenet::statsToJson(const ModelSpec &spec,
                                     const ForwardStats &stats, bool perOp) {
  nlohmann::ordered_json byKind = nlohmann::ordered_json::object();
  for (const auto &[kind, totals] : stats.byKind)
    byKind[kind] = {{"count", totals.count},
                    {"flops", totals.flops},
                    {"output_bytes", totals.outputBytes}};
  int64_t denseLayers = 0;
  for (int64_t layers : spec.blockConfig)
    denseLayers += layers;

  nlohmann::ordered_json result = {
      {"model", modelSpecToJson(spec)},
      {"depth", stats.convLayers + stats.linearLayers},
      {"dense_layers", denseLayers},
      {"parameters", stats.parameters},
      {"parameter_tensors", stats.parameterTensors},
      {"parameter_bytes", stats.parameterBytes},
      {"bn_statistics_bytes", stats.stateBytes},
      {"input_bytes", stats.inputBytes},
      {"forward_flops", stats.forwardFlops},
      {"forward_bytes_read", stats.forwardBytesRead},
      {"forward_bytes_written", stats.forwardBytesWritten},
      {"naive_activation_bytes", stats.naiveActivationBytes},
      {"by_op", byKind},
  };
  if (perOp) {
    nlohmann::ordered_json ops = nlohmann::ordered_json::array();
    for (const OpCost &op : stats.ops)
      ops.push_back({{"name", op.name},
                     {"op", op.kind},
                     {"flops", op.flops},
                     {"bytes_read", op.bytesRead},
                     {"bytes_written", op.bytesWritten}});
    result["ops"] = std::move(ops);
  }
  return result;
}
