#!/usr/bin/python3
"""A reference interpreter for densenetc's training step (tg dialect MLIR text).

`densenetc --emit training-mlir` prints one function, one op per line. This
module parses that text and executes the ops in order, in float64, with the
formulas of docs/training-semantics.md written out explicitly (no autograd):
forward ops use torch.nn.functional's forward functions, every backward op is
its documented formula. Persistent tensors live in a state dict keyed by
state-dict name:

  - `tg.parameter` / `tg.state` return the state dict's tensor itself;
  - `tg.sgd_update` and `tg.running_stats_update` overwrite those tensors in
    place (their results are tied to their operands), as the runtime does, so
    an op that wrongly read a parameter after its update would see the new
    value here too;
  - momentum buffers (`<parameter>.momentum_buffer`) start at zero when the
    state dict lacks them.

Gradient buffers behave as the runtime's may: `tg.slice` is a view of its
source and `tg.accumulate` adds into its buffer in place.

As a command, runs training steps of an MLIR file on random batches and prints
the loss and correct count of each (see --help). scripts/torchvision_step_check.py
compares it with PyTorch. Needs Debian's python3-torch: run with /usr/bin/python3.
"""

import argparse
import math
import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fnv1a import fnv1a64  # noqa: E402

DTYPE = torch.float64

#===----------------------------------------------------------------------===#
# Parsing
#===----------------------------------------------------------------------===#


@dataclass
class TensorType:
    shape: tuple
    element: str  # "f32", "i32", ...


@dataclass
class Op:
    kind: str        # mnemonic without "tg.", e.g. "conv2d"
    name: str        # the op's name attribute (a torchvision module path)
    results: list    # SSA names, e.g. ["%output", "%mean", "%variance"]
    operands: list   # SSA names
    attrs: dict      # stride/pad/kernel (lists), offset, and the {...} dictionary
    result_types: list
    line: int

    def describe(self):
        return f'tg.{self.kind} "{self.name}" (line {self.line})'


@dataclass
class Function:
    name: str
    arguments: list  # [(SSA name, TensorType)]: input, labels, learning rate
    ops: list
    returns: list    # SSA names: loss, correct


TENSOR_TYPE = re.compile(r"tensor<([^>]*)>")
SSA_NAME = re.compile(r"%[\w.$-]+")
OP_LINE = re.compile(r'^(?P<results>%.*?)\s*=\s*tg\.(?P<kind>\w+)\s+"(?P<name>[^"]*)"\s*(?P<rest>.*)$')
# A symbol name is printed quoted when it is not an identifier (e.g. @"cifar-stem").
FUNC_LINE = re.compile(r'^func\.func\s+@(?:"(?P<quoted>[^"]*)"|(?P<name>[\w.$]+))\((?P<args>.*?)\)\s*->')
ARRAY_ATTR = re.compile(r"\b(stride|pad|kernel)\s*\[([^\]]*)\]")
OFFSET_ATTR = re.compile(r"\boffset\s+(\d+)")


def parse_tensor_type(text):
    """`4x3x16x16xf32` -> TensorType((4, 3, 16, 16), "f32"); `f32` -> shape ()."""
    *dims, element = text.split("x")
    return TensorType(tuple(int(d) for d in dims), element)


