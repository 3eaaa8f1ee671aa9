// RUN: densenet-opt %s --split-input-file --tg-autodiff --tg-verify-training-step | FileCheck %s
// RUN: densenet-opt %s --split-input-file --tg-autodiff="momentum=0.5 weight-decay=0.01 nesterov=true decay-norm-and-bias=false" | FileCheck %s --check-prefix=OPTIONS

// Tests the loss, the convolution rules and the SGD update: gradients flow
// backwards, the filter's update follows its gradient, and the first
// convolution (whose input is the batch) gets no input gradient.

// CHECK-LABEL: func.func @conv_chain(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x3x16x16xf32>, %[[LABELS:[^:]*]]: tensor<2xi32>, %[[LR:[^:]*]]: tensor<f32>) -> (tensor<f32>, tensor<i64>) attributes {tg.training_step}
// CHECK:      %[[W0:.*]] = tg.parameter "c0.weight"
// CHECK:      %[[C0:.*]] = tg.conv2d "c0" %[[X]], %[[W0]]
// CHECK:      %[[W1:.*]] = tg.parameter "c1.weight"
// CHECK:      %[[G:.*]] = tg.global_avg_pool "pool"
// CHECK-NEXT: %[[LOSS:.*]], %[[CORRECT:.*]] = tg.softmax_cross_entropy "loss" %[[G]], %[[LABELS]] : (tensor<2x4xf32>, tensor<2xi32>) -> (tensor<f32>, tensor<i64>)
// CHECK-NEXT: %[[DG:.*]] = tg.softmax_cross_entropy_grad "loss" %[[G]], %[[LABELS]] : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
// CHECK-NEXT: %[[DC1:.*]] = tg.global_avg_pool_grad "pool" %[[DG]] : tensor<2x4xf32> -> tensor<2x4x8x8xf32>
// CHECK-NEXT: %[[DC0:.*]] = tg.conv2d_grad_input "c1" %[[DC1]], %[[W1]] stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x8x8xf32>
// CHECK-NEXT: %[[DW1:.*]] = tg.conv2d_grad_filter "c1" %[[C0]], %[[DC1]] stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<4x4x1x1xf32>
// CHECK-NEXT: %[[V1:.*]] = tg.state "c1.weight.momentum_buffer" : tensor<4x4x1x1xf32>
// CHECK-NEXT: tg.sgd_update "c1.weight" %[[W1]], %[[DW1]], %[[V1]], %[[LR]] {momentum = 9.000000e-01 : f64, weight_decay = 1.000000e-04 : f64}
// CHECK-NOT:  tg.conv2d_grad_input "c0"
// CHECK-NEXT: %[[DW0:.*]] = tg.conv2d_grad_filter "c0" %[[X]], %[[DC0]] stride [2, 2] pad [1, 1]
// CHECK-NEXT: %[[V0:.*]] = tg.state "c0.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "c0.weight" %[[W0]], %[[DW0]], %[[V0]], %[[LR]]
// CHECK-NEXT: return %[[LOSS]], %[[CORRECT]] : tensor<f32>, tensor<i64>

