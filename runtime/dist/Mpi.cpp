//===- Mpi.cpp - The communicator over Open MPI ---------------------------===//
//
// One thread of the process talks to MPI: it initializes it (so
// MPI_THREAD_FUNNELED is enough), runs every collective in the order they
// were submitted (the same order on every rank, since every rank runs the
// same plan), and finalizes it. The training thread submits work and waits
// for it with a timeout, which is how a dead or stuck rank becomes an error
// instead of a hang. Gradient buckets are averaged while the training thread
// computes the next bucket's gradients: the overlap PyTorch's DDP gets from
// its reducer.
//
//===----------------------------------------------------------------------===//

#include "runtime/dist/Communicator.h"

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace densenet::dist;

namespace {

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

class MpiCommunicator final : public Communicator {
public:
  explicit MpiCommunicator(double timeoutSeconds)
      : timeout(timeoutSeconds) {
    thread = std::thread([this] { run(); });
    std::unique_lock lock(mutex);
    // MPI_Init waits for every rank to start; one that never does must not
    // hang this one.
    if (!changed.wait_for(lock, std::chrono::duration<double>(timeout),
                          [&] { return started; })) {
      std::fprintf(stderr,
                   "densenet-run: error: joining the MPI job did not finish "
                   "within %d s; another rank has probably failed to start "
                   "(see its messages); ending the job\n",
                   int(timeout));
      std::fflush(stderr);
      std::_Exit(1);
    }
    if (!startError.empty()) {
      lock.unlock();
      thread.join();
      throw std::runtime_error(startError);
    }
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    thread.join();
  }

  int rank() const override { return worldRank; }
  int size() const override { return worldSize; }
  int localRank() const override { return nodeRank; }
  int localSize() const override { return nodeSize; }

  int64_t startAverage(float *data, int64_t count,
                       const std::string &what) override {
    return submit(what, [this, data, count, what] {
      check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count),
                          MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            what);
      float scale = 1.0f / static_cast<float>(worldSize);
      for (int64_t i = 0; i < count; ++i)
        data[i] *= scale;
    });
  }

  void wait(int64_t ticket) override {
    std::unique_lock lock(mutex);
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration<double>(timeout);
    while (finished < ticket && failure.empty()) {
      if (changed.wait_until(lock, deadline) == std::cv_status::timeout &&
          finished < ticket && failure.empty()) {
        std::string what = pendingName;
        lock.unlock();
        abort("rank " + std::to_string(worldRank) + ": " + what +
              " did not finish within " + std::to_string(int(timeout)) +
              " s; another rank has probably died or stopped (see its "
              "messages); ending the job");
      }
    }
    if (!failure.empty()) {
      std::string message = failure;
      lock.unlock();
      abort(message);
    }
  }

  void broadcast(void *data, int64_t bytes, int root,
                 const std::string &what) override {
    wait(submit(what, [=] {
      check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root,
                      MPI_COMM_WORLD),
            what);
    }));
  }

  void sum(double *data, int64_t count, const std::string &what) override {
    wait(submit(what, [=] {
      check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count),
                          MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
            what);
    }));
  }

  std::vector<std::string> gather(const std::string &text,
                                  const std::string &what) override {
    std::vector<std::string> texts(worldSize);
    wait(submit(what, [&] {
      int length = static_cast<int>(text.size());
      std::vector<int> lengths(worldSize), offsets(worldSize);
      check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT,
                          MPI_COMM_WORLD),
            what);
      int total = 0;
      for (int r = 0; r < worldSize; ++r) {
        offsets[r] = total;
        total += lengths[r];
      }
      std::string all(total, '\0');
      check(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(),
                           lengths.data(), offsets.data(), MPI_CHAR,
                           MPI_COMM_WORLD),
            what);
      for (int r = 0; r < worldSize; ++r)
        texts[r] = all.substr(offsets[r], lengths[r]);
    }));
    return texts;
  }

  [[noreturn]] void abort(const std::string &message) override {
    std::fprintf(stderr, "densenet-run: error: %s\n", message.c_str());
    std::fflush(stderr);
    // From the training thread: the MPI thread may be blocked in a
    // collective that will never finish. Open MPI's abort kills every rank.
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

private:
  int64_t submit(const std::string &what, std::function<void()> work) {
    std::lock_guard lock(mutex);
    queue.push_back({++submitted, what, std::move(work)});
    changed.notify_all();
    return submitted;
  }

  void check(int code, const std::string &what) {
    if (code != MPI_SUCCESS)
      throw std::runtime_error("rank " + std::to_string(worldRank) + ": " +
                               what + " failed: " + mpiError(code));
  }

  void run() {
    int provided = 0;
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    {
      std::lock_guard lock(mutex);
      if (code != MPI_SUCCESS) {
        startError = "MPI_Init_thread failed: " + mpiError(code);
      } else {
        // Errors come back as codes and become messages, not aborts.
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
        MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, worldRank,
                            MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &nodeRank);
        MPI_Comm_size(node, &nodeSize);
        MPI_Comm_free(&node);
      }
      started = true;
    }
    changed.notify_all();
    if (code != MPI_SUCCESS)
      return;
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          break;
        task = std::move(queue.front());
        queue.pop_front();
        pendingName = task.what;
      }
      std::string error;
      try {
        task.work();
      } catch (const std::exception &exception) {
        error = exception.what();
      }
      {
        std::lock_guard lock(mutex);
        finished = task.ticket;
        if (!error.empty() && failure.empty())
          failure = error;
      }
      changed.notify_all();
    }
    MPI_Finalize();
  }

  struct Task {
    int64_t ticket = 0;
    std::string what;
    std::function<void()> work;
  };

  double timeout;
  int worldRank = 0, worldSize = 1, nodeRank = 0, nodeSize = 1;

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Task> queue;
  int64_t submitted = 0, finished = 0;
  std::string pendingName, failure, startError;
  bool started = false, stopping = false;
  std::thread thread; // last: started once everything above exists
};

} // namespace

std::unique_ptr<Communicator>
densenet::dist::createMpiCommunicator(double timeoutSeconds) {
  return std::make_unique<MpiCommunicator>(timeoutSeconds);
}
