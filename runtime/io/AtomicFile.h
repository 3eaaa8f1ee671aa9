//===- AtomicFile.h - Crash-safe whole-file writes and reads ----*- C++ -*-===//
//
// Checkpoints and other long-lived outputs are written with
// writeFileAtomically so that a crash, a kill or a full disk in the middle of
// a write never leaves a truncated file where a good one was: readers see
// either the complete old contents or the complete new contents.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_IO_ATOMICFILE_H
#define DENSENET_RUNTIME_IO_ATOMICFILE_H

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace densenet::io {

/// Every failure of the runtime's file input and output. The message names
/// the file, says what is wrong and, for operating-system errors, includes
/// strerror(errno); it is meant to be shown to the user as it is.
class IoError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Writes the concatenation of `pieces` to `path`, all or nothing.
///
/// The bytes go to a temporary file in the same directory (same file system,
/// so the final rename is atomic) named `<path>.tmp.<pid>.<n>`; every write is
/// checked, the temporary is fsynced and renamed over `path`, and then the
/// directory is fsynced so that the rename itself survives a power loss. An
/// existing file's permission bits are carried over to its replacement.
///
/// On any failure before the rename the temporary is removed, `path` is left
/// untouched and IoError is thrown. `description` names what is written in
/// the message ("checkpoint" gives "cannot write checkpoint 'ck/latest':
/// No space left on device; the previous checkpoint is kept").
///
/// If `path` is a symbolic link, the link itself is replaced, not its target.
void writeFileAtomically(const std::string &path,
                         const std::vector<std::string_view> &pieces,
                         const std::string &description = "file");

/// Convenience overload for a single buffer.
void writeFileAtomically(const std::string &path, std::string_view contents,
                         const std::string &description = "file");

/// Reads all of `path`. Throws IoError naming the file and strerror(errno)
/// when it is missing, unreadable or not a regular file's contents (e.g. a
/// directory).
std::vector<uint8_t> readFile(const std::string &path);

} // namespace densenet::io

#endif // DENSENET_RUNTIME_IO_ATOMICFILE_H
