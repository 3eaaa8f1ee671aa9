//===- Passes.h - densenet passes -------------------------------*- C++ -*-===//

#ifndef DENSENET_PASSES_PASSES_H
#define DENSENET_PASSES_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace densenet {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace densenet

#endif // DENSENET_PASSES_PASSES_H
