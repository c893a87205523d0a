"""The C runtime's edges: API misuse through ctypes, archives the runtime must
refuse (required features, foreign targets, layouts and buffer types, decode
amplification, overlapping segments), and the ttpack-run program's handling
of inputs and output names.

Archives here are assembled from scratch with the generated flatbuffer
builders (ttpack.archive.fb) and ttpack.archive.format, so each case holds
exactly the construct under test; none needs JAX except the zero-input build.
"""

from __future__ import annotations

import ctypes
import itertools
import subprocess
import time
from pathlib import Path

import flatbuffers
import msgpack
import numpy as np
import pytest

import ttpack.runtime as rt
from ttpack.archive import format as fmt
from ttpack.archive.fb import ttpack_generated as fb
from ttpack.archive.writer import write_storage

F32 = 1
INTERMEDIATE, INPUT, WEIGHT = 0, 1, 2
C_TIMEOUT = 30

# --------------------------------------------------------------------------
# Assembling archives


class Fb:
    """Thin helpers over a flatbuffers.Builder for the ttpack schema."""

    def __init__(self):
        self.b = flatbuffers.Builder(1024)

    def tables(self, offsets) -> int:
        b = self.b
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def strings(self, values) -> int:
        return self.tables([self.b.CreateString(v) for v in values])

    def storage(self, shape, dtype=F32, layout=None, buffer_type=None, size=None, **kw) -> int:
        """A Storage table: dense row-major host float32 unless told otherwise."""
        if size is None:
            size = int(np.prod(shape, dtype=np.int64)) * 4
        return write_storage(self.b, layout or 0, dtype, buffer_type or 0, 0, size, **kw)

    def tensor(self, shape, kind=INTERMEDIATE, dtype=F32, layout=None, buffer_type=None, weight=None,
               storage=None) -> int:
        b = self.b
        shape_off = b.CreateNumpyVector(np.asarray(shape, np.int64))
        if storage is None:
            storage = self.storage(shape, dtype, layout, buffer_type)
        fb.TensorDescStart(b)
        fb.TensorDescAddShape(b, shape_off)
        fb.TensorDescAddDtype(b, dtype)
        fb.TensorDescAddKind(b, kind)
        if weight is not None:
            fb.TensorDescAddWeight(b, weight)
        fb.TensorDescAddStorage(b, storage)
        return fb.TensorDescEnd(b)

    def op(self, name, inputs, outputs, attrs=(), location=None) -> int:
        b = self.b
        attr_offs = []
        for attr_name, ints in attrs:
            n = b.CreateString(attr_name)
            iv = b.CreateNumpyVector(np.asarray(ints, np.int64))
            fb.AttributeStart(b)
            fb.AttributeAddName(b, n)
            fb.AttributeAddInts(b, iv)
            attr_offs.append(fb.AttributeEnd(b))
        name_off = b.CreateString(name)
        loc_off = b.CreateString(location) if location is not None else None
        ins = b.CreateNumpyVector(np.asarray(inputs, np.uint32))
        outs = b.CreateNumpyVector(np.asarray(outputs, np.uint32))
        attrs_off = self.tables(attr_offs)
        fb.OperationStart(b)
        fb.OperationAddOp(b, name_off)
        fb.OperationAddInputs(b, ins)
        fb.OperationAddOutputs(b, outs)
        fb.OperationAddAttributes(b, attrs_off)
        if loc_off is not None:
            fb.OperationAddLocation(b, loc_off)
        return fb.OperationEnd(b)

    def bindings(self, pairs) -> int:
        b = self.b
        offs = []
        for name, tensor in pairs:
            n = b.CreateString(name)
            fb.BindingStart(b)
            fb.BindingAddName(b, n)
            fb.BindingAddTensor(b, tensor)
            offs.append(fb.BindingEnd(b))
        return self.tables(offs)

    def region(self, inputs, outputs, ops) -> int:
        """A Region table: inputs and outputs are tensor indices, ops built tables."""
        b = self.b
        ins = b.CreateNumpyVector(np.asarray(inputs, np.uint32))
        outs = b.CreateNumpyVector(np.asarray(outputs, np.uint32))
        ops_off = self.tables(ops)
        fb.RegionStart(b)
        fb.RegionAddInputs(b, ins)
        fb.RegionAddOutputs(b, outs)
        fb.RegionAddOperations(b, ops_off)
        return fb.RegionEnd(b)

    def program(self, tensors, inputs, outputs, ops, name="main", regions=None) -> int:
        """tensors and ops: offsets of built tables (ops may repeat one);
        inputs and outputs: (name, tensor index) pairs; regions: built Region tables."""
        b = self.b
        name_off = b.CreateString(name)
        t = self.tables(tensors)
        i = self.bindings(inputs)
        o = self.bindings(outputs)
        ops_off = self.tables(ops)
        regions_off = self.tables(regions) if regions is not None else None
        fb.ProgramStart(b)
        fb.ProgramAddName(b, name_off)
        fb.ProgramAddTensors(b, t)
        fb.ProgramAddInputs(b, i)
        fb.ProgramAddOutputs(b, o)
        fb.ProgramAddOperations(b, ops_off)
        if regions_off is not None:
            fb.ProgramAddRegions(b, regions_off)
        return fb.ProgramEnd(b)

    def weight(self, name, shape, size, offset=0) -> int:
        b = self.b
        n = b.CreateString(name)
        s = b.CreateNumpyVector(np.asarray(shape, np.int64))
        st = self.storage(shape)
        fb.WeightStart(b)
        fb.WeightAddStorage(b, st)
        fb.WeightAddName(b, n)
        fb.WeightAddDtype(b, F32)
        fb.WeightAddShape(b, s)
        fb.WeightAddOffset(b, offset)
        fb.WeightAddSize(b, size)
        return fb.WeightEnd(b)

    def segment(self, offset, size, xxh64) -> int:
        b = self.b
        fb.SegmentStart(b)
        fb.SegmentAddOffset(b, offset)
        fb.SegmentAddSize(b, size)
        fb.SegmentAddXxh64(b, xxh64)
        return fb.SegmentEnd(b)

    def chip(self, name, arch="wormhole_b0", grid=(8, 8)) -> int:
        b = self.b
        n, a = b.CreateString(name), b.CreateString(arch)
        g = b.CreateNumpyVector(np.asarray(grid, np.uint32))
        fb.ChipDescStart(b)
        fb.ChipDescAddName(b, n)
        fb.ChipDescAddArch(b, a)
        fb.ChipDescAddGrid(b, g)
        return fb.ChipDescEnd(b)

    def finish(self, programs, target="cpu", weights=(), segments=(), features=None, chip=None) -> bytes:
        b = self.b
        chip_off = self.chip(chip) if chip is not None else None
        target_off = b.CreateString(target)
        progs = self.tables(programs)
        ws = self.tables(list(weights))
        segs = self.tables(list(segments))
        feats = self.strings(features) if features is not None else None
        fb.ArchiveStart(b)
        fb.ArchiveAddTarget(b, target_off)
        if chip_off is not None:
            fb.ArchiveAddChip(b, chip_off)
        fb.ArchiveAddPrograms(b, progs)
        fb.ArchiveAddWeights(b, ws)
        fb.ArchiveAddSegments(b, segs)
        if feats is not None:
            fb.ArchiveAddRequiredFeatures(b, feats)
        b.Finish(fb.ArchiveEnd(b), file_identifier=fmt.FILE_IDENTIFIER)
        return bytes(b.Output())


