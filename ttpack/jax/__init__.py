"""ttpack for JAX code written for TT-XLA.

    from ttpack.jax import serialize_compiled_artifacts_to_disk
    serialize_compiled_artifacts_to_disk(model, input_data, output_prefix="output/model")

Tenstorrent's `tt_jax` package has a function of this name; ttpack's lives
here so that it never shadows `tt_jax` where that is installed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["serialize_compiled_artifacts_to_disk"]


def serialize_compiled_artifacts_to_disk(fn, *args, output_prefix, options=None, compiler_options=None,
                                         target: str | None = None) -> list[Path]:
    """Compiles fn(*args) with ttpack and writes {output_prefix}.stablehlo.mlir
    (what JAX lowered), {output_prefix}.ttnn.txt (ttpack's TTNN-level program)
    and {output_prefix}.ttpack (the deployable archive, which
    ttpack.runtime.load runs), creating the parent folder. Where tt_jax
    writes {prefix}_ttir.mlir, {prefix}_ttnn.mlir and {prefix}.ttnn.

    args: the example inputs (arrays, or jax.ShapeDtypeStruct to skip the
    check against JAX). options (or TT-XLA's keyword, compiler_options): ttpack's
    compile options. target: n150, n300, p150 or cpu; default $TTPACK_TARGET,
    else n150. Returns the paths written; nothing is written if compiling or
    verifying fails."""
    from ..build_api import serialize_artifacts
    from ..errors import BuildError

    if options is not None and compiler_options is not None:
        raise BuildError("pass compile options once: options= or compiler_options= (the same thing)")
    return serialize_artifacts(fn, list(args), output_prefix, options=options if options is not None
                               else compiler_options, target=target)
