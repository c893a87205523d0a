"""`ttpack.build`: frontend -> compiler passes -> archive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .compiler import passes

TARGETS = ("cpu",)
PLANNED_TARGETS = ("n150", "n300", "p150")

# Compile options, with defaults. Each has an effect visible in the archive.
DEFAULT_OPTIONS = {
    "fold_constants": True,   # evaluate weight-only subgraphs at build time
    "simplify": True,         # remove no-op data movement, merge reshapes/permutes
}


@dataclass
class BuildSpec:
    """What a samples/*.py file returns from `ttpack_spec()` for `ttpack build`.

    fn: fn(params, *inputs) for JAX (fn(*inputs) when params is None).
    example_inputs: arrays or jax.ShapeDtypeStruct, one per input.
    """

    fn: Callable
    example_inputs: Sequence[Any]
    params: Any = None
    options: dict = field(default_factory=dict)
    name: str = "main"


class BuildError(Exception):
    """The model cannot be built as asked; the message says why and what to do."""


def _framework(obj) -> str:
    mod = type(obj).__module__ or ""
    if mod.startswith("torch") or any(c.__module__.startswith("torch") for c in type(obj).__mro__):
        return "torch"
    if callable(obj):
        return "jax"
    raise BuildError(f"cannot build a {type(obj).__name__}: pass a JAX function fn(params, *inputs)")


def _options(options: dict | None) -> dict:
    opts = dict(DEFAULT_OPTIONS)
    unknown = set(options or {}) - set(DEFAULT_OPTIONS)
    if unknown:
        raise BuildError(f"unknown compile option(s) {sorted(unknown)}; known: {sorted(DEFAULT_OPTIONS)}")
    opts.update(options or {})
    return opts


def compile_pipeline(opts: dict) -> list:
    pipeline = []
    for p in passes.PIPELINE:
        if p is passes.fold_constants and not opts["fold_constants"]:
            continue
        if p is passes.simplify and not opts["simplify"]:
            continue
        pipeline.append(p)
    return pipeline


def build(fn_or_module, example_inputs, *, output, params=None, options=None, target="cpu",
          name="main", progress: Callable[[str], None] | None = None) -> Path:
    say = progress or (lambda msg: None)
    if target in PLANNED_TARGETS:
        raise BuildError(f"target '{target}' (Tenstorrent) is not supported by this ttpack yet; "
                         f"build with target='cpu'")
    if target not in TARGETS:
        raise BuildError(f"unknown target '{target}'; choose one of {', '.join(TARGETS)}")
    opts = _options(options)
    framework = _framework(fn_or_module)
    if framework == "torch":
        raise BuildError("PyTorch modules are not supported by this ttpack yet (coming with the torch_xla "
                         "frontend); export the model from JAX instead")

    from .archive.writer import archive_bytes, write_atomic
    from .frontends.jax_frontend import lower_jax

    t0 = time.perf_counter()
    say(f"lowering {getattr(fn_or_module, '__qualname__', 'function')} with JAX")
    program, source = lower_jax(fn_or_module, list(example_inputs), params, name=name)
    lowered_counts = program.op_counts()
    t1 = time.perf_counter()
    say(f"compiling {sum(lowered_counts.values())} ops")
    program = passes.run_pipeline(program, compile_pipeline(opts))
    t2 = time.perf_counter()
    say(f"writing {output} ({len(program.ops)} ops, {len(program.constants())} weights)")
    info = {
        "producer": "ttpack",
        "producer_version": __version__,
        "source": source,
        "target": target,
        "options": opts,
        "compile": {"programs": {name: {"op_counts_lowered": lowered_counts}}},
    }
    data = archive_bytes([program], info, target=target)
    path = write_atomic(output, data)
    say(f"wrote {path} ({len(data):,} bytes) in {time.perf_counter() - t0:.2f}s "
        f"(lower {t1 - t0:.2f}s, compile {t2 - t1:.2f}s)")
    return path
