//===- TGTrainingOps.td - Backward and update ops of tg ----*- tablegen -*-===//
//
// The ops `-tg-autodiff` adds to a forward graph: one gradient op per forward
// op kind, channel slices and in-place accumulation of gradient buffers, the
// loss gradient, and the updates of persistent state (SGD, running
// statistics). Semantics follow PyTorch; docs/training-semantics.md gives
// each formula.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_TG_TRAINING_OPS
#define DENSENET_TG_TRAINING_OPS

class TG_GradOp<string mnemonic, list<Trait> traits = [],
                list<string> costOverrides = []>
    : TG_ComputeOp<mnemonic, !listconcat(traits, [Pure, TG_BackwardOp]),
                   costOverrides>;

//===----------------------------------------------------------------------===//
// Gradients of the forward ops
//===----------------------------------------------------------------------===//

def TG_Conv2DGradInputOp : TG_GradOp<"conv2d_grad_input"> {
  let summary = "gradient of conv2d with respect to its input";
  let description = [{
    `dx = conv_transpose(dy, filter)`: PyTorch's `grad_input` of `Conv2d`. The
    result has the forward input's type; `stride` and `pad` are the forward
    op's. Costs as much as the forward convolution.

    Example:

    ```mlir
    %dx = tg.conv2d_grad_input "features.denseblock1.denselayer1.conv2" %dy, %w stride [1, 1] pad [1, 1]
        : (tensor<8x32x56x56xf32>, tensor<32x128x3x3xf32>) -> tensor<8x128x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$output_grad,
                       TG_Filter:$filter, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs TG_FeatureMap:$input_grad);
  let assemblyFormat = [{
    $name $output_grad `,` $filter `stride` $stride `pad` $padding attr-dict `:`
    functional-type(operands, results)
  }];
}

def TG_Conv2DGradFilterOp : TG_GradOp<"conv2d_grad_filter"> {
  let summary = "gradient of conv2d with respect to its filter";
  let description = [{
    `dw[o, c, i, j] = sum over n, y, x of dy[n, o, y, x] * input[n, c, y*s+i-p, x*s+j-p]`:
    PyTorch's `grad_weight` of `Conv2d`. The result is f32 (the master
    weights' type) or the activation type. Costs as much as the forward
    convolution.

    Example:

    ```mlir
    %dw = tg.conv2d_grad_filter "features.conv0" %x, %dy stride [2, 2] pad [3, 3]
        : (tensor<8x3x224x224xf32>, tensor<8x64x112x112xf32>) -> tensor<64x3x7x7xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$input,
                       TG_FeatureMap:$output_grad, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs TG_Filter:$filter_grad);
  let assemblyFormat = [{
    $name $input `,` $output_grad `stride` $stride `pad` $padding attr-dict `:`
    functional-type(operands, results)
  }];
}

def TG_BatchNormGradOp : TG_GradOp<"batch_norm_grad", [], ["getBytesRead"]> {
  let summary = "gradients of training-mode batch norm";
  let description = [{
    With `xhat = (x - mean) / sqrt(variance + epsilon)` and M = N * H * W
    values per channel: `dbias = sum(dy)`, `dweight = sum(dy * xhat)`,
    `dx = weight / sqrt(variance + epsilon) * (dy - dbias / M - xhat * dweight / M)`:
    PyTorch's `native_batch_norm_backward` in training mode. `mean` and
    `variance` are the forward op's results. Costs 10 FLOPs per element and
    reads `dy` and `x` twice (a reduction pass, then the apply pass).

    Example:

    ```mlir
    %dx, %dweight, %dbias = tg.batch_norm_grad "features.norm0" %dy, %x, %weight, %mean, %var
        : (tensor<8x64x112x112xf32>, tensor<8x64x112x112xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>)
        -> (tensor<8x64x112x112xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$output_grad,
                       TG_FeatureMap:$input, TG_Statistic:$weight,
                       TG_Statistic:$mean, TG_Statistic:$variance,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs TG_FeatureMap:$input_grad, TG_Statistic:$weight_grad,
                      TG_Statistic:$bias_grad);
  let assemblyFormat = [{
    $name $output_grad `,` $input `,` $weight `,` $mean `,` $variance attr-dict
    `:` functional-type(operands, results)
  }];
}

def TG_ReluGradOp : TG_GradOp<"relu_grad"> {
  let summary = "gradient of relu: dy where the forward output is positive";
  let description = [{
    `dx = output > 0 ? dy : 0`, reading the forward *output* as PyTorch's
    in-place ReLU does (`threshold_backward(dy, output, 0)`). Costs 1 FLOP per
    element.

    Example:

    ```mlir
    %dx = tg.relu_grad "features.relu0" %dy, %y : (tensor<8x64x112x112xf32>, tensor<8x64x112x112xf32>) -> tensor<8x64x112x112xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Activation:$output_grad,
                       TG_Activation:$output);
  let results = (outs TG_Activation:$input_grad);
  let assemblyFormat = [{
    $name $output_grad `,` $output attr-dict `:` functional-type(operands, results)
  }];
}

def TG_MaxPoolGradOp : TG_GradOp<"max_pool_grad"> {
  let summary = "gradient of max_pool: dy routed to each window's maximum";
  let description = [{
    Each output gradient goes to the input element that was its window's
    maximum (the first one in row-major order on ties, as PyTorch's indices);
    gradients of overlapping windows add up. Reads the forward input and
    output to find the maxima. Costs KH * KW FLOPs per output element.

    Example:

    ```mlir
    %dx = tg.max_pool_grad "features.pool0" %dy, %x, %y kernel [3, 3] stride [2, 2] pad [1, 1]
        : (tensor<8x64x56x56xf32>, tensor<8x64x112x112xf32>, tensor<8x64x56x56xf32>) -> tensor<8x64x112x112xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$output_grad,
                       TG_FeatureMap:$input, TG_FeatureMap:$output,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs TG_FeatureMap:$input_grad);
  let assemblyFormat = [{
    $name $output_grad `,` $input `,` $output `kernel` $kernel `stride` $stride
    `pad` $padding attr-dict `:` functional-type(operands, results)
  }];
}

def TG_AvgPoolGradOp : TG_GradOp<"avg_pool_grad"> {
  let summary = "gradient of avg_pool: dy spread evenly over each window";
  let description = [{
    Each output gradient is divided by KH * KW (padding counted, as in the
    forward op) and added to every input element of its window. The result
    has the forward input's type. Costs KH * KW + 1 FLOPs per output element.

    Example:

    ```mlir
    %dx = tg.avg_pool_grad "features.transition1.pool" %dy kernel [2, 2] stride [2, 2] pad [0, 0]
        : tensor<8x128x28x28xf32> -> tensor<8x128x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$output_grad,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs TG_FeatureMap:$input_grad);
  let assemblyFormat = [{
    $name $output_grad `kernel` $kernel `stride` $stride `pad` $padding
    attr-dict `:` type($output_grad) `->` type($input_grad)
  }];
}

def TG_GlobalAvgPoolGradOp : TG_GradOp<"global_avg_pool_grad"> {
  let summary = "gradient of global_avg_pool: dy / (H * W) broadcast over space";
  let description = [{
    Costs 1 FLOP per input element.

    Example:

    ```mlir
    %dx = tg.global_avg_pool_grad "features.avgpool" %dy : tensor<8x1024xf32> -> tensor<8x1024x7x7xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Matrix:$output_grad);
  let results = (outs TG_FeatureMap:$input_grad);
  let assemblyFormat = [{
    $name $output_grad attr-dict `:` type($output_grad) `->` type($input_grad)
  }];
}

def TG_LinearGradOp : TG_GradOp<"linear_grad"> {
  let summary = "gradients of linear: input, weight and bias";
  let description = [{
    `dx = dy W`, `dW = dy^T x`, `db = sum over rows of dy`. Weight and bias
    gradients are f32 or the activation type. Costs N * K * (4C + 1) FLOPs.

    Example:

    ```mlir
    %dx, %dw, %db = tg.linear_grad "classifier" %dy, %x, %w
        : (tensor<8x1000xf32>, tensor<8x1024xf32>, tensor<1000x1024xf32>)
        -> (tensor<8x1024xf32>, tensor<1000x1024xf32>, tensor<1000xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Matrix:$output_grad, TG_Matrix:$input,
                       TG_Matrix:$weight);
  let results = (outs TG_Matrix:$input_grad, TG_Matrix:$weight_grad,
                      TG_Vector:$bias_grad);
  let assemblyFormat = [{
    $name $output_grad `,` $input `,` $weight attr-dict `:`
    functional-type(operands, results)
  }];
}

def TG_DropoutGradOp : TG_GradOp<"dropout_grad", [SameOperandsAndResultType]> {
  let summary = "gradient of dropout: dy through the same mask";
  let description = [{
    `dx = dy * mask / (1 - rate)` with the forward op's mask, regenerated from
    (seed, step, layer name) rather than stored. The name must be the forward
    op's. Costs 2 FLOPs per element.

    Example:

    ```mlir
    %dx = tg.dropout_grad "features.denseblock1.denselayer1.dropout" %dy {rate = 2.000000e-01 : f64}
        : tensor<8x32x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Activation:$output_grad, F64Attr:$rate);
  let results = (outs TG_Activation:$input_grad);
  let assemblyFormat = "$name $output_grad attr-dict `:` type($output_grad)";
}

def TG_SoftmaxCrossEntropyGradOp : TG_GradOp<"softmax_cross_entropy_grad"> {
  let summary = "gradient of the mean cross-entropy with respect to the logits";
  let description = [{
    `dlogits = (softmax(logits) - onehot(labels)) / N` for the mean over N
    rows, in the logits' dtype (computed in f32). Costs 5 FLOPs per logit.

    Example:

    ```mlir
    %dlogits = tg.softmax_cross_entropy_grad "loss" %logits, %labels
        : (tensor<8x10xf32>, tensor<8xi32>) -> tensor<8x10xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Matrix:$logits,
                       1DTensorOf<[I32]>:$labels);
  let results = (outs TG_Matrix:$logits_grad);
  let assemblyFormat = [{
    $name $logits `,` $labels attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient buffers
//===----------------------------------------------------------------------===//

def TG_SliceOp : TG_GradOp<"slice"> {
  let summary = "channels [offset, offset + size) of a feature map";
  let description = [{
    Reads a channel range of a gradient buffer: the gradient of one operand of
    a concatenation. The planner may place the result inside the source (a
    view) since neither is written while both live. 0 FLOPs.

    Example:

    ```mlir
    %dnew = tg.slice "features.denseblock1.denselayer2.conv2" %grad offset 48
        : tensor<8x128x56x56xf32> -> tensor<8x32x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_FeatureMap:$source, I64Attr:$offset);
  let results = (outs TG_FeatureMap:$result);
  let assemblyFormat = [{
    $name $source `offset` $offset attr-dict `:` type($source) `->` type($result)
  }];
}

def TG_AccumulateOp : TG_GradOp<"accumulate",
    [DeclareOpInterfaceMethods<TG_InPlaceOpInterface>], ["getBytesRead", "getBytesWritten"]> {
  let summary = "adds a tensor into a channel range of a gradient buffer, in place";
  let description = [{
    `buffer[:, offset : offset + C] += value`. The result is the same buffer
    after the addition (tied to `buffer`, which has no later use): gradients
    of a feature map that several ops read are summed into one buffer instead
    of being copied. Costs 1 FLOP per element of `value`.

    Example:

    ```mlir
    %grad1 = tg.accumulate "features.denseblock1.denselayer2.norm1" %grad0, %dx offset 0
        : (tensor<8x128x56x56xf32>, tensor<8x96x56x56xf32>) -> tensor<8x128x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Activation:$buffer,
                       TG_Activation:$value, I64Attr:$offset);
  let results = (outs TG_Activation:$result);
  let assemblyFormat = [{
    $name $buffer `,` $value `offset` $offset attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Updates of persistent state
//===----------------------------------------------------------------------===//

def TG_SgdUpdateOp : TG_ComputeOp<"sgd_update", [
    TG_UpdateOp, MemoryEffects<[MemWrite]>,
    DeclareOpInterfaceMethods<TG_InPlaceOpInterface>],
    ["getBytesRead", "getBytesWritten"]> {
  let summary = "one torch.optim.SGD step of one parameter, in place";
  let description = [{
    With gradient g, parameter w, momentum buffer v and learning rate lr:
    `g = g + weight_decay * w; v = momentum * v + g;`
    `w = w - lr * (g + momentum * v)` with `nesterov`, else `w = w - lr * v`
    (dampening 0). The buffer starts at zero, so the first step sets v = g as
    PyTorch does. Both results are tied: result 0 is the parameter's buffer,
    result 1 the momentum buffer's. The name is the parameter's.
    Costs 8 FLOPs per element (10 with Nesterov).

    Example:

    ```mlir
    %w1, %v1 = tg.sgd_update "features.conv0.weight" %w, %dw, %v, %lr
        {momentum = 9.000000e-01 : f64, weight_decay = 1.000000e-04 : f64}
        : (tensor<64x3x7x7xf32>, tensor<64x3x7x7xf32>, tensor<64x3x7x7xf32>, tensor<f32>)
        -> (tensor<64x3x7x7xf32>, tensor<64x3x7x7xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TensorOf<[F32]>:$parameter,
                       TensorOf<[F32]>:$gradient,
                       TensorOf<[F32]>:$momentum_buffer,
                       0DTensorOf<[F32]>:$learning_rate,
                       F64Attr:$momentum, F64Attr:$weight_decay,
                       UnitAttr:$nesterov);
  let results = (outs TensorOf<[F32]>:$new_parameter,
                      TensorOf<[F32]>:$new_momentum_buffer);
  let assemblyFormat = [{
    $name $parameter `,` $gradient `,` $momentum_buffer `,` $learning_rate
    attr-dict `:` functional-type(operands, results)
  }];
}

def TG_RunningStatsUpdateOp : TG_ComputeOp<"running_stats_update", [
    TG_UpdateOp, MemoryEffects<[MemWrite]>,
    DeclareOpInterfaceMethods<TG_InPlaceOpInterface>],
    ["getBytesRead", "getBytesWritten"]> {
  let summary = "batch norm's running mean and variance, updated in place";
  let description = [{
    `running_mean = (1 - momentum) * running_mean + momentum * mean`,
    `running_var = (1 - momentum) * running_var + momentum * variance * M / (M - 1)`
    where `mean` and `variance` (biased) are a `tg.batch_norm`'s results over
    M = `samples` values per channel: PyTorch's update, with the unbiased
    variance. Exactly one per batch norm and step, wherever the batch norm
    itself is recomputed. Results are tied to the running statistics.
    Costs 6 FLOPs per channel.

    Example:

    ```mlir
    %m1, %v1 = tg.running_stats_update "features.norm0" %running_mean, %running_var, %mean, %var
        {momentum = 1.000000e-01 : f64, samples = 100352 : i64}
        : (tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, TG_Statistic:$running_mean,
                       TG_Statistic:$running_var, TG_Statistic:$mean,
                       TG_Statistic:$variance, F64Attr:$momentum,
                       I64Attr:$samples);
  let results = (outs TG_Statistic:$new_running_mean,
                      TG_Statistic:$new_running_var);
  let assemblyFormat = [{
    $name $running_mean `,` $running_var `,` $mean `,` $variance attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Data parallelism
//===----------------------------------------------------------------------===//

def TG_AllReduceOp : TG_ComputeOp<"all_reduce", [
    TG_BackwardOp, MemoryEffects<[MemWrite]>,
    DeclareOpInterfaceMethods<TG_InPlaceOpInterface>],
    ["getBytesRead", "getBytesWritten"]> {
  let summary = "averages a bucket of weight gradients over data-parallel ranks, in place";
  let description = [{
    Every operand becomes its mean over the `world_size` ranks of the job:
    `g = (g_0 + ... + g_{world_size-1}) / world_size`, as PyTorch's
    DistributedDataParallel averages gradients. The operands are one bucket:
    the planner places them back to back in one buffer, so that the runtime
    reduces the bucket with one collective (MPI_Allreduce on the CPU,
    ncclAllReduce on the GPU), started as soon as the bucket's last gradient
    is written and waited for by the first op that reads a result. Result i
    is tied to operand i. Costs 1 FLOP per element (the sum); on the wire a
    ring all-reduce moves 2 (world_size - 1) / world_size times the bytes.

    Example:

    ```mlir
    %a, %b = tg.all_reduce "bucket0" %dw, %db {world_size = 2 : i64}
        : (tensor<10x342xf32>, tensor<10xf32>) -> (tensor<10x342xf32>, tensor<10xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$name, Variadic<TensorOf<[F32]>>:$gradients,
                       I64Attr:$world_size);
  let results = (outs Variadic<TensorOf<[F32]>>:$averaged);
  let assemblyFormat = [{
    $name $gradients attr-dict `:` functional-type(operands, results)
  }];
}

#endif // DENSENET_TG_TRAINING_OPS
