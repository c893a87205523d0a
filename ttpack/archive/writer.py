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
from ..compiler.ops import FLOAT_ATTRS, REGION_ATTRS
from ..compiler.types import DTYPE_CODES, Storage
from . import format as fmt
from . import tiles
from .fb import ttpack_generated as fb

TENSOR_INTERMEDIATE, TENSOR_INPUT, TENSOR_WEIGHT = 0, 1, 2


def encode_weight(data: np.ndarray, storage: Storage) -> bytes:
    """A weight's bytes in its storage form: tilized and block-float packed
    on a chip, dense row-major on the host."""
    data = np.asarray(data)
    if storage.dtype in ("uint8", "uint16", "uint32") and data.dtype.kind == "b":
        data = data.astype(np.uint8)
    if storage.layout == "tile":
        return tiles.encode_tiles(data, storage.dtype)
    if storage.dtype == data.dtype.name and storage.dtype != "bfloat16":
        return np.ascontiguousarray(data).tobytes()
    return tiles.encode_row_major(data, storage.dtype)


class WeightTable:
    """Every constant of every program, in the storage its program keeps it
    in, laid out in one segment: user weights first, in the order the user
    sees them (weight_order, e.g. the state_dict's), then what was folded
    from them, then literals."""

    def __init__(self, programs: list[Program], weight_order: list[str] | None = None):
        self.values: list[Value] = []
        self.storages: list[Storage] = []
        self.index: dict[tuple[int, Storage], int] = {}
        self.names: list[str] = []
        taken: set[str] = set()
        rank = {name: i for i, name in enumerate(weight_order or [])}
        unique: dict[tuple[int, Storage], Value] = {}
        for program in programs:
            for scope in [program, *program.nested_regions()]:  # each region keeps its own storage
                for v in scope.own_constants():
                    unique.setdefault((v.id, scope.storage_of(v)), v)

        def key(item):
            position, (_, v) = item
            base = (v.weight_name or "").split(":")[0]
            return (0 if base in rank else 1, rank.get(base, 0), position)

        for _, ((vid, storage), v) in sorted(enumerate(unique.items()), key=key):
            base = v.weight_name or f"constant.{len(self.values)}"
            name, k = base, 1
            while name in taken:  # folded weights can share a base name
                k += 1
                name = f"{base}#{k}"
            taken.add(name)
            self.index[(vid, storage)] = len(self.values)
            self.values.append(v)
            self.storages.append(storage)
            self.names.append(name)
        self.encoded = [encode_weight(v.data, s) for v, s in zip(self.values, self.storages)]
        self.offsets, size = [], 0
        for raw in self.encoded:
            size = fmt.align(size, fmt.WEIGHT_ALIGNMENT)
            self.offsets.append(size)
            size += len(raw)
        self.segment_size = size

    def segment_bytes(self) -> bytearray:
        data = bytearray(self.segment_size)
        for raw, off in zip(self.encoded, self.offsets):
            data[off:off + len(raw)] = raw
        return data


_LAYOUT = {"row_major": fb.Layout.RowMajor, "tile": fb.Layout.Tile}
_BUFFER = {"system": fb.BufferType.SystemMemory, "dram": fb.BufferType.DRAM, "l1": fb.BufferType.L1}
_MEMORY_LAYOUT = {"interleaved": fb.MemoryLayout.Interleaved, "height_sharded": fb.MemoryLayout.HeightSharded,
                  "width_sharded": fb.MemoryLayout.WidthSharded, "block_sharded": fb.MemoryLayout.BlockSharded}


def write_storage(b: flatbuffers.Builder, layout: int, dtype: int, buffer_type: int, memory_layout: int,
                  size: int, tile=None, shard=None) -> int:
    """A Storage table from raw schema codes: what the writer writes, and
    (for tests of the readers) what it never would."""
    shard_off = None
    if shard is not None:
        grid, shape = shard
        grid_off = _uint32s(b, fb.ShardSpecStartGridVector, grid)
        shape_off = _int64s(b, fb.ShardSpecStartShapeVector, shape)
        fb.ShardSpecStart(b)
        fb.ShardSpecAddGrid(b, grid_off)
        fb.ShardSpecAddShape(b, shape_off)
        shard_off = fb.ShardSpecEnd(b)
    fb.MemoryConfigStart(b)
    fb.MemoryConfigAddBufferType(b, buffer_type)
    fb.MemoryConfigAddLayout(b, memory_layout)
    if shard_off is not None:
        fb.MemoryConfigAddShard(b, shard_off)
    memory = fb.MemoryConfigEnd(b)
    tile_off = _uint32s(b, fb.StorageStartTileVector, tile) if tile is not None else None
    fb.StorageStart(b)
    fb.StorageAddLayout(b, layout)
    fb.StorageAddDtype(b, dtype)
    if tile_off is not None:
        fb.StorageAddTile(b, tile_off)
    fb.StorageAddMemory(b, memory)
    fb.StorageAddSize(b, size)
    return fb.StorageEnd(b)


