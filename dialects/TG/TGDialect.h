//===- TGDialect.h - The tg dialect -----------------------------*- C++ -*-===//

#ifndef DENSENET_DIALECTS_TG_TGDIALECT_H
#define DENSENET_DIALECTS_TG_TGDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/TG/TGDialect.h.inc"

#endif // DENSENET_DIALECTS_TG_TGDIALECT_H
