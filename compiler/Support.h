//===- Support.h - Small helpers shared by the compiler library -*- C++ -*-===//

#ifndef DENSENET_COMPILER_SUPPORT_H
#define DENSENET_COMPILER_SUPPORT_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace densenet {

/// A user-facing error with a message and no error code.
inline llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 message.str());
}

} // namespace densenet

#endif // DENSENET_COMPILER_SUPPORT_H
