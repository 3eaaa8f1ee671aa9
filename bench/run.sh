#!/usr/bin/env bash
# Regenerates every benchmark that runs on this machine, then the README's
# "Results" section from their result files. About 45 minutes on 2 cores
# (the Fashion-MNIST training is most of it). Run on an idle machine after
# scripts/setup.sh and a build (scripts/test.sh or scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake --build "$build" -j "${JOBS:-2}" --target densenetc densenet-run
/usr/bin/python3 bench/plan_quality/run.py --bin "$build/bin/densenetc"
/usr/bin/python3 bench/cpu_step/run.py --build "$build"
/usr/bin/python3 bench/accuracy/run.py --build "$build"
/usr/bin/python3 bench/readme_results.py
