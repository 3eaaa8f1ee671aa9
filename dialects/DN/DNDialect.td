//===- DNDialect.td - The dn (architecture level) dialect ---*- tablegen -*-===//

#ifndef DENSENET_DN_DIALECT
#define DENSENET_DN_DIALECT

include "mlir/IR/OpBase.td"

def DN_Dialect : Dialect {
  let name = "dn";
  let summary = "DenseNet architecture: stem, dense blocks and layers, transitions, classifier";
  let description = [{
    The `dn` dialect describes a DenseNet at the level a paper draws it: a stem,
    dense blocks made of dense layers, transitions between blocks and a
    classifier. Every op carries the stable name of the module it stands for,
    the torchvision module path (`features.denseblock2.denselayer5`), because
    weights, reports and plans refer to layers by that name.

    Tensors are NCHW feature maps whose element type is the model's activation
    dtype. `dn` is lowered to the `tg` tensor dialect by `-dn-lower-to-tg`.
  }];
  let cppNamespace = "::densenet::dn";
}

class DN_Op<string mnemonic, list<Trait> traits = []>
    : Op<DN_Dialect, mnemonic, traits>;

// Activations of every dtype a model spec accepts.
def DN_FeatureMap : 4DTensorOf<[F32, BF16, F16]>;
def DN_Logits : 2DTensorOf<[F32, BF16, F16]>;

#endif // DENSENET_DN_DIALECT
