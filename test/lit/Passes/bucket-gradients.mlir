// RUN: densenet-opt %s --tg-autodiff --tg-bucket-gradients="world-size=2 bucket-bytes=64" --tg-verify-training-step | FileCheck %s
// RUN: densenet-opt %s --tg-autodiff --tg-bucket-gradients="world-size=2" | FileCheck %s --check-prefix=ONE
// RUN: densenet-opt %s --tg-autodiff --tg-bucket-gradients | FileCheck %s --check-prefix=SINGLE
// RUN: densenet-opt %s --tg-autodiff="defer-updates=true" --tg-bucket-gradients="world-size=2 bucket-bytes=64" --tg-verify-training-step | FileCheck %s --check-prefix=DEFERRED

// Buckets follow the order the backward pass completes gradients (c2, c1,
// c0); with 64-byte buckets each filter gradient is one. A bucket's
// all-reduce comes right after its last gradient, and its update waits until
// the next bucket's all-reduce has started.

// CHECK-LABEL: func.func @conv_chain(
// CHECK:      %[[DW2:.*]] = tg.conv2d_grad_filter "c2"
// CHECK-NEXT: %[[V2:.*]] = tg.state "c2.weight.momentum_buffer"
// CHECK-NEXT: %[[A0:.*]] = tg.all_reduce "bucket0" %[[DW2]] {world_size = 2 : i64} : (tensor<4x4x1x1xf32>) -> tensor<4x4x1x1xf32>
// CHECK-NEXT: tg.conv2d_grad_input "c1"
// CHECK-NEXT: %[[DW1:.*]] = tg.conv2d_grad_filter "c1"
// CHECK-NEXT: %[[V1:.*]] = tg.state "c1.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "c2.weight" %{{.*}}, %[[A0]], %[[V2]]
// CHECK-NEXT: %[[A1:.*]] = tg.all_reduce "bucket1" %[[DW1]]
// CHECK-NEXT: %[[DW0:.*]] = tg.conv2d_grad_filter "c0"
// CHECK-NEXT: %[[V0:.*]] = tg.state "c0.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "c1.weight" %{{.*}}, %[[A1]], %[[V1]]
// CHECK-NEXT: %[[A2:.*]] = tg.all_reduce "bucket2" %[[DW0]]
// CHECK-NEXT: tg.sgd_update "c0.weight" %{{.*}}, %[[A2]], %[[V0]]
// CHECK-NEXT: return

// With the default 25 MiB buckets, one bucket holds every gradient, in
// backward order, and the updates follow it in the same order.
// ONE:      %[[A:.*]]:3 = tg.all_reduce "bucket0" %{{.*}}, %{{.*}}, %{{.*}} {world_size = 2 : i64} : (tensor<4x4x1x1xf32>, tensor<4x4x1x1xf32>, tensor<4x3x3x3xf32>)
// ONE-NEXT: tg.sgd_update "c2.weight" %{{.*}}, %[[A]]#0
// ONE-NEXT: tg.sgd_update "c1.weight" %{{.*}}, %[[A]]#1
// ONE-NEXT: tg.sgd_update "c0.weight" %{{.*}}, %[[A]]#2
// ONE-NEXT: return

// Deferred updates (f16 plans) stay after the backward pass; each bucket's
// all-reduce still comes right after its last gradient.
// DEFERRED:      %[[DW2:.*]] = tg.conv2d_grad_filter "c2"
// DEFERRED-NEXT: %[[A0:.*]] = tg.all_reduce "bucket0" %[[DW2]]
// DEFERRED:      %[[DW1:.*]] = tg.conv2d_grad_filter "c1"
// DEFERRED-NEXT: %[[A1:.*]] = tg.all_reduce "bucket1" %[[DW1]]
// DEFERRED:      %[[DW0:.*]] = tg.conv2d_grad_filter "c0"
// DEFERRED-NEXT: %[[A2:.*]] = tg.all_reduce "bucket2" %[[DW0]]
// DEFERRED-NOT:  tg.conv2d_grad
// DEFERRED:      tg.sgd_update "c2.weight" %{{.*}}, %[[A0]]
// DEFERRED-NEXT: tg.state "c1.weight.momentum_buffer"
// DEFERRED-NEXT: tg.sgd_update "c1.weight" %{{.*}}, %[[A1]]
// DEFERRED-NEXT: tg.state "c0.weight.momentum_buffer"
// DEFERRED-NEXT: tg.sgd_update "c0.weight" %{{.*}}, %[[A2]]
// DEFERRED-NEXT: return

// One rank: nothing to average.
// SINGLE-NOT: tg.all_reduce

func.func @conv_chain(%x: tensor<2x3x16x16xf32>) -> tensor<2x4xf32> {
  %w0 = tg.parameter "c0.weight" : tensor<4x3x3x3xf32>
  %c0 = tg.conv2d "c0" %x, %w0 stride [2, 2] pad [1, 1] : (tensor<2x3x16x16xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
  %w1 = tg.parameter "c1.weight" : tensor<4x4x1x1xf32>
  %c1 = tg.conv2d "c1" %c0, %w1 stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x8x8xf32>
  %w2 = tg.parameter "c2.weight" : tensor<4x4x1x1xf32>
  %c2 = tg.conv2d "c2" %c1, %w2 stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x8x8xf32>
  %g = tg.global_avg_pool "pool" %c2 : tensor<2x4x8x8xf32> -> tensor<2x4xf32>
  return %g : tensor<2x4xf32>
}
