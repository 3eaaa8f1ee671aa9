#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang, with ASan and UBSan) in a
# build directory of their own and runs each for a set time, starting from a
# copy of its committed seed corpus (test/fuzz/corpus/<target>; the copy
# grows, the committed corpus does not). Inputs that once crashed a target
# (test/fuzz/regressions/<target>) are replayed first. Prints one summary
# line per target and fails if any target crashes, leaks, hangs or runs out
# of memory; the input that did it is saved in <build>/crashes/<target>/.
#
#   bash scripts/fuzz.sh [seconds per target]        (default 60)
#   TARGETS="plan safetensors" BUILD_DIR=build-fuzz JOBS=2 bash scripts/fuzz.sh 30
#
# A saved input reproduces with: <build>/bin/fuzz-<target> <file>
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build_dir=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
# Debian 12's clang 19 with libFuzzer (clang-19, libclang-rt-19-dev: scripts/setup.sh).
cc=${FUZZ_CC:-clang-19}
cxx=${FUZZ_CXX:-clang++-19}
read -r -a targets <<<"${TARGETS:-model-spec plan idx cifar10 safetensors}"

case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: the time per target must be whole seconds, got '$seconds'" >&2; exit 2 ;;
esac

set -e
CC=$cc CXX=$cxx cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DDENSENET_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
build_targets=()
for target in "${targets[@]}"; do build_targets+=("fuzz-$target"); done
cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"
set +e

symbolizer=/usr/lib/llvm-19/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

status=0
summary=()
for target in "${targets[@]}"; do
  binary="$build_dir/bin/fuzz-$target"
  corpus="$build_dir/corpus/$target"
  crashes="$build_dir/crashes/$target"
  log="$build_dir/logs/$target.log"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  cp test/fuzz/corpus/"$target"/* "$corpus"/

  echo "== fuzz-$target: ${seconds}s from $(ls "$corpus" | wc -l) seeds"
  regressions=()
  if [ -d "test/fuzz/regressions/$target" ]; then
    regressions=(test/fuzz/regressions/"$target"/*)
  fi
  if [ ${#regressions[@]} -gt 0 ] && [ -e "${regressions[0]}" ]; then
    if ! "$binary" "${regressions[@]}" >"$log.regressions" 2>&1; then
      tail -n 40 "$log.regressions"
      summary+=("$(printf '%-12s REGRESSION: a committed crash input fails again (%s)' "$target" "$log.regressions")")
      status=1
      continue
    fi
  fi

  start=$(date +%s)
  # -timeout: an input that takes 10 s is a hang. -rss_limit_mb: libFuzzer's
  # default, stated; a larger allocation is reported as out of memory.
  "$binary" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
  result=$?
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  artifacts=$(find "$crashes" -type f | wc -l)
  if [ "$result" -eq 0 ] && [ "$artifacts" -eq 0 ]; then
    verdict=clean
  else
    verdict="FOUND (exit $result): $(find "$crashes" -type f | tr '\n' ' ')"
    status=1
    grep -E '^==[0-9]+==ERROR|runtime error|finding:|^SUMMARY|terminate called|what\(\)' "$log" | head -n 8
  fi
  summary+=("$(printf '%-12s %10s runs %7s/s  cov %5s  %4ss  %s' "$target" "${runs:-?}" "${speed:-?}" "${coverage:-?}" "$elapsed" "$verdict")")
done

echo "== fuzz summary (${seconds}s per target; logs in $build_dir/logs)"
printf '%s\n' "${summary[@]}"
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: FAILED: reproduce with $build_dir/bin/fuzz-<target> <input>"
else
  echo "fuzz.sh: all targets clean"
fi
exit "$status"
