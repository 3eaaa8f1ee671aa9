// RUN: densenet-opt %s --split-input-file --verify-diagnostics

// Tests that the input gradient's shape is checked through the forward window.
func.func @grad_input_shape(%dy: tensor<2x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) {
  // expected-error @+1 {{expected output shape 2x4x6x6, got 'tensor<2x4x8x8xf32>'}}
  %0 = tg.conv2d_grad_input "conv" %dy, %w stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  return
}

// -----

// Tests that the filter gradient has the filter's input channels.
func.func @grad_filter_channels(%x: tensor<2x4x8x8xf32>, %dy: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{filter gradient has 3 input channels, the input has 4}}
  %0 = tg.conv2d_grad_filter "conv" %x, %dy stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x3x3x3xf32>
  return
}

// -----

// Tests that batch_norm_grad's per-channel tensors match the channels.
func.func @bn_grad_channels(%x: tensor<2x4x8x8xf32>, %s: tensor<4xf32>, %t: tensor<5xf32>) {
  // expected-error @+1 {{per-channel tensors must have 4 elements, got 'tensor<5xf32>'}}
  %0:3 = tg.batch_norm_grad "norm" %x, %x, %s, %t, %s : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<5xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that relu_grad's gradient matches the forward output.
func.func @relu_grad_type(%dy: tensor<2x4xf32>, %y: tensor<2x5xf32>) {
  // expected-error @+1 {{output gradient and output types differ}}
  %0 = tg.relu_grad "relu" %dy, %y : (tensor<2x4xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

// Tests that avg_pool_grad checks the forward window.
func.func @avg_pool_grad_shape(%dy: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{expected output shape 2x4x3x3, got 'tensor<2x4x4x4xf32>'}}
  %0 = tg.avg_pool_grad "avg" %dy kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x4x4x4xf32> -> tensor<2x4x6x6xf32>
  return
}

// -----

// Tests that max_pool_grad reads the forward input and output.
func.func @max_pool_grad_types(%dy: tensor<2x4x4x4xf32>, %x: tensor<2x4x8x8xf32>, %y: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{input gradient and input types differ}}
  %0 = tg.max_pool_grad "max" %dy, %x, %y kernel [2, 2] stride [2, 2] pad [0, 0] : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x7xf32>
  return
}

// -----

// Tests that global_avg_pool_grad keeps batch and channels.
func.func @global_pool_grad(%dy: tensor<2x5xf32>) {
  // expected-error @+1 {{output gradient must be 'tensor<2x4xf32>' for an input gradient 'tensor<2x4x8x8xf32>', got 'tensor<2x5xf32>'}}
  %0 = tg.global_avg_pool_grad "pool" %dy : tensor<2x5xf32> -> tensor<2x4x8x8xf32>
  return
}

// -----

// Tests that linear_grad's weight gradient has the weight's shape.
func.func @linear_grad_weight(%dy: tensor<2x5xf32>, %x: tensor<2x4xf32>, %w: tensor<5x4xf32>) {
  // expected-error @+1 {{weight gradient shape 'tensor<4x5xf32>' differs from the weight's 'tensor<5x4xf32>'}}
  %0:3 = tg.linear_grad "fc" %dy, %x, %w : (tensor<2x5xf32>, tensor<2x4xf32>, tensor<5x4xf32>) -> (tensor<2x4xf32>, tensor<4x5xf32>, tensor<5xf32>)
  return
}

// -----

// Tests that a slice stays inside its buffer.
func.func @slice_range(%b: tensor<2x8x4x4xf32>) {
  // expected-error @+1 {{a range of 4 channels at offset 6 is outside the buffer's 8 channels}}
  %0 = tg.slice "layer" %b offset 6 : tensor<2x8x4x4xf32> -> tensor<2x4x4x4xf32>
  return
}

// -----

// Tests that accumulation matches the buffer's batch and spatial size.
func.func @accumulate_shape(%b: tensor<2x8x4x4xf32>, %v: tensor<2x4x2x2xf32>) {
  // expected-error @+1 {{channel range 'tensor<2x4x2x2xf32>' does not match 'tensor<2x8x4x4xf32>' in element type, batch or spatial size}}
  %0 = tg.accumulate "layer" %b, %v offset 0 : (tensor<2x8x4x4xf32>, tensor<2x4x2x2xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

// Tests that SGD tensors share the parameter's type.
func.func @sgd_types(%w: tensor<4xf32>, %g: tensor<5xf32>, %lr: tensor<f32>) {
  // expected-error @+1 {{all tensors must have the parameter's type}}
  %0:2 = tg.sgd_update "w" %w, %g, %w, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<5xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that Nesterov needs momentum, as in torch.optim.SGD.
func.func @sgd_nesterov(%w: tensor<4xf32>, %lr: tensor<f32>) {
  // expected-error @+1 {{Nesterov momentum requires a momentum > 0}}
  %0:2 = tg.sgd_update "w" %w, %w, %w, %lr {momentum = 0.0 : f64, nesterov, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that weight decay is not negative.
func.func @sgd_decay(%w: tensor<4xf32>, %lr: tensor<f32>) {
  // expected-error @+1 {{weight_decay must be >= 0}}
  %0:2 = tg.sgd_update "w" %w, %w, %w, %lr {momentum = 0.9 : f64, weight_decay = -1.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that a channel offset near int64's limit is refused, not wrapped.
func.func @slice_offset_overflow(%b: tensor<2x8x4x4xf32>) {
  // expected-error @+1 {{a range of 4 channels at offset 9223372036854775807 is outside the buffer's 8 channels}}
  %0 = tg.slice "layer" %b offset 9223372036854775807 : tensor<2x8x4x4xf32> -> tensor<2x4x4x4xf32>
  return
}

// -----

// Tests that accumulating into a non-feature-map buffer takes offset 0.
func.func @accumulate_vector_offset(%b: tensor<4xf32>) {
  // expected-error @+1 {{offset must be 0 unless the buffer is a 4-D feature map}}
  %0 = tg.accumulate "w" %b, %b offset 7 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}