def wrap(build, segment: bytes | None = None) -> bytes:
    """The whole archive around the flatbuffer build(segment_offset, segment_hash)
    returns: header, program section, metadata, then `segment` (if any) on its
    page boundary. Every hash is right."""
    meta = msgpack.packb({"producer": "ttpack-tests"})
    seg_hash = fmt.xxh64(segment or b"")
    offset = fmt.SEGMENT_ALIGNMENT  # nonzero, so the builder always stores it
    while True:
        program = build(offset, seg_hash)
        wanted = fmt.align(fmt.HEADER_SIZE + len(program) + len(meta), fmt.SEGMENT_ALIGNMENT)
        if wanted == offset:
            break
        offset = wanted
    header = fmt.Header(fmt.FORMAT_MAJOR, fmt.FORMAT_MINOR, fmt.HEADER_SIZE, len(program), fmt.xxh64(program),
                        fmt.HEADER_SIZE + len(program), len(meta), fmt.xxh64(meta))
    out = header.pack() + program + meta
    if segment is not None:
        out += bytes(offset - len(out)) + segment
    return out


def neg_archive(*, target="cpu", features=None, layouts=(None, None), buffer_types=(None, None),
                output_names=("y",), chip=None, storages=(None, None)) -> bytes:
    """y = -x for x: float32[2, 3]; each name in output_names binds the result.
    storages: per tensor, None or Fb.storage keyword arguments."""
    def build(seg_offset, seg_hash):
        f = Fb()
        st = [f.storage([2, 3], **kw) if kw is not None else None for kw in storages]
        t = [f.tensor([2, 3], INPUT, layout=layouts[0], buffer_type=buffer_types[0], storage=st[0]),
             f.tensor([2, 3], INTERMEDIATE, layout=layouts[1], buffer_type=buffer_types[1], storage=st[1])]
        ops = [f.op("neg", [0], [1])]
        prog = f.program(t, [("x", 0)], [(n, 1) for n in output_names], ops)
        return f.finish([prog], target=target, features=features, chip=chip)
    return wrap(build)


