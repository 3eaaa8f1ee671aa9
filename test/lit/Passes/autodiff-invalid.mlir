// RUN: densenet-opt %s --split-input-file --tg-autodiff --verify-diagnostics

// Tests that a training step is not differentiated twice.
// expected-error @+1 {{is already a training step}}
func.func @twice(%x: tensor<2x4xf32>) -> tensor<2x4xf32> attributes {tg.training_step} {
  return %x : tensor<2x4xf32>
}

// -----

// Tests that the function must return the logits alone.
// expected-error @+1 {{must return exactly the logits (a static rank-2 f32, bf16 or f16 tensor) to be trained}}
func.func @two_results(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  return %x, %x : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// Tests that dn ops must be lowered first.
func.func @not_lowered(%x: tensor<2x3x8x8xf32>) -> tensor<2x10xf32> {
  // expected-error @+1 {{cannot be differentiated: a forward graph holds only tg ops}}
  %0 = dn.classifier "classifier"(%x) : tensor<2x3x8x8xf32> -> tensor<2x10xf32>
  return %0 : tensor<2x10xf32>
}

// -----

// Tests that a backward op in the input is refused.
func.func @has_backward(%x: tensor<2x4xf32>, %labels: tensor<2xi32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{is already part of a backward pass}}
  %0 = tg.softmax_cross_entropy_grad "loss" %x, %labels : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Tests that a parameter the loss does not depend on is reported, since it
// would never be trained.
func.func @dead_parameter(%x: tensor<2x3x2x2xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'unused.weight' receives no gradient from the loss: it would never be trained}}
  %w = tg.parameter "unused.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "unused" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %g = tg.global_avg_pool "pool" %x : tensor<2x3x2x2xf32> -> tensor<2x3xf32>
  return %g : tensor<2x3xf32>
}

// -----

// Tests that integer logits are refused before any loss is built.
// expected-error @+1 {{must return exactly the logits (a static rank-2 f32, bf16 or f16 tensor) to be trained}}
func.func @int_logits(%x: tensor<2x4xi32>) -> tensor<2x4xi32> {
  return %x : tensor<2x4xi32>
}

// -----

// Tests that an op without a gradient rule is an error only when a gradient
// reaches it: an unused loss in the forward graph is ignored, and a
// parameter with a dead second use is still trained.
func.func @dead_uses(%x: tensor<2x3x2x2xf32>, %labels: tensor<2xi32>) -> tensor<2x2xf32> {
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %dead = tg.conv2d "dead" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %g = tg.global_avg_pool "pool" %c : tensor<2x2x2x2xf32> -> tensor<2x2xf32>
  %l, %n = tg.softmax_cross_entropy "unused" %g, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  return %g : tensor<2x2xf32>
}

// -----

// Tests that private declarations are left alone.
func.func private @declaration(tensor<2x4xf32>) -> tensor<2x4xf32>
