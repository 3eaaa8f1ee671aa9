// RUN: densenet-opt %s | densenet-opt | FileCheck %s

// Tests that every backward and update op prints and parses back unchanged.

// CHECK-LABEL: func.func @backward_ops
func.func @backward_ops(%x: tensor<2x4x8x8xf32>, %dy: tensor<2x4x8x8xf32>, %w: tensor<4x4x3x3xf32>,
                        %s: tensor<4xf32>, %pooled: tensor<2x4x4x4xf32>, %m: tensor<2x4xf32>,
                        %fw: tensor<5x4xf32>, %dl: tensor<2x5xf32>, %labels: tensor<2xi32>,
                        %lr: tensor<f32>, %buffer: tensor<2x8x8x8xf32>) {
  // CHECK: tg.conv2d_grad_input "conv" %{{.*}}, %{{.*}} stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  %0 = tg.conv2d_grad_input "conv" %dy, %w stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x8x8xf32>
  // CHECK: tg.conv2d_grad_filter "conv" %{{.*}}, %{{.*}} stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x4x3x3xf32>
  %1 = tg.conv2d_grad_filter "conv" %x, %dy stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x4x3x3xf32>
  // CHECK: tg.batch_norm_grad "norm" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %2:3 = tg.batch_norm_grad "norm" %dy, %x, %s, %s, %s : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  // CHECK: tg.relu_grad "relu" %{{.*}}, %{{.*}} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %3 = tg.relu_grad "relu" %dy, %x : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  // CHECK: tg.max_pool_grad "max" %{{.*}}, %{{.*}}, %{{.*}} kernel [2, 2] stride [2, 2] pad [0, 0] : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  %4 = tg.max_pool_grad "max" %pooled, %x, %pooled kernel [2, 2] stride [2, 2] pad [0, 0] : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  // CHECK: tg.avg_pool_grad "avg" %{{.*}} kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x4x4x4xf32> -> tensor<2x4x8x8xf32>
  %5 = tg.avg_pool_grad "avg" %pooled kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x4x4x4xf32> -> tensor<2x4x8x8xf32>
  // CHECK: tg.global_avg_pool_grad "pool" %{{.*}} : tensor<2x4xf32> -> tensor<2x4x8x8xf32>
  %6 = tg.global_avg_pool_grad "pool" %m : tensor<2x4xf32> -> tensor<2x4x8x8xf32>
  // CHECK: tg.linear_grad "fc" %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x5xf32>, tensor<2x4xf32>, tensor<5x4xf32>) -> (tensor<2x4xf32>, tensor<5x4xf32>, tensor<5xf32>)
  %7:3 = tg.linear_grad "fc" %dl, %m, %fw : (tensor<2x5xf32>, tensor<2x4xf32>, tensor<5x4xf32>) -> (tensor<2x4xf32>, tensor<5x4xf32>, tensor<5xf32>)
  // CHECK: tg.dropout_grad "drop" %{{.*}} {rate = 5.000000e-01 : f64} : tensor<2x4x8x8xf32>
  %8 = tg.dropout_grad "drop" %dy {rate = 0.5 : f64} : tensor<2x4x8x8xf32>
  // CHECK: tg.softmax_cross_entropy_grad "loss" %{{.*}}, %{{.*}} : (tensor<2x5xf32>, tensor<2xi32>) -> tensor<2x5xf32>
  %9 = tg.softmax_cross_entropy_grad "loss" %dl, %labels : (tensor<2x5xf32>, tensor<2xi32>) -> tensor<2x5xf32>
  // CHECK: tg.slice "layer" %{{.*}} offset 4 : tensor<2x8x8x8xf32> -> tensor<2x4x8x8xf32>
  %10 = tg.slice "layer" %buffer offset 4 : tensor<2x8x8x8xf32> -> tensor<2x4x8x8xf32>
  // CHECK: tg.accumulate "layer" %{{.*}}, %{{.*}} offset 0 : (tensor<2x8x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x8x8x8xf32>
  %11 = tg.accumulate "layer" %buffer, %dy offset 0 : (tensor<2x8x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x8x8x8xf32>
  // CHECK: tg.sgd_update "conv.weight" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {momentum = 9.000000e-01 : f64, nesterov, weight_decay = 1.000000e-04 : f64} : (tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>, tensor<f32>) -> (tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>)
  %12:2 = tg.sgd_update "conv.weight" %w, %1, %w, %lr {momentum = 0.9 : f64, nesterov, weight_decay = 1.0e-4 : f64} : (tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>, tensor<f32>) -> (tensor<4x4x3x3xf32>, tensor<4x4x3x3xf32>)
  // CHECK: tg.running_stats_update "norm" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {momentum = 1.000000e-01 : f64, samples = 128 : i64}
  %13:2 = tg.running_stats_update "norm" %s, %s, %s, %s {momentum = 0.1 : f64, samples = 128 : i64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// CHECK-LABEL: func.func @mixed_precision_gradients
// CHECK: tg.conv2d_grad_filter "conv" {{.*}} : (tensor<2x4x8x8xbf16>, tensor<2x4x8x8xbf16>) -> tensor<4x4x3x3xf32>
// CHECK: tg.linear_grad "fc" {{.*}} : (tensor<2x5xbf16>, tensor<2x4xbf16>, tensor<5x4xf32>) -> (tensor<2x4xbf16>, tensor<5x4xf32>, tensor<5xf32>)
func.func @mixed_precision_gradients(%x: tensor<2x4x8x8xbf16>, %dy: tensor<2x4x8x8xbf16>, %dl: tensor<2x5xbf16>, %m: tensor<2x4xbf16>, %fw: tensor<5x4xf32>) {
  %0 = tg.conv2d_grad_filter "conv" %x, %dy stride [1, 1] pad [1, 1] : (tensor<2x4x8x8xbf16>, tensor<2x4x8x8xbf16>) -> tensor<4x4x3x3xf32>
  %1:3 = tg.linear_grad "fc" %dl, %m, %fw : (tensor<2x5xbf16>, tensor<2x4xbf16>, tensor<5x4xf32>) -> (tensor<2x4xbf16>, tensor<5x4xf32>, tensor<5xf32>)
  return
}
