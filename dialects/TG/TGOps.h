//===- TGOps.h - tg dialect operations --------------------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_TG_TGOPS_H
#define DENSENET_DIALECTS_TG_TGOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/TG/TGInterfaces.h"
#include "dialects/TG/TGDialect.h"

#define GET_OP_CLASSES
#include "dialects/TG/TGOps.h.inc"

#endif // DENSENET_DIALECTS_TG_TGOPS_H
