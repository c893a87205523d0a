"""Passes that turn a logical program into a TTNN program for a chip.

For a Tenstorrent target, after fusion:
  set_compute_config  matmul/linear/conv2d get math fidelity and fp32 accumulation
  assign_storage      every tensor gets a Storage: program inputs and outputs
                      stay host row-major; device tensors get the layout and
                      storage type their ops run on (TTNN's rules below);
                      weights are stored in that form (weight dtype option);
                      conversions are explicit `to_layout` ops
  place_in_l1         with memory-layout analysis, activations move to L1
                      (interleaved or height-sharded) while they fit;
                      data-movement ops get interleaved inputs
                      (`to_memory_config`)
  plan_memory         DRAM and per-core L1 peaks against the chip; a program
                      that cannot fit fails here with the figures

Each is a function Program -> Program (target and options bound by
pipeline_for). A cpu build runs none of them: every tensor is host row-major.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BuildError
from ..targets import Target
from . import ops as registry
from .ir import Op, Program, Value, constant, make_op
from .options import CompileOptions
from .types import ELEMENT_BYTES, TILE, MemoryConfig, ShardSpec, Storage, host_storage, tile_bytes

DRAM = MemoryConfig("dram", "interleaved")
L1_INTERLEAVED = MemoryConfig("l1", "interleaved")

# --- TTNN's layout rules --------------------------------------------------------------
#
# Most TTNN ops compute on TILE tensors. The exceptions, per input index:
# embedding takes RowMajor uint32 indices and a RowMajor bfloat16 table
# (tt-mlir's TTNN workarounds), conv2d, conv_transpose2d and the pools take
# RowMajor (flattened NHWC) activations and the convolutions host-prepared
# RowMajor weights.
ROW_MAJOR_INPUTS = {
    "embedding": {0: "uint32", 1: "bfloat16"},
    "conv2d": {0: None, 1: None, 2: None},
    "conv_transpose2d": {0: None, 1: None, 2: None},
    "max_pool2d": {0: None},
    "avg_pool2d": {0: None},
    "sum_pool2d": {0: None},
}
ROW_MAJOR_OUTPUTS = {"max_pool2d", "avg_pool2d", "sum_pool2d"}
# Outputs whose storage type TTNN fixes regardless of the logical type.
OUTPUT_DTYPE = {"embedding": "bfloat16"}
# Data movement that TTNN runs on interleaved tensors only.
INTERLEAVED_ONLY = {"reshape", "permute", "concat", "slice", "pad", "repeat", "embedding", "typecast",
                    "to_layout"}
MATRIX_ENGINE = {"matmul", "linear", "conv2d", "conv_transpose2d"}
# Ops that run regions: the runtime drives them from the host, and the values
# they carry cross each region's boundary as a program's inputs and outputs
# do, as dense host tensors (each region is assigned storage as a program).
HOST_BOUNDARY = set(registry.REGION_ATTRS)


def device_dtype(logical: str) -> str:
    """The storage type a device tensor of a logical type has by default
    (TTNN has no bool: predicates are uint8 0/1; nor float16: its values
    are held exactly in float32)."""
    return {"bool": "uint8", "float16": "float32"}.get(logical, logical)


def _row_major_ok(v: Value, dtype: str) -> bool:
    """TTNN's ROW_MAJOR device tensors need rows of a multiple of 4 bytes."""
    width = v.type.shape[-1] if v.type.shape else 1
    return dtype in ELEMENT_BYTES and (width * ELEMENT_BYTES[dtype]) % 4 == 0


def wanted_storage(op: Op, index: int, v: Value, options: CompileOptions) -> Storage:
    """The storage op's input `index` must have."""
    if op.name in HOST_BOUNDARY:
        return host_storage(v.type.dtype)
    rules = ROW_MAJOR_INPUTS.get(op.name, {})
    dtype = device_dtype(v.type.dtype)
    if index in rules:
        dtype = rules[index] or dtype
        if _row_major_ok(v, dtype):
            return Storage("row_major", dtype, DRAM)
    if (options.weight_dtype and op.name in ("matmul", "linear") and index == 1 and v.is_constant
            and v.type.dtype in ("float32", "bfloat16")):
        dtype = options.weight_dtype
    return Storage("tile", dtype, DRAM)


def output_storage(op: Op, v: Value) -> Storage:
    if op.name in HOST_BOUNDARY:
        return host_storage(v.type.dtype)
    dtype = OUTPUT_DTYPE.get(op.name, device_dtype(v.type.dtype))
    if op.name in ROW_MAJOR_OUTPUTS and _row_major_ok(v, dtype):
        return Storage("row_major", dtype, DRAM)
    return Storage("tile", dtype, DRAM)


