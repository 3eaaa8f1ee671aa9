// RUN: densenet-opt %s --tg-rematerialize --tg-verify-training-step | FileCheck %s

// Tests that marked forward ops are cloned, in dependency order, right
// before the first backward op that reads them; backward readers use the
// clones, forward readers (and the running-statistics update) keep the
// originals; clones carry tg.recomputed and the original's name.

// CHECK-LABEL: func.func @norm_relu_conv(
// CHECK:      %[[Y:.*]], %[[MEAN:.*]], %[[VAR:.*]] = tg.batch_norm "norm" %[[X:[^,]*]], %[[G:[^,]*]], %[[B:[^ ]*]] {tg.recompute}
// CHECK:      tg.running_stats_update "norm" %{{.*}}, %{{.*}}, %[[MEAN]], %[[VAR]]
// CHECK:      %[[R:.*]] = tg.relu "relu" %[[Y]] {tg.recompute}
// CHECK:      %[[C:.*]] = tg.conv2d "conv" %[[R]],
// CHECK:      %[[DC:.*]] = tg.global_avg_pool_grad "pool"
// The filter gradient is the first reader of relu's output: norm, then relu, are recomputed just before it.
// CHECK-NEXT: %[[Y2:.*]], %[[MEAN2:.*]], %[[VAR2:.*]] = tg.batch_norm "norm" %[[X]], %[[G]], %[[B]] {tg.recomputed}
// CHECK-NEXT: %[[R2:.*]] = tg.relu "relu" %[[Y2]] {tg.recomputed}
// CHECK-NEXT: tg.conv2d_grad_filter "conv" %[[R2]], %[[DC]]
// CHECK:      tg.relu_grad "relu" %{{.*}}, %[[R2]]
// CHECK-NEXT: tg.batch_norm_grad "norm" %{{.*}}, %[[X]], %[[G]], %[[MEAN2]], %[[VAR2]]
// CHECK-NOT:  tg.recomputed
func.func @norm_relu_conv(%x: tensor<2x3x4x4xf32>, %labels: tensor<2xi32>, %lr: tensor<f32>) -> (tensor<f32>, tensor<i64>) attributes {tg.training_step} {
  %g = tg.parameter "norm.weight" : tensor<3xf32>
  %b = tg.parameter "norm.bias" : tensor<3xf32>
  %y, %mean, %var = tg.batch_norm "norm" %x, %g, %b {tg.recompute} : (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>)
  %rm = tg.state "norm.running_mean" : tensor<3xf32>
  %rv = tg.state "norm.running_var" : tensor<3xf32>
  %rm1, %rv1 = tg.running_stats_update "norm" %rm, %rv, %mean, %var {momentum = 0.1 : f64, samples = 32 : i64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  %r = tg.relu "relu" %y {tg.recompute} : tensor<2x3x4x4xf32>
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "conv" %r, %w stride [1, 1] pad [0, 0] : (tensor<2x3x4x4xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x4x4xf32>
  %p = tg.global_avg_pool "pool" %c : tensor<2x2x4x4xf32> -> tensor<2x2xf32>
  %loss, %correct = tg.softmax_cross_entropy "loss" %p, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  %dp = tg.softmax_cross_entropy_grad "loss" %p, %labels : (tensor<2x2xf32>, tensor<2xi32>) -> tensor<2x2xf32>
  %dc = tg.global_avg_pool_grad "pool" %dp : tensor<2x2xf32> -> tensor<2x2x4x4xf32>
  %dw = tg.conv2d_grad_filter "conv" %r, %dc stride [1, 1] pad [0, 0] : (tensor<2x3x4x4xf32>, tensor<2x2x4x4xf32>) -> tensor<2x3x1x1xf32>
  %dr = tg.conv2d_grad_input "conv" %dc, %w stride [1, 1] pad [0, 0] : (tensor<2x2x4x4xf32>, tensor<2x3x1x1xf32>) -> tensor<2x3x4x4xf32>
  %vw = tg.state "conv.weight.momentum_buffer" : tensor<2x3x1x1xf32>
  %w1, %vw1 = tg.sgd_update "conv.weight" %w, %dw, %vw, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<f32>) -> (tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>)
  %dy = tg.relu_grad "relu" %dr, %r : (tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>) -> tensor<2x3x4x4xf32>
  %dx, %dg, %db = tg.batch_norm_grad "norm" %dy, %x, %g, %mean, %var : (tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>)
  %vg = tg.state "norm.weight.momentum_buffer" : tensor<3xf32>
  %g1, %vg1 = tg.sgd_update "norm.weight" %g, %dg, %vg, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>)
  %vb = tg.state "norm.bias.momentum_buffer" : tensor<3xf32>
  %b1, %vb1 = tg.sgd_update "norm.bias" %b, %db, %vb, %lr {momentum = 0.9 : f64, weight_decay = 0.0 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %loss, %correct : tensor<f32>, tensor<i64>
}
