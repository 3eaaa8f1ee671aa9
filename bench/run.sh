#!/usr/bin/env bash
# Regenerates every benchmark that runs on this machine, then the README's
# "Results" section from their result files. About 70 minutes on 2 cores
# (the 5-epoch Fashion-MNIST training is most of it). Run on an idle machine
# after scripts/setup.sh; it configures and builds what it needs:
#
#   bash scripts/setup.sh && bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -G Ninja -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}" --target densenetc densenet-run densenet-solver-bench
/usr/bin/python3 bench/plan_quality/run.py --bin "$build/bin/densenetc"
/usr/bin/python3 bench/solver/run.py --bin-dir "$build/bin"
/usr/bin/python3 bench/cpu_step/run.py --build "$build"
/usr/bin/python3 bench/accuracy/run.py --build "$build"
/usr/bin/python3 bench/readme_results.py