def _storage(b: flatbuffers.Builder, storage: Storage, shape) -> int:
    shard = storage.memory.shard
    return write_storage(b, _LAYOUT[storage.layout], DTYPE_CODES[storage.dtype],
                         _BUFFER[storage.memory.buffer_type], _MEMORY_LAYOUT[storage.memory.layout],
                         storage.nbytes(shape), tile=(32, 32) if storage.layout == "tile" else None,
                         shard=(shard.grid, shard.shape) if shard is not None else None)


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


def _attribute(b: flatbuffers.Builder, name: str, value: tuple) -> int:
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
    return fb.AttributeEnd(b)


def _region_numbers(program: Program) -> dict[int, int]:
    """id(region) -> its index in Program.regions: every nested region,
    parents before children, so an op of region r names only regions after r."""
    return {id(r): i for i, r in enumerate(program.nested_regions())}


def _operations(b: flatbuffers.Builder, ops, index: dict[int, int], regions: dict[int, int]) -> int:
    operations = []
    for op in ops:
        attrs = dict(op.attrs)
        for name in REGION_ATTRS.get(op.name, ()):  # the op's own region -> the program's
            attrs[name] = tuple(regions[id(op.regions[i])] for i in op.attrs[name])
        attr_offs = [_attribute(b, name, value) for name, value in attrs.items()]
        op_name = b.CreateString(op.name)
        loc = b.CreateString(op.location)
        ins = _uint32s(b, fb.OperationStartInputsVector, [index[v.id] for v in op.inputs])
        outs = _uint32s(b, fb.OperationStartOutputsVector, [index[v.id] for v in op.outputs])
        attrs_off = _tables(b, fb.OperationStartAttributesVector, attr_offs)
        fb.OperationStart(b)
        fb.OperationAddOp(b, op_name)
        fb.OperationAddInputs(b, ins)
        fb.OperationAddOutputs(b, outs)
        fb.OperationAddAttributes(b, attrs_off)
        fb.OperationAddLocation(b, loc)
        operations.append(fb.OperationEnd(b))
    return _tables(b, fb.ProgramStartOperationsVector, operations)


