// RUN: densenet-opt %s --split-input-file --tg-verify-training-step --verify-diagnostics

// Tests that a correct step passes: one update per parameter, after its last
// read.
func.func @ok(%x: tensor<2x3x2x2xf32>, %labels: tensor<2xi32>, %lr: tensor<f32>) -> (tensor<f32>, tensor<i64>) attributes {tg.training_step} {
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %g = tg.global_avg_pool "pool" %c : tensor<2x2x2x2xf32> -> tensor<2x2xf32>
  %loss, %correct = tg.softmax_cross_entropy "loss" %g, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  %dg = tg.softmax_cross_entropy_grad "loss" %g, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> tensor<2x2xf32>
  %dc = tg.global_avg_pool_grad "pool" %dg : tensor<2x2xf32> -> tensor<2x2x2x2xf32>
  %dw = tg.conv2d_grad_filter "conv" %x, %dc stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x2x2x2xf32>) -> tensor<2x3x1x1xf32>
  %v = tg.state "conv.weight.momentum_buffer" : tensor<2x3x1x1xf32>
  %w1, %v1 = tg.sgd_update "conv.weight" %w, %dw, %v, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<f32>) -> (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>)
  return %loss, %correct : tensor<f32>, tensor<i64>
}

// -----

// Tests that a parameter without an update is reported.
func.func @never_updated(%x: tensor<2x3x2x2xf32>, %labels: tensor<2xi32>, %lr: tensor<f32>) -> (tensor<f32>, tensor<i64>) attributes {tg.training_step} {
  // expected-error @+1 {{'conv.weight' is updated 0 times in the step; expected exactly once}}
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %g = tg.global_avg_pool "pool" %c : tensor<2x2x2x2xf32> -> tensor<2x2xf32>
  %loss, %correct = tg.softmax_cross_entropy "loss" %g, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  return %loss, %correct : tensor<f32>, tensor<i64>
}

// -----

// Tests that two updates of one parameter are reported, and that the first
// update's buffer is then read after it was updated in place.
func.func @updated_twice(%x: tensor<2x3x2x2xf32>, %dw: tensor<2x3x1x1xf32>, %lr: tensor<f32>) attributes {tg.training_step} {
  // expected-error @+1 {{'conv.weight' is updated 2 times in the step; expected exactly once}}
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %v = tg.state "conv.weight.momentum_buffer" : tensor<2x3x1x1xf32>
  %w1, %v1 = tg.sgd_update "conv.weight" %w, %dw, %v, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<f32>) -> (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>)
  %v2 = tg.state "conv.weight.momentum_buffer2" : tensor<2x3x1x1xf32>
  // expected-error @+1 {{reads a buffer that 'conv.weight' (tg.sgd_update) has already updated in place}}
  %w2, %v3 = tg.sgd_update "conv.weight" %w, %dw, %v2, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<f32>) -> (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>)
  return
}

// -----

// Tests that reading a gradient buffer after accumulating into it in place
// is reported.
func.func @read_after_accumulate(%g: tensor<1x4x2x2xf32>, %d: tensor<1x2x2x2xf32>) attributes {tg.training_step} {
  %g1 = tg.accumulate "layer" %g, %d offset 0 : (tensor<1x4x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x4x2x2xf32>
  // expected-error @+1 {{reads a buffer that 'layer' (tg.accumulate) has already updated in place}}
  %s = tg.slice "late" %g offset 2 : tensor<1x4x2x2xf32> -> tensor<1x2x2x2xf32>
  return
}

// -----

// Tests that a backward op may not read another layer's activation: the
// backward of "b" reading the output of "a" (which "b" never consumed)
// would keep it alive for no reason.
func.func @foreign_activation(%x: tensor<1x2x2x2xf32>, %dy: tensor<1x2x2x2xf32>) attributes {tg.training_step} {
  %a = tg.relu "a" %x : tensor<1x2x2x2xf32>
  %b = tg.relu "b" %x : tensor<1x2x2x2xf32>
  // expected-error @+1 {{of 'b' reads a forward activation of a, which only the layers that produce or consume it may read}}
  %db = tg.relu_grad "b" %dy, %a : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return
}

// -----

// Tests that a parameter may only be updated by tg.sgd_update, as its
// parameter operand.
func.func @wrong_update(%d: tensor<4xf32>, %lr: tensor<f32>) attributes {tg.training_step} {
  %w = tg.parameter "w" : tensor<4xf32>
  %v = tg.state "w.momentum_buffer" : tensor<4xf32>
  // expected-error @+1 {{updates 'w', which only tg.sgd_update (as its parameter) may update}}
  %w1 = tg.accumulate "w" %w, %d offset 0 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %g = tg.parameter "g" : tensor<4xf32>
  // expected-error @+2 {{updates 'w.momentum_buffer', which only its optimizer or batch-norm update may update}}
  // expected-error @+1 {{updates 'g', which only tg.sgd_update (as its parameter) may update}}
  %v1, %g1 = tg.sgd_update "w" %v, %d, %g, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that two declarations may not share a state-dict name.
func.func @duplicate_names(%d: tensor<4xf32>, %lr: tensor<f32>) attributes {tg.training_step} {
  %w = tg.parameter "w" : tensor<4xf32>
  %v = tg.state "w.momentum_buffer" : tensor<4xf32>
  %w1, %v1 = tg.sgd_update "w" %w, %d, %v, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  // expected-error @+1 {{declares 'w' a second time; state-dict names must be unique}}
  %w2 = tg.parameter "w" : tensor<4xf32>
  %v2 = tg.state "w.momentum_buffer2" : tensor<4xf32>
  %w3, %v3 = tg.sgd_update "w" %w2, %d, %v2, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}
