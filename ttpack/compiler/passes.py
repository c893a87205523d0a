"""Compiler passes: each is a function Program -> Program.

PIPELINE lists them in order. Passes never mutate their input program's op
list; they return a program with a new one (values and constants are shared).
"""

from __future__ import annotations

import hashlib
from functools import partial

import numpy as np

from . import ops as registry
from .ir import Op, Program, Value, constant, region_signature, resolve
from ..errors import BuildError
from .types import ELEMENT_BYTES, LOGICAL_DTYPES, broadcast_shapes

# Folding never grows a constant past this unless its inputs were as large:
# broadcasting a scalar into a big tensor is cheaper to do at run time than
# to store.
FOLD_GROWTH_LIMIT = 64 * 1024


def _replace_uses(program: Program, ops: list[Op], mapping: dict[int, Value]) -> Program:
    sub = partial(resolve, mapping)
    new_ops = [op.with_inputs([sub(v) for v in op.inputs]) for op in ops]
    return program.with_ops(new_ops, [(n, sub(v)) for n, v in program.outputs])


def simplify(program: Program) -> Program:
    """Removes no-op data movement and merges chains of it:
    identity reshape/permute/repeat, reshape of reshape, permute of permute."""
    producer: dict[int, Op] = {}
    mapping: dict[int, Value] = {}
    kept: list[Op] = []

    for op in program.ops:
        op = op.with_inputs([resolve(mapping, v) for v in op.inputs])
        x = op.inputs[0] if op.inputs else None
        out = op.outputs[0]
        if op.name in ("reshape", "repeat") and x.type.shape == out.type.shape:
            mapping[out.id] = x
            continue
        if op.name == "permute" and list(op.attrs["perm"]) == list(range(x.type.rank)):
            mapping[out.id] = x
            continue
        src = producer.get(x.id) if x is not None else None
        if op.name == "reshape" and src is not None and src.name == "reshape":
            op = Op("reshape", [src.inputs[0]], op.attrs, op.outputs, op.location)
        elif op.name == "permute" and src is not None and src.name == "permute":
            inner, outer = src.attrs["perm"], op.attrs["perm"]
            perm = tuple(inner[p] for p in outer)
            if list(perm) == list(range(len(perm))):
                mapping[out.id] = src.inputs[0]
                continue
            op = Op("permute", [src.inputs[0]], {"perm": perm}, op.outputs, op.location)
        for v in op.outputs:
            producer[v.id] = op
        kept.append(op)
    return dce(_replace_uses(program, kept, mapping))


def fold_broadcasts(program: Program) -> Program:
    """TTNN's eltwise ops broadcast their operands, so a repeat that only
    feeds broadcasting ops need not be materialized."""
    producer = {v.id: op for op in program.ops for v in op.outputs}
    new_ops = []
    for op in program.ops:
        if op.name in registry.BROADCASTING:
            inputs = list(op.inputs)
            for i, v in enumerate(inputs):
                src = producer.get(v.id)
                if src is None or src.name != "repeat":
                    continue
                trial = inputs[:i] + [src.inputs[0]] + inputs[i + 1:]
                try:
                    same = broadcast_shapes(*(t.type.shape for t in trial)) == op.outputs[0].type.shape
                except ValueError:
                    same = False
                if same:
                    inputs = trial
            op = op.with_inputs(inputs)
        new_ops.append(op)
    return dce(program.with_ops(new_ops))


def _folded_name(op: Op) -> str | None:
    names = [v.weight_name for v in op.inputs if v.weight_name]
    return f"{'+'.join(names)}:{op.name}" if names else None


def fold_constants(program: Program) -> Program:
    """Evaluates ops whose inputs are all constants (weights included) at
    build time with the registry's numpy reference."""
    mapping: dict[int, Value] = {}
    kept = []
    for op in program.ops:
        inputs = [mapping.get(v.id, v) for v in op.inputs]
        if all(v.is_constant for v in inputs) and not op.regions:  # loops run at run time
            in_bytes = sum(v.type.nbytes for v in inputs)
            if all(o.type.nbytes <= max(in_bytes, FOLD_GROWTH_LIMIT) for o in op.outputs):
                results = registry.evaluate(op.name, [v.data for v in inputs], op.attrs)
                folded = Op(op.name, inputs, op.attrs, op.outputs)
                for out, data in zip(op.outputs, results):
                    mapping[out.id] = constant(data.astype(out.type.dtype, copy=False), _folded_name(folded),
                                               folded=True)
                continue
        kept.append(op.with_inputs(inputs))
    return dce(_replace_uses(program, kept, mapping))


def dedupe_constants(program: Program) -> Program:
    """One copy of each distinct constant (same dtype, shape and bytes);
    named user weights are kept apart so each keeps its name."""
    first: dict[tuple, Value] = {}
    mapping: dict[int, Value] = {}
    for v in program.constants():
        if v.weight_name:
            continue
        key = (v.type, hashlib.sha256(np.ascontiguousarray(v.data).tobytes()).digest())
        if key in first:
            mapping[v.id] = first[key]
        else:
            first[key] = v
    return _replace_uses(program, program.ops, mapping)


