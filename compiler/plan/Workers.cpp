//===- Workers.cpp - A small pool of helper threads -----------------------===//

#include "compiler/plan/Workers.h"

#include <algorithm>
#include <utility>

using namespace densenet::plan;

unsigned Workers::resolve(unsigned count) {
  return std::max(1u, count ? count : std::thread::hardware_concurrency());
}

Workers::Workers(unsigned count) : count(resolve(count)) {}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread &thread : threads)
    thread.join();
}

void Workers::run(const std::function<void(unsigned)> &work) {
  if (count == 1) {
    work(0);
    return;
  }
  if (threads.empty())
    for (unsigned t = 1; t < count; ++t)
      threads.emplace_back([this, t] { serve(t); });
  {
    std::lock_guard<std::mutex> lock(mutex);
    task = &work;
    pending = count - 1;
    failure = nullptr;
    ++generation;
  }
  wake.notify_all();
  // Every thread finishes before `work` goes out of scope, whatever throws;
  // the first exception is rethrown here.
  std::exception_ptr own;
  try {
    work(0);
  } catch (...) {
    own = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return pending == 0; });
  task = nullptr;
  if (own)
    std::rethrow_exception(own);
  if (failure)
    std::rethrow_exception(std::exchange(failure, nullptr));
}

void Workers::serve(unsigned index) {
  size_t seen = 0;
  while (true) {
    const std::function<void(unsigned)> *work;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      work = task;
    }
    std::exception_ptr thrown;
    try {
      (*work)(index);
    } catch (...) {
      thrown = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex);
    if (thrown && !failure)
      failure = thrown;
    if (--pending == 0)
      done.notify_one();
  }
}
