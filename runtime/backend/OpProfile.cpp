//===- OpProfile.cpp - Time per op kind, for DENSENET_PROFILE -------------===//

#include "runtime/backend/OpProfile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

using namespace densenet::runtime;

bool OpProfile::requested() {
  const char *setting = std::getenv("DENSENET_PROFILE");
  return setting && std::string_view(setting) != "" &&
         std::string_view(setting) != "0";
}

void OpProfile::add(const std::string &label, double seconds, bool run) {
  Entry &entry = entries[label];
  entry.runs += run ? 1 : 0;
  entry.seconds += seconds;
}

double OpProfile::totalSeconds() const {
  double total = 0;
  for (const auto &[label, entry] : entries)
    total += entry.seconds;
  return total;
}

void OpProfile::report(std::ostream &out, const std::string &how) const {
  if (steps == 0) {
    out << "profile: no training step timed (the first is not: it pays "
           "one-time costs; run at least 2)\n";
    return;
  }
  std::vector<std::pair<std::string, Entry>> rows(entries.begin(),
                                                  entries.end());
  // Slowest first; ties by label, so the order is stable.
  std::stable_sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second.seconds > b.second.seconds;
  });
  double total = totalSeconds();
  char line[256];
  out << "profile: " << steps << " training step(s) after the first, " << how
      << "\n";
  std::snprintf(line, sizeof line, "profile: %-40s %8s %10s %10s %7s\n", "op",
                "runs", "total s", "ms/step", "share");
  out << line;
  for (const auto &[label, entry] : rows) {
    std::snprintf(line, sizeof line,
                  "profile: %-40s %8lld %10.4f %10.3f %6.1f%%\n",
                  label.c_str(), static_cast<long long>(entry.runs),
                  entry.seconds, 1e3 * entry.seconds / double(steps),
                  total > 0 ? 100.0 * entry.seconds / total : 0.0);
    out << line;
  }
  std::snprintf(line, sizeof line,
                "profile: %-40s %8s %10.4f %10.3f %6.1f%%\n", "all", "",
                total, 1e3 * total / double(steps), 100.0);
  out << line;
}
