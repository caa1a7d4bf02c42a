"""Explanations: attribution methods with one contract, their measurement, rendering and the report.

Every method is `(model, inputs, target, **params) -> attributions`: input-shaped, batched, on the
inputs' device and in their dtype, leaving the model's mode, batch-norm statistics and parameters'
`requires_grad` flags as it found them. Modules:

  attribute     the Python entry point: attribute(model, inputs, target, method, **params)
  registry      METHODS, Method (params checked), register_method, register_prefix, resolve
  methods/      gradients, integrated, noise (SmoothGrad family), cam, occlusion, captum (adapter)
  baselines     the reference inputs (zero, black, mean, blur, uniform) and the input range
  core          targets, scores, hooks, the model left as found
  layers        which modules a forward pass calls; the layer class activation maps read
  chunks        chunk sizes from a memory budget, out-of-memory halving, per-image sums
  measures/     MEASURES: deletion / insertion, ROAD, pixel flipping, MPRT (cascading, smooth,
                efficient), random logit, sparseness, complexity, timing, degenerate maps; the
                random-attribution reference; the perturbation engine and batched ranks
  scorecard/    bootstrap intervals, comparison with random, the ranking, measure agreement; text and
                HTML; compare (two runs side by side)
  pipeline      one section: every method on a batch, measured, the scorecard, its files written
  selection     the images, methods, params and settings of a section
  classifier    classifier runs (explain_classifier); gan: GAN runs (explain_gan)
  targets       what is explained: class targets, the GAN models as plain modules
  render, report, style  drawing, the self-contained report.html, the pages' CSS
  command       `xai explain`: the run restored, its task picks the sections, the manifest
"""