def _program(b: flatbuffers.Builder, program: Program, weights: WeightTable) -> int:
    # Tensor indices: inputs, then constants, then op results in order; then
    # per region, its inputs, its constants, its op results. Each scope has
    # its own index (a constant two scopes read is a tensor in each, with the
    # storage that scope keeps it in).
    scopes = [program, *program.nested_regions()]
    regions = _region_numbers(program)
    tensors: list[tuple[Value, int, Program]] = []
    indices: list[dict[int, int]] = []
    for scope in scopes:
        first = len(tensors)
        kind = TENSOR_INPUT if scope is program else TENSOR_INTERMEDIATE
        tensors += [(v, kind, scope) for _, v in scope.inputs]
        tensors += [(v, TENSOR_WEIGHT, scope) for v in scope.own_constants()]
        tensors += [(v, TENSOR_INTERMEDIATE, scope) for op in scope.ops for v in op.outputs]
        indices.append({v.id: first + i for i, (v, _, _) in enumerate(tensors[first:])})

    descs = []
    for v, kind, scope in tensors:
        shape = _int64s(b, fb.TensorDescStartShapeVector, v.type.shape)
        storage = _storage(b, scope.storage_of(v), v.type.shape)
        fb.TensorDescStart(b)
        fb.TensorDescAddShape(b, shape)
        fb.TensorDescAddDtype(b, DTYPE_CODES[v.type.dtype])
        fb.TensorDescAddKind(b, kind)
        if kind == TENSOR_WEIGHT:
            fb.TensorDescAddWeight(b, weights.index[(v.id, scope.storage_of(v))])
        fb.TensorDescAddStorage(b, storage)
        descs.append(fb.TensorDescEnd(b))

    region_offs = []
    for scope, index in zip(scopes[1:], indices[1:]):
        ins = _uint32s(b, fb.RegionStartInputsVector, [index[v.id] for _, v in scope.inputs])
        outs = _uint32s(b, fb.RegionStartOutputsVector, [index[v.id] for _, v in scope.outputs])
        ops_off = _operations(b, scope.ops, index, regions)
        fb.RegionStart(b)
        fb.RegionAddInputs(b, ins)
        fb.RegionAddOutputs(b, outs)
        fb.RegionAddOperations(b, ops_off)
        region_offs.append(fb.RegionEnd(b))

    index = indices[0]

    def bindings(pairs, start):
        offs = []
        for name, v in pairs:
            n = b.CreateString(name)
            fb.BindingStart(b)
            fb.BindingAddName(b, n)
            fb.BindingAddTensor(b, index[v.id])
            offs.append(fb.BindingEnd(b))
        return _tables(b, start, offs)

    ops_off = _operations(b, program.ops, index, regions)
    name = b.CreateString(program.name)
    tensors_off = _tables(b, fb.ProgramStartTensorsVector, descs)
    inputs_off = bindings(program.inputs, fb.ProgramStartInputsVector)
    outputs_off = bindings(program.outputs, fb.ProgramStartOutputsVector)
    regions_off = _tables(b, fb.ProgramStartRegionsVector, region_offs) if region_offs else None
    fb.ProgramStart(b)
    fb.ProgramAddName(b, name)
    fb.ProgramAddTensors(b, tensors_off)
    fb.ProgramAddInputs(b, inputs_off)
    fb.ProgramAddOutputs(b, outputs_off)
    fb.ProgramAddOperations(b, ops_off)
    if regions_off is not None:
        fb.ProgramAddRegions(b, regions_off)
    return fb.ProgramEnd(b)


def _chip(b: flatbuffers.Builder, target) -> int:
    name, arch = b.CreateString(target.name), b.CreateString(target.arch)
    grid = _uint32s(b, fb.ChipDescStartGridVector, target.grid)
    fb.ChipDescStart(b)
    fb.ChipDescAddName(b, name)
    fb.ChipDescAddArch(b, arch)
    fb.ChipDescAddGrid(b, grid)
    fb.ChipDescAddL1BytesPerCore(b, target.l1_bytes_per_core)
    fb.ChipDescAddDramBytes(b, target.dram_bytes)
    return fb.ChipDescEnd(b)


def build_flatbuffer(programs: list[Program], weights: WeightTable, target: str,
                     segment_offset: int, segment_hash: int) -> bytes:
    from ..targets import get_target

    b = flatbuffers.Builder(1024)
    prog_offs = [_program(b, p, weights) for p in programs]
    weight_offs = []
    for v, storage, name, off, raw in zip(weights.values, weights.storages, weights.names, weights.offsets,
                                          weights.encoded):
        n = b.CreateString(name)
        shape = _int64s(b, fb.WeightStartShapeVector, v.type.shape)
        storage_off = _storage(b, storage, v.type.shape)
        fb.WeightStart(b)
        fb.WeightAddName(b, n)
        fb.WeightAddDtype(b, DTYPE_CODES[v.type.dtype])
        fb.WeightAddShape(b, shape)
        fb.WeightAddStorage(b, storage_off)
        fb.WeightAddSegment(b, 0)
        fb.WeightAddOffset(b, off)
        fb.WeightAddSize(b, len(raw))
        weight_offs.append(fb.WeightEnd(b))
    chip = get_target(target)
    chip_off = _chip(b, chip) if chip.is_chip else None
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
    if chip_off is not None:
        fb.ArchiveAddChip(b, chip_off)
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
         "op_counts": p.op_counts(), **p.facts}
        for p in programs
    ]
    meta["weights"] = [
        {"name": n, "shape": list(v.type.shape), "dtype": v.type.dtype, "storage": str(s), "nbytes": len(raw),
         "kind": "folded" if v.folded else ("parameter" if v.weight_name else "constant")}
        for v, s, n, raw in zip(weights.values, weights.storages, weights.names, weights.encoded)
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
