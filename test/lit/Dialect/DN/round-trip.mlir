// RUN: densenet-opt %s --split-input-file | densenet-opt --split-input-file | FileCheck %s

// Tests that an ImageNet-style model with every dn op prints and parses back.

// CHECK-LABEL: func.func @tiny
func.func @tiny(%x: tensor<2x3x64x64xf32>) -> tensor<2x5xf32> {
  // CHECK: dn.stem imagenet "features"(%{{.*}}) : tensor<2x3x64x64xf32> -> tensor<2x8x16x16xf32>
  %0 = dn.stem imagenet "features"(%x) : tensor<2x3x64x64xf32> -> tensor<2x8x16x16xf32>
  // CHECK: dn.dense_block "features.denseblock1"
  // CHECK-NEXT: ^bb0(%[[IN:.*]]: tensor<2x8x16x16xf32>):
  // CHECK-NEXT: %[[L1:.*]] = dn.dense_layer "features.denseblock1.denselayer1"(%[[IN]]) {bn_size = 4 : i64, drop_rate = 0.000000e+00 : f64} : tensor<2x8x16x16xf32> -> tensor<2x12x16x16xf32>
  // CHECK-NEXT: %[[L2:.*]] = dn.dense_layer "features.denseblock1.denselayer2"(%[[L1]])
  // CHECK-NEXT: dn.yield %[[L2]] : tensor<2x16x16x16xf32>
  %1 = dn.dense_block "features.denseblock1"(%0) : tensor<2x8x16x16xf32> -> tensor<2x16x16x16xf32> {
  ^bb0(%in: tensor<2x8x16x16xf32>):
    %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<2x8x16x16xf32> -> tensor<2x12x16x16xf32>
    %l2 = dn.dense_layer "features.denseblock1.denselayer2"(%l1) {bn_size = 4 : i64, drop_rate = 0.0 : f64} : tensor<2x12x16x16xf32> -> tensor<2x16x16x16xf32>
    dn.yield %l2 : tensor<2x16x16x16xf32>
  }
  // CHECK: dn.transition "features.transition1"(%{{.*}}) {compression = 5.000000e-01 : f64} : tensor<2x16x16x16xf32> -> tensor<2x8x8x8xf32>
  %2 = dn.transition "features.transition1"(%1) {compression = 0.5 : f64} : tensor<2x16x16x16xf32> -> tensor<2x8x8x8xf32>
  // CHECK: dn.classifier "classifier"(%{{.*}}) : tensor<2x8x8x8xf32> -> tensor<2x5xf32>
  %3 = dn.classifier "classifier"(%2) : tensor<2x8x8x8xf32> -> tensor<2x5xf32>
  return %3 : tensor<2x5xf32>
}

// -----

// Tests the cifar stem, a plain (bn_size = 0) layer with dropout, and bf16.

// CHECK-LABEL: func.func @cifar_plain
// CHECK: dn.stem cifar "features"
// CHECK: dn.dense_layer "features.denseblock1.denselayer1"(%{{.*}}) {bn_size = 0 : i64, drop_rate = 2.000000e-01 : f64} : tensor<1x4x8x8xbf16> -> tensor<1x6x8x8xbf16>
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
