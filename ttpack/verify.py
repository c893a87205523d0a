"""Checking an archive against the framework that produced it."""

from __future__ import annotations

import numpy as np


def framework_outputs(spec) -> list[np.ndarray]:
    """The JAX function's outputs on the spec's example inputs, flattened."""
    import jax

    args = ([spec.params] if spec.params is not None else []) + list(spec.example_inputs)
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(spec.fn)(*args))]


def compare_with_framework(path, spec) -> dict | None:
    """Runs the archive and the framework on the example inputs; None when
    the example inputs are only shapes."""
    import jax

    from . import runtime as rt

    leaves = jax.tree_util.tree_leaves(list(spec.example_inputs))
    if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):
        return None
    got = rt.load(path)(*[np.asarray(x) for x in leaves])
    got = list(got) if isinstance(got, tuple) else [got]
    want = framework_outputs(spec)
    err = max((float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0)
              for g, w in zip(got, want))
    return {"framework": "jax", "max_abs_error": err}
