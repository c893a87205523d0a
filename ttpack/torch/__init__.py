"""ttpack for PyTorch code written for TT-XLA.

- The dynamo backend "tt" (ttpack/torch/dynamo.py), registered by the
  `torch_dynamo_backends` entry point: `model.compile(backend="tt")`,
  `torch.compile(model, backend="tt", options={...})`.
- `serialize_compiled_artifacts_to_disk(module, *inputs, output_prefix=...)`,
  the counterpart of ttpack.jax's, for a torch.nn.Module.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["serialize_compiled_artifacts_to_disk"]


def serialize_compiled_artifacts_to_disk(module, *inputs, output_prefix, options=None,
                                         target: str | None = None) -> list[Path]:
    """Compiles module(*inputs) (in eval mode) with ttpack and writes
    {output_prefix}.stablehlo.mlir (torch_xla's StableHLO), {output_prefix}.ttnn.txt
    (ttpack's TTNN-level program) and {output_prefix}.ttpack (the deployable
    archive), creating the parent folder. options: ttpack's compile options;
    target: n150, n300, p150 or cpu, default $TTPACK_TARGET, else n150.
    Returns the paths written; nothing is written if compiling or verifying
    fails."""
    from ..build_api import serialize_artifacts
    from ..errors import BuildError
    from ..frontends import is_torch_module

    if not is_torch_module(module):
        raise BuildError(f"ttpack.torch.serialize_compiled_artifacts_to_disk takes a torch.nn.Module, got a "
                         f"{type(module).__name__}; for a JAX function use ttpack.jax's")
    return serialize_artifacts(module, list(inputs), output_prefix, options=options, target=target)
