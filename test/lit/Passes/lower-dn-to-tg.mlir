// RUN: densenet-opt %s --split-input-file --dn-lower-to-tg | FileCheck %s

// Tests the expansion of every dn op of an ImageNet-style model, with
// torchvision's names, in order.

// CHECK-LABEL: func.func @tiny(
// CHECK-SAME: %[[X:.*]]: tensor<2x3x64x64xf32>
// CHECK:      %[[W0:.*]] = tg.parameter "features.conv0.weight" : tensor<8x3x7x7xf32>
// CHECK-NEXT: %[[C0:.*]] = tg.conv2d "features.conv0" %[[X]], %[[W0]] stride [2, 2] pad [3, 3] : {{.*}} -> tensor<2x8x32x32xf32>
// CHECK-NEXT: %[[G0:.*]] = tg.parameter "features.norm0.weight" : tensor<8xf32>
// CHECK-NEXT: %[[B0:.*]] = tg.parameter "features.norm0.bias" : tensor<8xf32>
// CHECK-NEXT: %[[N0:.*]], %[[MEAN0:.*]], %[[VAR0:.*]] = tg.batch_norm "features.norm0" %[[C0]], %[[G0]], %[[B0]] : (tensor<2x8x32x32xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8x32x32xf32>, tensor<8xf32>, tensor<8xf32>)
// The ReLU right after its batch norm (a backend fuses the two), then the
// running statistics.
// CHECK-NEXT: %[[R0:.*]] = tg.relu "features.relu0" %[[N0]]
// CHECK-NEXT: %[[RM0:.*]] = tg.state "features.norm0.running_mean" : tensor<8xf32>
// CHECK-NEXT: %[[RV0:.*]] = tg.state "features.norm0.running_var" : tensor<8xf32>
// CHECK-NEXT: tg.running_stats_update "features.norm0" %[[RM0]], %[[RV0]], %[[MEAN0]], %[[VAR0]] {momentum = 1.000000e-01 : f64, samples = 2048 : i64}
// CHECK-NEXT: %[[P0:.*]] = tg.max_pool "features.pool0" %[[R0]] kernel [3, 3] stride [2, 2] pad [1, 1] : tensor<2x8x32x32xf32> -> tensor<2x8x16x16xf32>
//
// The bottleneck layer: norm1, relu1, conv1 (1x1 to bn_size * k = 16), norm2, relu2, conv2 (3x3 to k = 4), concat.
// CHECK:      tg.batch_norm "features.denseblock1.denselayer1.norm1" %[[P0]]
// CHECK:      tg.relu "features.denseblock1.denselayer1.relu1"
// CHECK:      tg.parameter "features.denseblock1.denselayer1.conv1.weight" : tensor<16x8x1x1xf32>
// CHECK-NEXT: tg.conv2d "features.denseblock1.denselayer1.conv1" {{.*}} stride [1, 1] pad [0, 0] : {{.*}} -> tensor<2x16x16x16xf32>
// CHECK:      tg.batch_norm "features.denseblock1.denselayer1.norm2"
// CHECK:      tg.relu "features.denseblock1.denselayer1.relu2"
// CHECK:      tg.parameter "features.denseblock1.denselayer1.conv2.weight" : tensor<4x16x3x3xf32>
// CHECK-NEXT: %[[NEW1:.*]] = tg.conv2d "features.denseblock1.denselayer1.conv2" {{.*}} stride [1, 1] pad [1, 1] : {{.*}} -> tensor<2x4x16x16xf32>
// CHECK-NEXT: %[[F1:.*]] = tg.concat "features.denseblock1.denselayer1.concat" %[[P0]], %[[NEW1]] : (tensor<2x8x16x16xf32>, tensor<2x4x16x16xf32>) -> tensor<2x12x16x16xf32>
// CHECK:      tg.batch_norm "features.denseblock1.denselayer2.norm1" %[[F1]]
// CHECK:      %[[NEW2:.*]] = tg.conv2d "features.denseblock1.denselayer2.conv2"
// CHECK-NEXT: %[[F2:.*]] = tg.concat "features.denseblock1.denselayer2.concat" %[[F1]], %[[NEW2]] : (tensor<2x12x16x16xf32>, tensor<2x4x16x16xf32>) -> tensor<2x16x16x16xf32>
//
// The transition: norm, relu, 1x1 conv to half the channels, 2x2 average pool.
// CHECK:      tg.batch_norm "features.transition1.norm" %[[F2]]
// CHECK:      tg.relu "features.transition1.relu"
// CHECK:      tg.parameter "features.transition1.conv.weight" : tensor<8x16x1x1xf32>
// CHECK-NEXT: tg.conv2d "features.transition1.conv"
// CHECK-NEXT: %[[T1:.*]] = tg.avg_pool "features.transition1.pool" {{.*}} kernel [2, 2] stride [2, 2] pad [0, 0] : tensor<2x8x16x16xf32> -> tensor<2x8x8x8xf32>
//
// The classifier: norm5, relu, global pool, linear with bias.
// CHECK:      tg.batch_norm "features.norm5" %[[T1]]
// CHECK:      %[[R5:.*]] = tg.relu "features.relu5"
// CHECK:      tg.running_stats_update "features.norm5"
// CHECK-NEXT: %[[G:.*]] = tg.global_avg_pool "features.avgpool" %[[R5]] : tensor<2x8x8x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT: %[[FW:.*]] = tg.parameter "classifier.weight" : tensor<5x8xf32>
// CHECK-NEXT: %[[FB:.*]] = tg.parameter "classifier.bias" : tensor<5xf32>
// CHECK-NEXT: %[[L:.*]] = tg.linear "classifier" %[[G]], %[[FW]], %[[FB]]
// CHECK-NEXT: return %[[L]] : tensor<2x5xf32>
// CHECK-NOT:  dn.

