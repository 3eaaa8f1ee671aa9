// RUN: densenet-opt %s --split-input-file | densenet-opt --split-input-file | FileCheck %s

// Tests that every tg op prints and parses back unchanged.

// CHECK-LABEL: func.func @all_ops
func.func @all_ops(%x: tensor<2x3x16x16xf32>, %labels: tensor<2xi32>) -> (tensor<f32>, tensor<i64>) {
  // CHECK: %[[W:.*]] = tg.parameter "features.conv0.weight" : tensor<8x3x7x7xf32>
  %w = tg.parameter "features.conv0.weight" : tensor<8x3x7x7xf32>
  // CHECK: tg.conv2d "features.conv0" %{{.*}}, %[[W]] stride [2, 2] pad [3, 3] : (tensor<2x3x16x16xf32>, tensor<8x3x7x7xf32>) -> tensor<2x8x8x8xf32>
  %c = tg.conv2d "features.conv0" %x, %w stride [2, 2] pad [3, 3] : (tensor<2x3x16x16xf32>, tensor<8x3x7x7xf32>) -> tensor<2x8x8x8xf32>
  %g = tg.parameter "features.norm0.weight" : tensor<8xf32>
  %b = tg.parameter "features.norm0.bias" : tensor<8xf32>
  // CHECK: tg.state "features.norm0.running_mean" : tensor<8xf32>
  %m = tg.state "features.norm0.running_mean" : tensor<8xf32>
  %v = tg.state "features.norm0.running_var" : tensor<8xf32>
  // CHECK: tg.batch_norm "features.norm0" %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>)
  %y, %mean, %var = tg.batch_norm "features.norm0" %c, %g, %b : (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>)
  // CHECK: tg.running_stats_update "features.norm0" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {momentum = 1.000000e-01 : f64, samples = 128 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>)
  %m1, %v1 = tg.running_stats_update "features.norm0" %m, %v, %mean, %var {momentum = 0.1 : f64, samples = 128 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>)
  // CHECK: tg.batch_norm "features.norm1" {{.*}} {epsilon = 1.000000e-03 : f64}
  %y1, %mean1, %var1 = tg.batch_norm "features.norm1" %c, %g, %b {epsilon = 1.0e-3 : f64} : (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>)
  // CHECK: tg.relu "features.relu0" %{{.*}} : tensor<2x8x8x8xf32>
  %r = tg.relu "features.relu0" %y : tensor<2x8x8x8xf32>
  // CHECK: tg.max_pool "features.pool0" %{{.*}} kernel [3, 3] stride [2, 2] pad [1, 1] : tensor<2x8x8x8xf32> -> tensor<2x8x4x4xf32>
  %p = tg.max_pool "features.pool0" %r kernel [3, 3] stride [2, 2] pad [1, 1] : tensor<2x8x8x8xf32> -> tensor<2x8x4x4xf32>
  // CHECK: tg.dropout "drop" %{{.*}} {rate = 2.000000e-01 : f64} : tensor<2x8x4x4xf32>
  %d = tg.dropout "drop" %p {rate = 0.2 : f64} : tensor<2x8x4x4xf32>
  // CHECK: tg.concat "cat" %{{.*}}, %{{.*}} : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x16x4x4xf32>
  %cat = tg.concat "cat" %p, %d : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x16x4x4xf32>
  // CHECK: tg.avg_pool "features.transition1.pool" %{{.*}} kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x16x4x4xf32> -> tensor<2x16x2x2xf32>
  %a = tg.avg_pool "features.transition1.pool" %cat kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x16x4x4xf32> -> tensor<2x16x2x2xf32>
  // CHECK: tg.global_avg_pool "features.avgpool" %{{.*}} : tensor<2x16x2x2xf32> -> tensor<2x16xf32>
  %gp = tg.global_avg_pool "features.avgpool" %a : tensor<2x16x2x2xf32> -> tensor<2x16xf32>
  %lw = tg.parameter "classifier.weight" : tensor<10x16xf32>
  %lb = tg.parameter "classifier.bias" : tensor<10xf32>
  // CHECK: tg.linear "classifier" %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16xf32>, tensor<10x16xf32>, tensor<10xf32>) -> tensor<2x10xf32>
  %logits = tg.linear "classifier" %gp, %lw, %lb : (tensor<2x16xf32>, tensor<10x16xf32>, tensor<10xf32>) -> tensor<2x10xf32>
  // CHECK: tg.softmax_cross_entropy "loss" %{{.*}}, %{{.*}} : (tensor<2x10xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  %loss, %correct = tg.softmax_cross_entropy "loss" %logits, %labels : (tensor<2x10xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
  return %loss, %correct : tensor<f32>, tensor<i64>
}

// -----

// Tests low-precision activations with f32 master weights.

// CHECK-LABEL: func.func @mixed_precision
// CHECK: tg.conv2d "conv" %{{.*}}, %{{.*}} stride [1, 1] pad [1, 1] : (tensor<1x4x8x8xf16>, tensor<4x4x3x3xf32>) -> tensor<1x4x8x8xf16>
// CHECK: tg.batch_norm "norm" {{.*}} : (tensor<1x4x8x8xf16>, tensor<4xf32>, tensor<4xf32>) -> (tensor<1x4x8x8xf16>, tensor<4xf32>, tensor<4xf32>)
func.func @mixed_precision(%x: tensor<1x4x8x8xf16>) -> tensor<1x4x8x8xf16> {
  %w = tg.parameter "conv.weight" : tensor<4x4x3x3xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [1, 1] : (tensor<1x4x8x8xf16>, tensor<4x4x3x3xf32>) -> tensor<1x4x8x8xf16>
  %g = tg.parameter "norm.weight" : tensor<4xf32>
  %b = tg.parameter "norm.bias" : tensor<4xf32>
  %y, %mean, %var = tg.batch_norm "norm" %c, %g, %b : (tensor<1x4x8x8xf16>, tensor<4xf32>, tensor<4xf32>) -> (tensor<1x4x8x8xf16>, tensor<4xf32>, tensor<4xf32>)
  return %y : tensor<1x4x8x8xf16>
}
