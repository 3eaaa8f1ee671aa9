#!/usr/bin/env bash
# The GPU check, in two halves (issue 6; the device tool's machine has CUDA,
# CMake, ninja and PyTorch, but none of Debian's packages and no network).
#
#   bash scripts/gpu-check.sh --prepare    # here, after scripts/test.sh built build/:
#                                          # fills .gpu/ (deps + plans) to carry
#   bash scripts/gpu-check.sh              # there, in the repository root, .gpu carried:
#                                          # results under $OUT (default ./gpu-results)
#
# --prepare copies what the runtime needs and the GPU machine lacks into
# .gpu/deps (nlohmann/json, CLI11, zlib and oneDNN headers, libdnnl, the
# libOpenCL it links to, libz, GoogleTest's sources) and compiles the plans with this build's densenetc
# into .gpu/plans: DenseNet-121 at batch 64 for the h200 target with nothing
# recomputed, at its smallest budget, and in bf16 and f16, at the largest
# batch that fits 12 GB, and
# DenseNet-BC-100 for CIFAR (in f32 and f16), also
# with all-reduce buckets over one rank (the NCCL path without MPI, which
# the GPU machine lacks).
#
# On the GPU machine, in under 9 minutes (GPU_CHECK_SECONDS, default 540:
# sections that would run past it are skipped and logged, most important
# first): builds the runtime alone with CUDA
# (-DDENSENET_RUNTIME_ONLY=ON), runs the CUDA conformance tests against the
# CPU kernels, trains a few hundred steps on synthetic data, measures
# densenet-run's images/s and peak device memory for each plan, and PyTorch's
# torchvision DenseNet-121 at the same batch (memory_efficient False and
# True, channels-last, AMP) with bench/gpu/torch_step.py, and the largest
# batch PyTorch fits in 12 GB, and, if time is left, where densenet-run's
# step time goes per op kind (DENSENET_PROFILE). $OUT (default ./gpu-results) gets
# summary.txt, gpu-results.json and .md, torch.json and logs.tar.gz (every
# log and metrics file): the device tool returns at most 8 files.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  set -e
  densenetc=${DENSENETC:-build/bin/densenetc}
  rm -rf .gpu && mkdir -p .gpu/deps/include .gpu/deps/lib .gpu/plans
  cp -r /usr/include/nlohmann /usr/include/CLI .gpu/deps/include/
  cp /usr/include/zlib.h /usr/include/zconf.h .gpu/deps/include/
  cp /usr/include/dnnl*.h* .gpu/deps/include/ && cp -r /usr/include/oneapi .gpu/deps/include/
  cp -L /usr/lib/x86_64-linux-gnu/libdnnl.so.2 .gpu/deps/lib/libdnnl.so.2
  cp -L /usr/lib/x86_64-linux-gnu/libOpenCL.so.1 .gpu/deps/lib/libOpenCL.so.1 # libdnnl needs it
  cp -L /lib/x86_64-linux-gnu/libz.so.1 .gpu/deps/lib/libz.so.1
  cp -r /usr/src/googletest .gpu/deps/googletest
  "$densenetc" --target h200 --model densenet121 --batch-size 64 -o .gpu/plans/d121-keep.json
  budget=$("$densenetc" --target h200 --model densenet121 --batch-size 64 --min-budget |
           sed -n 's/.*(\([0-9]*\) bytes).*/\1/p')
  "$densenetc" --target h200 --model densenet121 --batch-size 64 --mem-budget "$budget" \
    -o .gpu/plans/d121-min.json
  "$densenetc" --target h200 --model densenet-bc-100 --batch-size 64 -o .gpu/plans/bc100.json
  # Mixed precision: bf16, and f16 with dynamic loss scaling.
  for dtype in bf16 f16; do
    "$densenetc" --target h200 --model densenet121 --batch-size 64 --dtype $dtype \
      -o .gpu/plans/d121-$dtype.json
  done
  "$densenetc" --target h200 --model densenet-bc-100 --batch-size 64 --dtype f16 \
    -o .gpu/plans/bc100-f16.json
  # A whole training step against PyTorch (scripts/runtime_step_check.py's model).
  printf '%s\n' '{"name": "bc", "input": {"channels": 3, "height": 32, "width": 32}, "num_classes": 10,' \
    ' "growth_rate": 6, "block_config": [2, 3, 2], "num_init_features": 12, "bn_size": 4,' \
    ' "compression": 0.5, "batch_size": 8, "stem": "cifar"}' > .gpu/plans/step-bc-model.json
  "$densenetc" --target h200 --reserve 0 .gpu/plans/step-bc-model.json -o .gpu/plans/step-bc.json
  # The same model's whole steps in every dtype, on the GPU and on the CPU
  # (whose bf16/f16 is the emulated reference).
  for dtype in f32 bf16 f16; do
    "$densenetc" --target h200 --reserve 0 .gpu/plans/step-bc-model.json --dtype $dtype \
      -o .gpu/plans/step-bc-$dtype-gpu.json
    "$densenetc" --target cpu --reserve 0 .gpu/plans/step-bc-model.json --dtype $dtype \
      -o .gpu/plans/step-bc-$dtype-cpu.json
  done
  # The NCCL all-reduce path with one rank (no MPI there): must change no bit.
  "$densenetc" --target h200 --model densenet-bc-100 --batch-size 64 --bucket-size 4MiB \
    -o .gpu/plans/bc100-nccl.json
  # The largest DenseNet-121 batch in 12 GB, without and with recomputation.
  "$densenetc" --target h200 --model densenet121 --batch-size 64 --mem-budget 12GB --emit report \
    -o /dev/null | sed -n 's/^largest batch *\([0-9]*\) with no recompute, \([0-9]*\) with this policy/{"keep": \1, "optimal": \2}/p' \
    > .gpu/plans/largest.json
  grep -q optimal .gpu/plans/largest.json
  "$densenetc" --target h200 --model densenet121 --batch-size 64 --dtype bf16 --mem-budget 12GB \
    --emit report -o /dev/null |
    sed -n 's/^largest batch *\([0-9]*\) with no recompute, \([0-9]*\) with this policy/{"keep bf16": \1, "optimal bf16": \2}/p' \
    > .gpu/plans/largest-bf16.json
  python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); a.update(b); json.dump(a, open(sys.argv[1], "w"))' \
    .gpu/plans/largest.json .gpu/plans/largest-bf16.json
  grep -q "optimal bf16" .gpu/plans/largest.json
  # That largest f32 batch's plan, to run on the device: the 12 GB promise
  # where it is tightest.
  largest=$(python3 -c 'import json; print(json.load(open(".gpu/plans/largest.json"))["optimal"])')
  "$densenetc" --target h200 --model densenet121 --batch-size "$largest" --mem-budget 12GB \
    -o .gpu/plans/d121-largest.json
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  du -sh .gpu
  echo "gpu-check.sh: .gpu prepared; carry it: run(command='bash scripts/gpu-check.sh', carry=['.gpu'])"
  exit 0
