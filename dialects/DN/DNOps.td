//===- DNOps.td - dn dialect operations --------------------*- tablegen -*-===//

#ifndef DENSENET_DN_OPS
#define DENSENET_DN_OPS

include "dialects/DN/DNDialect.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def DN_StemKind : I32EnumAttr<"StemKind", "the first layers of the network", [
    I32EnumAttrCase<"imagenet", 0>,
    I32EnumAttrCase<"cifar", 1>
  ]> {
  let cppNamespace = "::densenet::dn";
}

//===----------------------------------------------------------------------===//
// StemOp
//===----------------------------------------------------------------------===//

def DN_StemOp : DN_Op<"stem", [Pure]> {
  let summary = "the layers before the first dense block";
  let description = [{
    `imagenet`: 7x7 convolution with stride 2 and padding 3, batch norm, ReLU,
    3x3 max pool with stride 2 and padding 1 (torchvision's `features.conv0`,
    `norm0`, `relu0`, `pool0`). `cifar`: one 3x3 convolution with stride 1 and
    padding 1 (Huang et al. 2017 on CIFAR). The number of output channels is
    the model's `num_init_features`; the verifier checks the spatial size.

    Example:

    ```mlir
    %0 = dn.stem imagenet "features" (%x) : tensor<8x3x224x224xf32> -> tensor<8x64x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, DN_StemKind:$kind, DN_FeatureMap:$input);
  let results = (outs DN_FeatureMap:$output);
  let assemblyFormat = [{
    $kind $name `(` $input `)` attr-dict `:` type($input) `->` type($output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// DenseBlockOp
//===----------------------------------------------------------------------===//

def DN_DenseBlockOp : DN_Op<"dense_block", [
    IsolatedFromAbove, SingleBlock, RecursiveMemoryEffects]> {
  let summary = "a dense block: each layer reads the concatenation of all earlier features";
  let description = [{
    The body has one block whose argument is the block's input. It holds the
    block's `dn.dense_layer` ops in order: each takes the features gathered so
    far (the block input and every earlier layer's output, concatenated along
    channels) and returns them with its own `growth_rate` channels appended.
    `dn.yield` returns the last layer's result, which is the block's result:
    `c0 + layers * growth_rate` channels at the input's spatial size. Writing
    the block as a chain keeps the IR linear in the number of layers, and it is
    the shape the memory planner exploits: every layer's features are a prefix
    of one block buffer.

    Example:

    ```mlir
    %1 = dn.dense_block "features.denseblock1"(%0) : tensor<8x64x56x56xf32> -> tensor<8x128x56x56xf32> {
    ^bb0(%in: tensor<8x64x56x56xf32>):
      %l1 = dn.dense_layer "features.denseblock1.denselayer1"(%in) {bn_size = 4 : i64, drop_rate = 0.0 : f64}
          : tensor<8x64x56x56xf32> -> tensor<8x96x56x56xf32>
      %l2 = dn.dense_layer "features.denseblock1.denselayer2"(%l1) {bn_size = 4 : i64, drop_rate = 0.0 : f64}
          : tensor<8x96x56x56xf32> -> tensor<8x128x56x56xf32>
      dn.yield %l2 : tensor<8x128x56x56xf32>
    }
    ```
  }];
  let arguments = (ins StrAttr:$name, DN_FeatureMap:$input);
  let results = (outs DN_FeatureMap:$output);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name `(` $input `)` attr-dict `:` type($input) `->` type($output) $body
  }];
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// DenseLayerOp
//===----------------------------------------------------------------------===//

def DN_DenseLayerOp : DN_Op<"dense_layer", [Pure, HasParent<"DenseBlockOp">]> {
  let summary = "appends growth_rate channels computed from all features so far";
  let description = [{
    The input is the channel concatenation of the block input and every earlier
    layer's output. The layer computes `growth_rate` new channels (result
    channels minus input channels) and returns the input with them appended.
    With `bn_size` > 0 the new channels come from DenseNet-B's bottleneck:
    norm1, relu1, conv1 (1x1, `bn_size * growth_rate` channels), norm2, relu2,
    conv2 (3x3, padding 1). With `bn_size` = 0 it is the plain DenseNet layer:
    norm1, relu1, conv1 (3x3). With `drop_rate` > 0, dropout follows the last
    convolution, as in torchvision.

    Example:

    ```mlir
    %l2 = dn.dense_layer "features.denseblock1.denselayer2"(%l1) {bn_size = 4 : i64, drop_rate = 0.0 : f64}
        : tensor<8x96x56x56xf32> -> tensor<8x128x56x56xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, DN_FeatureMap:$input, I64Attr:$bn_size,
                       F64Attr:$drop_rate);
  let results = (outs DN_FeatureMap:$output);
  let assemblyFormat = [{
    $name `(` $input `)` attr-dict `:` type($input) `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Channels the layer adds: result channels minus input channels.
    int64_t getGrowthRate();
  }];
}

//===----------------------------------------------------------------------===//
// TransitionOp
//===----------------------------------------------------------------------===//

def DN_TransitionOp : DN_Op<"transition", [Pure]> {
  let summary = "BN-ReLU-Conv1x1 with compression, then 2x2 average pooling";
  let description = [{
    torchvision's `_Transition`: norm, relu, conv (1x1, `floor(c * compression)`
    output channels), pool (2x2 average, stride 2). The verifier checks the
    output channels against `compression` and that the spatial size halves
    (floor) without reaching zero.

    Example:

    ```mlir
    %2 = dn.transition "features.transition1" (%1) {compression = 5.000000e-01 : f64}
        : tensor<8x256x56x56xf32> -> tensor<8x128x28x28xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, DN_FeatureMap:$input, F64Attr:$compression);
  let results = (outs DN_FeatureMap:$output);
  let assemblyFormat = [{
    $name `(` $input `)` attr-dict `:` type($input) `->` type($output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// ClassifierOp
//===----------------------------------------------------------------------===//

def DN_ClassifierOp : DN_Op<"classifier", [Pure]> {
  let summary = "final BN-ReLU, global average pooling and the linear classifier";
  let description = [{
    torchvision's `features.norm5`, ReLU, adaptive average pooling to 1x1 and
    `classifier` (a linear layer with bias). The number of classes is the
    result's second dimension.

    Example:

    ```mlir
    %logits = dn.classifier "classifier" (%5) : tensor<8x1024x7x7xf32> -> tensor<8x1000xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, DN_FeatureMap:$input);
  let results = (outs DN_Logits:$output);
  let assemblyFormat = [{
    $name `(` $input `)` attr-dict `:` type($input) `->` type($output)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

def DN_YieldOp : DN_Op<"yield", [Pure, Terminator, HasParent<"DenseBlockOp">]> {
  let summary = "ends a dense block with its concatenated features";
  let description = [{
    Returns the block's result: the last layer's output (or the block input
    in a block without layers).

    Example:

    ```mlir
    dn.yield %l2 : tensor<8x128x56x56xf32>
    ```
  }];
  let arguments = (ins DN_FeatureMap:$features);
  let assemblyFormat = [{ $features attr-dict `:` type($features) }];
}

#endif // DENSENET_DN_OPS
