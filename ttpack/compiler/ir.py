"""The compiler's IR: a program of TTNN-level ops over typed values.

A Program is a straight-line list of ops in execution order. Values are
produced by exactly one op, or are program inputs, or are constants (weights
and literals, which carry their data). Passes are functions Program -> Program
(ttpack/compiler/passes.py); ops are checked against the registry when built.

Control flow is structured: an op with regions (`while`, `case`) owns
sub-programs (a while's cond and body, a case's branches), each a Program whose inputs are the values the op hands
it. Regions are isolated: they read only their own inputs, values their own
ops compute, and constants. Passes run on every region as on a program
(passes.run_pipeline), innermost first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from . import ops as registry
from .types import Storage, TensorType, host_storage

_ids = itertools.count()


class Value:
    """An SSA value. Constants hold `data`; `weight_name` names user weights
    (and constants folded from them); `folded` marks build-time results."""

    __slots__ = ("type", "id", "data", "weight_name", "folded")

    def __init__(self, type: TensorType, data: np.ndarray | None = None, weight_name: str | None = None,
                 folded: bool = False):
        self.type = type
        self.id = next(_ids)
        self.data = data
        self.weight_name = weight_name
        self.folded = folded

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    def __repr__(self) -> str:
        kind = f" weight={self.weight_name!r}" if self.weight_name else (" const" if self.is_constant else "")
        return f"%{self.id}:{self.type}{kind}"


def resolve(mapping: dict[int, "Value"], v: "Value") -> "Value":
    """v after a pass's renames: follows mapping (value id -> replacement) to its end."""
    while v.id in mapping:
        v = mapping[v.id]
    return v