def set_compute_config(program: Program, options: CompileOptions) -> Program:
    """The matrix-engine ops' compute config, as tt-mlir's SetComputeKernelConfig."""
    fidelity = registry.MATH_FIDELITY[options.math_fidelity]
    acc = int(options.fp32_dest_acc_en)
    ops = [Op(op.name, op.inputs, {**op.attrs, "math_fidelity": (fidelity,), "fp32_dest_acc_en": (acc,)},
              op.outputs, op.location) if op.name in MATRIX_ENGINE else op for op in program.ops]
    return program.with_ops(ops)


def assign_storage(program: Program, options: CompileOptions) -> Program:
    storage: dict[int, Storage] = {}
    ops: list[Op] = []
    # (value id, storage) -> the value holding that value in that storage
    versions: dict[tuple[int, Storage], Value] = {}

    def place(v: Value, want: Storage, location: str) -> Value:
        """v in storage `want`: itself, a converted copy, or for a constant a
        copy stored that way (weights are stored in the form ops read)."""
        have = storage.get(v.id)
        if have == want:
            return v
        key = (v.id, want)
        if key in versions:
            return versions[key]
        if v.is_constant and have is None:
            storage[v.id] = want
            return v
        if v.is_constant:  # a constant two ops want in two forms: store it twice
            u = constant(v.data, v.weight_name, folded=v.folded)
        else:
            conv = make_op("to_layout", [v], location=location)
            ops.append(conv)
            u = conv.outputs[0]
        storage[u.id] = want
        versions[key] = u
        return u

    for _, v in program.inputs:
        storage[v.id] = host_storage(v.type.dtype)
    for op in program.ops:
        inputs = [place(v, wanted_storage(op, i, v, options), op.location) for i, v in enumerate(op.inputs)]
        new = op.with_inputs(inputs)
        for v in op.outputs:
            storage[v.id] = output_storage(op, v)
        ops.append(new)
    outputs = [(name, place(v, host_storage(v.type.dtype), "program output")) for name, v in program.outputs]
    return Program(program.name, program.inputs, outputs, ops, storage, dict(program.facts))


# --- L1 placement and the memory plan ----------------------------------------------------


def _pages(shape: tuple[int, ...], s: Storage) -> tuple[int, int]:
    """(page count, page bytes): TTNN pages a TILE tensor by tile and a
    ROW_MAJOR one by row."""
    padded = s.physical_shape(shape)
    if s.layout == "tile":
        return int(np.prod(padded, dtype=np.int64)) // (TILE[0] * TILE[1]), tile_bytes(s.dtype)
    rows = int(np.prod(padded[:-1], dtype=np.int64)) if len(padded) > 1 else 1
    return rows, (padded[-1] if padded else 1) * ELEMENT_BYTES[s.dtype]


