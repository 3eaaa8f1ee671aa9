#!/usr/bin/env bash
# Builds densenet with AddressSanitizer and UndefinedBehaviorSanitizer in a
# build directory of its own (build-asan, GCC, -DDENSENET_SANITIZE=ON) and
# runs the whole test suite there: lit, whose tests run the instrumented
# tools from build-asan/bin (also when a Python script spawns them), and the
# GoogleTest unit tests through ctest. Both print their summary.
#
# Any sanitizer finding fails the run, even in a test that expects a tool to
# fail (`not densenetc ...` passes whatever the exit code, and a Python check
# may discard stderr): every report goes to a file under
# build-asan/sanitizer-reports (log_path; GCC's UBSan needs
# test/sanitizer/UbsanLogPath.cpp for that), and any file there fails the
# run. The output lit and ctest keep of every test is searched for reports
# too. Debian's LLVM, MLIR, oneDNN, zlib and CUDA code are not instrumented;
# ASan still checks every access our code makes.
#
#   BUILD_DIR=build-asan JOBS=2 bash scripts/sanitize.sh
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-asan}
jobs=${JOBS:-2}
lit=/usr/lib/llvm-19/build/utils/lit/lit.py
start=$(date +%s)

set -e
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DDENSENET_SANITIZE=ON >/dev/null
cmake --build "$build_dir" -j "$jobs"
set +e
built=$(date +%s)

reports="$build_dir/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
reports=$(cd "$reports" && pwd) # tests run in other directories
symbolizer=/usr/lib/llvm-19/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer
# halt_on_error: stop at the first finding. detect_leaks: LeakSanitizer too.
# (The tests that start ranks with mpirun unwind allocations fully, so that
# Open MPI's leaks can be suppressed by library: test/lit/dist/lit.local.cfg.)
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
# Open MPI's own allocations live until exit (test/sanitizer/lsan.supp);
# its components stay loaded so that their leaks name them.
export LSAN_OPTIONS="suppressions=$PWD/test/sanitizer/lsan.supp:print_suppressions=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1

status=0
lit_log="$build_dir/lit-all-output.log"
echo "== lit: $build_dir/test/lit (every test's output: $lit_log)"
# -a keeps the output of passing tests too, for the search below; the
# console gets lit's summary and the failures.
python3 "$lit" -sv -a "$build_dir/test/lit" >"$lit_log" 2>&1 || status=1
if [ "$status" -ne 0 ]; then
  grep -E '^(FAIL|XPASS|UNRESOLVED|TIMEOUT):' "$lit_log"
fi
awk '/^(Failed Tests|Unexpectedly Passed Tests|Timed Out Tests|Testing Time)/ { show = 1 } show' "$lit_log"
echo "== ctest: unit tests"
(cd "$build_dir" && ctest --output-on-failure -j "$jobs") || status=1

# Reports in files, then any that reached the tests' output instead (ctest
# keeps every test's output in LastTest.log).
found=$(find "$reports" -type f | sort)
if [ -n "$found" ]; then
  echo "== sanitizer reports"
  for report in $found; do
    echo "-- $report"
    head -n 60 "$report"
  done
  status=1
fi
in_output=$(grep -h -E '(runtime error:|ERROR: (Address|Leak)Sanitizer|SUMMARY: [A-Za-z]+Sanitizer)' \
  "$lit_log" "$build_dir/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u)
if [ -n "$in_output" ]; then
  echo "== sanitizer reports in the tests' output ($lit_log, $build_dir/Testing/Temporary/LastTest.log)"
  echo "$in_output"
  status=1
fi

end=$(date +%s)
echo "sanitize.sh: build $((built - start))s, tests $((end - built))s"
if [ "$status" -ne 0 ]; then
  echo "sanitize.sh: FAILED (see the summaries and reports above)"
else
  echo "sanitize.sh: all tests passed with no sanitizer findings"
fi
exit "$status"
