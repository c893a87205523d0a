"""Checking an archive against the framework that produced it."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import BuildError
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


class VerifyError(BuildError):
    """The archive's outputs differ from the framework's on the example
    inputs (values, shapes or element types); no archive was written."""

    def __init__(self, message: str, framework: str):
        super().__init__(message)
        self.framework = framework


# Largest difference accepted on a float32 target, relative to each output's
# largest magnitude: float32 kernels accumulate in another order than the
# framework's, which moves results by ~1e-6 relative on real models (bfloat16
# models: ~1e-2, one bfloat16 rounding more or less per op); a wrong op moves
# them by ~1.
RELATIVE_TOLERANCE = 1e-3
BF16_RELATIVE_TOLERANCE = 5e-2
F16_RELATIVE_TOLERANCE = 2e-2  # float16 rounds 8x finer than bfloat16
# A chip's formats (bfloat16 storage, block-float weights, LoFi) are not
# float32's: its build reports their accuracy, warns below CHIP_WARNING and
# refuses below CHIP_FAILURE, far below any format's own loss (bfloat4_b
# weights with LoFi keep ~0.99 on real models) but above a wrong op's.
CHIP_WARNING = 0.99
CHIP_FAILURE = 0.9

# The element type an archive output has for a framework output's type: the
# runtime computes int64 as int32 and float64 as float32 (README, "integer
# semantics"); everything else is kept.
_NARROWED = {"int64": "int32", "uint8": "int32", "int8": "int32", "int16": "int32", "uint16": "int32",
             "uint32": "int32", "uint64": "int32", "float64": "float32"}


def accuracy(got: list[np.ndarray], want: list[np.ndarray], names=None, framework="framework") -> dict:
    """How close an archive's outputs are to the framework's: per output and
    over all, Pearson correlation, max absolute error and max error relative
    to the output's largest magnitude. Raises VerifyError on a count, shape
    or element type mismatch (no number describes that)."""
    if len(got) != len(want):
        raise VerifyError(f"the archive has {len(got)} outputs, {framework} returns {len(want)}", framework)
    names = names or [f"output {i}" for i in range(len(got))]
    outputs = []
    for name, g, w in zip(names, got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            raise VerifyError(f"{name} has shape {list(g.shape)}, {framework}'s has {list(w.shape)}", framework)
        expected = _NARROWED.get(w.dtype.name, w.dtype.name)
        if g.dtype.name != expected:
            raise VerifyError(f"{name} is {g.dtype.name}, {framework}'s is {w.dtype.name}", framework)
        g64, w64 = g.astype(np.float64).ravel(), w.astype(np.float64).ravel()
        same_nonfinite = bool(np.array_equal(~np.isfinite(g64), ~np.isfinite(w64)) and
                              np.array_equal(g64[~np.isfinite(g64)], w64[~np.isfinite(w64)], equal_nan=True))
        finite = np.isfinite(g64) & np.isfinite(w64)
        err = float(np.max(np.abs(g64[finite] - w64[finite]))) if finite.any() else 0.0
        scale = float(np.max(np.abs(w64[finite]))) if finite.any() else 0.0
        # a constant or single-element output has no correlation: None (its error still counts)
        pearson = None
        if finite.sum() > 1 and np.std(g64[finite]) > 0 and np.std(w64[finite]) > 0:
            pearson = float(np.corrcoef(g64[finite], w64[finite])[0, 1])
        outputs.append({"name": name, "pearson": pearson, "max_abs_error": err,
                        "max_rel_error": err / scale if scale > 0 else (0.0 if err == 0 else float("inf")),
                        "finite": same_nonfinite, "integer": g.dtype.kind in "biu"})
    return {"framework": framework, "outputs": outputs,
            "pearson": min((o["pearson"] for o in outputs if o["pearson"] is not None), default=1.0),
            "max_abs_error": max((o["max_abs_error"] for o in outputs), default=0.0),
            "max_rel_error": max((o["max_rel_error"] for o in outputs), default=0.0)}


def verify_archive(data: bytes, spec, chip: str | None = None) -> dict | None:
    """Runs the archive (bytes, on the cpu device) and the framework on the
    spec's example inputs and compares values, shapes and element types.
    Returns the accuracy report, or None when the inputs are only shapes.
    Raises VerifyError when they disagree: beyond RELATIVE_TOLERANCE (or the
    bfloat16 one) on the cpu target, below CHIP_FAILURE's Pearson for a chip
    (whose formats are not float32's; the report says how far they are)."""
    from . import runtime as rt

    inputs = runtime_inputs(spec)
    if inputs is None:
        return None
    framework = "torch" if is_torch_module(spec.fn) else "jax"
    model = rt.load(data)
    got = model(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    names = [f"output '{s.name}'" for s in model.outputs]
    report = accuracy(got, framework_outputs(spec), names, framework)
    report["device"] = f"cpu (emulating {chip})" if chip else "cpu"
    for o in report["outputs"]:
        if not o["finite"]:
            raise VerifyError(f"{o['name']} has NaN or infinite values where {framework}'s differ", framework)
        if chip:
            # without a correlation (a constant output) an error of half its magnitude is as far off
            if (o["pearson"] < CHIP_FAILURE) if o["pearson"] is not None else (o["max_rel_error"] > 0.5):
                raise VerifyError(f"{o['name']} on {chip}'s formats is far from {framework}'s (pearson "
                                  f"{o['pearson']}, max rel error {o['max_rel_error']:.3g}): beyond what the "
                                  f"formats explain; try bfp_bf8 or no experimental_weight_dtype, math_fidelity=hifi4",
                                  framework)
            continue
        if o["integer"]:
            if o["max_abs_error"] > 0:
                raise VerifyError(f"{o['name']} differs from {framework}'s by up to {o['max_abs_error']:.0f} "
                                  f"(integers must match exactly)", framework)
            continue
        halves = {np.asarray(a).dtype.name for a in [*got, *inputs]}
        tolerance = (BF16_RELATIVE_TOLERANCE if "bfloat16" in halves else
                     F16_RELATIVE_TOLERANCE if "float16" in halves else RELATIVE_TOLERANCE)
        if o["max_rel_error"] > tolerance:
            raise VerifyError(f"{o['name']} differs from {framework}'s by up to {o['max_abs_error']:.3g} "
                              f"({o['max_rel_error']:.3g} of its largest magnitude; tolerance {tolerance:g})",
                              framework)
    report["warning"] = bool(chip) and report["pearson"] < CHIP_WARNING
    return report
