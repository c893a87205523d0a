"""Writing compiled programs into one .ttpack file.

The file is assembled in memory order (header, program flatbuffer, msgpack
metadata, page-aligned weight segment), written to a temporary file next to
the destination, flushed, and renamed over it: a failed or interrupted build
leaves no partial archive. Output is a pure function of the inputs, so the
same build gives byte-identical archives.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import flatbuffers
import msgpack
import numpy as np

from ..compiler.ir import Program, Value
from ..compiler.ops import FLOAT_ATTRS
from ..compiler.types import dtype_code
from . import format as fmt
from .fb import ttpack_generated as fb

TENSOR_INTERMEDIATE, TENSOR_INPUT, TENSOR_WEIGHT = 0, 1, 2


class WeightTable:
    """Every constant of every program, laid out in one segment: user
    weights first, in the order the user sees them (weight_order, e.g. the
    state_dict's), then what was folded from them, then literals."""

    def __init__(self, programs: list[Program], weight_order: list[str] | None = None):
        self.values: list[Value] = []
        self.index: dict[int, int] = {}
        self.names: list[str] = []
        taken: set[str] = set()
        rank = {name: i for i, name in enumerate(weight_order or [])}
        unique: dict[int, Value] = {}
        for program in programs:
            for v in program.constants():
                unique.setdefault(v.id, v)

        def key(item):
            position, v = item
            base = (v.weight_name or "").split(":")[0]
            return (0 if base in rank else 1, rank.get(base, 0), position)

        for _, v in sorted(enumerate(unique.values()), key=key):
            base = v.weight_name or f"constant.{len(self.values)}"
            name, k = base, 1
            while name in taken:  # folded weights can share a base name
                k += 1
                name = f"{base}#{k}"
            taken.add(name)
            self.index[v.id] = len(self.values)
            self.values.append(v)
            self.names.append(name)
        self.offsets, size = [], 0
        for v in self.values:
            size = fmt.align(size, fmt.WEIGHT_ALIGNMENT)
            self.offsets.append(size)
            size += v.type.nbytes
        self.segment_size = size

    def segment_bytes(self) -> bytearray:
        data = bytearray(self.segment_size)
        for v, off in zip(self.values, self.offsets):
            raw = np.ascontiguousarray(v.data, dtype=v.type.dtype).tobytes()
            data[off:off + len(raw)] = raw
        return data


def _int64s(b: flatbuffers.Builder, start, values) -> int:
    start(b, len(values))
    for x in reversed(values):
        b.PrependInt64(int(x))
    return b.EndVector()


def _uint32s(b: flatbuffers.Builder, start, values) -> int:
    start(b, len(values))
    for x in reversed(values):
        b.PrependUint32(int(x))
    return b.EndVector()


def _tables(b: flatbuffers.Builder, start, offsets) -> int:
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _program(b: flatbuffers.Builder, program: Program, weights: WeightTable) -> int:
    # Tensor indices: inputs, then constants, then op results in order.
    tensors: list[tuple[Value, int]] = [(v, TENSOR_INPUT) for _, v in program.inputs]
    tensors += [(v, TENSOR_WEIGHT) for v in program.constants()]
    tensors += [(v, TENSOR_INTERMEDIATE) for op in program.ops for v in op.outputs]
    index = {v.id: i for i, (v, _) in enumerate(tensors)}

    descs = []
    for v, kind in tensors:
        shape = _int64s(b, fb.TensorDescStartShapeVector, v.type.shape)
        fb.TensorDescStart(b)
        fb.TensorDescAddShape(b, shape)
        fb.TensorDescAddDtype(b, dtype_code(v.type.dtype))
        fb.TensorDescAddKind(b, kind)
        if kind == TENSOR_WEIGHT:
            fb.TensorDescAddWeight(b, weights.index[v.id])
        descs.append(fb.TensorDescEnd(b))

    operations = []
    for op in program.ops:
        attrs = []
        for name, value in op.attrs.items():
            # the registry says which attributes are floats: never guess from Python types
            floats = [float(x) for x in value] if name in FLOAT_ATTRS else []
            ints = [] if name in FLOAT_ATTRS else [int(x) for x in value]
            name_off = b.CreateString(name)
            ints_off = _int64s(b, fb.AttributeStartIntsVector, ints) if ints else None
            floats_off = None
            if floats:
                fb.AttributeStartFloatsVector(b, len(floats))
                for x in reversed(floats):
                    b.PrependFloat64(x)
                floats_off = b.EndVector()
            fb.AttributeStart(b)
            fb.AttributeAddName(b, name_off)
            if ints_off is not None:
                fb.AttributeAddInts(b, ints_off)
            if floats_off is not None:
                fb.AttributeAddFloats(b, floats_off)
            attrs.append(fb.AttributeEnd(b))
        op_name = b.CreateString(op.name)
        loc = b.CreateString(op.location)
        ins = _uint32s(b, fb.OperationStartInputsVector, [index[v.id] for v in op.inputs])
        outs = _uint32s(b, fb.OperationStartOutputsVector, [index[v.id] for v in op.outputs])
        attrs_off = _tables(b, fb.OperationStartAttributesVector, attrs)
        fb.OperationStart(b)
        fb.OperationAddOp(b, op_name)
        fb.OperationAddInputs(b, ins)
        fb.OperationAddOutputs(b, outs)
        fb.OperationAddAttributes(b, attrs_off)
        fb.OperationAddLocation(b, loc)
        operations.append(fb.OperationEnd(b))

    def bindings(pairs, start):
        offs = []
        for name, v in pairs:
            n = b.CreateString(name)
            fb.BindingStart(b)
            fb.BindingAddName(b, n)
            fb.BindingAddTensor(b, index[v.id])
            offs.append(fb.BindingEnd(b))
        return _tables(b, start, offs)

    name = b.CreateString(program.name)
    tensors_off = _tables(b, fb.ProgramStartTensorsVector, descs)
    inputs_off = bindings(program.inputs, fb.ProgramStartInputsVector)
    outputs_off = bindings(program.outputs, fb.ProgramStartOutputsVector)
    ops_off = _tables(b, fb.ProgramStartOperationsVector, operations)
    fb.ProgramStart(b)
    fb.ProgramAddName(b, name)
    fb.ProgramAddTensors(b, tensors_off)
    fb.ProgramAddInputs(b, inputs_off)
    fb.ProgramAddOutputs(b, outputs_off)
    fb.ProgramAddOperations(b, ops_off)
    return fb.ProgramEnd(b)


def build_flatbuffer(programs: list[Program], weights: WeightTable, target: str,
                     segment_offset: int, segment_hash: int) -> bytes:
    b = flatbuffers.Builder(1024)
    prog_offs = [_program(b, p, weights) for p in programs]
    weight_offs = []
    for v, name, off in zip(weights.values, weights.names, weights.offsets):
        n = b.CreateString(name)
        shape = _int64s(b, fb.WeightStartShapeVector, v.type.shape)
        fb.WeightStart(b)
        fb.WeightAddName(b, n)
        fb.WeightAddDtype(b, dtype_code(v.type.dtype))
        fb.WeightAddShape(b, shape)
        fb.WeightAddSegment(b, 0)
        fb.WeightAddOffset(b, off)
        fb.WeightAddSize(b, v.type.nbytes)
        weight_offs.append(fb.WeightEnd(b))
    fb.SegmentStart(b)
    fb.SegmentAddOffset(b, segment_offset)
    fb.SegmentAddSize(b, weights.segment_size)
    fb.SegmentAddXxh64(b, segment_hash)
    segment = fb.SegmentEnd(b)
    target_off = b.CreateString(target)
    programs_off = _tables(b, fb.ArchiveStartProgramsVector, prog_offs)
    weights_off = _tables(b, fb.ArchiveStartWeightsVector, weight_offs)
    segments_off = _tables(b, fb.ArchiveStartSegmentsVector, [segment])
    fb.ArchiveStart(b)
    fb.ArchiveAddTarget(b, target_off)
    fb.ArchiveAddPrograms(b, programs_off)
    fb.ArchiveAddWeights(b, weights_off)
    fb.ArchiveAddSegments(b, segments_off)
    b.Finish(fb.ArchiveEnd(b), file_identifier=fmt.FILE_IDENTIFIER)
    return bytes(b.Output())


def _signature(pairs) -> list[dict]:
    return [{"name": n, "shape": list(v.type.shape), "dtype": v.type.dtype} for n, v in pairs]


def build_metadata(programs: list[Program], weights: WeightTable, info: dict) -> bytes:
    meta = dict(info)
    meta["format"] = [fmt.FORMAT_MAJOR, fmt.FORMAT_MINOR]
    meta["programs"] = [
        {"name": p.name, "inputs": _signature(p.inputs), "outputs": _signature(p.outputs),
         "op_counts": p.op_counts()}
        for p in programs
    ]
    meta["weights"] = [
        {"name": n, "shape": list(v.type.shape), "dtype": v.type.dtype, "nbytes": v.type.nbytes,
         "kind": "folded" if v.folded else ("parameter" if v.weight_name else "constant")}
        for v, n in zip(weights.values, weights.names)
    ]
    return msgpack.packb(meta, use_bin_type=True)


def archive_bytes(programs: list[Program], info: dict, target: str = "cpu",
                  weight_order: list[str] | None = None) -> bytes:
    """The whole archive. `info` is the metadata the caller adds (producer,
    source, options...): it must be deterministic, so no timestamps."""
    weights = WeightTable(programs, weight_order)
    segment = weights.segment_bytes()
    segment_hash = fmt.xxh64(segment)
    metadata = build_metadata(programs, weights, info)
    # The segment offset depends on the flatbuffer's size, which depends on
    # the offset's encoding only through its value: iterate to a fixpoint.
    segment_offset = 0
    while True:
        program = build_flatbuffer(programs, weights, target, segment_offset, segment_hash)
        end = fmt.HEADER_SIZE + len(program) + len(metadata)
        wanted = fmt.align(end, fmt.SEGMENT_ALIGNMENT)
        if wanted == segment_offset:
            break
        segment_offset = wanted
    header = fmt.Header(fmt.FORMAT_MAJOR, fmt.FORMAT_MINOR,
                        fmt.HEADER_SIZE, len(program), fmt.xxh64(program),
                        fmt.HEADER_SIZE + len(program), len(metadata), fmt.xxh64(metadata))
    out = bytearray(header.pack())
    out += program
    out += metadata
    out += bytes(segment_offset - len(out))
    out += segment
    return bytes(out)


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Writes data to path via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except BaseException:  # includes KeyboardInterrupt: never leave a partial file
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