fi

# The device tool returns at most 8 files from $OUT, so everything is
# written to a work folder, and at exit (a failed build too) $OUT gets the
# summary, the results, PyTorch's figures and every log in one tarball.
results=${OUT:-gpu-results}
mkdir -p "$results"
out=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
finish() {
  for f in summary.txt gpu-results.json gpu-results.md torch.json; do
    [ -f "$out/$f" ] && cp "$out/$f" "$results/"
  done
  tar czf "$results/logs.tar.gz" -C "$out" --exclude=kernel-cache --exclude='*.safetensors' .
}
trap finish EXIT
log() { echo "== $*" | tee -a "$out/summary.txt"; }
status=0
# The device tool stops a command after 600 s. Each section runs only if the
# time it may need is left (GPU_CHECK_SECONDS, default 540, from here), most
# important first; a skipped section is logged and fails the check, and
# the results are collected whatever ran.
deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-540} ))
left() { echo $(( deadline - $(date +%s) )); }
section() { # title seconds
  if [ "$(left)" -ge "$2" ]; then log "$1"; return 0; fi
  log "SKIPPED, $(left) s left of the time budget (needs ~$2 s): $1"; status=1; return 1
}
# A command's time limit: at most $1 seconds (about twice what it should
# take, so that one hang cannot eat the sections after it), never past the
# deadline; `limit N command...` also kills what ignores the first signal.
cap() { local t=$(( $(left) - 10 )); [ "$t" -gt "$1" ] && t=$1; [ "$t" -lt 1 ] && t=1; echo "$t"; }
limit() { local seconds=$1; shift; timeout -k 5 "$(cap "$seconds")" "$@"; }
export PYTHONUNBUFFERED=1

