"""The `ttpack` command: build, inspect and run archives."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Package JAX functions and PyTorch modules into .ttpack archives and run them.")


def _fail(message: str, code: int = 1):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _load_spec(path: Path):
    """Imports a samples/*.py-style file and calls its ttpack_spec()."""
    if not path.is_file():
        _fail(f"{path} does not exist")
    spec = importlib.util.spec_from_file_location(f"ttpack_model_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if not hasattr(module, "ttpack_spec"):
        _fail(f"{path} defines no ttpack_spec(); it must return ttpack.BuildSpec(fn=..., example_inputs=..., "
              f"params=...) (see README, 'Model files')")
    return module.ttpack_spec()


@app.command()
def build(
    model_file: Path = typer.Argument(..., help="Python file defining ttpack_spec() -> ttpack.BuildSpec"),
    output: Path = typer.Option(..., "-o", "--output", help="archive to write (.ttpack)"),
    target: str = typer.Option("cpu", help="device to build for: cpu, n150, n300, p150 (`ttpack targets`)"),
    option: List[str] = typer.Option([], "--option", "-O",
                                     help="compile option KEY=VALUE, e.g. -O optimization_level=1 "
                                          "-O experimental_weight_dtype=bfp_bf8 (an unknown key lists them all)"),
    verify: bool = typer.Option(True, help="run the archive on the example inputs and compare with the framework "
                                           "(a mismatch writes nothing); for a chip, against its emulated formats"),
    keep_failed: bool = typer.Option(False, "--keep-failed",
                                     help="when verification fails, keep the archive as NAME.unverified.ttpack"),
    emit_ir: Optional[Path] = typer.Option(None, "--emit-ir", help="also write the StableHLO, the TTNN-level "
                                           "program (every tensor's storage) and the archive into this folder"),
):
    """Compile a model file into one .ttpack archive."""
    from .build_api import BuildError, build as build_archive
    from .frontends.stablehlo import UnsupportedOpsError

    from .targets import TargetError, get_target

    spec = _load_spec(model_file)
    try:
        get_target(target)
    except TargetError as e:
        _fail(str(e))
    options = dict(spec.options)
    for item in option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"compile options are KEY=VALUE, got '{item}'")
        options[key.strip()] = value
    try:
        build_archive(spec.fn, spec.example_inputs, output=output, params=spec.params,
                             options=options, target=target, name=spec.name,
                             progress=lambda msg: typer.echo(f"[ttpack] {msg}", err=True), verify=verify,
                             keep_failed=keep_failed, emit_ir=emit_ir)
    except (BuildError, UnsupportedOpsError) as e:
        _fail(str(e))


@app.command()
def inspect(
    archive: Path = typer.Argument(..., help="a .ttpack archive"),
    as_json: bool = typer.Option(False, "--json", help="print everything as JSON"),
    ops: bool = typer.Option(False, "--ops", help="list every operation with every tensor's storage"),
    estimate: bool = typer.Option(False, "--estimate",
                                  help="roofline estimate of each op's time on the target chip (an estimate, "
                                       "not a measurement)"),
):
    """Show an archive's programs, signatures, ops, storage, memory plan, accuracy and weights."""
    from .archive.format import ArchiveFormatError
    from .archive.reader import read_archive
    from .targets import TargetError, get_target

    try:
        c = read_archive(archive)
    except (ArchiveFormatError, OSError) as e:
        _fail(f"{archive}: {e}")
    try:
        target = get_target(c.target)
    except TargetError as e:
        _fail(f"{archive}: {e}")
    if estimate and not target.is_chip:
        _fail(f"{archive} was built for target '{c.target}'; --estimate estimates chip time: build for "
              f"n150, n300 or p150")
    estimates = {}
    if estimate:
        from .estimate import estimate_program

        estimates = {p["name"]: estimate_program(p, target) for p in c.programs}
    if as_json:
        doc = {"format": [c.header.major, c.header.minor], "size": c.size, "target": c.target,
               "metadata": c.metadata, "programs": c.programs, "weights": c.weights, "segments": c.segments}
        if estimate:
            doc["estimates"] = estimates
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    meta = c.metadata
    src = meta.get("source", {})
    typer.echo(f"{archive}: ttpack archive format {c.header.major}.{c.header.minor}, {c.size:,} bytes")
    typer.echo(f"  built by {meta.get('producer')} {meta.get('producer_version')} from "
               f"{src.get('framework')} {src.get('framework_version')} ({src.get('function') or src.get('module')})")
    desc = f" ({target.description})" if target.is_chip else ""
    typer.echo(f"  target {c.target}{desc}, options {meta.get('options')}")
    if target.is_chip:
        co = meta.get("compile_options", {})
        typer.echo(f"  compiled with optimization_level {co.get('optimization_level')}, activations in L1: "
                   f"{co.get('l1_activations')}, weights {co.get('weight_dtype') or 'as activations'}, "
                   f"math fidelity {co.get('math_fidelity')}, fp32 accumulation {co.get('fp32_dest_acc_en')}")
    acc = meta.get("accuracy")
    if acc:
        typer.echo(f"  accuracy vs {src.get('framework')} on the example inputs ({acc['device']}): pearson "
                   f"{acc['pearson']:.6f}, max abs error {acc['max_abs_error']:.3g}, max rel error "
                   f"{acc['max_rel_error']:.3g}")
    lowered = meta.get("compile", {}).get("programs", {})
    facts = {p["name"]: p for p in meta.get("programs", [])}
    for p in c.programs:
        typer.echo(f"program {p['name']}: {len(p['ops'])} ops, {p['tensors']} tensors")
        plan = facts.get(p["name"], {}).get("memory_plan")
        if plan:
            typer.echo(f"  memory plan on {plan['target']}: DRAM {plan['dram_peak_bytes']:,} bytes at peak "
                       f"({plan['dram_weight_bytes']:,} weights + {plan['dram_activation_peak_bytes']:,} activations) "
                       f"of {plan['dram_capacity_bytes']:,}; L1 {plan['l1_peak_bytes_per_core']:,} bytes per core "
                       f"at peak of {plan['l1_capacity_bytes_per_core']:,} ({plan['l1_tensors']} tensors in L1)")
        for kind in ("inputs", "outputs"):
            for t in p[kind]:
                typer.echo(f"  {kind[:-1]:6} {t['name']}: {t['dtype']}{t['shape']}")
        counts: dict[str, int] = {}
        for op in p["ops"] + [op for r in p["regions"] for op in r["ops"]]:  # loop bodies counted once
            counts[op["op"]] = counts.get(op["op"], 0) + 1
        before = lowered.get(p["name"], {}).get("op_counts_lowered", {})
        typer.echo(f"  ops after compilation: {_counts(counts)}")
        if before:
            typer.echo(f"  ops as lowered:        {_counts(before)}")
        types = p["tensor_types"]

        def typed(t):
            return f"%{t}:{types[t]['dtype']}{types[t]['shape']} {types[t]['storage']}"

        if ops:
            for i, op in enumerate(p["ops"]):
                attrs = " ".join(f"{k}={v}" for k, v in op["attrs"].items())
                typer.echo(f"    {i:4} {', '.join(map(typed, op['outputs']))} = {op['op']}("
                           f"{', '.join(map(typed, op['inputs']))}) {attrs}  @ {op['location']}")
            for r, region in enumerate(p["regions"]):
                typer.echo(f"    region {r}({', '.join(map(typed, region['inputs']))}) -> "
                           f"{', '.join(map(typed, region['outputs']))}")
                for i, op in enumerate(region["ops"]):
                    attrs = " ".join(f"{k}={v}" for k, v in op["attrs"].items())
                    typer.echo(f"      {i:4} {', '.join(map(typed, op['outputs']))} = {op['op']}("
                               f"{', '.join(map(typed, op['inputs']))}) {attrs}  @ {op['location']}")
        if estimate:
            est = estimates[p["name"]]
            typer.echo(f"  ESTIMATED device time on {target.name} (roofline from published peaks; not a "
                       f"measurement): {est['total_seconds'] * 1e6:,.1f} us, "
                       f"{est['compute_bound_seconds'] * 1e6:,.1f} us compute-bound, "
                       f"{est['memory_bound_seconds'] * 1e6:,.1f} us memory-bound, {est['flops'] / 1e9:,.3f} GFLOP")
            typer.echo(f"    {'#':>4} {'op':18} {'est. us':>10} {'bound':8} {'GFLOP':>9} {'DRAM MB':>9} "
                       f"{'L1 MB':>8} fidelity")
            for r in est["ops"]:
                typer.echo(f"    {r['index']:4} {r['op']:18} {r['seconds'] * 1e6:10.2f} {r['bound']:8} "
                           f"{r['flops'] / 1e9:9.4f} {r['dram_bytes'] / 1e6:9.3f} {r['l1_bytes'] / 1e6:8.3f} "
                           f"{r['fidelity'] or '-'}")
    total = sum(w["size"] for w in c.weights)
    typer.echo(f"weights: {len(c.weights)}, {total:,} bytes")
    for w in c.weights[:20]:
        typer.echo(f"  {w['name']}: {w['dtype']}{w['shape']} stored {w['storage']}, {w['size']:,} bytes")
    if len(c.weights) > 20:
        typer.echo(f"  ... {len(c.weights) - 20} more (--json lists all)")


@app.command()
def targets(as_json: bool = typer.Option(False, "--json", help="print the full descriptors as JSON")):
    """List the devices archives can be built for, with their chip descriptors."""
    from .targets import TARGETS

    if as_json:
        typer.echo(json.dumps({name: t.descriptor() for name, t in TARGETS.items()}, indent=2))
        return
    typer.echo(f"{'target':7} {'arch':12} {'grid':6} {'L1/core':>10} {'DRAM':>9} {'GB/s':>5} {'GHz':>5} "
               f"{'TFLOP/s lofi/hifi2/hifi4':>25}")
    for t in TARGETS.values():
        if not t.is_chip:
            typer.echo(f"{t.name:7} {'host':12} {'-':6} {'-':>10} {'-':>9} {'-':>5} {'-':>5} {'-':>25}  {t.description}")
            continue
        peaks = "/".join(f"{t.matmul_tflops(f):.0f}" for f in ("lofi", "hifi2", "hifi4"))
        typer.echo(f"{t.name:7} {t.arch:12} {t.grid[0]}x{t.grid[1]:<4} {t.l1_bytes_per_core / 2**20:>7.2f}MiB "
                   f"{t.dram_bytes / 2**30:>6.1f}GiB {t.dram_gbps:>5.0f} {t.clock_ghz:>5.2f} {peaks:>25}  "
                   f"{t.description}")
    typer.echo("Figures are Tenstorrent's published ones (`--json` lists sources); ttpack compiles for a chip "
               "without one and runs its archives on the cpu device, emulating the chip's numerics.")


def _counts(counts: dict) -> str:
    total = sum(counts.values())
    return f"{total} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"


def _parse_inputs(items: List[str], specs) -> dict:
    named, positional = {}, []
    for item in items:
        name, sep, file = item.partition("=")
        if sep:
            named[name] = np.load(file)
        else:
            positional.append(np.load(item))
    free = [s for s in specs if s.name not in named]
    if len(positional) > len(free):
        raise ValueError(f"{len(positional)} unnamed input files for {len(free)} remaining inputs "
                         f"({', '.join(s.name for s in free) or 'none'})")
    for spec, arr in zip(free, positional):
        named[spec.name] = arr
    return named


@app.command()
def run(
    archive: Path = typer.Argument(..., help="a .ttpack archive"),
    input: List[str] = typer.Option([], "--input", "-i", help="NAME=FILE.npy (or FILE.npy in order)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write outputs to this .npz"),
    random_inputs: bool = typer.Option(False, "--random-inputs", help="feed seeded random inputs"),
    program: Optional[str] = typer.Option(None, help="program to run (default: the first)"),
    device: str = typer.Option("cpu", help="device to run on"),
    repeat: int = typer.Option(1, help="run this many times and report the best time"),
):
    """Run an archive on inputs from .npy files (or random ones) on the CPU device."""
    from . import runtime as rt

    try:
        model = rt.load(archive, device=device)
        prog = model.program(program) if program else model.program(model.programs[0])
        if random_inputs:
            rng = np.random.default_rng(0)
            inputs = {s.name: _random(rng, s) for s in prog.inputs}
        else:
            inputs = _parse_inputs(input, prog.inputs)
        if not inputs and prog.inputs:
            _fail(f"program '{prog.name}' takes inputs {prog.inputs}; pass --input NAME=FILE.npy or --random-inputs")
        best = float("inf")
        for _ in range(max(repeat, 1)):
            t0 = time.perf_counter()
            outs = prog.run(inputs)
            best = min(best, time.perf_counter() - t0)
    except rt.TTPackError as e:
        _fail(str(e))
    except (OSError, ValueError) as e:
        _fail(str(e))
    how = f" (archive built for {model.target}: its numerics emulated, not run on the chip)" if model.emulated else ""
    typer.echo(f"ran {prog.name} on {device}{how}: best of {max(repeat, 1)} {best * 1e3:.3f} ms")
    for name, arr in outs.items():
        typer.echo(f"  {name}: {arr.dtype}{list(arr.shape)}  mean {arr.astype(np.float64).mean():.6g}")
    if output:
        np.savez(output, **outs)
        typer.echo(f"wrote {output}")


@app.command()
def bench(
    archive: Path = typer.Argument(..., help="a .ttpack archive"),
    runs: int = typer.Option(100, "--runs", "-n", help="timed runs"),
    warmup: int = typer.Option(5, help="untimed runs first"),
    threads: int = typer.Option(0, help="compute threads (0: one per core)"),
    program: Optional[str] = typer.Option(None, help="program to run (default: the first)"),
    as_json: bool = typer.Option(False, "--json", help="print the numbers as JSON"),
):
    """Time an archive's program on the CPU device on seeded random inputs:
    median, p90 and best of --runs after --warmup, through the Python
    bindings (so their per-call overhead is included)."""
    from . import runtime as rt

    if runs < 1 or warmup < 0:
        _fail("--runs must be at least 1 and --warmup at least 0")
    try:
        model = rt.load(archive, num_threads=threads)
        prog = model.program(program) if program else model.program(model.programs[0])
        rng = np.random.default_rng(0)
        inputs = [_random(rng, s) for s in prog.inputs]
        for _ in range(warmup):
            prog(*inputs)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            prog(*inputs)
            times.append(time.perf_counter() - t0)
    except rt.TTPackError as e:
        _fail(str(e))
    times_ms = sorted(t * 1e3 for t in times)
    stats = {"program": prog.name, "runs": runs, "warmup": warmup, "threads": threads or os.cpu_count(),
             "median_ms": times_ms[len(times_ms) // 2] if runs % 2 else
             (times_ms[runs // 2 - 1] + times_ms[runs // 2]) / 2,
             "p90_ms": times_ms[min(runs - 1, int(0.9 * runs))], "best_ms": times_ms[0]}
    if as_json:
        typer.echo(json.dumps(stats))
        return
    how = f" (built for {model.target}: its numerics emulated)" if model.emulated else ""
    typer.echo(f"{prog.name} on cpu{how}, {stats['threads']} threads, {runs} runs after {warmup} warm-up: "
               f"median {stats['median_ms']:.3f} ms, p90 {stats['p90_ms']:.3f} ms, best {stats['best_ms']:.3f} ms")


def _random(rng, spec):
    if spec.dtype == np.bool_:
        return rng.random(spec.shape) < 0.5
    if spec.dtype.kind == "i":
        return rng.integers(0, 10, spec.shape, dtype=spec.dtype)
    return rng.standard_normal(spec.shape).astype(spec.dtype)


def main():
    app()


if __name__ == "__main__":
    main()
