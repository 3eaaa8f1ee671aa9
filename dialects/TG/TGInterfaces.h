//===- TGInterfaces.h - tg op interfaces and traits -------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_TG_TGINTERFACES_H
#define DENSENET_DIALECTS_TG_TGINTERFACES_H

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

/// The `name` attribute every tg op carries (its layer or state-dict name),
/// or "" for an op without one.
inline llvm::StringRef getLayerName(mlir::Operation *op) {
  auto name = op->getAttrOfType<mlir::StringAttr>("name");
  return name ? name.getValue() : llvm::StringRef();
}

/// Marks ops of the backward pass (gradients, gradient slices and
/// accumulation).
template <typename ConcreteType>
class BackwardOp : public mlir::OpTrait::TraitBase<ConcreteType, BackwardOp> {};

/// Marks ops that update persistent state: the optimizer step and the
/// batch-norm running statistics.
template <typename ConcreteType>
class UpdateOp : public mlir::OpTrait::TraitBase<ConcreteType, UpdateOp> {};

} // namespace densenet::tg

#include "dialects/TG/TGInterfaces.h.inc"

#endif // DENSENET_DIALECTS_TG_TGINTERFACES_H
