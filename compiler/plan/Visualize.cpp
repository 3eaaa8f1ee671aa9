//===- Visualize.cpp - Memory timeline of a plan --------------------------===//

#include "compiler/plan/Visualize.h"

#include "compiler/Sizes.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace densenet;
using namespace densenet::plan;
using Json = nlohmann::ordered_json;

static int phaseThread(Phase phase) { return static_cast<int>(phase) + 1; }

Json densenet::plan::planToTrace(const MemoryPlan &plan) {
  Json events = Json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"args", {{"name", "densenet training step (predicted)"}}}});
  for (Phase phase : {Phase::Forward, Phase::Recompute, Phase::Backward,
                      Phase::Update})
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", 1},
                      {"tid", phaseThread(phase)},
                      {"args", {{"name", stringifyPhase(phase).str()}}}});

  double now = 0; // microseconds
  for (size_t i = 0; i < plan.schedule.steps.size(); ++i) {
    const Step &step = plan.schedule.steps[i];
    double duration = std::max(step.seconds * 1e6, 0.001);
    Json counter = {{"name", "memory"}, {"ph", "C"}, {"ts", now}, {"pid", 1}};
    Json args = Json::object();
    for (int c = 0; c < kNumCategories; ++c)
      args[stringifyCategory(static_cast<Category>(c)).str()] =
          plan.liveness.liveByCategory[i][c];
    args["reserve"] = plan.reserveBytes;
    counter["args"] = args;
    events.push_back(std::move(counter));
    events.push_back({{"name", step.layer},
                      {"cat", stringifyPhase(step.phase).str()},
                      {"ph", "X"},
                      {"ts", now},
                      {"dur", duration},
                      {"pid", 1},
                      {"tid", phaseThread(step.phase)},
                      {"args",
                       {{"op", step.op},
                        {"step", i},
                        {"flops", step.flops},
                        {"live_bytes", plan.liveness.liveBytes[i]}}}});
    now += duration;
  }
  return Json{{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

std::string densenet::plan::planToSvg(const MemoryPlan &plan,
                                      const std::string &title) {
  const std::vector<Step> &steps = plan.schedule.steps;
  const double width = 1200, height = 560;
  const double left = 90, right = 190, top = 50, bottom = 60;
  const double plotWidth = width - left - right;
  const double plotHeight = height - top - bottom;
  int64_t most = plan.predictedPeakBytes;
  if (plan.budgetBytes)
    most = std::max(most, *plan.budgetBytes);
  most = std::max<int64_t>(most, 1);
  size_t count = std::max<size_t>(steps.size(), 1);
  auto x = [&](double step) { return left + plotWidth * step / count; };
  auto y = [&](double bytes) {
    return top + plotHeight * (1.0 - bytes / (most * 1.05));
  };

  std::string svg;
  llvm::raw_string_ostream os(svg);
  os << llvm::formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                      "width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                      "font-family=\"sans-serif\" font-size=\"12\">\n",
                      width, height);
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << llvm::formatv("<text x=\"{0}\" y=\"28\" font-size=\"16\">{1}</text>\n",
                      left, title);

  // Recompute steps, shaded behind the curves.
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].phase == Phase::Recompute)
      os << llvm::formatv("<rect x=\"{0:F2}\" y=\"{1}\" width=\"{2:F2}\" "
                          "height=\"{3}\" fill=\"#f4c7c3\"/>\n",
                          x(i), top, std::max(plotWidth / count, 0.5),
                          plotHeight);

  // Stacked areas: the reserve at the bottom, then each category.
  static const char *colors[] = {"#4e79a7", "#59a14f", "#9c755f", "#edc948",
                                 "#b07aa1", "#f28e2b", "#e15759", "#76b7b2"};
  std::vector<double> base(steps.size(), double(plan.reserveBytes));
  auto band = [&](const std::vector<double> &upper, const char *color) {
    os << "<path fill=\"" << color << "\" stroke=\"none\" d=\"";
    for (size_t i = 0; i < steps.size(); ++i)
      os << (i ? " L" : "M") << llvm::formatv("{0:F2},{1:F2}", x(i), y(upper[i]))
         << llvm::formatv(" L{0:F2},{1:F2}", x(i + 1), y(upper[i]));
    for (size_t i = steps.size(); i-- > 0;)
      os << llvm::formatv(" L{0:F2},{1:F2} L{2:F2},{1:F2}", x(i + 1),
                          y(base[i]), x(i));
    os << " Z\"/>\n";
  };
  std::vector<double> reserveTop(steps.size(), double(plan.reserveBytes));
  {
    std::vector<double> zero(steps.size(), 0.0);
    std::swap(base, zero);
    band(reserveTop, "#bab0ac");
    std::swap(base, zero);
  }
  for (int c = 0; c < kNumCategories; ++c) {
    std::vector<double> upper(base);
    for (size_t i = 0; i < steps.size(); ++i)
      upper[i] += double(plan.liveness.liveByCategory[i][c]);
    band(upper, colors[c]);
    base = upper;
  }

  // Axes, ticks in bytes, the budget line.
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                      "stroke=\"black\"/>\n",
                      left, top, top + plotHeight);
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                      "stroke=\"black\"/>\n",
                      left, top + plotHeight, left + plotWidth);
  for (int t = 0; t <= 5; ++t) {
    double bytes = most * 1.05 * t / 5;
    os << llvm::formatv("<text x=\"{0}\" y=\"{1:F1}\" text-anchor=\"end\">{2}"
                        "</text>\n",
                        left - 6, y(bytes) + 4,
                        formatBytes(static_cast<int64_t>(bytes)));
  }
  for (int t = 0; t <= 10; ++t) {
    size_t step = count * t / 10;
    os << llvm::formatv("<text x=\"{0:F1}\" y=\"{1}\" text-anchor=\"middle\">"
                        "{2}</text>\n",
                        x(step), top + plotHeight + 18, step);
  }
  os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">step "
                      "(forward, then backward with recomputation)</text>\n",
                      left + plotWidth / 2, height - 18);
  if (plan.budgetBytes) {
    os << llvm::formatv("<line x1=\"{0}\" y1=\"{1:F2}\" x2=\"{2}\" "
                        "y2=\"{1:F2}\" stroke=\"#d62728\" stroke-width=\"2\" "
                        "stroke-dasharray=\"6,4\"/>\n",
                        left, y(double(*plan.budgetBytes)), left + plotWidth);
    os << llvm::formatv("<text x=\"{0}\" y=\"{1:F2}\" fill=\"#d62728\">budget "
                        "{2}</text>\n",
                        left + 4, y(double(*plan.budgetBytes)) - 5,
                        formatBytes(*plan.budgetBytes));
  }

  // Legend.
  double legendY = top;
  auto legend = [&](const char *color, llvm::StringRef label) {
    os << llvm::formatv("<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"12\" "
                        "fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5}</text>\n",
                        left + plotWidth + 14, legendY, color,
                        left + plotWidth + 32, legendY + 11, label);
    legendY += 18;
  };
  for (int c = kNumCategories - 1; c >= 0; --c)
    legend(colors[c], stringifyCategory(static_cast<Category>(c)));
  legend("#bab0ac", "reserve");
  legend("#f4c7c3", "recompute steps");
  os << "</svg>\n";
  return svg;
}
