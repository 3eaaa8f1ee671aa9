#!/usr/bin/python3
"""Checks densenetc's training step against PyTorch, number by number.

For a model.json, compiles the training step (`densenetc --emit training-mlir`
with the SGD flags given here), builds the same network with torchvision's
DenseNet in float64 with random weights and non-trivial batch-norm parameters
and running statistics, and runs two SGD steps on two random batches both ways:

  - PyTorch: model.train(); F.cross_entropy(model(x), y).backward();
    torch.optim.SGD(lr, momentum, weight_decay, nesterov).step()
    (with --decay-norm-and-bias=false, a parameter group without weight decay
    holds the batch-norm weights and biases and the classifier bias);
  - scripts/tg_reference.py, interpreting the IR from the same state dict.

After each step it compares the loss, the correct count, every forward op's
output that has a torchvision module of the same name, every parameter's
gradient, and the whole state: parameters, running means and variances, and
momentum buffers. Errors are per tensor: max |ours - torch|, and that divided
by max |torch|. Any relative error above 1e-9 (float64; --tolerance) fails
the check (exit 1) and is reported with the op and tensor it is in: the first
diverging forward op, the first parameter gradient (in backward order) and
the state tensors that differ.

torchvision's DenseNet has the ImageNet stem and 3 input channels; other
input channels replace `features.conv0`, and the CIFAR stem replaces it with
a 3x3/1 convolution and drops norm0, relu0 and pool0 (state-dict names are
unchanged). Its transitions halve the channels (compression 0.5), bn_size must
be at least 1, and drop_rate must be 0 (PyTorch draws other dropout masks).

Needs Debian's python3-torchvision; run with /usr/bin/python3.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tg_reference  # noqa: E402

TOLERANCE = 1e-9              # relative, float64 (--tolerance)
LEARNING_RATES = (0.1, 0.05)  # one per step: the rate is an argument of each step
SHOWN_MISMATCHES = 5

# docs/model-spec.md's defaults (torchvision's DenseNet()) and the SGD
# defaults of densenetc's flags (docs/training-semantics.md).
SPEC_DEFAULTS = {"name": "densenet", "input": {"channels": 3, "height": 224, "width": 224},
                 "num_classes": 1000, "growth_rate": 32, "block_config": [6, 12, 24, 16],
                 "num_init_features": 64, "bn_size": 4, "compression": 0.5, "drop_rate": 0.0,
                 "stem": "imagenet", "batch_size": 64, "dtype": "f32"}
SGD_DEFAULTS = {"momentum": 0.9, "weight_decay": 1e-4, "nesterov": False,
                "decay_norm_and_bias": True}


def load_spec(path):
    with open(path) as f:
        spec = dict(SPEC_DEFAULTS, **json.load(f))
    problems = []
    if spec["compression"] != 0.5:
        problems.append("compression must be 0.5 (torchvision's transitions halve the channels)")
    if spec["bn_size"] < 1:
        problems.append("bn_size must be at least 1 (torchvision has no plain dense layer)")
    if spec["drop_rate"] != 0:
        problems.append("drop_rate must be 0 (PyTorch draws different dropout masks)")
    if problems:
        sys.exit(f"{path}: cannot compare with torchvision: " + "; ".join(problems))
    return spec


def torch_model(spec, seed):
    """torchvision's DenseNet for the spec, float64, with random weights,
    batch-norm affine parameters, running statistics and classifier bias."""
    torch.manual_seed(seed)
    model = torchvision.models.DenseNet(
        growth_rate=spec["growth_rate"], block_config=tuple(spec["block_config"]),
        num_init_features=spec["num_init_features"], bn_size=spec["bn_size"],
        drop_rate=0, num_classes=spec["num_classes"])
    channels, features = spec["input"]["channels"], spec["num_init_features"]
    if spec["stem"] == "cifar":
        model.features.conv0 = nn.Conv2d(channels, features, 3, 1, 1, bias=False)
        for name in ("norm0", "relu0", "pool0"):
            delattr(model.features, name)
    elif channels != 3:
        model.features.conv0 = nn.Conv2d(channels, features, 7, 2, 3, bias=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        model.classifier.bias.normal_(0, 0.1)
    return model.double()


def sgd_optimizer(model, sgd):
    decayed, exempt = [], []
    for module in model.modules():
        for parameter_name, parameter in module.named_parameters(recurse=False):
            no_decay = isinstance(module, nn.BatchNorm2d) or parameter_name == "bias"
            (exempt if no_decay and not sgd["decay_norm_and_bias"] else decayed).append(parameter)
    groups = [{"params": decayed}]
    if exempt:
        groups.append({"params": exempt, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=LEARNING_RATES[0], momentum=sgd["momentum"],
                           weight_decay=sgd["weight_decay"], nesterov=sgd["nesterov"])


def compile_step(densenetc, model_path, flags):
    command = [densenetc, model_path, "--emit", "training-mlir", *flags]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        sys.exit(f"cannot run {densenetc}: {error}")
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return tg_reference.parse(result.stdout)


def torch_step(model, optimizer, images, labels, lr):
    """One PyTorch step. Returns loss, correct, each module's output (by
    module name) and each parameter's gradient (by state-dict name)."""
    outputs = {}

    def record(name):
        # Cloned: the in-place ReLUs overwrite the batch norms' outputs.
        return lambda module, inputs, output: outputs.__setitem__(name, output.detach().clone())

    hooks = [module.register_forward_hook(record(name))
             for name, module in model.named_modules() if name]
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    optimizer.zero_grad()
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters()}
    optimizer.step()
    for hook in hooks:
        hook.remove()
    correct = int((logits.argmax(dim=1) == labels).sum())
    return float(loss), correct, outputs, gradients


