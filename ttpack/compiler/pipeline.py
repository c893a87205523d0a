"""The compile pipeline: the passes `ttpack build` runs, in order."""

from __future__ import annotations

from functools import partial

from ..targets import Target
from . import fusion, passes, storage
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
    """The passes a build for `target` with `options` runs, in order: the
    target-independent pipeline, then for a chip the passes that make it a
    TTNN program for that chip (compiler/storage.py)."""
    off = set().union(*(passes_ for key, passes_ in OPTIONAL_PASSES.items() if not getattr(options, key)))
    chosen = [p for p in PIPELINE if p not in off]
    if options.conv2d_multiply_fusion:  # before activations fuse into the conv2d
        anchor = fusion.fold_batch_norm if fusion.fold_batch_norm in chosen else passes.fold_constants
        chosen.insert(chosen.index(anchor) + 1, fusion.fuse_conv2d_multiply)
    if target.is_chip:
        chosen += [
            partial(storage.set_compute_config, options=options),
            partial(storage.assign_storage, options=options),
            partial(storage.place_in_l1, target=target, options=options),
            partial(storage.plan_memory, target=target, options=options),
            partial(passes.verify_storage, target=target),
        ]
    return chosen
