"""The compile pipeline: the passes `ttpack build` runs, in order."""

from __future__ import annotations

from ..targets import Target
from . import fusion, passes
from .options import CompileOptions

# Clean up what lowering produced, fold weight-only subgraphs, fuse into
# TTNN ops (fusion may expose more folding), clean up again, check.
PIPELINE = [
    passes.simplify,
    passes.fold_broadcasts,
    passes.fold_constants,
    passes.simplify,
    *fusion.FUSION_PIPELINE,
    passes.fold_constants,
    passes.simplify,
    passes.dedupe_constants,
    passes.verify,
]

# CompileOptions fields -> the passes they switch off when False
OPTIONAL_PASSES = {
    "fold_constants": {passes.fold_constants},
    "simplify": {passes.simplify},
    "fuse": set(fusion.FUSION_PIPELINE) - {passes.simplify},
}


def pipeline_for(target: Target, options: CompileOptions) -> list:
    """The passes a build for `target` with `options` runs, in order."""
    off = set().union(*(passes_ for key, passes_ in OPTIONAL_PASSES.items() if not getattr(options, key)))
    return [p for p in PIPELINE if p not in off]