def split_top_level(text, separator):
    """Splits at `separator` characters outside (), [], {} and <> (the '>' of
    '->' closes nothing)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>" and text[i - 1:i + 1] != "->":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_attr_dict(text):
    """`momentum = 9.0e-01 : f64, nesterov, samples = 256 : i64` -> dict (unit attrs are True)."""
    attrs = {}
    for entry in split_top_level(text, ","):
        entry = entry.strip()
        if not entry:
            continue
        if "=" not in entry:
            attrs[entry] = True
            continue
        key, value = (s.strip() for s in entry.split("=", 1))
        value = value.split(":")[0].strip()
        attrs[key] = int(value) if re.fullmatch(r"-?\d+", value) else float(value)
    return attrs


def parse_op(text, line):
    match = OP_LINE.match(text)
    if not match:
        raise ValueError(f"line {line}: not a tg op in densenetc's printed form: {text}")
    rest = match["rest"]
    # The first ':' outside brackets separates the op from its types (the
    # attribute dictionary holds ': f64' of its own).
    body, *types = split_top_level(rest, ":")
    types = ":".join(types)
    attrs = {}
    brace = body.find("{")
    if brace >= 0:
        attrs.update(parse_attr_dict(body[brace + 1:body.rindex("}")]))
        body = body[:brace]
    for key, values in ARRAY_ATTR.findall(body):
        attrs[key] = [int(v) for v in values.split(",")]
    offset = OFFSET_ATTR.search(body)
    if offset:
        attrs["offset"] = int(offset[1])
    operand_text = re.split(r"\s(?:stride|pad|kernel|offset)\s", body)[0]
    # Result types: after '->' for functional types, else the one type
    # (relu, dropout, parameter, state: result type = operand type).
    result_text = types.split("->")[-1]
    return Op(kind=match["kind"], name=match["name"],
              results=SSA_NAME.findall(match["results"]),
              operands=SSA_NAME.findall(operand_text), attrs=attrs,
              result_types=[parse_tensor_type(t) for t in TENSOR_TYPE.findall(result_text)],
              line=line)


def parse(text):
    """Parses the one training-step function of densenetc's output."""
    function = None
    for line, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("func.func"):
            header = FUNC_LINE.match(stripped)
            if function is not None or not header:
                raise ValueError(f"line {line}: expected exactly one training-step function")
            arguments = [(arg.split(":")[0].strip(), parse_tensor_type(TENSOR_TYPE.search(arg)[1]))
                         for arg in split_top_level(header["args"], ",")]
            function = Function(header["quoted"] or header["name"], arguments, [], [])
        elif stripped.startswith("return"):
            function.returns = SSA_NAME.findall(stripped.split(":")[0])
        elif "= tg." in stripped:
            function.ops.append(parse_op(stripped, line))
    if function is None or len(function.arguments) != 3 or len(function.returns) != 2:
        raise ValueError("no training-step function (input, labels, lr) -> (loss, correct) found")
    return function


#===----------------------------------------------------------------------===#
# Dropout masks (docs/training-semantics.md, "Dropout masks")
#===----------------------------------------------------------------------===#

U32 = np.uint64(0xFFFFFFFF)
PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
PHILOX_W = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))

# Random123's known-answer vectors for Philox4x32-10: counter, key, output.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox4x32_10(counter, key):
    """Philox4x32-10 on uint64 arrays holding 32-bit words; returns the 4 output words."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = (np.uint64(k) for k in key)
    for round_index in range(10):
        if round_index:
            k0, k1 = (k0 + PHILOX_W[0]) & U32, (k1 + PHILOX_W[1]) & U32
        p0, p1 = PHILOX_M[0] * c0, PHILOX_M[1] * c2  # 32 x 32 bits: exact in 64
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & U32,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & U32)
    return c0, c1, c2, c3


def check_philox():
    for counter, key, expected in PHILOX_KAT:
        got = tuple(int(w) for w in philox4x32_10(counter, key))
        if got != expected:
            raise AssertionError(f"Philox4x32-10 {counter} {key}: {got} != {expected}")


def dropout_mask(name, shape, rate, seed, step):
    """The kept-and-scaled mask: 1 / (1 - rate) where kept, else 0."""
    key = (seed ^ fnv1a64(name)) & 0xFFFFFFFFFFFFFFFF
    index = np.arange(math.prod(shape), dtype=np.uint64)
    counter = (index & U32, index >> np.uint64(32),
               np.full_like(index, step & 0xFFFFFFFF), np.full_like(index, step >> 32))
    r = philox4x32_10(counter, (key & 0xFFFFFFFF, key >> 32))[0]
    kept = r.astype(np.float64) * 2.0**-32 >= rate
    return torch.from_numpy(kept.reshape(shape)).to(DTYPE) / (1 - rate)


#===----------------------------------------------------------------------===#
# Execution
#===----------------------------------------------------------------------===#

FORWARD_OPS = {"conv2d", "batch_norm", "relu", "concat", "max_pool", "avg_pool",
               "global_avg_pool", "linear", "dropout"}


@dataclass
class StepResult:
    loss: float
    correct: int
    # The first result of every forward op, by op name, in execution order.
    forward_outputs: dict = field(default_factory=dict)
    # The gradient operand of every tg.sgd_update, by parameter name, in
    # execution order, with the op that produced it.
    gradients: dict = field(default_factory=dict)


def nchw_to_windows(x, kernel, stride):
    """(N, C, H, W) -> (N * C, KH * KW, L): each output position's window, unpadded."""
    n, c, h, w = x.shape
    return F.unfold(x.reshape(n * c, 1, h, w), kernel, stride=stride)


