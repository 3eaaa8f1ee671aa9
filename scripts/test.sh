#!/usr/bin/env bash
# Builds densenet and runs the whole test suite: the lit tests (FileCheck:
# dialects, passes, diagnostics, the densenetc command line, presets) and
# the GoogleTest unit tests through ctest. Both runners print their summary;
# the script fails if either fails.
#
#   BUILD_DIR=build JOBS=2 bash scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
lit=/usr/lib/llvm-19/build/utils/lit/lit.py

set -e
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$jobs"
set +e

status=0
echo "== lit: $build_dir/test/lit"
python3 "$lit" -sv "$build_dir/test/lit" || status=1
echo "== ctest: unit tests"
(cd "$build_dir" && ctest --output-on-failure -j "$jobs") || status=1

if [ "$status" -ne 0 ]; then
  echo "test.sh: FAILED (see the summaries above)"
else
  echo "test.sh: all tests passed"
fi
exit "$status"