// OPTIONS-LABEL: func.func @conv_chain(
// OPTIONS: tg.sgd_update "c1.weight" {{.*}} {momentum = 5.000000e-01 : f64, nesterov, weight_decay = 1.000000e-02 : f64}
func.func @conv_chain(%x: tensor<2x3x16x16xf32>) -> tensor<2x4xf32> {
  %w0 = tg.parameter "c0.weight" : tensor<4x3x3x3xf32>
  %c0 = tg.conv2d "c0" %x, %w0 stride [2, 2] pad [1, 1] : (tensor<2x3x16x16xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
  %w1 = tg.parameter "c1.weight" : tensor<4x4x1x1xf32>
  %c1 = tg.conv2d "c1" %c0, %w1 stride [1, 1] pad [0, 0] : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x8x8xf32>
  %g = tg.global_avg_pool "pool" %c1 : tensor<2x4x8x8xf32> -> tensor<2x4xf32>
  return %g : tensor<2x4xf32>
}

// -----

// Tests batch norm and relu: batch_norm_grad reads the forward batch mean and
// variance, relu_grad reads the forward output, the running statistics are
// updated once (in the forward pass) and never by the backward pass, and
// norm parameters are updated right after their gradient.

// CHECK-LABEL: func.func @norm_relu(
// CHECK:      %[[WC:.*]] = tg.parameter "conv.weight"
// CHECK:      %[[C:.*]] = tg.conv2d "conv"
// CHECK:      %[[GAMMA:.*]] = tg.parameter "norm.weight"
// CHECK:      %[[BETA:.*]] = tg.parameter "norm.bias"
// CHECK:      %[[Y:.*]], %[[MEAN:.*]], %[[VAR:.*]] = tg.batch_norm "norm" %[[C]], %[[GAMMA]], %[[BETA]]
// CHECK:      tg.running_stats_update "norm"
// CHECK:      %[[R:.*]] = tg.relu "relu" %[[Y]]
// CHECK:      %[[DR:.*]] = tg.global_avg_pool_grad "pool"
// CHECK-NEXT: %[[DY:.*]] = tg.relu_grad "relu" %[[DR]], %[[R]] : (tensor<2x4x4x4xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x4x4xf32>
// CHECK-NEXT: %[[DX:.*]], %[[DGAMMA:.*]], %[[DBETA:.*]] = tg.batch_norm_grad "norm" %[[DY]], %[[C]], %[[GAMMA]], %[[MEAN]], %[[VAR]] : (tensor<2x4x4x4xf32>, tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: tg.state "norm.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "norm.weight" %[[GAMMA]], %[[DGAMMA]]
// CHECK-NEXT: tg.state "norm.bias.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "norm.bias" %[[BETA]], %[[DBETA]]
// CHECK-NEXT: tg.conv2d_grad_filter "conv" %{{.*}}, %[[DX]]
// CHECK-NOT:  tg.running_stats_update
// CHECK:      return

// Batch-norm parameters are exempt from weight decay with decay-norm-and-bias=false.
// OPTIONS-LABEL: func.func @norm_relu(
// OPTIONS: tg.sgd_update "norm.weight" {{.*}} weight_decay = 0.000000e+00 : f64
// OPTIONS: tg.sgd_update "norm.bias" {{.*}} weight_decay = 0.000000e+00 : f64
// OPTIONS: tg.sgd_update "conv.weight" {{.*}} weight_decay = 1.000000e-02 : f64
func.func @norm_relu(%x: tensor<2x3x4x4xf32>) -> tensor<2x4xf32> {
  %w = tg.parameter "conv.weight" : tensor<4x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x4x4xf32>, tensor<4x3x1x1xf32>) -> tensor<2x4x4x4xf32>
  %gamma = tg.parameter "norm.weight" : tensor<4xf32>
  %beta = tg.parameter "norm.bias" : tensor<4xf32>
  %y, %mean, %var = tg.batch_norm "norm" %c, %gamma, %beta : (tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>)
  %rm = tg.state "norm.running_mean" : tensor<4xf32>
  %rv = tg.state "norm.running_var" : tensor<4xf32>
  %rm1, %rv1 = tg.running_stats_update "norm" %rm, %rv, %mean, %var {momentum = 0.1 : f64, samples = 32 : i64} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  %r = tg.relu "relu" %y : tensor<2x4x4x4xf32>
  %g = tg.global_avg_pool "pool" %r : tensor<2x4x4x4xf32> -> tensor<2x4xf32>
  return %g : tensor<2x4xf32>
}

// -----

// Tests concatenation: a chain of two concats (a dense block of two layers)
// gets one gradient buffer; each new feature map's gradient is a slice of it
// and each layer's input gradient is added into its prefix in place.

