//===- TGDialect.td - The tg (training graph) dialect ------*- tablegen -*-===//

#ifndef DENSENET_TG_DIALECT
#define DENSENET_TG_DIALECT

include "mlir/IR/OpBase.td"

def TG_Dialect : Dialect {
  let name = "tg";
  let summary = "tensor ops of a DenseNet training graph, with exact shapes and costs";
  let description = [{
    `tg` ops work on statically shaped NCHW tensors. Each op names the layer it
    belongs to (`features.denseblock1.denselayer1.conv1`), implements
    `CostOpInterface` (FLOPs, bytes read and written) and verifies its shapes.
    Parameters and running statistics are declared by `tg.parameter` and
    `tg.state` with their torchvision state-dict names.

    Activations use the model's dtype (f32, bf16 or f16). Parameters and
    statistics are always f32: low-precision models keep f32 master weights.
  }];
  let cppNamespace = "::densenet::tg";
}

class TG_Op<string mnemonic, list<Trait> traits = []>
    : Op<TG_Dialect, mnemonic, traits>;

def TG_Activation : TensorOf<[F32, BF16, F16]>;
def TG_FeatureMap : 4DTensorOf<[F32, BF16, F16]>;
def TG_Matrix : 2DTensorOf<[F32, BF16, F16]>;
def TG_Vector : 1DTensorOf<[F32, BF16, F16]>;
def TG_Filter : 4DTensorOf<[F32, BF16, F16]>;
def TG_Statistic : 1DTensorOf<[F32]>;

#endif // DENSENET_TG_DIALECT