class StepInterpreter:
    """Executes one training step; one method `op_<kind>` per tg op."""

    def __init__(self, function, state, seed=0, step=0):
        self.function = function
        self.state = state
        self.seed = seed
        self.step = step

    def run(self, images, labels, learning_rate):
        values = dict(zip((name for name, _ in self.function.arguments),
                          (images.to(DTYPE), labels.to(torch.int64),
                           torch.tensor(learning_rate, dtype=DTYPE))))
        producers = {}
        result = StepResult(loss=math.nan, correct=-1)
        for op in self.function.ops:
            handler = getattr(self, "op_" + op.kind, None)
            if handler is None:
                raise ValueError(f"{op.describe()}: no such op in docs/training-semantics.md")
            operands = [values[name] for name in op.operands]
            outputs = handler(op, *operands)
            if not isinstance(outputs, tuple):
                outputs = (outputs,)
            if len(outputs) != len(op.results):
                raise ValueError(f"{op.describe()}: {len(op.results)} results declared, {len(outputs)} computed")
            for name, value, declared in zip(op.results, outputs, op.result_types):
                if tuple(value.shape) != declared.shape:
                    raise ValueError(f"{op.describe()}: {name} has shape {tuple(value.shape)}, "
                                     f"declared {declared.shape}")
                values[name] = value
                producers[name] = op
            if op.kind in FORWARD_OPS:
                result.forward_outputs[op.name] = outputs[0]
            elif op.kind == "sgd_update":
                result.gradients[op.name] = (operands[1].clone(), producers.get(op.operands[1]))
        loss, correct = (values[name] for name in self.function.returns)
        result.loss, result.correct = float(loss), int(correct)
        return result

    # Persistent tensors --------------------------------------------------

    def op_parameter(self, op):
        return self.state[op.name]

    def op_state(self, op):
        if op.name not in self.state:
            if not op.name.endswith(".momentum_buffer"):
                raise KeyError(f"{op.describe()}: {op.name} is not in the state dict")
            self.state[op.name] = torch.zeros(op.result_types[0].shape, dtype=DTYPE)
        return self.state[op.name]

    # Forward ops ---------------------------------------------------------

    def op_conv2d(self, op, x, w):
        return F.conv2d(x, w, stride=op.attrs["stride"], padding=op.attrs["pad"])

    def op_batch_norm(self, op, x, weight, bias):
        eps = op.attrs.get("epsilon", 1e-5)
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - mean[:, None, None]) ** 2).mean(dim=(0, 2, 3))  # biased
        xhat = (x - mean[:, None, None]) / torch.sqrt(var + eps)[:, None, None]
        return xhat * weight[:, None, None] + bias[:, None, None], mean, var

    def op_running_stats_update(self, op, running_mean, running_var, mean, var):
        m, samples = op.attrs["momentum"], op.attrs["samples"]
        running_mean.mul_(1 - m).add_(m * mean)
        running_var.mul_(1 - m).add_(m * var * samples / (samples - 1))
        return running_mean, running_var

    def op_relu(self, op, x):
        return F.relu(x)

    def op_concat(self, op, *inputs):
        return torch.cat(inputs, dim=1)

    def op_max_pool(self, op, x):
        return F.max_pool2d(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"])

    def op_avg_pool(self, op, x):
        return F.avg_pool2d(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"],
                            count_include_pad=True)

    def op_global_avg_pool(self, op, x):
        return x.mean(dim=(2, 3))

    def op_linear(self, op, x, w, b):
        return x @ w.T + b

    def op_dropout(self, op, x):
        return x * dropout_mask(op.name, x.shape, op.attrs["rate"], self.seed, self.step)

    def op_softmax_cross_entropy(self, op, logits, labels):
        log_p = F.log_softmax(logits, dim=1)
        loss = -log_p.gather(1, labels[:, None]).mean()
        correct = (logits.argmax(dim=1) == labels).sum()  # argmax: first maximum
        return loss, correct

    # Backward ops --------------------------------------------------------

    def op_softmax_cross_entropy_grad(self, op, logits, labels):
        onehot = F.one_hot(labels, logits.shape[1]).to(DTYPE)
        return (F.softmax(logits, dim=1) - onehot) / logits.shape[0]

    def op_linear_grad(self, op, dy, x, w):
        return dy @ w, dy.T @ x, dy.sum(dim=0)

    def op_global_avg_pool_grad(self, op, dy):
        n, c, h, w = op.result_types[0].shape
        return (dy / (h * w))[:, :, None, None].expand(n, c, h, w).clone()

    def op_relu_grad(self, op, dy, y):
        return torch.where(y > 0, dy, torch.zeros_like(dy))

    def op_batch_norm_grad(self, op, dy, x, weight, mean, var):
        eps = op.attrs.get("epsilon", 1e-5)
        m = x.shape[0] * x.shape[2] * x.shape[3]
        inv_std = 1 / torch.sqrt(var + eps)
        xhat = (x - mean[:, None, None]) * inv_std[:, None, None]
        dbias = dy.sum(dim=(0, 2, 3))
        dweight = (dy * xhat).sum(dim=(0, 2, 3))
        dx = (weight * inv_std)[:, None, None] * (
            dy - dbias[:, None, None] / m - xhat * dweight[:, None, None] / m)
        return dx, dweight, dbias

    def op_conv2d_grad_input(self, op, dy, w):
        (sh, sw), (ph, pw) = op.attrs["stride"], op.attrs["pad"]
        h, wd = op.result_types[0].shape[2:]
        kh, kw = w.shape[2:]
        # Rows/columns the floor-mode forward never reached get output padding.
        extra = (h - ((dy.shape[2] - 1) * sh - 2 * ph + kh),
                 wd - ((dy.shape[3] - 1) * sw - 2 * pw + kw))
        return F.conv_transpose2d(dy, w, stride=(sh, sw), padding=(ph, pw), output_padding=extra)

    def op_conv2d_grad_filter(self, op, x, dy):
        o, c, kh, kw = op.result_types[0].shape
        # dw[o, c, i, j] = sum_{n, y, x} dy[n, o, y, x] x[n, c, y*s+i-p, x*s+j-p]
        columns = F.unfold(x, (kh, kw), padding=op.attrs["pad"], stride=op.attrs["stride"])
        dw = torch.einsum("nol,nkl->ok", dy.reshape(dy.shape[0], o, -1), columns)
        return dw.reshape(o, c, kh, kw)

    def op_max_pool_grad(self, op, dy, x, y):
        (kh, kw), stride, (ph, pw) = op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"]
        n, c, h, w = x.shape
        padded = F.pad(x, (pw, pw, ph, ph), value=-math.inf)
        hp, wp = padded.shape[2:]
        windows = nchw_to_windows(padded, (kh, kw), stride)  # (N*C, KH*KW, L)
        hits = windows == y.reshape(n * c, 1, -1)
        if not bool(hits.any(dim=1).all()):
            raise ValueError(f"{op.describe()}: the output operand is not the max pool of the input")
        # The first maximum of each window in row-major order.
        position = torch.arange(kh * kw)[None, :, None]
        first = torch.where(hits, position, kh * kw).min(dim=1).values  # (N*C, L)
        oh, ow = y.shape[2:]
        out_y = torch.arange(oh).repeat_interleave(ow) * stride[0]
        out_x = torch.arange(ow).repeat(oh) * stride[1]
        flat = (out_y + first // kw) * wp + (out_x + first % kw)
        grad = torch.zeros(n * c, hp * wp, dtype=DTYPE)
        grad.scatter_add_(1, flat, dy.reshape(n * c, -1))  # overlapping windows add
        return grad.reshape(n, c, hp, wp)[:, :, ph:ph + h, pw:pw + w].contiguous()

    def op_avg_pool_grad(self, op, dy):
        (kh, kw), stride, pad = op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"]
        n, c, h, w = op.result_types[0].shape
        share = (dy / (kh * kw)).reshape(n * c, 1, -1).expand(n * c, kh * kw, dy.shape[2] * dy.shape[3])
        dx = F.fold(share, (h, w), (kh, kw), padding=pad, stride=stride)
        return dx.reshape(n, c, h, w)

    def op_dropout_grad(self, op, dy):
        return dy * dropout_mask(op.name, dy.shape, op.attrs["rate"], self.seed, self.step)

    # Gradient buffers ----------------------------------------------------

    def op_slice(self, op, source):
        channels = op.result_types[0].shape[1]
        return source[:, op.attrs["offset"]:op.attrs["offset"] + channels]  # a view

    def op_accumulate(self, op, buffer, value):
        offset = op.attrs["offset"]
        buffer[:, offset:offset + value.shape[1]] += value
        return buffer

    # The optimizer -------------------------------------------------------

    def op_sgd_update(self, op, w, g, v, lr):
        if w is not self.state[op.name] or v is not self.state[op.name + ".momentum_buffer"]:
            raise ValueError(f"{op.describe()}: does not update {op.name} and its momentum buffer")
        m, decay = op.attrs["momentum"], op.attrs["weight_decay"]
        g = g + decay * w
        v.mul_(m).add_(g)
        w.sub_(lr * (g + m * v) if op.attrs.get("nesterov") else lr * v)
        return w, v


def run_step(function, state, images, labels, learning_rate, seed=0, step=0):
    """One training step; updates `state` (float64 tensors by name) in place.
    `seed` and `step` are the run seed S and step index s of the dropout masks
    (the caller numbers the steps; here the first is 0)."""
    return StepInterpreter(function, state, seed, step).run(images, labels, learning_rate)


#===----------------------------------------------------------------------===#
# Command line
#===----------------------------------------------------------------------===#


def initial_state(function, generator):
    """torchvision's initialization for the declared tensors (Kaiming normal
    convolutions, unit batch norms, zero biases, running stats 0 and 1)."""
    state = {}
    for op in function.ops:
        shape = op.result_types[0].shape
        if op.kind == "parameter":
            if len(shape) == 4:
                std = math.sqrt(2 / (shape[0] * shape[2] * shape[3]))  # fan_out, relu
                state[op.name] = torch.randn(shape, generator=generator, dtype=DTYPE) * std
            elif len(shape) == 2:
                bound = 1 / math.sqrt(shape[1])
                state[op.name] = (torch.rand(shape, generator=generator, dtype=DTYPE) * 2 - 1) * bound
            else:  # batch-norm weights 1; their biases and the classifier's 0
                state[op.name] = torch.full(shape, 1.0 if op.name.startswith("features") and
                                            op.name.endswith(".weight") else 0.0, dtype=DTYPE)
        elif op.kind == "state" and not op.name.endswith(".momentum_buffer"):
            state[op.name] = torch.full(shape, 1.0 if op.name.endswith("running_var") else 0.0,
                                        dtype=DTYPE)
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mlir", help="output of densenetc --emit training-mlir")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="run seed S of the dropout masks")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the batches and weights")
    parser.add_argument("--state", help="start from this torch.save'd state dict (else torchvision's init)")
    parser.add_argument("--save-state", help="torch.save the final state dict here")
    args = parser.parse_args()

    torch.set_num_threads(2)
    check_philox()
    with open(args.mlir) as f:
        function = parse(f.read())
    generator = torch.Generator().manual_seed(args.data_seed)
    if args.state:
        state = {k: v.to(DTYPE) for k, v in torch.load(args.state).items()
                 if not k.endswith("num_batches_tracked")}
    else:
        state = initial_state(function, generator)
    input_type, label_type = function.arguments[0][1], function.arguments[1][1]
    # The loss gradient's type is the logits' (N x classes).
    classes = next(op.result_types[0].shape[1] for op in function.ops
                   if op.kind == "softmax_cross_entropy_grad")
    for step in range(args.steps):
        images = torch.randn(input_type.shape, generator=generator, dtype=DTYPE)
        labels = torch.randint(classes, label_type.shape, generator=generator)
        result = run_step(function, state, images, labels, args.lr, args.seed, step)
        print(f"{function.name}: step {step + 1}: loss {result.loss:.10g}, "
              f"correct {result.correct}/{labels.numel()}")
    if args.save_state:
        torch.save(state, args.save_state)


if __name__ == "__main__":
    sys.exit(main())
