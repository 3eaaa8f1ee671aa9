//===- DNOps.h - dn dialect operations --------------------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_DN_DNOPS_H
#define DENSENET_DIALECTS_DN_DNOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/DN/DNDialect.h"
#include "dialects/DN/DNEnums.h.inc"

#define GET_OP_CLASSES
#include "dialects/DN/DNOps.h.inc"

#endif // DENSENET_DIALECTS_DN_DNOPS_H
