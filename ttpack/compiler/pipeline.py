"""The compile pipeline: the passes `ttpack build` runs, in order."""

from __future__ import annotations

from . import fusion, passes

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

# build options -> the passes they switch off when False
OPTIONAL_PASSES = {
    "fold_constants": {passes.fold_constants},
    "simplify": {passes.simplify},
    "fuse": set(fusion.FUSION_PIPELINE) - {passes.simplify},
}


def pipeline_for(options: dict) -> list:
    off = set().union(*(OPTIONAL_PASSES[k] for k, on in options.items() if k in OPTIONAL_PASSES and not on))
    return [p for p in PIPELINE if p not in off]
