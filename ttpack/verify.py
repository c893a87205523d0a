"""Checking an archive against the framework that produced it."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .frontends import is_torch_module, torch_to_numpy


def runtime_inputs(spec) -> list[np.ndarray] | None:
    """The example inputs as arrays in signature order; None when they are shapes only."""
    values = list(spec.example_inputs.values()) if isinstance(spec.example_inputs, Mapping) else list(spec.example_inputs)
    if is_torch_module(spec.fn):
        return [torch_to_numpy(x) for x in values]
    import jax

    leaves = jax.tree_util.tree_leaves(values)
    if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):
        return None
    return [np.asarray(x) for x in leaves]


def framework_outputs(spec) -> list[np.ndarray]:
    """The framework's outputs on the spec's example inputs, flattened."""
    if is_torch_module(spec.fn):
        import torch
        import torch.utils._pytree as pytree

        spec.fn.eval()
        with torch.no_grad():
            if isinstance(spec.example_inputs, Mapping):
                out = spec.fn(**spec.example_inputs)
            else:
                out = spec.fn(*spec.example_inputs)
        return [torch_to_numpy(t) for t in pytree.tree_leaves(out)]
    import jax

    args = ([spec.params] if spec.params is not None else []) + list(spec.example_inputs)
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(spec.fn)(*args))]


class VerifyError(AssertionError):
    """The archive's outputs differ from the framework's."""

    def __init__(self, message: str, framework: str):
        super().__init__(message)
        self.framework = framework


# Largest difference accepted, relative to each output's largest magnitude:
# float32 kernels accumulate in another order than the framework's, which
# moves results by ~1e-6 relative on real models; a wrong op moves them by ~1.
RELATIVE_TOLERANCE = 1e-3


def accuracy(got: list[np.ndarray], want: list[np.ndarray]) -> dict:
    """How close an archive's outputs are to the framework's: per output and
    over all, Pearson correlation, max absolute error and max error relative
    to the output's largest magnitude. Raises VerifyError on a shape or
    count mismatch (no number describes that)."""
    if len(got) != len(want):
        raise VerifyError(f"{len(got)} outputs, the framework returns {len(want)}", "framework")
    outputs = []
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            raise VerifyError(f"output {i} has shape {g.shape}, the framework's {w.shape}", "framework")
        g64, w64 = np.asarray(g, np.float64).ravel(), np.asarray(w, np.float64).ravel()
        finite = bool(np.isfinite(g64).all() == np.isfinite(w64).all() and np.isfinite(g64).all())
        err = float(np.max(np.abs(g64 - w64))) if g64.size else 0.0
        scale = float(np.max(np.abs(w64))) if w64.size else 0.0
        if g64.size > 1 and np.std(g64) > 0 and np.std(w64) > 0:
            pearson = float(np.corrcoef(g64, w64)[0, 1])
        else:
            pearson = 1.0 if np.array_equal(g64, w64) else 0.0
        outputs.append({"pearson": pearson, "max_abs_error": err,
                        "max_rel_error": err / scale if scale > 0 else (0.0 if err == 0 else float("inf")),
                        "finite": finite})
    return {"outputs": outputs,
            "pearson": min((o["pearson"] for o in outputs), default=1.0),
            "max_abs_error": max((o["max_abs_error"] for o in outputs), default=0.0),
            "max_rel_error": max((o["max_rel_error"] for o in outputs), default=0.0)}


def compare_with_framework(path, spec) -> dict | None:
    """Runs the archive and the framework on the example inputs; None when
    the example inputs are only shapes. Raises VerifyError on a mismatch."""
    from . import runtime as rt

    inputs = runtime_inputs(spec)
    if inputs is None:
        return None
    framework = "torch" if is_torch_module(spec.fn) else "jax"
    got = rt.load(path)(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    want = framework_outputs(spec)
    if len(got) != len(want):
        raise VerifyError(f"{len(got)} outputs, the framework returns {len(want)}", framework)
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            raise VerifyError(f"output {i} has shape {g.shape}, the framework's {w.shape}", framework)
        if not g.size:
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        err = float(np.max(np.abs(g64 - w64)))
        scale = max(float(np.max(np.abs(w64))), 1e-30)
        if not np.isfinite(err) and not np.array_equal(g64, w64, equal_nan=True):
            raise VerifyError(f"output {i} has non-finite differences", framework)
        if np.isfinite(err) and err > RELATIVE_TOLERANCE * scale:
            raise VerifyError(f"output {i} differs by up to {err:.3g} (outputs reach {scale:.3g})", framework)
        worst = max(worst, err if np.isfinite(err) else 0.0)
    return {"framework": framework, "max_abs_error": worst}
