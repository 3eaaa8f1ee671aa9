// RUN: densenet-opt %s --split-input-file --verify-diagnostics

// Tests that conv2d checks the output size from stride and padding.
func.func @conv_shape(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{expected output shape 1x4x8x8, got 'tensor<1x4x6x6xf32>'}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [1, 1] : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

// Tests that conv2d checks filter and input channels agree.
func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x5x3x3xf32>) {
  // expected-error @+1 {{filter expects 5 input channels, the input has 3}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [1, 1] : (tensor<1x3x8x8xf32>, tensor<4x5x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that a filter larger than the padded input is refused.
func.func @conv_window(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x7x7xf32>) {
  // expected-error @+1 {{window 7x7 does not fit the input}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<1x3x2x2xf32>, tensor<4x3x7x7xf32>) -> tensor<1x4x1x1xf32>
  return
}

// -----

// Tests that strides are positive.
func.func @conv_stride(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{stride values must be in [1, 16777216], got 0}}
  %0 = tg.conv2d "conv" %x, %w stride [0, 1] pad [1, 1] : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that windows have two dimensions.
func.func @conv_stride_rank(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{pad needs 2 values (height, width), got 1}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [1] : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that low-precision activations take f32 or same-type weights only.
func.func @conv_weight_type(%x: tensor<1x3x8x8xbf16>, %w: tensor<4x3x3x3xf16>) {
  // expected-error @+1 {{filter element type 'f16' must be f32 or the activation type 'bf16'}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [1, 1] : (tensor<1x3x8x8xbf16>, tensor<4x3x3x3xf16>) -> tensor<1x4x8x8xbf16>
  return
}

// -----

// Tests that batch norm's per-channel tensors match the channels.
func.func @bn_channels(%x: tensor<1x4x8x8xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{per-channel tensors must have 4 elements, got 'tensor<3xf32>'}}
  %y, %m, %i = tg.batch_norm "norm" %x, %s, %s : (tensor<1x4x8x8xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<1x4x8x8xf32>, tensor<3xf32>, tensor<3xf32>)
  return
}

// -----

// Tests that batch norm keeps its input type.
func.func @bn_type(%x: tensor<1x4x8x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{output type 'tensor<1x4x8x8xbf16>' differs from input type 'tensor<1x4x8x8xf32>'}}
  %y, %m, %i = tg.batch_norm "norm" %x, %s, %s : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<1x4x8x8xbf16>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that the running-statistics momentum is in [0, 1].
func.func @bn_momentum(%s: tensor<4xf32>) {
  // expected-error @+1 {{momentum must be in [0, 1], got 2}}
  %m, %v = tg.running_stats_update "norm" %s, %s, %s, %s {momentum = 2.0 : f64, samples = 8 : i64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that the unbiased variance needs two samples per channel.
func.func @bn_samples(%s: tensor<4xf32>) {
  // expected-error @+1 {{needs at least 2 samples per channel, got 1}}
  %m, %v = tg.running_stats_update "norm" %s, %s, %s, %s {momentum = 0.1 : f64, samples = 1 : i64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that batch norm's epsilon is positive.
func.func @bn_epsilon(%x: tensor<1x4x8x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{epsilon must be > 0}}
  %y, %m, %i = tg.batch_norm "norm" %x, %s, %s {epsilon = 0.0 : f64} : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that relu keeps its type.
func.func @relu_type(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "tg.relu"(%x) {name = "relu"} : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf16>
  return
}

// -----

// Tests that concat adds up the channels.
func.func @concat_channels(%a: tensor<1x4x8x8xf32>, %b: tensor<1x2x8x8xf32>) {
  // expected-error @+1 {{inputs have 6 channels in all, the output has 7}}
  %0 = tg.concat "cat" %a, %b : (tensor<1x4x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x7x8x8xf32>
  return
}

// -----

// Tests that concat inputs share batch and spatial size.
func.func @concat_spatial(%a: tensor<1x4x8x8xf32>, %b: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{does not match the output 'tensor<1x6x8x8xf32>' in element type, batch or spatial size}}
  %0 = tg.concat "cat" %a, %b : (tensor<1x4x8x8xf32>, tensor<1x2x4x4xf32>) -> tensor<1x6x8x8xf32>
  return
}

// -----

// Tests that concat needs an input.
func.func @concat_empty() {
  // expected-error @+1 {{needs at least one input}}
  %0 = tg.concat "cat" : () -> tensor<1x6x8x8xf32>
  return
}

// -----

// Tests that pooling checks its output size.
func.func @pool_shape(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{expected output shape 1x4x4x4, got 'tensor<1x4x3x3xf32>'}}
  %0 = tg.avg_pool "pool" %x kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<1x4x8x8xf32> -> tensor<1x4x3x3xf32>
  return
}

// -----

// Tests PyTorch's rule that padding is at most half the kernel.
func.func @pool_padding(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{pad 2 must be at most half the kernel 3}}
  %0 = tg.max_pool "pool" %x kernel [3, 3] stride [1, 1] pad [2, 2] : tensor<1x4x8x8xf32> -> tensor<1x4x10x10xf32>
  return
}

// -----

// Tests that global average pooling keeps batch and channels.
func.func @global_pool(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{expected output 'tensor<1x4xf32>', got 'tensor<1x5xf32>'}}
  %0 = tg.global_avg_pool "pool" %x : tensor<1x4x8x8xf32> -> tensor<1x5xf32>
  return
}

// -----

// Tests that linear checks the feature count.
func.func @linear_features(%x: tensor<2x16xf32>, %w: tensor<10x8xf32>, %b: tensor<10xf32>) {
  // expected-error @+1 {{weight expects 8 input features, the input has 16}}
  %0 = tg.linear "fc" %x, %w, %b : (tensor<2x16xf32>, tensor<10x8xf32>, tensor<10xf32>) -> tensor<2x10xf32>
  return
}

// -----

// Tests that linear checks the output shape.
func.func @linear_output(%x: tensor<2x16xf32>, %w: tensor<10x16xf32>, %b: tensor<10xf32>) {
  // expected-error @+1 {{expected output 'tensor<2x10xf32>', got 'tensor<2x11xf32>'}}
  %0 = tg.linear "fc" %x, %w, %b : (tensor<2x16xf32>, tensor<10x16xf32>, tensor<10xf32>) -> tensor<2x11xf32>
  return
}

// -----

// Tests that linear checks the bias size.
func.func @linear_bias(%x: tensor<2x16xf32>, %w: tensor<10x16xf32>, %b: tensor<9xf32>) {
  // expected-error @+1 {{bias has 9 elements, expected 10}}
  %0 = tg.linear "fc" %x, %w, %b : (tensor<2x16xf32>, tensor<10x16xf32>, tensor<9xf32>) -> tensor<2x10xf32>
  return
}

// -----

// Tests that dropout's rate is below 1.
func.func @dropout_rate(%x: tensor<2x16xf32>) {
  // expected-error @+1 {{rate must be in [0, 1), got 1}}
  %0 = tg.dropout "drop" %x {rate = 1.0 : f64} : tensor<2x16xf32>
  return
}

// -----

// Tests that the loss has one label per row.
func.func @loss_labels(%x: tensor<2x10xf32>, %labels: tensor<3xi32>) {
  // expected-error @+1 {{has 2 rows of logits but 3 labels}}
  %l, %c = tg.softmax_cross_entropy "loss" %x, %labels : (tensor<2x10xf32>, tensor<3xi32>) -> (tensor<f32>, tensor<i64>)
  return
}

// -----

// Tests that parameters are f32 master weights.
func.func @parameter_type() {
  // expected-error @+1 {{result #0 must be tensor of 32-bit float values}}
  %0 = tg.parameter "w" : tensor<4xbf16>
  return
}

// -----

// Tests that parameters are named.
func.func @parameter_name() {
  // expected-error @+1 {{needs a non-empty name}}
  %0 = tg.parameter "" : tensor<4xf32>
  return
}

// -----

// Tests that tg tensors are statically shaped.
func.func @dynamic(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{needs statically shaped tensors, got 'tensor<?x4xf32>'}}
  %0 = tg.relu "relu" %x : tensor<?x4xf32>
  return
}

// -----

// Tests that huge padding is refused rather than overflowing the window
// arithmetic.
func.func @pad_overflow(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{pad values must be in [0, 16777216], got 9223372036854775805}}
  %0 = tg.conv2d "conv" %x, %w stride [1, 1] pad [9223372036854775805, 1] : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

// Tests that dimensions are bounded, so channel sums cannot overflow.
func.func @huge_dimension(%a: tensor<1x4611686018427387904x1x1xf32>) {
  // expected-error @+1 {{has a dimension outside [1, 2147483647]}}
  %0 = tg.relu "relu" %a : tensor<1x4611686018427387904x1x1xf32>
  return
}
