// RUN: densenet-opt %s --split-input-file --verify-diagnostics

// Tests that the stem checks its output size against its geometry.
func.func @stem_wrong_size(%x: tensor<2x3x64x64xf32>) {
  // expected-error @+1 {{expected output shape 2x?x16x16 for the imagenet stem}}
  %0 = dn.stem imagenet "features"(%x) : tensor<2x3x64x64xf32> -> tensor<2x8x32x32xf32>
  return
}

// -----

// Tests that the cifar stem keeps the spatial size.
func.func @cifar_stem_wrong_size(%x: tensor<2x3x32x32xf32>) {
  // expected-error @+1 {{expected output shape 2x?x32x32 for the cifar stem}}
  %0 = dn.stem cifar "features"(%x) : tensor<2x3x32x32xf32> -> tensor<2x8x16x16xf32>
  return
}

// -----

// Tests that an op keeps the activation dtype.
func.func @stem_dtype(%x: tensor<2x3x32x32xf32>) {
  // expected-error @+1 {{input and output element types differ}}
  %0 = dn.stem cifar "features"(%x) : tensor<2x3x32x32xf32> -> tensor<2x8x32x32xbf16>
  return
}

// -----

// Tests that layer names are required.
func.func @empty_name(%x: tensor<2x3x32x32xf32>) {
  // expected-error @+1 {{needs a non-empty layer name}}
  %0 = dn.stem cifar ""(%x) : tensor<2x3x32x32xf32> -> tensor<2x8x32x32xf32>
  return
}

// -----

// Tests that feature maps must be statically shaped.
func.func @dynamic(%x: tensor<?x3x32x32xf32>) {
  // expected-error @+1 {{operand #0 must have a static shape}}
  %0 = dn.stem cifar "features"(%x) : tensor<?x3x32x32xf32> -> tensor<2x8x32x32xf32>
  return
}

// -----

// Tests that feature maps are 4-D.
func.func @rank(%x: tensor<2x3x32xf32>) {
  // expected-error @+1 {{must be 4D tensor}}
  %0 = dn.stem cifar "features"(%x) : tensor<2x3x32xf32> -> tensor<2x8x32x32xf32>
  return
}

// -----

// Tests that a dense block's yield matches its result.
func.func @block_yield_type(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{yields 'tensor<1x6x8x8xf32>' but the result is 'tensor<1x8x8x8xf32>'}}
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x8x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    dn.yield %l1 : tensor<1x6x8x8xf32>
  }
  return
}

// -----

// Tests that the block argument has the input's type.
func.func @block_argument(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{body must take exactly one argument of the input type}}
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>, %extra: tensor<1x4x8x8xf32>):
    dn.yield %in : tensor<1x4x8x8xf32>
  }
  return
}

// -----

// Tests that only dense layers may appear in a dense block.
func.func @block_foreign_op(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x2x4x4xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    // expected-error @+1 {{is not allowed in a dense block; only dn.dense_layer is}}
    %t = dn.transition "features.transition1"(%in) {compression = 0.5 : f64} : tensor<1x4x8x8xf32> -> tensor<1x2x4x4xf32>
    dn.yield %t : tensor<1x2x4x4xf32>
  }
  return
}

// -----

// Tests that a dense layer must add channels.
func.func @layer_no_growth(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    // expected-error @+1 {{must add channels: the output has 4, the input 4}}
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32>
    dn.yield %l1 : tensor<1x4x8x8xf32>
  }
  return
}

// -----

// Tests that a dense layer keeps the spatial size.
func.func @layer_spatial(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x6x4x4xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    // expected-error @+1 {{differ in batch or spatial size}}
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x4x4xf32>
    dn.yield %l1 : tensor<1x6x4x4xf32>
  }
  return
}

// -----

// Tests that bn_size cannot be negative.
func.func @layer_bn_size(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    // expected-error @+1 {{bn_size must be in [0, 64], got -1}}
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = -1 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    dn.yield %l1 : tensor<1x6x8x8xf32>
  }
  return
}

// -----

// Tests that drop_rate is a probability below 1.
func.func @layer_drop_rate(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    // expected-error @+1 {{drop_rate must be in [0, 1), got 1}}
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 1.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    dn.yield %l1 : tensor<1x6x8x8xf32>
  }
  return
}

// -----

// Tests that a dense layer lives inside a dense block.
func.func @layer_outside_block(%x: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{expects parent op 'dn.dense_block'}}
  %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%x) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
  return
}

// -----

// Tests that a transition's output channels follow its compression.
func.func @transition_channels(%x: tensor<1x10x8x8xf32>) {
  // expected-error @+1 {{expected output shape 1x5x4x4, got 'tensor<1x4x4x4xf32>'}}
  %0 = dn.transition "features.transition1"(%x) {compression = 0.5 : f64} : tensor<1x10x8x8xf32> -> tensor<1x4x4x4xf32>
  return
}

// -----

// Tests that a transition refuses a 1x1 input.
func.func @transition_too_small(%x: tensor<2x10x1x1xf32>) {
  // expected-error @+1 {{input 1x1 is too small to pool 2x2}}
  %0 = dn.transition "features.transition3"(%x) {compression = 0.5 : f64} : tensor<2x10x1x1xf32> -> tensor<2x5x1x1xf32>
  return
}

// -----

// Tests that a batch norm with one value per channel is refused.
func.func @one_value_per_channel(%x: tensor<1x10x1x1xf32>) {
  // expected-error @+1 {{normalizes 'tensor<1x10x1x1xf32>' with one value per channel; batch norm needs at least two}}
  %0 = dn.classifier "classifier"(%x) : tensor<1x10x1x1xf32> -> tensor<1x10xf32>
  return
}

// -----

// Tests that the layers of a block form a chain.
func.func @not_a_chain(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    // expected-error @+1 {{must read the features the previous layer returned (or the block argument, first)}}
    %l2 = dn.dense_layer "features.denseblock1.denselayer2"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    dn.yield %l2 : tensor<1x6x8x8xf32>
  }
  return
}

// -----

// Tests that the block returns its last layer's features.
func.func @yield_not_last(%x: tensor<1x4x8x8xf32>) {
  %0 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<1x4x8x8xf32> -> tensor<1x6x8x8xf32>
    // expected-error @+1 {{must return the last layer's features}}
    dn.yield %in : tensor<1x4x8x8xf32>
  }
  return
}

// -----

// Tests that zero-sized dimensions are refused.
func.func @empty_dimension(%x: tensor<1x10x1x1xf32>) {
  // expected-error @+1 {{result #0 has an empty dimension: 'tensor<1x5x0x0xf32>'}}
  %0 = dn.transition "features.transition3"(%x) {compression = 0.5 : f64} : tensor<1x10x1x1xf32> -> tensor<1x5x0x0xf32>
  return
}

// -----

// Tests that compression is in (0, 1].
func.func @transition_compression(%x: tensor<1x10x8x8xf32>) {
  // expected-error @+1 {{compression must be in (0, 1], got 1.5}}
  %0 = dn.transition "features.transition1"(%x) {compression = 1.5 : f64} : tensor<1x10x8x8xf32> -> tensor<1x15x4x4xf32>
  return
}

// -----

// Tests that the classifier keeps the batch size.
func.func @classifier_batch(%x: tensor<2x10x4x4xf32>) {
  // expected-error @+1 {{output batch 3 differs from input batch 2}}
  %0 = dn.classifier "classifier"(%x) : tensor<2x10x4x4xf32> -> tensor<3x10xf32>
  return
}
