"""Reading an archive in Python, for `ttpack inspect` and tests.

Inference goes through the C runtime (ttpack.runtime); this reader decodes
the sections for people: header, metadata, programs with their ops. It checks
the same hashes the runtime does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgpack

from ..compiler.types import dtype_name
from . import format as fmt
from .fb import ttpack_generated as fb


@dataclass
class ArchiveContents:
    header: fmt.Header
    metadata: dict
    target: str
    programs: list[dict]   # name, inputs, outputs, ops [{op, inputs, outputs, attrs, location}]
    weights: list[dict]    # name, dtype, shape, offset, size
    segments: list[dict]
    size: int


def _check_range(what: str, off: int, size: int, total: int):
    if off > total or size > total - off:
        raise fmt.ArchiveFormatError(f"{what} [{off}, +{size}) lies outside the {total}-byte file (truncated?)")


def read_archive(source: str | Path | bytes) -> ArchiveContents:
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    h = fmt.unpack_header(data)
    _check_range("program section", h.program_offset, h.program_size, len(data))
    _check_range("metadata section", h.metadata_offset, h.metadata_size, len(data))
    program = data[h.program_offset:h.program_offset + h.program_size]
    metadata = data[h.metadata_offset:h.metadata_offset + h.metadata_size]
    if fmt.xxh64(program) != h.program_hash:
        raise fmt.ArchiveFormatError("program section checksum mismatch: the archive is corrupted")
    if fmt.xxh64(metadata) != h.metadata_hash:
        raise fmt.ArchiveFormatError("metadata section checksum mismatch: the archive is corrupted")
    if program[4:8] != fmt.FILE_IDENTIFIER:
        raise fmt.ArchiveFormatError("program section is not a ttpack flatbuffer")
    try:
        meta = msgpack.unpackb(metadata, raw=False)
    except Exception as e:
        raise fmt.ArchiveFormatError(f"metadata section is not valid msgpack ({type(e).__name__}: {e})") from None
    try:
        root = fb.Archive.GetRootAs(program, 0)
        contents = ArchiveContents(
            header=h,
            metadata=meta,
            target=root.Target().decode(),
            programs=[_program(root.Programs(i)) for i in range(root.ProgramsLength())],
            weights=[_weight(root.Weights(i)) for i in range(root.WeightsLength())],
            segments=[{"offset": s.Offset(), "size": s.Size(), "xxh64": s.Xxh64()}
                      for s in (root.Segments(i) for i in range(root.SegmentsLength()))],
            size=len(data),
        )
    except fmt.ArchiveFormatError:
        raise
    except Exception as e:  # the flatbuffers Python reader does not verify
        raise fmt.ArchiveFormatError(f"program section is malformed ({type(e).__name__}: {e})") from None
    for i, s in enumerate(contents.segments):
        _check_range(f"segment {i}", s["offset"], s["size"], len(data))
        if s["offset"] % fmt.SEGMENT_ALIGNMENT:
            raise fmt.ArchiveFormatError(f"segment {i} at offset {s['offset']} is not {fmt.SEGMENT_ALIGNMENT}-byte aligned")
        if fmt.xxh64(data[s["offset"]:s["offset"] + s["size"]]) != s["xxh64"]:
            raise fmt.ArchiveFormatError(f"segment {i} checksum mismatch: the archive's weights are corrupted")
    return contents


_LAYOUTS = {fb.Layout.RowMajor: "row_major", fb.Layout.Tile: "tile"}
_BUFFERS = {fb.BufferType.SystemMemory: "system", fb.BufferType.DRAM: "dram", fb.BufferType.L1: "l1"}
_MEMORY_LAYOUTS = {fb.MemoryLayout.Interleaved: "interleaved", fb.MemoryLayout.HeightSharded: "height_sharded",
                   fb.MemoryLayout.WidthSharded: "width_sharded", fb.MemoryLayout.BlockSharded: "block_sharded"}


def _storage(s) -> str:
    """A Storage table as Storage.__str__ spells it: layout:dtype@memory."""
    if s is None:
        raise fmt.ArchiveFormatError("a tensor has no storage")
    m = s.Memory()
    buffer = _BUFFERS.get(m.BufferType(), f"buffer{m.BufferType()}")
    if buffer == "system":
        where = "host"
    else:
        where = f"{buffer}/{_MEMORY_LAYOUTS.get(m.Layout(), m.Layout())}"
        shard = m.Shard()
        if shard is not None:
            g = [shard.Grid(i) for i in range(shard.GridLength())]
            sh = [shard.Shape(i) for i in range(shard.ShapeLength())]
            where += f"[{'x'.join(map(str, g))} cores, shard {'x'.join(map(str, sh))}]"
    return f"{_LAYOUTS.get(s.Layout(), s.Layout())}:{dtype_name(s.Dtype())}@{where}"


def _signature(bindings, tensors) -> list[dict]:
    out = []
    for b in bindings:
        t = tensors[b.Tensor()]
        out.append({"name": b.Name().decode(), "shape": [t.Shape(j) for j in range(t.ShapeLength())],
                    "dtype": dtype_name(t.Dtype())})
    return out


def _operations(p) -> list[dict]:
    ops = []
    for i in range(p.OperationsLength()):
        o = p.Operations(i)
        attrs = {}
        for j in range(o.AttributesLength()):
            a = o.Attributes(j)
            vals = [a.Ints(k) for k in range(a.IntsLength())] + [a.Floats(k) for k in range(a.FloatsLength())]
            attrs[a.Name().decode()] = vals
        ops.append({"op": o.Op().decode(),
                    "inputs": [o.Inputs(k) for k in range(o.InputsLength())],
                    "outputs": [o.Outputs(k) for k in range(o.OutputsLength())],
                    "attrs": attrs,
                    "location": (o.Location() or b"").decode()})
    return ops


def _program(p) -> dict:
    tensors = [p.Tensors(i) for i in range(p.TensorsLength())]
    regions = [p.Regions(i) for i in range(p.RegionsLength())]
    return {
        "name": p.Name().decode(),
        "inputs": _signature([p.Inputs(i) for i in range(p.InputsLength())], tensors),
        "outputs": _signature([p.Outputs(i) for i in range(p.OutputsLength())], tensors),
        "tensors": len(tensors),
        "tensor_types": [{"shape": [t.Shape(j) for j in range(t.ShapeLength())], "dtype": dtype_name(t.Dtype()),
                          "storage": _storage(t.Storage()), "bytes": t.Storage().Size()} for t in tensors],
        "ops": _operations(p),
        "regions": [{"inputs": [r.Inputs(k) for k in range(r.InputsLength())],
                     "outputs": [r.Outputs(k) for k in range(r.OutputsLength())],
                     "ops": _operations(r)} for r in regions],
    }


def _weight(w) -> dict:
    return {"name": w.Name().decode(), "dtype": dtype_name(w.Dtype()),
            "shape": [w.Shape(j) for j in range(w.ShapeLength())],
            "storage": _storage(w.Storage()),
            "segment": w.Segment(), "offset": w.Offset(), "size": w.Size()}