def add_archive() -> bytes:
    """z = x + y for x, y: float32[3]."""
    def build(seg_offset, seg_hash):
        f = Fb()
        t = [f.tensor([3], INPUT), f.tensor([3], INPUT), f.tensor([3], INTERMEDIATE)]
        prog = f.program(t, [("x", 0), ("y", 1)], [("z", 2)], [f.op("add", [0, 1], [2])])
        return f.finish([prog])
    return wrap(build)


def write(tmp_path: Path, data: bytes, name="m.ttpack") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run_c(exe, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=C_TIMEOUT, **kw)


def test_assembled_archive_runs():
    """The helpers make valid archives: otherwise the refusals below prove nothing."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(rt.load(neg_archive())(x), -x)
    np.testing.assert_array_equal(rt.load(neg_archive(features=[]))(x), -x)  # present, empty
    np.testing.assert_array_equal(rt.load(add_archive())(x[0], x[1]), x[0] + x[1])


# --------------------------------------------------------------------------
# Required features, targets, layouts and buffer types


_names = itertools.count()


def expect_refused(data: bytes, exc, *words, exe=None, tmp_path=None) -> str:
    with pytest.raises(exc) as e:
        rt.load(data)
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)
    if exe is not None:
        proc = run_c(exe, write(tmp_path, data, f"refused{next(_names)}.ttpack"))
        assert proc.returncode == e.value.code, (proc.returncode, proc.stderr)
        assert all(w in proc.stderr for w in words), proc.stderr
        assert proc.stdout == ""
    return msg


def test_unknown_required_feature_is_incompatible(ttpack_run_exe, tmp_path):
    msg = expect_refused(neg_archive(features=["memory_plan"]), rt.IncompatibleArchiveError,
                         "archive needs feature 'memory_plan'", f"this runtime ({rt.runtime_version()})",
                         "upgrade ttpack", exe=ttpack_run_exe, tmp_path=tmp_path)
    assert "memory_plan" in msg
    # the first unknown feature is named
    expect_refused(neg_archive(features=["a", "b"]), rt.IncompatibleArchiveError, "feature 'a'")


def test_chip_archives_need_their_descriptor(ttpack_run_exe, tmp_path):
    expect_refused(neg_archive(target="n150"), rt.InvalidArchiveError,
                   "archive for target 'n150' carries no chip descriptor", exe=ttpack_run_exe, tmp_path=tmp_path)
    expect_refused(neg_archive(target="n150", chip="p150"), rt.InvalidArchiveError,
                   "archive for target 'n150' carries the descriptor of chip 'p150'")


def double_neg_archive(storage_kw: dict, target="cpu", chip=None) -> bytes:
    """y = -(-x) for x: float32[2, 3], the middle tensor stored as storage_kw says."""
    def build(seg_offset, seg_hash):
        f = Fb()
        t = [f.tensor([2, 3], INPUT), f.tensor([2, 3], storage=f.storage([2, 3], **storage_kw)), f.tensor([2, 3])]
        prog = f.program(t, [("x", 0)], [("y", 2)], [f.op("neg", [0], [1]), f.op("neg", [1], [2])])
        return f.finish([prog], target=target, chip=chip)
    return wrap(build)


def test_cpu_device_runs_a_chip_archive_by_emulation():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) + 0.001
    tiled_bf16 = {"layout": fb.Layout.Tile, "tile": (32, 32), "dtype": 3, "size": 2048,
                  "buffer_type": fb.BufferType.DRAM}
    model = rt.load(double_neg_archive(tiled_bf16, target="n150", chip="n150"))
    assert model.target == "n150" and model.emulated and "emulated on cpu" in repr(model)
    # the middle tensor holds bfloat16: the output is x rounded to bfloat16
    bf16 = (np.ascontiguousarray(x).view(np.uint32) + 0x7FFF + ((x.view(np.uint32) >> 16) & 1)) >> 16 << 16
    np.testing.assert_array_equal(model(x), bf16.astype(np.uint32).view(np.float32))


@pytest.mark.parametrize("storages,words", [
    (({"layout": fb.Layout.Tile, "size": 4096, "tile": (32, 32)}, None),
     ["input 'x' is stored as tile:float32@host", "dense row-major host tensors"]),
    ((None, {"layout": 7}), ["tensor 1", "unknown layout 7"]),
    (({"buffer_type": fb.BufferType.L1}, None), ["input 'x' is stored as row_major:float32@l1/interleaved"]),
    ((None, {"buffer_type": 9}), ["tensor 1", "unknown buffer type 9"]),
    ((None, {"size": 25}), ["tensor 1", "says 25 bytes, its shape needs 24"]),
    ((None, {"layout": fb.Layout.Tile, "size": 4096}), ["TILE storage needs 32x32 tiles"]),
    ((None, {"layout": fb.Layout.Tile, "size": 4096, "tile": (16, 16)}), ["TILE storage needs 32x32 tiles"]),
    ((None, {"dtype": 14, "size": 1088}), ["tensor 1", "bfloat8_b exists in TILE layout only"]),
    ((None, {"tile": (32, 32)}), ["ROW_MAJOR storage with a tile shape"]),
    ((None, {"buffer_type": fb.BufferType.L1, "shard": ((1, 1), (32, 32))}),
     ["interleaved memory layout with a shard spec"]),
])
def test_malformed_storage_is_refused(storages, words, ttpack_run_exe, tmp_path):
    expect_refused(neg_archive(storages=storages), (rt.InvalidArchiveError, rt.UnsupportedError), *words,
                   exe=ttpack_run_exe, tmp_path=tmp_path)


def test_shards_must_fit_the_chip_grid():
    def build(seg_offset, seg_hash, grid):
        f = Fb()
        st = write_storage(f.b, fb.Layout.Tile, F32, fb.BufferType.L1, fb.MemoryLayout.HeightSharded, 4096,
                           tile=(32, 32), shard=(grid, (32, 32)))
        t = [f.tensor([2, 3], INPUT), f.tensor([2, 3], INTERMEDIATE, storage=st), f.tensor([2, 3])]
        prog = f.program(t, [("x", 0)], [("y", 2)], [f.op("neg", [0], [1]), f.op("neg", [1], [2])])
        return f.finish([prog], target="n150", chip="n150")

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(rt.load(wrap(lambda o, h: build(o, h, (1, 1))))(x), x)
    expect_refused(wrap(lambda o, h: build(o, h, (9, 1))), rt.InvalidArchiveError,
                   "shard grid 9x1 exceeds the compute grid 8x8")


def test_row_major_dram_intermediate_runs():
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(rt.load(double_neg_archive({"buffer_type": fb.BufferType.DRAM}))(x), x)


# --------------------------------------------------------------------------
# Decoding amplification: many offsets, one large table


def _run_limited(exe, path, limit_kb=256 * 1024):
    """Runs `ttpack-run path` with its address space limited to 256 MB (by
    the shell, so no preexec_fn fork): an allocation past that fails
    (TTP_OUT_OF_MEMORY, exit 8) instead of swapping the machine. Returns the
    finished process and its wall time."""
    t0 = time.monotonic()
    proc = subprocess.run(["/bin/sh", "-c", f'ulimit -v {limit_kb} && exec "$0" "$@"', str(exe), str(path)],
                          capture_output=True, text=True, timeout=C_TIMEOUT)
    return proc, time.monotonic() - t0


def shared_op_archive(n_ops: int, width: int, where: str) -> bytes:
    """One Operation table with `width` inputs (or a `width`-long attribute),
    named n_ops times by the program's operation vector: about 4 * (n_ops +
    width) bytes that decode, without a bound, to 4 * n_ops * width."""
    def build(seg_offset, seg_hash):
        f = Fb()
        t = [f.tensor([1], INPUT), f.tensor([1], INTERMEDIATE)]
        if where == "inputs":
            shared = f.op("add", np.zeros(width, np.uint32), [1])
        else:
            shared = f.op("reshape", [0], [1], attrs=[("shape", np.ones(width, np.int64))])
        prog = f.program(t, [("x", 0)], [("y", 1)], [shared] * n_ops)
        return f.finish([prog])
    return wrap(build)


@pytest.mark.parametrize("where", ["inputs", "attributes"])
def test_shared_operation_table_is_rejected_quickly_with_bounded_memory(where, ttpack_run_exe, tmp_path):
    n = 100_000  # without the bound: 100k ops x 100k indices = 40 GB (80 GB of attributes)
    data = shared_op_archive(n, n, where)
    assert len(data) < 2 * 1024 * 1024
    word = "program decodes to more data than the archive holds (shared or overlapping tables)"

    # First in a child with limited memory: a regression must not take 40 GB here.
    proc, seconds = _run_limited(ttpack_run_exe, write(tmp_path, data))
    assert proc.returncode == 4, proc.stderr  # TTP_INVALID_ARCHIVE: rejected within 256 MB
    assert word in proc.stderr and seconds < 5

    t0 = time.monotonic()
    with pytest.raises(rt.InvalidArchiveError) as e:
        rt.load(data)
    assert time.monotonic() - t0 < 5
    assert word in str(e.value)


def test_few_shared_operations_fail_on_dataflow_not_on_the_bound():
    """Sharing alone is not the error: a small archive decodes, then fails
    the dataflow check (the op writes its output twice)."""
    with pytest.raises(rt.InvalidArchiveError) as e:
        rt.load(shared_op_archive(2, 2, "inputs"))
    assert "already computed" in str(e.value)


def test_shared_weight_table_is_rejected_at_open(ttpack_run_exe, tmp_path):
    """Weights are decoded at open: 20k entries naming one weight with a
    64 KB name would validate 1.3 GB of UTF-8."""
    name = "w" * 65536
    segment = bytes(fmt.SEGMENT_ALIGNMENT)

    def build(seg_offset, seg_hash):
        f = Fb()
        w = f.weight(name, [0], 0)
        seg = f.segment(seg_offset, len(segment), seg_hash)
        t = [f.tensor([2, 3], INPUT), f.tensor([2, 3], INTERMEDIATE)]
        prog = f.program(t, [("x", 0)], [("y", 1)], [f.op("neg", [0], [1])])
        return f.finish([prog], weights=[w] * 20_000, segments=[seg])
    data = wrap(build, segment)
    t0 = time.monotonic()
    expect_refused(data, rt.InvalidArchiveError, "archive decodes to more data than the archive holds",
                   exe=ttpack_run_exe, tmp_path=tmp_path)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("repeat", [2, 5000])
def test_overlapping_segments_are_rejected(repeat, ttpack_run_exe, tmp_path):
    """Segments must be sorted and disjoint, so hashing reads each byte once:
    one 1 MB segment named 5000 times would otherwise hash 5 GB."""
    segment = bytes(256 * fmt.SEGMENT_ALIGNMENT)

    def build(seg_offset, seg_hash):
        f = Fb()
        seg = f.segment(seg_offset, len(segment), seg_hash)
        t = [f.tensor([2, 3], INPUT), f.tensor([2, 3], INTERMEDIATE)]
        prog = f.program(t, [("x", 0)], [("y", 1)], [f.op("neg", [0], [1])])
        return f.finish([prog], segments=[seg] * repeat)
    data = wrap(build, segment)
    t0 = time.monotonic()
    expect_refused(data, rt.InvalidArchiveError, "segment 1 at offset", "overlaps or precedes segment 0",
                   "sorted", exe=ttpack_run_exe, tmp_path=tmp_path)
    assert time.monotonic() - t0 < 5


# --------------------------------------------------------------------------
# API misuse through ctypes: errors, never crashes

P = ctypes.c_void_p


def _status(st) -> tuple[int, str]:
    assert st, "expected an error status"
    code = rt._lib.ttp_status_get_code(st)
    msg = rt._lib.ttp_status_message(st).decode()
    rt._lib.ttp_status_free(st)
    return code, msg


@pytest.fixture
def handles(tmp_path):
    """A C model and program (z = x + y) opened through ctypes, freed after."""
    lib = rt._lib
    model, prog = P(), P()
    data = add_archive()
    assert not lib.ttp_model_open_memory(data, len(data), ctypes.byref(model))
    assert not lib.ttp_program_load(model, None, None, ctypes.byref(prog))
    yield model, prog
    lib.ttp_program_free(prog)
    lib.ttp_model_free(model)


def test_null_out_pointers(tmp_path):
    lib = rt._lib
    path = write(tmp_path, add_archive())
    assert _status(lib.ttp_model_open_file(str(path).encode(), None)) == (
        1, "ttp_model_open_file: out_model is NULL")
    data = add_archive()
    assert _status(lib.ttp_model_open_memory(data, len(data), None))[0] == 1
    model = P()
    assert _status(lib.ttp_model_open_file(None, ctypes.byref(model)))[0] == 1 and not model
    assert _status(lib.ttp_model_open_memory(None, 10, ctypes.byref(model)))[0] == 1 and not model
    assert not lib.ttp_model_open_file(str(path).encode(), ctypes.byref(model))
    try:
        assert _status(lib.ttp_program_load(model, None, None, None)) == (
            1, "ttp_program_load: out_program is NULL")
    finally:
        lib.ttp_model_free(model)
    prog = P(1234)
    assert _status(lib.ttp_program_load(None, None, None, ctypes.byref(prog))) == (
        1, "ttp_program_load: model is NULL")
    assert not prog  # cleared on error


def test_null_handles_in_accessors():
    lib = rt._lib
    assert lib.ttp_model_program_count(None) == 0
    assert lib.ttp_model_program_name(None, 0) is None
    assert lib.ttp_model_target(None) is None
    ptr, size = P(1), ctypes.c_size_t(7)
    lib.ttp_model_metadata(None, ctypes.byref(ptr), ctypes.byref(size))
    assert not ptr and size.value == 0
    own = ctypes.CDLL(rt._find_library())  # separate function objects, own argtypes
    own.ttp_model_format_version.argtypes = [P, ctypes.POINTER(ctypes.c_uint16), ctypes.POINTER(ctypes.c_uint16)]
    own.ttp_model_format_version.restype = None
    major, minor = ctypes.c_uint16(9), ctypes.c_uint16(9)
    own.ttp_model_format_version(None, ctypes.byref(major), ctypes.byref(minor))
    assert (major.value, minor.value) == (0, 0)
    own.ttp_model_format_version(None, None, None)
    assert lib.ttp_program_name(None) is None
    assert lib.ttp_program_input_count(None) == lib.ttp_program_output_count(None) == 0
    assert lib.ttp_program_op_count(None) == 0
    info = lib.ttp_program_input(None, 0)
    assert info.name is None and info.rank == 0 and not info.dims and info.nbytes == 0
    lib.ttp_model_free(None)
    lib.ttp_program_free(None)
    lib.ttp_status_free(None)
    assert lib.ttp_status_get_code(None) == 0 and lib.ttp_status_message(None) == b"OK"


def test_tensor_info_index_out_of_range(handles):
    lib = rt._lib
    _, prog = handles
    assert lib.ttp_program_input(prog, 1).name == b"y"
    for fn, n in ((lib.ttp_program_input, 2), (lib.ttp_program_output, 1)):
        for i in (n, n + 1, 2**63, 2**64 - 1):
            info = fn(prog, i)
            assert info.name is None and info.dtype == 0 and info.rank == 0 and not info.dims
            assert info.nbytes == 0


def test_run_with_null_buffer_arrays(handles):
    lib = rt._lib
    _, prog = handles
    x, y, z = (np.ones(3, np.float32) for _ in range(3))
    ins = (rt._Buffer * 2)(rt._Buffer(x.ctypes.data, 12), rt._Buffer(y.ctypes.data, 12))
    outs = (rt._Buffer * 1)(rt._Buffer(z.ctypes.data, 12))
    code, msg = _status(lib.ttp_program_run(prog, None, 2, outs, 1))
    assert code == 1 and "input_count is 2 but inputs is NULL" in msg
    code, msg = _status(lib.ttp_program_run(prog, ins, 2, None, 1))
    assert code == 1 and "output_count is 1 but outputs is NULL" in msg
    code, msg = _status(lib.ttp_program_run(None, ins, 2, outs, 1))
    assert code == 1 and "program is NULL" in msg
    assert _status(lib.ttp_program_run(prog, None, 0, outs, 1))[0] == 1  # count checked first
    assert not lib.ttp_program_run(prog, ins, 2, outs, 1)
    np.testing.assert_array_equal(z, x + y)


# --------------------------------------------------------------------------
# ttpack-run


@pytest.fixture
def add_files(tmp_path):
    path = write(tmp_path, add_archive(), "add.ttpack")
    x, y = np.arange(3, dtype=np.float32), np.full(3, 10, np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return path, tmp_path / "x.npy", tmp_path / "y.npy", x + y


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "", "a\\b", "/tmp/evil"])
def test_output_names_must_be_plain_file_names(name, ttpack_run_exe, tmp_path):
    path = write(tmp_path, neg_archive(output_names=(name,)))
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    out = tmp_path / "out" / "deeper"
    out.mkdir(parents=True)
    proc = run_c(ttpack_run_exe, path, "-i", tmp_path / "x.npy", "-o", out)
    assert proc.returncode == 2, proc.stderr
    assert f"output 0 is named '{name}', which is not a plain file name" in proc.stderr
    assert proc.stdout == ""
    assert list(out.iterdir()) == [] and list(out.parent.iterdir()) == [out]
    assert not (tmp_path / "evil.npy").exists()
    # without -o nothing is written, and the program runs
    proc = run_c(ttpack_run_exe, path, "-i", tmp_path / "x.npy")
    assert proc.returncode == 0, proc.stderr


def test_two_outputs_with_one_name(ttpack_run_exe, tmp_path):
    path = write(tmp_path, neg_archive(output_names=("y", "y")))
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    proc = run_c(ttpack_run_exe, path, "-i", tmp_path / "x.npy", "-o", tmp_path)
    assert proc.returncode == 2 and "outputs 0 and 1 are both named 'y'" in proc.stderr
    assert not (tmp_path / "y.npy").exists()


def test_zero_input_program_runs(ttpack_run_exe, tmp_path):
    import jax.numpy as jnp

    import ttpack

    path = ttpack.build(lambda: jnp.arange(6, dtype=jnp.float32).reshape(2, 3) * 2, [],
                        output=tmp_path / "zero.ttpack")
    want = np.arange(6, dtype=np.float32).reshape(2, 3) * 2
    np.testing.assert_array_equal(rt.load(path)(), want)
    proc = run_c(ttpack_run_exe, path)  # no -i needed
    assert proc.returncode == 0, proc.stderr
    assert "ran main 1 time(s)" in proc.stdout and "output output: float32[2, 3]" in proc.stdout
    out = tmp_path / "out"
    out.mkdir()
    proc = run_c(ttpack_run_exe, path, "-o", out, "-n", "3")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out / "output.npy"), want)
    proc = run_c(ttpack_run_exe, path, "--info")
    assert proc.returncode == 0 and "ran" not in proc.stdout
    assert "program main (0 ops) on cpu" in proc.stdout and "output output: float32[2, 3]" in proc.stdout


def test_info_and_plain_listing(add_files, ttpack_run_exe):
    path, x, y, _ = add_files
    listing = run_c(ttpack_run_exe, path)
    assert listing.returncode == 0 and "input  x: float32[3]" in listing.stdout and "ran" not in listing.stdout
    info = run_c(ttpack_run_exe, path, "--info", "-i", f"x={x}", "-i", f"y={y}")
    assert info.returncode == 0 and info.stdout == listing.stdout


def test_inputs_by_name_and_position(add_files, ttpack_run_exe, tmp_path):
    path, x, y, want = add_files
    for args in (["-i", x, "-i", y], ["-i", f"y={y}", "-i", f"x={x}"], ["-i", x, "-i", f"y={y}"]):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        proc = run_c(ttpack_run_exe, path, *args, "-o", out)
        assert proc.returncode == 0, (args, proc.stderr)
        np.testing.assert_array_equal(np.load(out / "z.npy"), want)


@pytest.mark.parametrize("args,words", [
    (lambda x, y: ["-i", f"x={x}", "-i", f"x={y}"], ["input 'x' (input 0) is given twice"]),
    (lambda x, y: ["-i", x, "-i", f"x={y}"], ["input 'x' (input 0) is given twice"]),
    (lambda x, y: ["-i", f"y={y}", "-i", x, "-i", y], ["input 'y' (input 1) is given twice"]),
    (lambda x, y: ["-i", f"x={x}"], ["input 'y' (input 1) is missing", "-i y=FILE.npy"]),
    (lambda x, y: ["-o", x.parent], ["input 'x' (input 0) is missing"]),
    (lambda x, y: ["-i", x, "-i", y, "-i", y], ["takes 2 input(s), 3 given"]),
    (lambda x, y: ["-i", f"w={x}"], ["no input named 'w'"]),
    (lambda x, y: ["-i", x, "-i", y, "-n", "zero"], ["-n needs a positive number of runs"]),
    (lambda x, y: ["-i", x, "-i", y, "-o", ""], ["-o needs a directory"]),
])
def test_input_errors(args, words, add_files, ttpack_run_exe):
    path, x, y, _ = add_files
    proc = run_c(ttpack_run_exe, path, *args(x, y))
    assert proc.returncode == 2, proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)
    assert proc.stdout == ""


def test_usage(ttpack_run_exe):
    proc = run_c(ttpack_run_exe, "--help")
    assert proc.returncode == 0 and "--info" in proc.stdout and "-i [NAME=]FILE.npy" in proc.stdout
    proc = run_c(ttpack_run_exe)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: ttpack-run ARCHIVE")
    proc = run_c(ttpack_run_exe, "a.ttpack", "--bogus")
    assert proc.returncode == 2 and "usage:" in proc.stderr


class DeviceOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("num_threads", ctypes.c_int32)]


def test_devices_are_opened_once_and_shared():
    lib = rt._lib
    dev, model, p1, p2 = P(), P(), P(), P()
    assert _status(lib.ttp_device_open(b"tt", None, ctypes.byref(dev)))[0] == 2 and not dev  # NOT_FOUND
    for bad in (-1, 100000):
        opts = DeviceOptions(ctypes.sizeof(DeviceOptions), bad)
        code, msg = _status(lib.ttp_device_open(b"cpu", ctypes.byref(opts), ctypes.byref(dev)))
        assert code == 1 and f"num_threads={bad}" in msg and not dev  # INVALID_ARGUMENT, said plainly
    opts.num_threads = 2
    assert not lib.ttp_device_open(b"cpu", ctypes.byref(opts), ctypes.byref(dev))
    data = add_archive()
    assert not lib.ttp_model_open_memory(data, len(data), ctypes.byref(model))
    assert not lib.ttp_program_load(model, None, dev, ctypes.byref(p1))
    assert not lib.ttp_program_load(model, None, dev, ctypes.byref(p2))
    lib.ttp_device_free(dev)  # the programs keep the device alive
    lib.ttp_model_free(model)  # ... and the model
    x = np.arange(3, dtype=np.float32)
    y = np.ones(3, np.float32)
    for prog in (p1, p2):
        z = np.empty(3, np.float32)
        ins = (rt._Buffer * 2)(rt._Buffer(x.ctypes.data, x.nbytes), rt._Buffer(y.ctypes.data, y.nbytes))
        outs = (rt._Buffer * 1)(rt._Buffer(z.ctypes.data, z.nbytes))
        assert not lib.ttp_program_run(prog, ins, 2, outs, 1)
        np.testing.assert_array_equal(z, x + y)
        lib.ttp_program_free(prog)
