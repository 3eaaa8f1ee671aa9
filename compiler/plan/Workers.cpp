//===- Workers.cpp - A small pool of helper threads -----------------------===//

#include "compiler/plan/Workers.h"

#include <algorithm>

using namespace densenet::plan;

Workers::Workers(unsigned count)
    : count(std::max(1u, count ? count : std::thread::hardware_concurrency())) {
}

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
    ++generation;
  }
  wake.notify_all();
  work(0);
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return pending == 0; });
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
    (*work)(index);
    std::lock_guard<std::mutex> lock(mutex);
    if (--pending == 0)
      done.notify_one();
  }
}