def inverse_permutation(perm) -> list[int]:
    """q with q[perm[i]] = i: permute(permute(x, perm), q) is x."""
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def constant(array: np.ndarray, weight_name: str | None = None, folded: bool = False) -> Value:
    array = np.asarray(array, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    return Value(TensorType(array.shape, array.dtype.name), array, weight_name, folded)


@dataclass
class Op:
    name: str
    inputs: list[Value]
    attrs: dict[str, tuple]
    outputs: list[Value]
    location: str = ""
    # sub-programs the op runs, named by index in its attributes (a while's
    # cond and body); () for every op without control flow
    regions: tuple["Program", ...] = ()

    def __repr__(self) -> str:
        attrs = "".join(f" {k}={list(v)}" for k, v in self.attrs.items())
        return f"{', '.join(map(repr, self.outputs))} = {self.name}({', '.join(f'%{v.id}' for v in self.inputs)}){attrs}"

    def with_inputs(self, inputs: list[Value]) -> "Op":
        """The same op (attributes, outputs, location, regions) reading other inputs."""
        return Op(self.name, list(inputs), self.attrs, self.outputs, self.location, self.regions)


def region_signature(region: "Program") -> tuple[list[TensorType], list[TensorType]]:
    return [v.type for _, v in region.inputs], [v.type for _, v in region.outputs]


def make_op(name: str, inputs: list[Value], attrs: dict | None = None, location: str = "",
            regions: tuple["Program", ...] = ()) -> Op:
    """Builds an op, inferring its output types with the registry's shape rule
    (and checking its regions' signatures against its operands)."""
    attrs = {k: tuple(v) if isinstance(v, (tuple, list)) else (v,) for k, v in (attrs or {}).items()}
    in_types = [v.type for v in inputs]
    signatures = [region_signature(r) for r in regions]
    out_types = registry.infer(name, in_types, attrs, signatures)
    registry.check_regions(name, in_types, attrs, signatures)
    return Op(name, list(inputs), attrs, [Value(t) for t in out_types], location, tuple(regions))


@dataclass
class Program:
    name: str
    inputs: list[tuple[str, Value]]  # the signature, in order
    outputs: list[tuple[str, Value]]
    ops: list[Op] = field(default_factory=list)
    # value id -> Storage, set by the storage pass (compiler/storage.py); a
    # value without an entry is a dense row-major host tensor of its type.
    storage: dict[int, Storage] = field(default_factory=dict)
    # build-time facts about the program for the target (memory plan...),
    # recorded in the archive's metadata
    facts: dict = field(default_factory=dict)

    def storage_of(self, v: Value) -> Storage:
        return self.storage.get(v.id) or host_storage(v.type.dtype)

    def with_ops(self, ops: list[Op], outputs=None) -> "Program":
        """The same program (signature, storage, facts) with other ops."""
        return Program(self.name, self.inputs, self.outputs if outputs is None else outputs, ops,
                       self.storage, self.facts)

    def nested_regions(self) -> list["Program"]:
        """Every region nested in the program, parents before their children
        (each op's regions in order, each followed by its own)."""
        found = []
        for op in self.ops:
            for r in op.regions:
                found.append(r)
                found += r.nested_regions()
        return found

    def own_constants(self) -> list[Value]:
        """Constant values the program's own ops and outputs read (not its
        regions'), in first-use order, deduplicated."""
        seen: dict[int, Value] = {}
        for op in self.ops:
            for v in op.inputs:
                if v.is_constant:
                    seen.setdefault(v.id, v)
        for _, v in self.outputs:
            if v.is_constant:
                seen.setdefault(v.id, v)
        return list(seen.values())

    def constants(self) -> list[Value]:
        """Constant values the program and its regions read, in first-use
        order, deduplicated."""
        seen: dict[int, Value] = {}
        for scope in [self, *self.nested_regions()]:
            for v in scope.own_constants():
                seen.setdefault(v.id, v)
        return list(seen.values())

    def op_counts(self) -> dict[str, int]:
        """Ops by name, those inside regions included (counted once each,
        however often they run)."""
        counts: dict[str, int] = {}
        for scope in [self, *self.nested_regions()]:
            for op in scope.ops:
                counts[op.name] = counts.get(op.name, 0) + 1
        return dict(sorted(counts.items()))

    def __str__(self) -> str:
        """Readable TTNN-level text: every value with its logical type and, once
        storage is assigned, its storage (layout:dtype@memory)."""

        def typed(v: Value) -> str:
            where = f" {self.storage_of(v)}" if self.storage else ""
            kind = f" weight={v.weight_name!r}" if v.weight_name else (" const" if v.is_constant else "")
            return f"%{v.id}:{v.type}{where}{kind}"

        lines = [f"program {self.name}(" + ", ".join(f"{n}: {typed(v)}" for n, v in self.inputs) + ")"]
        for op in self.ops:
            attrs = "".join(f" {k}={list(v)}" for k, v in op.attrs.items())
            ins = ", ".join(typed(v) if v.is_constant else f"%{v.id}" for v in op.inputs)
            loc = f"  # {op.location}" if op.location else ""
            lines.append(f"  {', '.join(map(typed, op.outputs))} = {op.name}({ins}){attrs}{loc}")
            for r in op.regions:
                lines += ["    " + line for line in str(r).splitlines()]
        lines.append("  return " + ", ".join(f"{n}=%{v.id}" for n, v in self.outputs))
        return "\n".join(lines)


def interpret(program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Runs a program with the registry's numpy references (a test oracle)."""
    env: dict[int, np.ndarray] = {v.id: np.asarray(x) for (_, v), x in zip(program.inputs, inputs)}

    def get(v: Value) -> np.ndarray:
        return v.data if v.is_constant else env[v.id]

    for op in program.ops:
        if op.name == "while":
            results = _interpret_while(op, [get(v) for v in op.inputs])
        elif op.name == "case":
            results = _interpret_case(op, [get(v) for v in op.inputs])
        else:
            results = registry.evaluate(op.name, [get(v) for v in op.inputs], op.attrs)
        for v, r in zip(op.outputs, results):
            env[v.id] = r
    return [get(v) for _, v in program.outputs]


def _interpret_while(op: Op, carried: list[np.ndarray]) -> list[np.ndarray]:
    cond, body = op.regions[op.attrs["cond"][0]], op.regions[op.attrs["body"][0]]
    while bool(interpret(cond, carried)[0]):
        carried = interpret(body, carried)
    return carried


def _interpret_case(op: Op, xs: list[np.ndarray]) -> list[np.ndarray]:
    branches = op.attrs["branches"]
    index = int(xs[0])
    chosen = branches[index] if 0 <= index < len(branches) else branches[-1]  # StableHLO: out of range -> last
    return interpret(op.regions[chosen], xs[1:])