log "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
[ -d .gpu/deps ] || { log "no .gpu/deps: run scripts/gpu-check.sh --prepare here first and carry .gpu"; exit 1; }
export LD_LIBRARY_PATH=$PWD/.gpu/deps/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
# The fused kernels densenet-run compiles with NVRTC are kept here.
export DENSENET_KERNEL_CACHE=$out/kernel-cache
# No network there: NCCL stays on this machine.
export NCCL_SOCKET_IFNAME=lo NCCL_DEBUG=WARN

log "build (runtime only, CUDA)"
start=$(date +%s)
if ! { cmake -G Ninja -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDENSENET_RUNTIME_ONLY=ON \
         -DDENSENET_DEPS_DIR="$PWD/.gpu/deps" -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc &&
       cmake --build build-gpu -j 16; } > "$out/build.log" 2>&1; then
  log "build FAILED (build.log)"; tail -40 "$out/build.log" | tee -a "$out/summary.txt"; exit 1
fi
log "built in $(( $(date +%s) - start )) s"

if section "CUDA conformance tests (vs the CPU kernels)" 60; then
  limit 90 build-gpu/bin/densenet-cuda-tests > "$out/conformance.log" 2>&1 || status=1
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests? from .* ran" "$out/conformance.log" | tee -a "$out/summary.txt"
  if grep -q '^\[  SKIPPED \]' "$out/conformance.log"; then
    log "conformance tests SKIPPED: the GPU was not usable"; status=1
  fi
fi

# Synthetic data holds 1024 images (16 steps of 64 a epoch), and the
# results table reads the last epoch's figures: runs are whole epochs.
run_plan() { # name plan steps
  local name=$1 plan=$2 steps=$3
  limit 120 build-gpu/bin/densenet-run "$plan" --data synthetic --steps "$steps" --device cuda \
    --no-eval --progress lines --metrics "$out/$name.metrics.jsonl" > "$out/$name.log" 2>&1 || status=1
  tail -2 "$out/$name.log" | tee -a "$out/summary.txt"
}
if section "whole training steps vs PyTorch (float64 reference, the CPU test's tolerance)" 60; then
limit 90 python3 scripts/runtime_step_check.py .gpu/plans/step-bc-model.json \
  --plan .gpu/plans/step-bc.json --densenet-run build-gpu/bin/densenet-run --device cuda \
  --steps 3 > "$out/step-check.log" 2>&1 || status=1
tee -a "$out/summary.txt" < "$out/step-check.log"
for dtype in bf16 f16; do
  limit 90 python3 scripts/runtime_step_check.py .gpu/plans/step-bc-model.json \
    --plan .gpu/plans/step-bc-$dtype-gpu.json --dtype $dtype --tolerance 0.1 \
    --densenet-run build-gpu/bin/densenet-run --device cuda --steps 2 \
    > "$out/step-check-$dtype.log" 2>&1 || status=1
  tee -a "$out/summary.txt" < "$out/step-check-$dtype.log"
done
fi

