#!/usr/bin/env bash
# The main job: build densenet, describe a DenseNet for a real dataset
# (Fashion-MNIST), compile it to the dn dialect and the tg training step,
# plan its memory under a budget, and train with that plan on the CPU for a
# short while (DEMO_TRAIN_IMAGES images, default 4096) on Debian's
# Fashion-MNIST, evaluating on 2000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
out="$build_dir/demo"

cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "${JOBS:-2}" --target densenetc densenet-opt densenet-run
mkdir -p "$out"
densenetc="$build_dir/bin/densenetc"

echo
echo "== built-in models"
"$densenetc" --list-models

model=(--model densenet-bc-100 --dataset fashion-mnist --batch-size 64)
echo
echo "== densenetc ${model[*]}"
"$densenetc" "${model[@]}" --emit mlir -o "$out/model.mlir"
"$densenetc" "${model[@]}" --emit forward-mlir -o "$out/forward.mlir"
"$densenetc" "${model[@]}" --emit training-mlir -o "$out/training.mlir"
"$densenetc" "${model[@]}" --emit stats -o "$out/stats.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
stats = json.load(open(f"{out}/stats.json"))
model = stats["model"]
mib = lambda b: b / 2**20
print(f"model        {model['name']}: depth {stats['depth']}, {stats['dense_layers']} dense layers, "
      f"input {model['input']['channels']}x{model['input']['height']}x{model['input']['width']}, "
      f"{model['num_classes']} classes, batch {model['batch_size']}, {model['dtype']}")
print(f"parameters   {stats['parameters']:,} ({mib(stats['parameter_bytes']):.1f} MiB)")
print(f"forward      {stats['forward_flops'] / 1e9:.2f} GFLOP per batch")
print(f"activations  {mib(stats['naive_activation_bytes']):.1f} MiB kept for backward by a naive implementation")
ops = sum(v["count"] for v in stats["by_op"].values())
print(f"tg graph     {ops} compute ops: " +
      ", ".join(f"{v['count']} {k[3:]}" for k, v in stats["by_op"].items()))
step = open(f"{out}/training.mlir").read()
count = lambda op: step.count(f" = tg.{op} ")
print(f"training     one step: {count('softmax_cross_entropy')} loss, "
      f"{sum(step.count(f'tg.{k}') for k in ('conv2d_grad_', 'batch_norm_grad', 'relu_grad', 'pool_grad', 'linear_grad'))} gradient ops, "
      f"{step.count('tg.accumulate')} in-place gradient accumulations, {step.count('tg.sgd_update')} SGD updates")
PY
echo
budget=300MB
echo "== densenetc ${model[*]} --target cpu --mem-budget $budget --emit report"
"$densenetc" "${model[@]}" --target cpu --mem-budget "$budget" \
  -o "$out/plan.json" --emit report | sed -n '1,13p'
echo
echo "wrote $out/model.mlir (dn dialect), $out/forward.mlir (tg forward graph),"
echo "      $out/training.mlir (training step), $out/stats.json, $out/plan.json (the plan)"
echo
images=${DEMO_TRAIN_IMAGES:-4096}
echo "== densenet-run $out/plan.json --data fashion-mnist --epochs 1 --limit-train $images --limit-test 2000"
"$build_dir/bin/densenet-run" "$out/plan.json" --data fashion-mnist --epochs 1 \
  --limit-train "$images" --limit-test 2000 --metrics "$out/metrics.jsonl" \
  --save-weights "$out/weights.safetensors"
echo "wrote $out/metrics.jsonl and $out/weights.safetensors (torchvision state-dict names)"
