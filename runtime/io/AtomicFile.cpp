//===- AtomicFile.cpp - Crash-safe whole-file writes and reads ------------===//
//
// The write protocol is the classic one: temporary file in the target's
// directory, checked writes, fsync, rename, fsync of the directory. POSIX
// calls are used directly rather than iostreams because iostreams neither
// report errno reliably nor offer fsync.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/AtomicFile.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace densenet::io {

namespace {

std::string inQuotes(const std::string &text) { return "'" + text + "'"; }

std::string errnoText(int error) { return std::strerror(error); }

/// The directory whose entry `path` names; "." for a bare file name.
std::string parentDirectory(const std::string &path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

/// Owns the temporary file until it has been renamed into place, so that
/// every early exit (error or exception) closes and removes it.
class TemporaryFile {
public:
  TemporaryFile() = default;
  TemporaryFile(const TemporaryFile &) = delete;
  TemporaryFile &operator=(const TemporaryFile &) = delete;
  ~TemporaryFile() {
    if (descriptor >= 0)
      ::close(descriptor);
    if (!path.empty() && !renamed)
      ::unlink(path.c_str());
  }

  int descriptor = -1;
  std::string path;
  bool renamed = false;
};

/// Sequence number within this process: two threads writing the same target
/// must not share a temporary.
std::atomic<unsigned> temporarySequence{0};

/// Writes all of `bytes` to `descriptor`, retrying short writes and EINTR.
/// Returns 0 or the errno of the failure.
int writeAll(int descriptor, std::string_view bytes) {
  const char *next = bytes.data();
  size_t remaining = bytes.size();
  while (remaining > 0) {
    // Linux transfers at most about 2 GiB per call; ask for less.
    size_t chunk = std::min<size_t>(remaining, size_t(1) << 30);
    ssize_t written = ::write(descriptor, next, chunk);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (written == 0)
      return EIO; // No progress and no error: treat as an I/O failure.
    next += written;
    remaining -= static_cast<size_t>(written);
  }
  return 0;
}

} // namespace

void writeFileAtomically(const std::string &path,
                         const std::vector<std::string_view> &pieces,
                         const std::string &description) {
  struct stat previous;
  bool previousExists = ::stat(path.c_str(), &previous) == 0;

  // Every failure before the rename leaves the old file in place; say so,
  // because that is what the user needs to know to decide what to do next.
  auto failure = [&](int error, const std::string &during) {
    std::string message = "cannot write " + description + " " + inQuotes(path) +
                          ": " + errnoText(error);
    if (!during.empty())
      message += " (" + during + ")";
    message += previousExists ? "; the previous " + description + " is kept"
                              : "; no file was written";
    return IoError(message);
  };

  TemporaryFile temporary;
  // O_EXCL refuses to follow a symbolic link planted at the temporary's name
  // and detects leftovers of a crashed process that had the same pid.
  for (unsigned attempt = 0;; ++attempt) {
    std::string candidate = path + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(temporarySequence++);
    int descriptor = ::open(candidate.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor >= 0) {
      temporary.descriptor = descriptor;
      temporary.path = candidate;
      break;
    }
    int error = errno;
    if (error == EINTR || (error == EEXIST && attempt < 100))
      continue;
    throw failure(error, "cannot create temporary " + inQuotes(candidate));
  }

  // Best effort: replacing a file should not silently widen or narrow who
  // may read it. File systems without permissions may refuse; that is fine.
  if (previousExists && S_ISREG(previous.st_mode))
    (void)::fchmod(temporary.descriptor, previous.st_mode & 07777);

  for (std::string_view piece : pieces)
    if (int error = writeAll(temporary.descriptor, piece))
      throw failure(error,
                    "while writing temporary " + inQuotes(temporary.path));

  // Without fsync the rename may reach the disk before the data does, and a
  // crash would leave an empty or partial file under the final name.
  if (::fsync(temporary.descriptor) != 0)
    throw failure(errno, "while syncing temporary " + inQuotes(temporary.path));

  // close() can report deferred write errors (NFS); the descriptor is gone
  // either way, so never close it twice.
  int descriptor = temporary.descriptor;
  temporary.descriptor = -1;
  if (::close(descriptor) != 0)
    throw failure(errno, "while closing temporary " + inQuotes(temporary.path));

  if (::rename(temporary.path.c_str(), path.c_str()) != 0)
    throw failure(errno, "while renaming temporary " +
                             inQuotes(temporary.path) + " over it");
  temporary.renamed = true;

  // The rename is a change to the directory; until the directory is synced a
  // power loss may bring back the old entry (or no entry at all).
  std::string directory = parentDirectory(path);
  int directoryDescriptor =
      ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directoryDescriptor < 0)
    throw IoError(
        description + " " + inQuotes(path) + " was written but its directory " +
        inQuotes(directory) +
        " cannot be opened to make that durable: " + errnoText(errno) +
        "; after a crash it may revert to its previous contents");
  int syncResult = ::fsync(directoryDescriptor);
  int syncError = errno;
  ::close(directoryDescriptor);
  // Some file systems cannot sync directories and say so with EINVAL; their
  // renames are as durable as they will ever be.
  if (syncResult != 0 && syncError != EINVAL && syncError != ENOTSUP)
    throw IoError(description + " " + inQuotes(path) +
                  " was written but syncing its directory " +
                  inQuotes(directory) + " failed: " + errnoText(syncError) +
                  "; after a crash it may revert to its previous contents");
}

void writeFileAtomically(const std::string &path, std::string_view contents,
                         const std::string &description) {
  writeFileAtomically(path, std::vector<std::string_view>{contents},
                      description);
}

std::vector<uint8_t> readFile(const std::string &path) {
  auto failure = [&](int error) {
    return IoError("cannot read " + inQuotes(path) + ": " + errnoText(error));
  };

  int descriptor;
  do
    descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  while (descriptor < 0 && errno == EINTR);
  if (descriptor < 0)
    throw failure(errno);
  // Closes on every exit, including a bad_alloc for a huge file.
  struct Closer {
    int descriptor;
    ~Closer() { ::close(descriptor); }
  } closer{descriptor};

  struct stat status;
  if (::fstat(descriptor, &status) != 0)
    throw failure(errno);
  if (S_ISDIR(status.st_mode))
    throw failure(EISDIR);

  // Size the buffer from fstat, but read to end of file regardless: files in
  // /proc report size 0 and a file may grow while it is read.
  std::vector<uint8_t> bytes;
  if (S_ISREG(status.st_mode) && status.st_size > 0)
    bytes.resize(static_cast<size_t>(status.st_size));
  size_t used = 0;
  uint8_t overflow[65536];
  while (true) {
    bool intoBuffer = used < bytes.size();
    uint8_t *target = intoBuffer ? bytes.data() + used : overflow;
    size_t capacity = intoBuffer ? bytes.size() - used : sizeof(overflow);
    ssize_t got =
        ::read(descriptor, target, std::min<size_t>(capacity, size_t(1) << 30));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      throw failure(errno);
    }
    if (got == 0)
      break;
    if (intoBuffer)
      used += static_cast<size_t>(got);
    else {
      bytes.insert(bytes.end(), overflow, overflow + got);
      used = bytes.size();
    }
  }
  bytes.resize(used); // The file may have shrunk since fstat.
  return bytes;
}

} // namespace densenet::io