if section "whole steps in f32, bf16 and f16: the GPU's per-step losses against the CPU's (5 steps)" 60; then
for dtype in f32 bf16 f16; do
  case $dtype in f32) tolerance=1e-4 ;; bf16) tolerance=5e-3 ;; f16) tolerance=2e-3 ;; esac
  for device in cpu gpu; do
    rm -f "$out/steps-$dtype-$device.jsonl"
    limit 60 build-gpu/bin/densenet-run .gpu/plans/step-bc-$dtype-$device.json \
      --device $([ $device = gpu ] && echo cuda || echo cpu) --data synthetic --limit-train 8 \
      --steps 5 --seed 1 --schedule constant --no-eval --progress none \
      --metrics "$out/steps-$dtype-$device.jsonl" > "$out/steps-$dtype-$device.log" 2>&1 ||
      { status=1; tail -3 "$out/steps-$dtype-$device.log"; }
  done
  python3 scripts/compare_losses.py "$out/steps-$dtype-gpu.jsonl" "$out/steps-$dtype-cpu.jsonl" \
    --tolerance $tolerance --label "$dtype GPU/CPU" 2>&1 | tee -a "$out/summary.txt" || status=1
done
fi

section "training: DenseNet-BC-100 b64, 304 steps" 45 &&
  run_plan bc100 .gpu/plans/bc100.json 304
# Then with TF32 convolutions (DENSENET_TF32=1), as PyTorch's f32 default
# lets cuDNN: its f32 figures below are those of TF32 convolutions.
if section "training: DenseNet-121 b64, nothing recomputed, 112 steps, f32 then TF32" 60; then
  run_plan d121-keep .gpu/plans/d121-keep.json 112
  DENSENET_TF32=1 run_plan d121-keep-tf32 .gpu/plans/d121-keep.json 112
fi
section "training: DenseNet-121 b64 at its smallest budget, 112 steps" 40 &&
  run_plan d121-min .gpu/plans/d121-min.json 112
# The largest f32 batch densenetc fits in 12 GB: the device memory this
# process holds must stay within the budget (densenet-run fails otherwise).
if section "the largest DenseNet-121 batch in 12 GB (f32, optimal plan): 6 steps within the budget" 60; then
  run_plan d121-largest .gpu/plans/d121-largest.json 6
  grep -h "device memory of this process" "$out/d121-largest.log" | tail -1 | tee -a "$out/summary.txt"
fi
if section "training: DenseNet-121 b64 in bf16, then f16 (dynamic loss scaling), 112 steps each" 70; then
  run_plan d121-bf16 .gpu/plans/d121-bf16.json 112
  run_plan d121-f16 .gpu/plans/d121-f16.json 112
  grep -h "loss scale" "$out/d121-f16.log" | tail -1 | tee -a "$out/summary.txt"
fi

# PyTorch's figures are written as soon as each is measured: a cut-off
# search still leaves the timings.
if section "PyTorch torchvision DenseNet-121 b64 (same GPU): step time and memory" 80; then
  limit 200 python3 bench/gpu/torch_step.py --batch-size 64 --steps 20 --json "$out/torch.json" \
    > "$out/torch.log" 2>&1 || status=1
  tee -a "$out/summary.txt" < "$out/torch.log"
fi
if section "PyTorch torchvision DenseNet-121: the largest batch in 12 GB" 60; then
  limit 200 python3 bench/gpu/torch_step.py --batch-size 64 --largest-in 12e9 --largest-only \
    --json "$out/torch.json" > "$out/torch-largest.log" 2>&1 || status=1
  tee -a "$out/summary.txt" < "$out/torch-largest.log"
fi

if section "NCCL all-reduce path, one rank: weights must equal the plain plan's" 40; then
for p in bc100 bc100-nccl; do
  limit 60 build-gpu/bin/densenet-run .gpu/plans/$p.json --data synthetic --steps 20 --seed 1 \
    --device cuda --no-eval --progress none --save-weights "$out/$p.safetensors" \
    > "$out/$p-weights.log" 2>&1 || { status=1; tail -3 "$out/$p-weights.log"; }
