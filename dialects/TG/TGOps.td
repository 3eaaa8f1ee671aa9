//===- TGOps.td - tg dialect operations --------------------*- tablegen -*-===//

#ifndef DENSENET_TG_OPS
#define DENSENET_TG_OPS

include "dialects/TG/TGDialect.td"
include "dialects/TG/TGInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// An op that does work: it has a cost and a verifier. `costOverrides` names
// the CostOpInterface methods with a default that the op replaces.
class TG_ComputeOp<string mnemonic, list<Trait> traits = [],
                   list<string> costOverrides = []>
    : TG_Op<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<TG_CostOpInterface, costOverrides>])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Declarations of persistent tensors
//===----------------------------------------------------------------------===//

def TG_ParameterOp : TG_Op<"parameter", [Pure]> {
  let summary = "a trainable parameter, by its state-dict name";
  let description = [{
    Declares a trainable f32 tensor that persists across training steps. The
    name is the torchvision state-dict key, so weights load and save by name.

    Example:

    ```mlir
    %w = tg.parameter "features.conv0.weight" : tensor<64x3x7x7xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs TensorOf<[F32]>:$value);
  let assemblyFormat = "$name attr-dict `:` type($value)";
  let hasVerifier = 1;
}

def TG_StateOp : TG_Op<"state", [Pure]> {
  let summary = "a non-trainable persistent tensor (batch-norm running statistics)";
  let description = [{
    Declares an f32 tensor that persists across steps but is not trained:
    the running mean and variance of a batch norm.

    Example:

    ```mlir
    %m = tg.state "features.norm0.running_mean" : tensor<64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs TensorOf<[F32]>:$value);
  let assemblyFormat = "$name attr-dict `:` type($value)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Compute ops
//===----------------------------------------------------------------------===//

def TG_Conv2DOp : TG_ComputeOp<"conv2d", [Pure]> {
  let summary = "2-D convolution without bias (NCHW input, OIHW filter)";
  let description = [{
    Cross-correlation as in `torch.nn.Conv2d(bias=False)`, one group. The
    output size per axis is `(in + 2 * pad - kernel) / stride + 1` (floor).
    Costs `2 * N * O * OH * OW * C * KH * KW` FLOPs.

    Example:

    ```mlir
    %y = tg.conv2d "features.conv0" %x, %w stride [2, 2] pad [3, 3]
        : (tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<8x64x112x112xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$input, TG_Filter:$filter,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let results = (outs TG_FeatureMap:$output);
  let assemblyFormat = [{
    $name $input `,` $filter `stride` $stride `pad` $padding attr-dict `:`
    functional-type(operands, results)
  }];
}

def TG_BatchNormOp : TG_ComputeOp<"batch_norm", [Pure], ["getBytesRead"]> {
  let summary = "batch normalization in training mode";
  let description = [{
    Normalizes each channel with the batch mean and the biased batch variance,
    then scales by `weight` and shifts by `bias`: PyTorch's
    `BatchNorm2d.train()` forward. Results: the output, and per channel the
    batch mean and the biased batch variance (kept for the backward pass and
    for `tg.running_stats_update`, which updates the running statistics; this
    op never touches them, so recomputing it is harmless).
    Costs 5 FLOPs per element (3 for the statistics, 2 to apply).

    Example:

    ```mlir
    %y, %mean, %var = tg.batch_norm "features.norm0" %x, %weight, %bias
        : (tensor<8x64x112x112xf32>, tensor<64xf32>, tensor<64xf32>)
        -> (tensor<8x64x112x112xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$input,
                       TG_Statistic:$weight, TG_Statistic:$bias,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs TG_FeatureMap:$output, TG_Statistic:$mean,
                      TG_Statistic:$variance);
  let assemblyFormat = [{
    $name $input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def TG_ReluOp : TG_ComputeOp<"relu", [Pure, SameOperandsAndResultType]> {
  let summary = "max(x, 0), elementwise";
  let description = [{
    Costs 1 FLOP per element.

    Example:

    ```mlir
    %y = tg.relu "features.relu0" %x : tensor<8x64x112x112xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Activation:$input);
  let results = (outs TG_Activation:$output);
  let assemblyFormat = "$name $input attr-dict `:` type($input)";
}

def TG_ConcatOp : TG_ComputeOp<"concat", [Pure]> {
  let summary = "concatenation along the channel axis";
  let description = [{
    Concatenates NCHW feature maps of equal batch and spatial size along
    dimension 1, in operand order. Pure data movement: 0 FLOPs. The memory
    planner may place the operands inside the result (an in-place block buffer)
    so that no copy is made.

    Example:

    ```mlir
    %c = tg.concat "features.denseblock1.denselayer2.concat" %a, %b
        : (tensor<8x64x56x56xf32>, tensor<8x32x56x56xf32>) -> tensor<8x96x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, Variadic<TG_FeatureMap>:$inputs);
  let results = (outs TG_FeatureMap:$output);
  let assemblyFormat = [{
    $name $inputs attr-dict `:` functional-type($inputs, results)
  }];
}

class TG_PoolOp<string mnemonic, string what>
    : TG_ComputeOp<mnemonic, [Pure]> {
  let summary = what # " pooling over KH x KW windows";
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$input,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs TG_FeatureMap:$output);
  let assemblyFormat = [{
    $name $input `kernel` $kernel `stride` $stride `pad` $padding attr-dict
    `:` type($input) `->` type($output)
  }];
}

def TG_MaxPoolOp : TG_PoolOp<"max_pool", "maximum"> {
  let description = [{
    `torch.nn.MaxPool2d` (floor mode, padding counts as -inf). Costs KH * KW
    FLOPs (comparisons) per output element.

    Example:

    ```mlir
    %y = tg.max_pool "features.pool0" %x kernel [3, 3] stride [2, 2] pad [1, 1]
        : tensor<8x64x112x112xf32> -> tensor<8x64x56x56xf32>
    ```
  }];
}

def TG_AvgPoolOp : TG_PoolOp<"avg_pool", "average"> {
  let description = [{
    `torch.nn.AvgPool2d` (floor mode, padding included in the count). Costs
    KH * KW + 1 FLOPs per output element.

    Example:

    ```mlir
    %y = tg.avg_pool "features.transition1.pool" %x kernel [2, 2] stride [2, 2] pad [0, 0]
        : tensor<8x128x56x56xf32> -> tensor<8x128x28x28xf32>
    ```
  }];
}

def TG_GlobalAvgPoolOp : TG_ComputeOp<"global_avg_pool", [Pure]> {
  let summary = "mean over the spatial axes: NxCxHxW -> NxC";
  let description = [{
    `F.adaptive_avg_pool2d(x, 1)` followed by `flatten(1)`. Costs H * W + 1
    FLOPs per output element.

    Example:

    ```mlir
    %y = tg.global_avg_pool "avgpool" %x : tensor<8x1024x7x7xf32> -> tensor<8x1024xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$input);
  let results = (outs TG_Matrix:$output);
  let assemblyFormat = "$name $input attr-dict `:` type($input) `->` type($output)";
}

def TG_LinearOp : TG_ComputeOp<"linear", [Pure]> {
  let summary = "y = x W^T + b";
  let description = [{
    `torch.nn.Linear`: input NxC, weight KxC, bias K, output NxK. Costs
    2 * N * K * C + N * K FLOPs.

    Example:

    ```mlir
    %y = tg.linear "classifier" %x, %w, %b
        : (tensor<8x1024xf32>, tensor<1000x1024xf32>, tensor<1000xf32>) -> tensor<8x1000xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Matrix:$input, TG_Matrix:$weight,
                       TG_Vector:$bias);
  let results = (outs TG_Matrix:$output);
  let assemblyFormat = [{
    $name $input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def TG_DropoutOp : TG_ComputeOp<"dropout", [Pure, SameOperandsAndResultType]> {
  let summary = "inverted dropout with a reproducible mask";
  let description = [{
    Zeroes each element with probability `rate` and scales the rest by
    `1 / (1 - rate)`. The mask is a pure function of (seed, step, layer name),
    so recomputing the op reproduces it bit for bit. Costs 2 FLOPs per element.

    Example:

    ```mlir
    %y = tg.dropout "features.denseblock1.denselayer1.dropout" %x {rate = 2.000000e-01 : f64}
        : tensor<8x32x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Activation:$input, F64Attr:$rate);
  let results = (outs TG_Activation:$output);
  let assemblyFormat = "$name $input attr-dict `:` type($input)";
}

def TG_SoftmaxCrossEntropyOp : TG_ComputeOp<"softmax_cross_entropy", [Pure]> {
  let summary = "mean softmax cross-entropy loss and the number of correct predictions";
  let description = [{
    `F.cross_entropy(logits, labels)` with mean reduction, computed in f32,
    and the count of rows whose arg-max equals the label. Labels are class
    indices in [0, K). Costs 5 FLOPs per logit.

    Example:

    ```mlir
    %loss, %correct = tg.softmax_cross_entropy "loss" %logits, %labels
        : (tensor<8x10xf32>, tensor<8xi32>) -> (tensor<f32>, tensor<i64>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Matrix:$logits,
                       1DTensorOf<[I32]>:$labels);
  let results = (outs 0DTensorOf<[F32]>:$loss, 0DTensorOf<[I64]>:$correct);
  let assemblyFormat = [{
    $name $logits `,` $labels attr-dict `:` functional-type(operands, results)
  }];
}

include "dialects/TG/TGTrainingOps.td"

#endif // DENSENET_TG_OPS
