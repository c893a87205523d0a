"""A roofline estimate of a chip program's device time. An ESTIMATE, from
published peak figures, never a measurement: no Tenstorrent chip runs here.

Per op: time = max(bytes moved / bandwidth, FLOPs / peak rate), where
- bytes are the physical sizes of the op's inputs and outputs (tilized,
  block-float packed: what the chip would read and write), at the DRAM
  bandwidth of the chip or, for tensors in L1, at L1_BYTES_PER_CYCLE per core;
- FLOPs are counted on tile-padded shapes (the chip computes whole 32x32
  tiles); matmul, linear and conv2d run on the matrix engine at the peak of
  their math fidelity, at most min(M, 8)/8 of it when fewer than 8 rows feed
  it (tt-metal's GEMM_FLOPS report); other ops at the eltwise rate.
Ops that only move data count bytes only. Host <-> device transfers (the
program's inputs and outputs) are not device time and are left out.
A loop (`while`) is counted as ONE run of its cond and body: its trip count
is known only at run time (the result says how many loops it holds). A
`case` is counted as its slowest branch.
"""

from __future__ import annotations

import math

from .targets import Target

# Each core reads its L1 at about this many bytes per cycle for the math
# engines: an assumption of this estimate (no single published figure).
L1_BYTES_PER_CYCLE = 64
FIDELITY_NAMES = {0: "lofi", 2: "hifi2", 3: "hifi3", 4: "hifi4"}
# elementwise FLOPs per output element of ops that are not plain unary/binary
_PER_ELEMENT = {"softmax": 5, "layer_norm": 8, "batch_norm": 4, "gelu": 8, "erf": 8, "erfc": 8, "cumsum": 1}
_DATA_MOVEMENT = {"reshape", "permute", "concat", "slice", "repeat", "pad", "to_layout", "to_memory_config",
                  "typecast", "embedding", "arange", "gather", "update_slice", "reverse"}


def _pad(n: int) -> int:
    return -(-n // 32) * 32


def _numel(shape) -> int:
    return math.prod(shape) if shape else 1


def _flops(op: dict, types: list[dict]) -> tuple[float, bool]:
    """(FLOPs on padded shapes, runs on the matrix engine)."""
    name = op["op"]
    ins = [types[i]["shape"] for i in op["inputs"]]
    out = types[op["outputs"][0]]["shape"] if op["outputs"] else []
    if name in ("matmul", "linear"):
        a, b = ins[0], ins[1]
        k = a[-1] if a else 1
        n = b[-1]
        m = _numel(out) // max(out[-1], 1) if out else 1
        return 2.0 * _pad(m) * _pad(k) * _pad(n), True
    if name == "conv2d":
        kh, kw, cg, o = ins[1]
        rows = _numel(out) // max(o, 1)
        return 2.0 * _pad(rows) * _pad(kh * kw * cg) * _pad(o), True
    if name == "conv_transpose2d":  # every input pixel meets every tap: input rows x taps x channels
        kh, kw, cg, o = ins[1]
        rows = _numel(ins[0]) // max(ins[0][-1], 1)
        return 2.0 * _pad(rows) * _pad(kh * kw * cg) * _pad(o), True
    if name in ("sort", "top_k"):  # n log2 n compare-exchanges per sorted row
        n = ins[0][op["attrs"].get("dim", [-1])[0]] if ins[0] else 1
        return float(_numel(ins[0]) * max(math.log2(max(n, 2)), 1)), False
    if name in _DATA_MOVEMENT:
        return 0.0, False
    if name in ("max_pool2d", "avg_pool2d", "sum_pool2d"):
        kh, kw = op["attrs"].get("kernel", [1, 1])
        return float(_numel(out) * kh * kw), False
    if name in ("sum", "max", "min", "argmax", "argmin"):
        return float(_numel(ins[0])), False
    return float(_numel(out) * _PER_ELEMENT.get(name, 1)), False


def _where(storage: str) -> str:
    return storage.split("@", 1)[1].split("/", 1)[0] if "@" in storage else "host"


def estimate_program(program: dict, target: Target) -> dict:
    """Per-op and total estimated time of a program (an archive reader
    program dict) on `target`, with what bounds each op."""
    if not target.is_chip:
        raise ValueError(f"target '{target.name}' is not a chip: there is nothing to estimate")
    types = program["tensor_types"]
    dram_bw = target.dram_gbps * 1e9
    l1_bw = target.cores * L1_BYTES_PER_CYCLE * target.clock_ghz * 1e9
    rows, total = [], 0.0
    regions = program.get("regions", [])

    def op_seconds(op: dict) -> tuple[float, float, str, str | None, int, int, int]:
        """(seconds, flops, bound, fidelity, dram, l1, host bytes) of one op;
        a while's are those of one run of its cond and body, a case's those
        of its slowest branch (which one runs is known only at run time)."""
        if op["op"] in ("while", "case"):
            if op["op"] == "while":
                parts = [op_seconds(o) for r in ("cond", "body") for o in regions[op["attrs"][r][0]]["ops"]]
            else:
                parts = max(([op_seconds(o) for o in regions[r]["ops"]] for r in op["attrs"]["branches"]),
                            key=lambda ps: sum(p[0] for p in ps))
            seconds, flops = sum(p[0] for p in parts), sum(p[1] for p in parts)
            compute = sum(p[0] for p in parts if p[2] == "compute")
            return (seconds, flops, "compute" if compute > seconds - compute else "memory", None,
                    *(sum(p[k] for p in parts) for k in (4, 5, 6)))
        dram = l1 = host = 0
        for t in op["inputs"] + op["outputs"]:
            where = _where(types[t]["storage"])
            size = types[t]["bytes"]
            if where == "l1":
                l1 += size
            elif where == "dram":
                dram += size
            else:
                host += size
        flops, engine = _flops(op, types)
        if engine:
            fidelity = FIDELITY_NAMES.get(op["attrs"].get("math_fidelity", [4])[0], "hifi4")
            rate = target.matmul_tflops(fidelity) * 1e12
            out = types[op["outputs"][0]]["shape"]
            m = _numel(out) // max(out[-1], 1) if out else 1
            rate *= min(m, 8) / 8
        else:
            fidelity = None
            rate = target.eltwise_tflops() * 1e12
        t_mem = dram / dram_bw + l1 / l1_bw
        t_compute = flops / rate if flops else 0.0
        return (max(t_mem, t_compute), flops, "compute" if t_compute > t_mem else "memory", fidelity,
                dram, l1, host)

    for i, op in enumerate(program["ops"]):
        seconds, flops, bound, fidelity, dram, l1, host = op_seconds(op)
        total += seconds
        rows.append({"index": i, "op": op["op"], "flops": flops, "dram_bytes": dram, "l1_bytes": l1,
                     "host_bytes": host, "fidelity": fidelity, "seconds": seconds, "bound": bound})
    compute = sum(r["seconds"] for r in rows if r["bound"] == "compute")
    loops = sum(1 for r in regions for o in r["ops"] if o["op"] == "while") + sum(
        1 for o in program["ops"] if o["op"] == "while")
    note = "roofline estimate from published peak figures; not a measurement on a chip"
    if loops:
        note += f"; each of its {loops} loop(s) counted as one iteration (trip counts are known only at run time)"
    return {"target": target.name, "estimate": True, "ops": rows, "total_seconds": total,
            "compute_bound_seconds": compute, "memory_bound_seconds": total - compute,
            "flops": sum(r["flops"] for r in rows), "loops": loops, "note": note}
