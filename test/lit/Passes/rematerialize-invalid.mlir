// RUN: densenet-opt %s --tg-rematerialize --verify-diagnostics

// Tests that only forward compute ops can be marked.
func.func @mark_update(%g: tensor<2x2x4x4xf32>, %d: tensor<2x2x4x4xf32>) attributes {tg.training_step} {
  // expected-error @+1 {{cannot be recomputed: only forward compute ops can}}
  %0 = tg.accumulate "a" %g, %d offset 0 {tg.recompute} : (tensor<2x2x4x4xf32>, tensor<2x2x4x4xf32>) -> tensor<2x2x4x4xf32>
  return
}
