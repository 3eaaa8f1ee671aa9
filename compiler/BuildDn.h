//===- BuildDn.h - Model spec to dn IR --------------------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_BUILDDN_H
#define DENSENET_COMPILER_BUILDDN_H

#include "compiler/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace densenet {

/// Builds a module holding one `func.func` named after the model: it takes
/// the input batch (NCHW, the model's dtype) and returns the logits, and its
/// body is the network in the dn dialect. Fails if `spec` does not validate.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildDnModule(mlir::MLIRContext &context, const ModelSpec &spec);

} // namespace densenet

#endif // DENSENET_COMPILER_BUILDDN_H