def l1_bytes_per_core(shape: tuple[int, ...], s: Storage, target: Target) -> int:
    """Bytes of the busiest core's L1 a tensor takes: interleaved pages go
    round-robin over the grid's cores, a shard sits on each core of its grid."""
    if s.memory.buffer_type != "l1":
        return 0
    if s.memory.shard is not None:
        h, w = s.memory.shard.shape
        if s.layout == "tile":
            return (h // TILE[0]) * (w // TILE[1]) * tile_bytes(s.dtype)
        return h * w * ELEMENT_BYTES[s.dtype]
    pages, page_bytes = _pages(shape, s)
    return math.ceil(pages / target.cores) * page_bytes


def _height_shard(shape: tuple[int, ...], s: Storage, target: Target) -> MemoryConfig | None:
    """Height sharding of a TILE tensor's 2-D view over as many cores as it
    has tile rows (at most the grid); None when it has a single tile row."""
    if s.layout != "tile":
        return None
    padded = s.physical_shape(shape)
    rows = int(np.prod(padded[:-1], dtype=np.int64))
    tile_rows = rows // TILE[0]
    if tile_rows < 2:
        return None
    used = min(tile_rows, target.cores)
    shard_rows = math.ceil(tile_rows / used) * TILE[0]
    used = math.ceil(rows / shard_rows)
    grid = (min(used, target.grid[0]), math.ceil(used / target.grid[0]))
    return MemoryConfig("l1", "height_sharded", ShardSpec(grid, (shard_rows, padded[-1])))


def _last_uses(program: Program) -> dict[int, int]:
    last: dict[int, int] = {}
    for i, op in enumerate(program.ops):
        for v in op.inputs + op.outputs:
            last[v.id] = i
    for _, v in program.outputs:
        last[v.id] = len(program.ops)
    return last


def place_in_l1(program: Program, target: Target, options: CompileOptions) -> Program:
    """Greedy memory-layout analysis: in program order, an op's device
    output goes to L1 (height-sharded when options.l1_activations is
    "sharded" and it divides over the grid, else interleaved) when the
    tensors already live in L1 leave room on every core; else it stays in
    DRAM. Ops that need interleaved inputs get a to_memory_config."""
    if options.l1_activations == "none":
        return program
    storage = dict(program.storage)
    last = _last_uses(program)
    budget = target.l1_usable_bytes_per_core
    live: dict[int, int] = {}  # value id -> L1 bytes per core
    for i, op in enumerate(program.ops):
        for v in op.outputs:
            s = storage[v.id]
            if s.on_host or v.type.numel == 0:
                continue
            memory = (_height_shard(v.type.shape, s, target) if options.l1_activations == "sharded" else None)
            memory = memory or L1_INTERLEAVED
            candidate = s.with_(memory=memory)
            need = l1_bytes_per_core(v.type.shape, candidate, target)
            if sum(live.values()) + need <= budget:
                storage[v.id] = candidate
                live[v.id] = need
        for vid in [vid for vid in live if last.get(vid, -1) <= i]:
            del live[vid]
    placed = Program(program.name, program.inputs, program.outputs, program.ops, storage, dict(program.facts))
    return _interleave_inputs(placed)


def _interleave_inputs(program: Program) -> Program:
    storage = dict(program.storage)
    ops: list[Op] = []
    moved: dict[int, Value] = {}
    for op in program.ops:
        inputs = list(op.inputs)
        if op.name in INTERLEAVED_ONLY:
            for k, v in enumerate(inputs):
                s = storage.get(v.id)
                if s is None or s.memory.shard is None:
                    continue
                if v.id not in moved:
                    mv = make_op("to_memory_config", [v], location=op.location)
                    storage[mv.outputs[0].id] = s.with_(memory=L1_INTERLEAVED)
                    ops.append(mv)
                    moved[v.id] = mv.outputs[0]
                inputs[k] = moved[v.id]
        ops.append(op.with_inputs(inputs))
    return Program(program.name, program.inputs, program.outputs, ops, storage, dict(program.facts))


def plan_memory(program: Program, target: Target, options: CompileOptions) -> Program:
    """Peak DRAM (weights + live activations) and per-core L1 of the
    program on the chip; fails the build when either does not fit."""
    last = _last_uses(program)
    weights = {(v.id, scope.storage_of(v)): scope.storage_of(v).nbytes(v.type.shape)
               for scope in [program, *program.nested_regions()] for v in scope.own_constants()
               if not scope.storage_of(v).on_host}
    weight_bytes = sum(weights.values())
    dram_live: dict[int, int] = {}
    l1_live: dict[int, int] = {}
    dram_peak = l1_peak = 0
    for i, op in enumerate(program.ops):
        for v in op.outputs:
            s = program.storage_of(v)
            if s.memory.buffer_type == "dram":
                dram_live[v.id] = s.nbytes(v.type.shape)
            elif s.memory.buffer_type == "l1":
                l1_live[v.id] = l1_bytes_per_core(v.type.shape, s, target)
        # while an op runs a region, the region's activations are live too
        # (regions are planned first: passes.in_regions runs innermost first)
        inner = [r.facts["memory_plan"] for r in op.regions]
        dram_peak = max(dram_peak, sum(dram_live.values())
                        + max((m["dram_activation_peak_bytes"] for m in inner), default=0))
        l1_peak = max(l1_peak, sum(l1_live.values()) + max((m["l1_peak_bytes_per_core"] for m in inner), default=0))
        for live in (dram_live, l1_live):
            for vid in [vid for vid in live if last.get(vid, -1) <= i]:
                del live[vid]
    l1_tensors = sum(1 for s in program.storage.values() if s.memory.buffer_type == "l1")
    plan = {
        "target": target.name,
        "dram_weight_bytes": weight_bytes,
        "dram_activation_peak_bytes": dram_peak,
        "dram_peak_bytes": weight_bytes + dram_peak,
        "dram_capacity_bytes": target.dram_usable_bytes,
        "l1_peak_bytes_per_core": l1_peak,
        "l1_capacity_bytes_per_core": target.l1_usable_bytes_per_core,
        "l1_tensors": l1_tensors,
    }
    if plan["dram_peak_bytes"] > target.dram_usable_bytes:
        raise BuildError(
            f"program '{program.name}' does not fit {target.name}'s DRAM: it needs "
            f"{plan['dram_peak_bytes'] / 2**30:.2f} GiB ({weight_bytes / 2**30:.2f} GiB of weights + "
            f"{dram_peak / 2**30:.2f} GiB of activations at peak), the chip has "
            f"{target.dram_usable_bytes / 2**30:.2f} GiB usable. Try block-float weights "
            f"(-O experimental_weight_dtype=bfp_bf8, or bfp_bf4), bfloat16 activations, a smaller batch, "
            f"or a chip with more DRAM (`ttpack targets`)")
    if l1_peak > target.l1_usable_bytes_per_core:
        raise BuildError(
            f"program '{program.name}' does not fit {target.name}'s L1: {l1_peak:,} bytes per core at peak, "
            f"{target.l1_usable_bytes_per_core:,} usable. Lower optimization_level (activations stay in DRAM) "
            f"or use a smaller batch")
    return Program(program.name, program.inputs, program.outputs, program.ops, program.storage,
                   {**program.facts, "memory_plan": plan})
