"""`ttpack.build`: frontend -> compiler passes -> archive."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import __version__
from .errors import BuildError, BuildWarning
from .frontends import is_torch_module
from .compiler import passes
from .compiler.options import resolve as resolve_options
from .compiler.pipeline import pipeline_for
from .targets import TargetError, device_target, get_target


@dataclass
class BuildSpec:
    """What a samples/*.py file returns from `ttpack_spec()` for `ttpack build`.

    fn: fn(params, *inputs) for JAX (fn(*inputs) when params is None), or a
        torch.nn.Module (exported in eval mode).
    example_inputs: arrays or jax.ShapeDtypeStruct, one per input; for a
        torch module, tensors as a list (positional) or a dict (keywords).
    """

    fn: Callable
    example_inputs: Sequence[Any]
    params: Any = None
    options: dict = field(default_factory=dict)
    name: str = "main"


def _framework(obj) -> str:
    if is_torch_module(obj):
        return "torch"
    if callable(obj):
        return "jax"
    raise BuildError(f"cannot build a {type(obj).__name__}: pass a JAX function fn(params, *inputs) "
                     f"or a torch.nn.Module")


def write_ir(folder, name: str, stablehlo_text: str, program, archive: bytes) -> list[Path]:
    """{name}.stablehlo.mlir, {name}.ttnn.txt and {name}.ttpack in folder
    (created if missing). Each file is written whole or not at all; if one
    cannot be written, the ones this call wrote are removed again."""
    from .archive.writer import write_atomic

    folder = Path(folder)
    files = [(folder / f"{name}.stablehlo.mlir", stablehlo_text.encode()),
             (folder / f"{name}.ttnn.txt", (str(program) + "\n").encode()),
             (folder / f"{name}.ttpack", archive)]
    written = []
    try:
        for path, content in files:
            written.append(write_atomic(path, content))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def serialize_artifacts(fn_or_module, example_inputs, output_prefix, *, params=None, options=None,
                        target: str | None = None) -> list[Path]:
    """serialize_compiled_artifacts_to_disk (ttpack.jax, ttpack.torch):
    compiles for `target` (default: $TTPACK_TARGET, else n150), verifies
    the archive against the framework on the example inputs, then writes
    {prefix}.stablehlo.mlir, {prefix}.ttnn.txt and {prefix}.ttpack (the
    files `ttpack build --emit-ir` writes). Nothing is written if any step
    fails."""
    prefix = Path(output_prefix)
    if not prefix.name or prefix.name in (".", "..") or str(output_prefix).endswith(("/", os.sep)):
        raise BuildError(f"output_prefix {str(output_prefix)!r} names no file: give a path and a file name "
                         f"prefix, e.g. 'output/model' (writes output/model.ttpack and its IR)")
    try:
        built = compile_archive(fn_or_module, example_inputs, params=params, options=options,
                                target=device_target(target))
    except UnverifiedArchive as failed:
        raise failed.error from None
    return write_ir(prefix.parent, prefix.name, built.stablehlo_text, built.program, built.data)


def _verify(data: bytes, spec: "BuildSpec", target, say) -> dict | None:
    """The archive against the framework on the example inputs (verify.py);
    None when they are shapes only."""
    from .verify import CHIP_WARNING, verify_archive

    chip = target.name if target.is_chip else None
    say(f"running the archive on the cpu device{f', emulating {chip} numerics' if chip else ''}, "
        f"against the framework on the example inputs")
    report = verify_archive(data, spec, chip)
    if report is None:
        say("not verified: the example inputs are shapes, not values")
        return None
    say(f"verified against {report['framework']}: pearson {report['pearson']:.6f}, max abs error "
        f"{report['max_abs_error']:.3g}, max rel error {report['max_rel_error']:.3g}")
    if report["warning"]:
        say(f"warning: {chip}'s formats lose accuracy on this model (pearson {report['pearson']:.4f} < "
            f"{CHIP_WARNING}); try bfp_bf8 instead of bfp_bf4, or math_fidelity=hifi4")
    return report


def resolve_target_and_options(target: str, options) -> tuple:
    """The target and the compile options, checked with `ttpack build`'s errors:
    (the Target, the typed CompileOptions, the options as given)."""
    try:
        chip = get_target(target)
    except TargetError as e:
        raise BuildError(str(e)) from None
    opts, given = resolve_options(options, chip)
    return chip, opts, given


def archive_info(source: dict, target: str, chip, opts, given: dict, lowered_counts: dict) -> dict:
    """The archive's metadata about how it was built; lowered_counts maps
    each program's name to its op counts before the pipeline."""
    return {
        "producer": "ttpack",
        "producer_version": __version__,
        "source": source,
        "target": target,
        "target_descriptor": chip.descriptor(),
        "options": given,
        "compile_options": opts.as_dict(),
        "compile": {"programs": {name: {"op_counts_lowered": counts} for name, counts in lowered_counts.items()}},
    }


@dataclass
class CompiledArchive:
    """An archive built in memory, with the texts `--emit-ir` writes."""
    data: bytes
    program: Any           # the compiled ttpack IR program (compiler.ir.Program)
    stablehlo_text: str
    info: dict             # the archive's metadata
    lower_seconds: float = 0.0
    compile_seconds: float = 0.0


class UnverifiedArchive(Exception):
    """compile_archive's verification failed: `error` says how, `data` is
    the archive that failed (build keeps it with keep_failed)."""

    def __init__(self, error, data: bytes):
        super().__init__(str(error))
        self.error, self.data = error, data


def compile_archive(fn_or_module, example_inputs, *, params=None, options=None, target="cpu", name="main",
                    progress: Callable[[str], None] | None = None, verify: bool = True) -> CompiledArchive:
    """What `build` does short of writing files: frontend, compiler passes,
    the archive's bytes and, with verify, its check against the framework
    (a mismatch raises UnverifiedArchive)."""
    say = progress or (lambda msg: None)
    chip, opts, given = resolve_target_and_options(target, options)
    framework = _framework(fn_or_module)
    from .archive.writer import archive_bytes

    t0 = time.perf_counter()
    if framework == "torch":
        if params is not None:
            raise BuildError("a torch.nn.Module carries its own parameters; pass params=None")
        try:
            from .frontends.torch_frontend import lower_torch
        except ImportError as e:
            raise BuildError(f"building PyTorch modules needs torch and torch_xla ({e}); "
                             f"install them with: pip install 'ttpack[torch]'") from None
        say(f"exporting {type(fn_or_module).__name__} with torch.export and torch_xla")
        program, source, stablehlo_text = lower_torch(fn_or_module, example_inputs, name=name)
    else:
        from .frontends.jax_frontend import lower_jax

        if isinstance(example_inputs, Mapping):
            raise BuildError("JAX functions take positional example inputs: pass a list, in the order of "
                             "the function's parameters after params")
        say(f"lowering {getattr(fn_or_module, '__qualname__', 'function')} with JAX")
        program, source, stablehlo_text = lower_jax(fn_or_module, list(example_inputs), params, name=name)
    for warning in program.facts.get("warnings", []):
        say(f"warning: {warning}")
        warnings.warn(warning, BuildWarning, stacklevel=4)
    lowered_counts = program.op_counts()
    t1 = time.perf_counter()
    say(f"compiling {sum(lowered_counts.values())} ops")
    program = passes.run_pipeline(program, pipeline_for(chip, opts))
    t2 = time.perf_counter()
    say(f"assembling the archive ({len(program.ops)} ops, {len(program.constants())} weights)")
    info = archive_info(source, target, chip, opts, given, {name: lowered_counts})
    data = archive_bytes([program], info, target=target, weight_order=source.get("parameters"))
    if verify:
        from .verify import VerifyError

        try:
            report = _verify(data, BuildSpec(fn_or_module, example_inputs, params), chip, say)
        except VerifyError as e:
            raise UnverifiedArchive(e, data) from None
        if report is not None:
            info["accuracy"] = report
            data = archive_bytes([program], info, target=target, weight_order=source.get("parameters"))
    return CompiledArchive(data, program, stablehlo_text, info, t1 - t0, t2 - t1)


def build(fn_or_module, example_inputs, *, output, params=None, options=None, target="cpu",
          name="main", progress: Callable[[str], None] | None = None, verify: bool = True,
          keep_failed: bool = False, emit_ir: str | Path | None = None) -> Path:
    """See ttpack.build. verify=True runs the archive on the cpu device
    (emulating a chip's numerics) on concrete example inputs, compares it with
    the framework and stores the accuracy in the metadata; a mismatch raises
    VerifyError and writes nothing at `output` (with keep_failed, the archive
    is kept beside it as NAME.unverified.ttpack, to inspect). emit_ir
    names a folder that also receives the StableHLO text, the compiled
    TTNN-level program as text (every tensor's storage) and the archive."""
    from .archive.writer import write_atomic
    from .verify import VerifyError

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    try:
        built = compile_archive(fn_or_module, example_inputs, params=params, options=options, target=target,
                                name=name, progress=progress, verify=verify)
    except UnverifiedArchive as failed:
        e = failed.error
        kept = ""
        if keep_failed:
            side = write_atomic(Path(output).with_name(Path(output).stem + ".unverified.ttpack"), failed.data)
            kept = f"; the archive is kept for inspection as {side}"
        raise VerifyError(f"the archive does not match {e.framework} on the example inputs: {e}. Nothing was "
                          f"written to {output}{kept}", e.framework) from None
    path = write_atomic(output, built.data)
    if emit_ir is not None:
        written = write_ir(emit_ir, name, built.stablehlo_text, built.program, built.data)
        say(f"wrote the IR to {', '.join(str(p) for p in written)}")
    say(f"wrote {path} ({len(built.data):,} bytes) in {time.perf_counter() - t0:.2f}s "
        f"(lower {built.lower_seconds:.2f}s, compile {built.compile_seconds:.2f}s)")
    return path
