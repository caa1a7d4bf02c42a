"""Explanations: attribution methods with one contract, their measurement, rendering and the report.

Every method is `(model, inputs, target, **params) -> attributions`: input-shaped, batched, on the
inputs' device, leaving the model's mode and parameters' `requires_grad` flags as it found them.
Modules: core (the contract's helpers), chunks (memory budget, out-of-memory retry), gradients,
integrated, noise, cam, occlusion (the methods), methods (the registry), captum_adapter,
faithfulness, sanity, render, report, targets, gan, command (`xai explain`).
"""