done
python3 scripts/compare_weights.py "$out/bc100.safetensors" "$out/bc100-nccl.safetensors" 2>&1 |
  tee -a "$out/summary.txt" || status=1
rm -f "$out"/*.safetensors
fi

if section "fused kernels (NVRTC) and update runs against separate ones: same weights (f32, then f16), and the speed of each" 90; then
for plan in bc100 bc100-f16; do
  for f in 1 0; do
    DENSENET_FUSION=$f limit 60 build-gpu/bin/densenet-run .gpu/plans/$plan.json --data synthetic \
      --steps 20 --seed 1 --device cuda --no-eval --progress none \
      --save-weights "$out/fusion$f.safetensors" > "$out/$plan-fusion$f-weights.log" 2>&1 ||
      { status=1; tail -3 "$out/$plan-fusion$f-weights.log"; }
  done
  head -3 "$out/$plan-fusion1-weights.log" | tee -a "$out/summary.txt"
  python3 scripts/compare_weights.py "$out/fusion1.safetensors" "$out/fusion0.safetensors" 2>&1 |
    tee -a "$out/summary.txt" || status=1
  rm -f "$out"/fusion*.safetensors
done
DENSENET_FUSION=0 run_plan d121-keep-unfused .gpu/plans/d121-keep.json 112
fi

# Where the step's time goes, per op kind (runtime/backend/OpProfile.h):
# kernels one by one between CUDA events, so the total exceeds the graph's
# step time. Last and optional: it only informs, so too little time left
# skips it without failing the check.
# Batch norm reduces each channel in one block: 256 threads by default,
# 1024 with DENSENET_BN_THREADS (FusedKernels.h); which is faster is
# measured here, in f32, and bf16 runs with the default.
title="time per op kind: DenseNet-121 b64, nothing recomputed: f32 (batch norm in blocks of 256, then 1024 threads), bf16 (DENSENET_PROFILE, 21 steps)"
if [ "$(left)" -ge 50 ]; then
  log "$title"
  for run in d121-keep:256 d121-keep:1024 d121-bf16:256; do
    plan=${run%%:*} threads=${run##*:} name=${run/:/-t}
    DENSENET_PROFILE=1 DENSENET_BN_THREADS=$threads limit 60 build-gpu/bin/densenet-run \
      .gpu/plans/$plan.json --data synthetic --steps 21 --device cuda --no-eval --progress none \
      > "$out/$name-profile.log" 2>&1 || status=1
    grep '^profile:' "$out/$name-profile.log" > "$out/$name-profile.txt"
    { echo "$plan, batch norm blocks of $threads threads:"; head -14 "$out/$name-profile.txt"
      grep '^profile: all ' "$out/$name-profile.txt" || tail -3 "$out/$name-profile.log"; } |
      tee -a "$out/summary.txt"
  done
else
  log "not run (optional; $(left) s left, needs ~50 s): $title"
fi

log "results: gpu-results.json and gpu-results.md (copy them to bench/gpu/results/)"
python3 scripts/gpu_results.py "$out" --run bc100=.gpu/plans/bc100.json \
  --run d121-keep=.gpu/plans/d121-keep.json --run d121-min=.gpu/plans/d121-min.json \
  --run d121-largest=.gpu/plans/d121-largest.json \
  --run d121-keep-unfused=.gpu/plans/d121-keep.json --run d121-keep-tf32=.gpu/plans/d121-keep.json \
  --run d121-bf16=.gpu/plans/d121-bf16.json \
  --run d121-f16=.gpu/plans/d121-f16.json --torch "$out/torch.json" \
  --largest .gpu/plans/largest.json >> "$out/summary.txt" 2>&1 || status=1
cat "$out/gpu-results.md" 2>/dev/null

log "done (status $status)"
exit $status
