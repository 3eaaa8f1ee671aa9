//===- Stats.h - Sizes and costs of a forward graph -------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_STATS_H
#define DENSENET_COMPILER_STATS_H

#include "compiler/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"

#include <nlohmann/json_fwd.hpp>

#include <map>
#include <string>
#include <vector>

namespace densenet {

/// Totals over every op of one kind (`tg.conv2d`, ...).
struct OpKindStats {
  int64_t count = 0;
  int64_t flops = 0;
  int64_t outputBytes = 0;
};

/// The cost of one tg compute op, in graph order.
struct OpCost {
  std::string name;
  std::string kind;
  int64_t flops = 0;
  int64_t bytesRead = 0;
  int64_t bytesWritten = 0;
};

/// What `--emit stats` reports about a tg forward graph.
struct ForwardStats {
  int64_t parameters = 0;          // trainable scalars
  int64_t parameterTensors = 0;
  int64_t parameterBytes = 0;      // f32 master weights
  int64_t stateBytes = 0;          // batch-norm running statistics
  int64_t inputBytes = 0;          // one input batch
  int64_t forwardFlops = 0;
  int64_t forwardBytesRead = 0;
  int64_t forwardBytesWritten = 0;
  /// Bytes a framework without memory optimizations keeps from the forward
  /// pass for the backward pass: the input batch and every tensor a forward
  /// op produces (per-layer concatenations, BN and ReLU outputs, conv
  /// outputs, BN batch statistics). Quadratic in the depth of a block.
  int64_t naiveActivationBytes = 0;
  int64_t convLayers = 0;
  int64_t linearLayers = 0;
  std::map<std::string, OpKindStats> byKind;
  std::vector<OpCost> ops;
};

/// Sums the CostOpInterface of every op in the module's function. The module
/// must hold one verified tg forward graph.
ForwardStats computeForwardStats(mlir::ModuleOp forward);

/// The `--emit stats` document: the resolved spec, the totals, the per-kind
/// breakdown and, with `perOp`, the cost of every op.
nlohmann::ordered_json statsToJson(const ModelSpec &spec, const ForwardStats &stats,
                           bool perOp);

} // namespace densenet

#endif // DENSENET_COMPILER_STATS_H
