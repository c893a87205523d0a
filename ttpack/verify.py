"""Checking an archive against the framework that produced it."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def _is_torch(fn) -> bool:
    return any((c.__module__ or "").startswith("torch") for c in type(fn).__mro__)


def runtime_inputs(spec) -> list[np.ndarray] | None:
    """The example inputs as arrays in signature order; None when they are shapes only."""
    values = list(spec.example_inputs.values()) if isinstance(spec.example_inputs, Mapping) else list(spec.example_inputs)
    if _is_torch(spec.fn):
        return [x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x) for x in values]
    import jax

    leaves = jax.tree_util.tree_leaves(values)
    if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):
        return None
    return [np.asarray(x) for x in leaves]


def framework_outputs(spec) -> list[np.ndarray]:
    """The framework's outputs on the spec's example inputs, flattened."""
    if _is_torch(spec.fn):
        import torch
        import torch.utils._pytree as pytree

        spec.fn.eval()
        with torch.no_grad():
            if isinstance(spec.example_inputs, Mapping):
                out = spec.fn(**spec.example_inputs)
            else:
                out = spec.fn(*spec.example_inputs)
        return [t.detach().cpu().numpy() for t in pytree.tree_leaves(out)]
    import jax

    args = ([spec.params] if spec.params is not None else []) + list(spec.example_inputs)
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(spec.fn)(*args))]


def compare_with_framework(path, spec) -> dict | None:
    """Runs the archive and the framework on the example inputs; None when
    the example inputs are only shapes."""
    from . import runtime as rt

    inputs = runtime_inputs(spec)
    if inputs is None:
        return None
    got = rt.load(path)(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    want = framework_outputs(spec)
    err = max((float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0)
              for g, w in zip(got, want))
    return {"framework": "torch" if _is_torch(spec.fn) else "jax", "max_abs_error": err}
