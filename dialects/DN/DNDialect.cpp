//===- DNDialect.cpp - The dn dialect -------------------------------------===//

#include "dialects/DN/DNDialect.h"
#include "dialects/DN/DNOps.h"

using namespace mlir;
using namespace densenet::dn;

#include "dialects/DN/DNDialect.cpp.inc"

void DNDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/DN/DNOps.cpp.inc"
      >();
}