// CHECK-LABEL: func.func @dense_chain(
// CHECK:      %[[F0:.*]] = tg.conv2d "stem"
// CHECK:      %[[NEW1:.*]] = tg.conv2d "layer1"
// CHECK:      %[[F1:.*]] = tg.concat "layer1.concat" %[[F0]], %[[NEW1]]
// CHECK:      %[[NEW2:.*]] = tg.conv2d "layer2"
// CHECK:      %[[F2:.*]] = tg.concat "layer2.concat" %[[F1]], %[[NEW2]]
// The block's gradient buffer comes from the pool's backward.
// CHECK:      %[[G0:.*]] = tg.global_avg_pool_grad "pool" {{.*}} -> tensor<2x8x4x4xf32>
// CHECK-NEXT: %[[DNEW2:.*]] = tg.slice "layer2" %[[G0]] offset 6 : tensor<2x8x4x4xf32> -> tensor<2x2x4x4xf32>
// CHECK-NEXT: %[[DF1:.*]] = tg.conv2d_grad_input "layer2" %[[DNEW2]], {{.*}} -> tensor<2x6x4x4xf32>
// CHECK-NEXT: %[[DW2:.*]] = tg.conv2d_grad_filter "layer2" %[[F1]], %[[DNEW2]]
// CHECK-NEXT: %[[G1:.*]] = tg.accumulate "layer2" %[[G0]], %[[DF1]] offset 0 : (tensor<2x8x4x4xf32>, tensor<2x6x4x4xf32>) -> tensor<2x8x4x4xf32>
// CHECK-NEXT: tg.state "layer2.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "layer2.weight" %{{.*}}, %[[DW2]]
// CHECK-NEXT: %[[DNEW1:.*]] = tg.slice "layer1" %[[G1]] offset 4 : tensor<2x8x4x4xf32> -> tensor<2x2x4x4xf32>
// CHECK-NEXT: %[[DF0:.*]] = tg.conv2d_grad_input "layer1" %[[DNEW1]], {{.*}} -> tensor<2x4x4x4xf32>
// CHECK-NEXT: tg.conv2d_grad_filter "layer1" %[[F0]], %[[DNEW1]]
// CHECK-NEXT: %[[G2:.*]] = tg.accumulate "layer1" %[[G1]], %[[DF0]] offset 0 : (tensor<2x8x4x4xf32>, tensor<2x4x4x4xf32>) -> tensor<2x8x4x4xf32>
// CHECK:      %[[DSTEM:.*]] = tg.slice "stem" %[[G2]] offset 0 : tensor<2x8x4x4xf32> -> tensor<2x4x4x4xf32>
// CHECK-NEXT: tg.conv2d_grad_filter "stem" %{{.*}}, %[[DSTEM]]
// CHECK-NOT:  tg.concat
func.func @dense_chain(%x: tensor<2x3x4x4xf32>) -> tensor<2x8xf32> {
  %ws = tg.parameter "stem.weight" : tensor<4x3x1x1xf32>
  %f0 = tg.conv2d "stem" %x, %ws stride [1, 1] pad [0, 0] : (tensor<2x3x4x4xf32>, tensor<4x3x1x1xf32>) -> tensor<2x4x4x4xf32>
  %w1 = tg.parameter "layer1.weight" : tensor<2x4x1x1xf32>
  %n1 = tg.conv2d "layer1" %f0, %w1 stride [1, 1] pad [0, 0] : (tensor<2x4x4x4xf32>, tensor<2x4x1x1xf32>) -> tensor<2x2x4x4xf32>
  %f1 = tg.concat "layer1.concat" %f0, %n1 : (tensor<2x4x4x4xf32>, tensor<2x2x4x4xf32>) -> tensor<2x6x4x4xf32>
  %w2 = tg.parameter "layer2.weight" : tensor<2x6x1x1xf32>
  %n2 = tg.conv2d "layer2" %f1, %w2 stride [1, 1] pad [0, 0] : (tensor<2x6x4x4xf32>, tensor<2x6x1x1xf32>) -> tensor<2x2x4x4xf32>
  %f2 = tg.concat "layer2.concat" %f1, %n2 : (tensor<2x6x4x4xf32>, tensor<2x2x4x4xf32>) -> tensor<2x8x4x4xf32>
  %g = tg.global_avg_pool "pool" %f2 : tensor<2x8x4x4xf32> -> tensor<2x8xf32>
  return %g : tensor<2x8xf32>
}

// -----

// Tests the pooling, dropout and linear rules: max_pool_grad reads the
// forward input and output, avg_pool_grad only the gradient, dropout_grad
// keeps the forward op's name (its mask key), and linear's three gradients
// come from one op, after which weight and bias are updated.

// CHECK-LABEL: func.func @pools_dropout_linear(
// CHECK:      %[[C:.*]] = tg.conv2d "conv"
// CHECK:      %[[M:.*]] = tg.max_pool "max" %[[C]]
// CHECK:      %[[A:.*]] = tg.avg_pool "avg" %[[M]]
// CHECK:      %[[D:.*]] = tg.dropout "drop" %[[A]] {rate = 2.500000e-01 : f64}
// CHECK:      %[[G:.*]] = tg.global_avg_pool "pool" %[[D]]
// CHECK:      %[[FW:.*]] = tg.parameter "fc.weight"
// CHECK:      %[[FB:.*]] = tg.parameter "fc.bias"
// CHECK:      %[[L:.*]] = tg.linear "fc" %[[G]], %[[FW]], %[[FB]]
// CHECK:      %[[DL:.*]] = tg.softmax_cross_entropy_grad "loss" %[[L]]
// CHECK-NEXT: %[[DG:.*]], %[[DFW:.*]], %[[DFB:.*]] = tg.linear_grad "fc" %[[DL]], %[[G]], %[[FW]] : (tensor<2x5xf32>, tensor<2x4xf32>, tensor<5x4xf32>) -> (tensor<2x4xf32>, tensor<5x4xf32>, tensor<5xf32>)
// CHECK-NEXT: tg.state "fc.weight.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "fc.weight" %[[FW]], %[[DFW]]
// CHECK-NEXT: tg.state "fc.bias.momentum_buffer"
// CHECK-NEXT: tg.sgd_update "fc.bias" %[[FB]], %[[DFB]]
// CHECK-NEXT: %[[DD:.*]] = tg.global_avg_pool_grad "pool" %[[DG]]
// CHECK-NEXT: %[[DA:.*]] = tg.dropout_grad "drop" %[[DD]] {rate = 2.500000e-01 : f64} : tensor<2x4x2x2xf32>
// CHECK-NEXT: %[[DM:.*]] = tg.avg_pool_grad "avg" %[[DA]] kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x4x2x2xf32> -> tensor<2x4x4x4xf32>
// CHECK-NEXT: %[[DC:.*]] = tg.max_pool_grad "max" %[[DM]], %[[C]], %[[M]] kernel [3, 3] stride [2, 2] pad [1, 1] : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
// CHECK-NEXT: tg.conv2d_grad_filter "conv" %{{.*}}, %[[DC]]

