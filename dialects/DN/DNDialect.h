//===- DNDialect.h - The dn dialect -----------------------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_DN_DNDIALECT_H
#define DENSENET_DIALECTS_DN_DNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/DN/DNDialect.h.inc"

#endif // DENSENET_DIALECTS_DN_DNDIALECT_H
