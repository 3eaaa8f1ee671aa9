//===- TGCostInterface.h - Per-op cost of tg ops ----------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_TG_TGCOSTINTERFACE_H
#define DENSENET_DIALECTS_TG_TGCOSTINTERFACE_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"

namespace densenet::tg {

/// Bytes a statically shaped tensor occupies, densely packed.
int64_t getStorageBytes(mlir::Type type);

/// Sum of getStorageBytes over a range of types.
template <typename TypeRange>
int64_t sumStorageBytes(TypeRange &&types) {
  int64_t bytes = 0;
  for (mlir::Type type : types)
    bytes += getStorageBytes(type);
  return bytes;
}

} // namespace densenet::tg

#include "dialects/TG/TGCostInterface.h.inc"

#endif // DENSENET_DIALECTS_TG_TGCOSTINTERFACE_H