func.func @tiny(%x: tensor<2x3x64x64xf32>) -> tensor<2x5xf32> {
  %0 = dn.stem imagenet "features"(%x) : tensor<2x3x64x64xf32> -> tensor<2x8x16x16xf32>
  %1 = dn.dense_block "features.denseblock1"(%0) : tensor<2x8x16x16xf32> -> tensor<2x16x16x16xf32> {
  ^bb0(%in: tensor<2x8x16x16xf32>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<2x8x16x16xf32> -> tensor<2x12x16x16xf32>
    %l2 = dn.dense_layer "features.denseblock1.denselayer2"(%l1) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<2x12x16x16xf32> -> tensor<2x16x16x16xf32>
    dn.yield %l2 : tensor<2x16x16x16xf32>
  }
  %2 = dn.transition "features.transition1"(%1) {compression = 0.5 : f64} : tensor<2x16x16x16xf32> -> tensor<2x8x8x8xf32>
  %3 = dn.classifier "classifier"(%2) : tensor<2x8x8x8xf32> -> tensor<2x5xf32>
  return %3 : tensor<2x5xf32>
}

// -----

// Tests the cifar stem (a bare 3x3 conv), a plain layer (bn_size = 0: one 3x3
// conv) with dropout after it, and that bf16 activations keep f32 weights.

// CHECK-LABEL: func.func @cifar_plain(
// CHECK:      tg.parameter "features.conv0.weight" : tensor<4x3x3x3xf32>
// CHECK-NEXT: %[[C0:.*]] = tg.conv2d "features.conv0" {{.*}} stride [1, 1] pad [1, 1] : (tensor<1x3x8x8xbf16>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xbf16>
// CHECK-NOT:  features.norm0
// CHECK:      tg.batch_norm "features.denseblock1.denselayer1.norm1" %[[C0]]
// CHECK:      tg.relu "features.denseblock1.denselayer1.relu1"
// CHECK:      tg.running_stats_update "features.denseblock1.denselayer1.norm1"
// CHECK-NEXT: tg.parameter "features.denseblock1.denselayer1.conv1.weight" : tensor<2x4x3x3xf32>
// CHECK-NEXT: %[[NEW:.*]] = tg.conv2d "features.denseblock1.denselayer1.conv1" {{.*}} stride [1, 1] pad [1, 1] : {{.*}} -> tensor<1x2x8x8xbf16>
// CHECK-NEXT: %[[D:.*]] = tg.dropout "features.denseblock1.denselayer1.dropout" %[[NEW]] {rate = 2.000000e-01 : f64} : tensor<1x2x8x8xbf16>
// CHECK-NEXT: tg.concat "features.denseblock1.denselayer1.concat" %[[C0]], %[[D]]
// CHECK-NOT:  denselayer1.norm2
// CHECK:      tg.linear "classifier"
func.func @cifar_plain(%x: tensor<1x3x8x8xbf16>) -> tensor<1x10xbf16> {
  %0 = dn.stem cifar "features"(%x) : tensor<1x3x8x8xbf16> -> tensor<1x4x8x8xbf16>
  %1 = dn.dense_block "features.denseblock1"(%0) : tensor<1x4x8x8xbf16> -> tensor<1x6x8x8xbf16> {
  ^bb0(%in: tensor<1x4x8x8xbf16>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 0 : i64, drop_rate = 0.2 : f64} : tensor<1x4x8x8xbf16> -> tensor<1x6x8x8xbf16>
    dn.yield %l1 : tensor<1x6x8x8xbf16>
  }
  %2 = dn.classifier "classifier"(%1) : tensor<1x6x8x8xbf16> -> tensor<1x10xbf16>
  return %2 : tensor<1x10xbf16>
}

// -----

// Tests that a block without layers passes its input through.

// CHECK-LABEL: func.func @empty_block(
// CHECK-SAME: %[[X:.*]]: tensor<1x4x8x8xf32>
// CHECK:      tg.batch_norm "features.norm5" %[[X]]
func.func @empty_block(%x: tensor<1x4x8x8xf32>) -> tensor<1x10xf32> {
  %1 = dn.dense_block "features.denseblock1"(%x) : tensor<1x4x8x8xf32> -> tensor<1x4x8x8xf32> {
  ^bb0(%in: tensor<1x4x8x8xf32>):
    dn.yield %in : tensor<1x4x8x8xf32>
  }
  %2 = dn.classifier "classifier"(%1) : tensor<1x4x8x8xf32> -> tensor<1x10xf32>
  return %2 : tensor<1x10xf32>
}
