//===- TGInterfaces.cpp - tg op interfaces --------------------------------===//

#include "dialects/TG/TGInterfaces.h"

using namespace mlir;

int64_t densenet::tg::getStorageBytes(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  assert(shaped && shaped.hasStaticShape() &&
         "tg tensors are statically shaped");
  int64_t bits = shaped.getElementTypeBitWidth();
  return shaped.getNumElements() * ((bits + 7) / 8);
}

#include "dialects/TG/TGInterfaces.cpp.inc"