// The classifier bias is exempt with decay-norm-and-bias=false; its weight is not.
// OPTIONS-LABEL: func.func @pools_dropout_linear(
// OPTIONS: tg.sgd_update "fc.weight" {{.*}} weight_decay = 1.000000e-02 : f64
// OPTIONS: tg.sgd_update "fc.bias" {{.*}} weight_decay = 0.000000e+00 : f64
func.func @pools_dropout_linear(%x: tensor<2x3x8x8xf32>) -> tensor<2x5xf32> {
  %w = tg.parameter "conv.weight" : tensor<4x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x8x8xf32>, tensor<4x3x1x1xf32>) -> tensor<2x4x8x8xf32>
  %m = tg.max_pool "max" %c kernel [3, 3] stride [2, 2] pad [1, 1] : tensor<2x4x8x8xf32> -> tensor<2x4x4x4xf32>
  %a = tg.avg_pool "avg" %m kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x4x4x4xf32> -> tensor<2x4x2x2xf32>
  %d = tg.dropout "drop" %a {rate = 0.25 : f64} : tensor<2x4x2x2xf32>
  %g = tg.global_avg_pool "pool" %d : tensor<2x4x2x2xf32> -> tensor<2x4xf32>
  %fw = tg.parameter "fc.weight" : tensor<5x4xf32>
  %fb = tg.parameter "fc.bias" : tensor<5xf32>
  %l = tg.linear "fc" %g, %fw, %fb : (tensor<2x4xf32>, tensor<5x4xf32>, tensor<5xf32>) -> tensor<2x5xf32>
  return %l : tensor<2x5xf32>
}

// -----

// Tests that a value read twice gets one gradient buffer with the second
// contribution accumulated into it in place.

// CHECK-LABEL: func.func @two_readers(
// CHECK:      %[[C:.*]] = tg.conv2d "conv"
// CHECK:      %[[A:.*]] = tg.relu "a" %[[C]]
// CHECK:      %[[B:.*]] = tg.relu "b" %[[C]]
// CHECK:      %[[DB:.*]] = tg.relu_grad "b" %{{.*}}, %[[B]]
// CHECK:      %[[DA:.*]] = tg.relu_grad "a" %{{.*}}, %[[A]]
// CHECK-NEXT: %[[SUM:.*]] = tg.accumulate "a" %[[DB]], %[[DA]] offset 0 : (tensor<2x2x2x2xf32>, tensor<2x2x2x2xf32>) -> tensor<2x2x2x2xf32>
// CHECK-NEXT: tg.conv2d_grad_filter "conv" %{{.*}}, %[[SUM]]
func.func @two_readers(%x: tensor<2x3x2x2xf32>) -> tensor<2x4xf32> {
  %w = tg.parameter "conv.weight" : tensor<2x3x1x1xf32>
  %c = tg.conv2d "conv" %x, %w stride [1, 1] pad [0, 0] : (tensor<2x3x2x2xf32>, tensor<2x3x1x1xf32>) -> tensor<2x2x2x2xf32>
  %a = tg.relu "a" %c : tensor<2x2x2x2xf32>
  %b = tg.relu "b" %c : tensor<2x2x2x2xf32>
  %cat = tg.concat "cat" %a, %b : (tensor<2x2x2x2xf32>, tensor<2x2x2x2xf32>) -> tensor<2x4x2x2xf32>
  %g = tg.global_avg_pool "pool" %cat : tensor<2x4x2x2xf32> -> tensor<2x4xf32>
  return %g : tensor<2x4xf32>
}