def torch_state(model, optimizer):
    """The state dict as the IR names it: parameters, running statistics and
    '<parameter>.momentum_buffer' (no num_batches_tracked)."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for name, parameter in model.named_parameters():
        buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
        if buffer is not None:  # none with momentum 0
            state[name + ".momentum_buffer"] = buffer
    return state


class Comparison:
    """Per-tensor errors of one category (forward, gradients, state)."""

    def __init__(self, category, tolerance):
        self.category = category
        self.tolerance = tolerance
        self.count = 0
        self.max_abs = self.max_rel = 0.0
        self.worst = None
        self.mismatches = []  # (what, message)

    def add(self, what, ours, theirs):
        self.count += 1
        if tuple(ours.shape) != tuple(theirs.shape):
            self.mismatches.append((what, f"shape {tuple(ours.shape)}, torch {tuple(theirs.shape)}"))
            return
        abs_error = float((ours - theirs).abs().max()) if ours.numel() else 0.0
        scale = float(theirs.abs().max()) if theirs.numel() else 0.0
        rel_error = abs_error / scale if scale > 0 else (0.0 if abs_error == 0 else math.inf)
        if rel_error >= self.max_rel:
            self.worst = what
        self.max_abs, self.max_rel = max(self.max_abs, abs_error), max(self.max_rel, rel_error)
        if not rel_error <= self.tolerance:
            self.mismatches.append((what, f"max abs error {abs_error:.3e}, relative {rel_error:.3e} "
                                          f"(torch max |value| {scale:.6g}; {describe_worst(ours, theirs)})"))

    def missing(self, what, message):
        self.mismatches.append((what, message))

    def summary(self):
        return (f"{self.category} {self.count}: max abs {self.max_abs:.1e}, "
                f"rel {self.max_rel:.1e}" + (f" ({self.worst})" if self.worst else ""))


def describe_worst(ours, theirs):
    """The element with the largest error: its index and both values."""
    index = int((ours - theirs).abs().argmax())
    position = tuple(int(i) for i in numpy.unravel_index(index, tuple(ours.shape)))
    return (f"worst element {position}: ours {float(ours.flatten()[index]):.10g}, "
            f"torch {float(theirs.flatten()[index]):.10g}")


def compare_step(function, result, state, torch_result, reference_state, tolerance):
    loss, correct, outputs, gradients = torch_result
    forward = Comparison("forward", tolerance)
    producers = {op.name: op for op in function.ops if op.kind in tg_reference.FORWARD_OPS}
    for name, ours in result.forward_outputs.items():
        if name in outputs:
            forward.add(f"output of {producers[name].describe()}", ours, outputs[name])

    grads = Comparison("gradients", tolerance)
    for name, (ours, producer) in result.gradients.items():
        what = f"gradient of {name}" + (f" from {producer.describe()}" if producer else "")
        if name in gradients:
            grads.add(what, ours, gradients[name])
        else:
            grads.missing(what, "the IR updates a tensor that is not a torchvision parameter")
    for name in gradients.keys() - result.gradients.keys():
        grads.missing(f"parameter {name}", "no tg.sgd_update in the IR")

    final = Comparison("state", tolerance)
    for name in reference_state:
        if name in state:
            final.add(name, state[name], reference_state[name])
        else:
            final.missing(name, "not in the IR's state (no tg.parameter / tg.state)")
    # With momentum 0 PyTorch keeps no momentum buffers; the IR's are then
    # not compared.
    torch_has_buffers = any(k.endswith(".momentum_buffer") for k in reference_state)
    for name in state.keys() - reference_state.keys():
        if torch_has_buffers or not name.endswith(".momentum_buffer"):
            final.missing(name, "in the IR's state but not torchvision's")

    scale = max(abs(loss), 1e-300)
    loss_error = abs(result.loss - loss) / scale
    problems = []
    if not loss_error <= tolerance:
        problems.append(f"loss {result.loss:.15g}, torch {loss:.15g} (relative error {loss_error:.3e})")
    if result.correct != correct:
        problems.append(f"correct {result.correct}, torch {correct}")
    return loss_error, (forward, grads, final), problems


def sgd_settings(args):
    """densenetc's flags for the SGD options given, and the values PyTorch uses."""
    flags, sgd = [], dict(SGD_DEFAULTS)
    if args.momentum is not None:
        flags.append(f"--momentum={args.momentum!r}")
        sgd["momentum"] = args.momentum
    if args.weight_decay is not None:
        flags.append(f"--weight-decay={args.weight_decay!r}")
        sgd["weight_decay"] = args.weight_decay
    if args.nesterov:
        flags.append("--nesterov")
        sgd["nesterov"] = True
    if args.decay_norm_and_bias is not None:
        flags.append(f"--decay-norm-and-bias={args.decay_norm_and_bias}")
        sgd["decay_norm_and_bias"] = args.decay_norm_and_bias == "true"
    return flags, sgd


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model.json (docs/model-spec.md)")
    parser.add_argument("--densenetc", default="densenetc")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and batches")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="largest relative error per tensor (default %(default)g); deep "
                             "models at small batches are ill-conditioned enough to need more")
    # SGD flags: passed on to densenetc when given; PyTorch uses the same values
    # (or densenetc's documented defaults).
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--decay-norm-and-bias", choices=["true", "false"])
    args = parser.parse_args()

    torch.set_num_threads(2)
    tg_reference.check_philox()
    spec = load_spec(args.model)
    flags, sgd = sgd_settings(args)
    function = compile_step(args.densenetc, args.model, flags)

    model = torch_model(spec, args.seed)
    optimizer = sgd_optimizer(model, sgd)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    generator = torch.Generator().manual_seed(args.seed + 1)
    input_shape = (spec["batch_size"], spec["input"]["channels"],
                   spec["input"]["height"], spec["input"]["width"])

    name, failed = spec["name"], False
    for step, lr in enumerate(LEARNING_RATES, start=1):
        images = torch.randn(input_shape, generator=generator, dtype=torch.float64)
        labels = torch.randint(spec["num_classes"], (spec["batch_size"],), generator=generator)
        torch_result = torch_step(model, optimizer, images, labels, lr)
        try:
            result = tg_reference.run_step(function, state, images, labels, lr, step=step - 1)
        except (KeyError, ValueError) as error:
            print(f"{name}: step {step} FAILED: the interpreter stopped: {error}")
            return 1
        loss_error, comparisons, problems = compare_step(
            function, result, state, torch_result, torch_state(model, optimizer), args.tolerance)
        mismatched = [c for c in comparisons if c.mismatches]
        status = "FAILED" if problems or mismatched else "ok"
        print(f"{name}: step {step} {status}: loss {result.loss:.10g} (rel error {loss_error:.1e}), "
              f"correct {result.correct}/{spec['batch_size']}; "
              + "; ".join(c.summary() for c in comparisons))
        for problem in problems:
            print(f"  MISMATCH {problem}")
        for comparison in mismatched:
            # Forward outputs and gradients are in execution order: the first
            # mismatch of each is nearest the op that diverges (a gradient's
            # producer, or an op between it and the last matching gradient).
            for what, message in comparison.mismatches[:SHOWN_MISMATCHES]:
                print(f"  MISMATCH {comparison.category}: {what}: {message}")
            if len(comparison.mismatches) > SHOWN_MISMATCHES:
                print(f"  ... and {len(comparison.mismatches) - SHOWN_MISMATCHES} more "
                      f"{comparison.category} mismatches")
        if status != "ok":
            failed = True
            break  # later steps start from diverged state
    print(f"{name}: {'FAILED' if failed else 'ok'} ({step} of {len(LEARNING_RATES)} steps, "
          f"tolerance {args.tolerance:g} relative, densenetc flags: {' '.join(flags) or 'defaults'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