def dce(program: Program) -> Program:
    """Drops ops none of whose outputs reach a program output."""
    live = {v.id for _, v in program.outputs}
    kept = []
    for op in reversed(program.ops):
        if any(v.id in live for v in op.outputs):
            kept.append(op)
            live.update(v.id for v in op.inputs)
    return program.with_ops(kept[::-1])


MAX_RANK = 8  # runtime_c/src/program.h TTP_MAX_RANK


class ProgramError(BuildError):
    """The program cannot be packaged as it is (the message says why)."""


def check_signature(program: Program) -> None:
    """What the runtime refuses to load is refused here, at build time, with
    the reason: unique names, supported element types, rank <= MAX_RANK."""
    for kind, pairs in (("input", program.inputs), ("output", program.outputs)):
        names = [n for n, _ in pairs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ProgramError(f"{kind} names {dupes} are used twice; give the {kind}s distinct names")
        for name, v in pairs:
            if v.type.dtype not in LOGICAL_DTYPES:
                raise ProgramError(f"{kind} '{name}' is {v.type.dtype}; the runtime takes "
                                   f"{', '.join(LOGICAL_DTYPES)}: cast it in the model")
            if "/" in name or "\\" in name or name in ("", ".", ".."):
                raise ProgramError(f"{kind} name '{name}' cannot be a file name (used by ttpack-run -o)")
    for op in program.ops:
        for v in op.inputs + op.outputs:
            if v.type.rank > MAX_RANK:
                raise ProgramError(f"{op.name} at {op.location or 'unknown location'} uses a rank-{v.type.rank} "
                                   f"tensor; the runtime supports rank <= {MAX_RANK}")


def verify(program: Program) -> Program:
    """Re-checks every op against its shape rule and that values are defined
    before use (a pass that breaks the program fails here, at build time),
    then that the runtime can hold the result."""
    check_signature(program)
    defined = {v.id for _, v in program.inputs}
    for op in program.ops:
        for v in op.inputs:
            if not v.is_constant and v.id not in defined:
                raise AssertionError(f"{op!r} reads %{v.id} before it is defined")
        signatures = [region_signature(r) for r in op.regions]
        expected = registry.infer(op.name, [v.type for v in op.inputs], op.attrs, signatures)
        if expected != [v.type for v in op.outputs]:
            raise AssertionError(f"{op!r}: shape rule gives {expected}")
        registry.check_regions(op.name, [v.type for v in op.inputs], op.attrs, signatures)
        defined.update(v.id for v in op.outputs)
    for name, v in program.outputs:
        if not v.is_constant and v.id not in defined:
            raise AssertionError(f"output {name} is never computed")
    return program


def verify_storage(program: Program, target) -> Program:
    """TTNN's storage rules hold for every tensor of a chip program: the
    target stores its element type, block floats are TILE, ROW_MAJOR device
    rows are whole 4-byte words, inputs and outputs are dense host tensors."""
    for kind, pairs in (("input", program.inputs), ("output", program.outputs)):
        for name, v in pairs:
            s = program.storage_of(v)
            if not s.on_host or s.layout != "row_major" or s.dtype != v.type.dtype:
                raise AssertionError(f"{kind} '{name}' is not a dense host tensor: {s}")
    values = {v.id: v for op in program.ops for v in op.inputs + op.outputs}
    for vid, s in program.storage.items():
        v = values.get(vid)
        if v is None or s.on_host:
            continue
        if s.dtype not in target.dtypes:
            raise AssertionError(f"%{vid} is stored as {s.dtype}, which {target.name} does not hold")
        width = v.type.shape[-1] if v.type.shape else 1
        if s.layout == "row_major" and (width * ELEMENT_BYTES[s.dtype]) % 4:
            raise AssertionError(f"%{vid}: ROW_MAJOR rows of {width} {s.dtype} are not whole 4-byte words")
    for op in program.ops:
        for v in op.inputs + op.outputs:
            if v.id not in program.storage:
                raise AssertionError(f"{op!r}: %{v.id} has no storage")
    return program


def in_regions(p, program: Program) -> Program:
    """Pass p run on every region of the program, innermost first, then on
    the program: a region is a program of its own (its inputs are what the
    op hands it), so every pass applies to it unchanged."""
    if not any(op.regions for op in program.ops):
        return p(program)
    ops = [Op(op.name, op.inputs, op.attrs, op.outputs, op.location, tuple(in_regions(p, r) for r in op.regions))
           if op.regions else op for op in program.ops]
    return p(program.with_ops(ops))


def run_pipeline(program: Program, passes=None) -> Program:
    """Runs passes (default: the whole compile pipeline) in order, each on
    the program and its regions."""
    if passes is None:
        from .pipeline import PIPELINE as passes
    for p in passes:
        program = in_regions(p, program)
    return program
