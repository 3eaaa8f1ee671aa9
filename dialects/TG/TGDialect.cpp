//===- TGDialect.cpp - The tg dialect -------------------------------------===//

#include "dialects/TG/TGDialect.h"
#include "dialects/TG/TGOps.h"

using namespace mlir;
using namespace densenet::tg;

#include "dialects/TG/TGDialect.cpp.inc"

void TGDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/TG/TGOps.cpp.inc"
      >();
}
