"""Malformed archives: every way a .ttpack file can be broken must give a clear
error, never a crash, a hang or a successful load.

Each case goes through three doors: `ttpack.runtime.load(bytes)`,
`ttpack.runtime.load(path)` and the C program `ttpack-run <path>` (checked
with `expect_rejected`), and most also through the Python reader
(`ttpack.archive.reader.read_archive`, used by `ttpack inspect`), which must
raise ArchiveFormatError and nothing else.

Malformed archives with *valid* hashes are assembled from the writer's own
internals (WeightTable, build_flatbuffer, build_metadata, format.Header), or
by patching bytes of the program flatbuffer and recomputing the hashes.
"""

from __future__ import annotations

import copy
import itertools
import json
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from ttpack.archive import format as fmt
from ttpack.archive import writer
from ttpack.archive.fb import ttpack_generated as fb
from ttpack.archive.reader import read_archive
from ttpack.compiler.pipeline import pipeline_for
from ttpack.compiler.options import resolve
from ttpack.compiler.types import TensorType
from ttpack.targets import get_target

C_TIMEOUT = 20  # seconds; ttpack-run takes milliseconds on these archives


def _cpu_options():
    target = get_target("cpu")
    return target, resolve(None, target)[0]


# --------------------------------------------------------------------------
# The valid archive every case starts from


def mlp(p, x):
    import jax.numpy as jnp

    h = jnp.maximum(x @ p["w1"], 0.0)
    return h @ p["w2"] + jnp.array([1.0, 2.0, 3.0], jnp.float32)


@dataclass
class Base:
    data: bytes
    path: Path
    x: np.ndarray
    y: np.ndarray          # the valid archive's output on x
    header: fmt.Header
    segment: tuple[int, int]   # offset, size
    program: object        # the lowered, compiled IR program (writer input)
    info: dict             # metadata the assembled archives carry
    c_listing: str         # ttpack-run's stdout on the valid archive, path replaced

    @property
    def metadata_end(self) -> int:
        return self.header.metadata_offset + self.header.metadata_size

    def section(self, name: str) -> tuple[int, int]:
        """[start, end) of header / program / metadata / padding / segment."""
        h = self.header
        return {
            "header": (0, fmt.HEADER_SIZE),
            "program": (h.program_offset, h.program_offset + h.program_size),
            "metadata": (h.metadata_offset, self.metadata_end),
            "padding": (self.metadata_end, self.segment[0]),
            "segment": (self.segment[0], self.segment[0] + self.segment[1]),
        }[name]


_CTX: dict = {}  # exe, tmp dir; set by the module fixture, used by expect_rejected
_names = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def base(tmp_path_factory, ttpack_run_exe) -> Base:
    from ttpack import build_api
    from ttpack.compiler import passes
    from ttpack.frontends.jax_frontend import lower_jax

    tmp = tmp_path_factory.mktemp("malformed")
    _CTX.update(exe=str(ttpack_run_exe), tmp=tmp)
    rng = np.random.default_rng(7)
    params = {"w1": rng.standard_normal((4, 8)).astype(np.float32),
              "w2": rng.standard_normal((8, 3)).astype(np.float32)}
    x = rng.standard_normal((2, 4)).astype(np.float32)
    path = ttpack.build(mlp, [x], output=tmp / "base.ttpack", params=params)
    data = Path(path).read_bytes()
    y = rt.load(data)(x)
    contents = read_archive(data)
    assert len(contents.segments) == 1 and len(contents.weights) >= 3  # w1, w2, constants
    seg = contents.segments[0]
    program, _, _ = lower_jax(mlp, [x], params)
    program = passes.run_pipeline(program, pipeline_for(*_cpu_options()))
    proc = run_c(path)
    assert proc.returncode == 0, proc.stderr
    b = Base(data, Path(path), x, y, contents.header, (seg["offset"], seg["size"]), program,
             {"producer": "ttpack-tests", "source": {"framework": "jax"}},
             proc.stdout.replace(str(path), "<archive>"))
    # The cases below need every section, padding included, to be non-empty.
    for name in ("program", "metadata", "padding", "segment"):
        start, end = b.section(name)
        assert end > start, name
    assert b.segment[0] + b.segment[1] == len(data)
    return b


# --------------------------------------------------------------------------
# Helpers


def run_c(path) -> subprocess.CompletedProcess:
    return subprocess.run([_CTX["exe"], str(path)], capture_output=True, text=True,
                          timeout=C_TIMEOUT)


def write_tmp(data: bytes, suffix=".ttpack") -> Path:
    path = _CTX["tmp"] / f"case{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


def _has_words(message: str, words, where: str):
    low = message.lower()
    for w in words:
        alternatives = (w,) if isinstance(w, str) else tuple(w)
        assert any(a.lower() in low for a in alternatives), \
            f"{where}: message lacks {' / '.join(map(repr, alternatives))}: {message!r}"


def expect_rejected(data: bytes, *words, exc=rt.InvalidArchiveError, reader=True,
                    reader_words=None, same_message=True):
    """Python from bytes, Python from a file and `ttpack-run` all reject `data`
    with `exc` (the C program with the matching exit code) and a message
    holding every one of `words` (a word may be a tuple of alternatives).

    reader: True -> read_archive must raise ArchiveFormatError (holding
    reader_words, default `words`); "lenient" -> it may also accept the bytes
    (it does not decode programs), but raise nothing else; False -> skipped."""
    with pytest.raises(exc) as from_bytes:
        rt.load(bytes(data))
    msg = str(from_bytes.value)
    _has_words(msg, words, "load(bytes)")
    code = from_bytes.value.code
    assert 0 < code < 64, code

    path = write_tmp(data)
    with pytest.raises(exc) as from_file:
        rt.load(path)
    file_msg = str(from_file.value)
    _has_words(file_msg, words, "load(path)")
    assert from_file.value.code == code
    if same_message:  # opening a file may prefix its path, nothing else differs
        assert file_msg in (msg, f"{path}: {msg}"), (file_msg, msg)

    proc = run_c(path)
    assert proc.returncode > 0, f"ttpack-run exited with {proc.returncode}: {proc.stderr!r}"
    assert proc.returncode == code, (proc.returncode, code, proc.stderr)
    assert proc.stderr.startswith("ttpack-run: "), proc.stderr
    assert proc.stderr == f"ttpack-run: {file_msg}\n", proc.stderr
    assert proc.stdout == ""

    if reader:
        try:
            read_archive(bytes(data))
        except fmt.ArchiveFormatError as e:
            if reader != "lenient":
                _has_words(str(e), words if reader_words is None else reader_words, "read_archive")
        except Exception as e:  # noqa: BLE001 - any other type is the failure under test
            pytest.fail(f"read_archive raised {type(e).__name__}, not ArchiveFormatError: {e}")
        else:
            assert reader == "lenient", "read_archive accepted the malformed archive"
    return msg


def expect_loads_like_base(base: Base, data: bytes):
    """`data` is accepted everywhere and computes what the valid archive does."""
    np.testing.assert_array_equal(rt.load(bytes(data))(base.x), base.y)
    path = write_tmp(data)
    np.testing.assert_array_equal(rt.load(path)(base.x), base.y)
    read_archive(bytes(data))
    proc = run_c(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.replace(str(path), "<archive>") == base.c_listing


def with_header(data: bytes, **changes) -> bytes:
    """data with header fields replaced and the header hash recomputed."""
    h = fmt.unpack_header(data)
    fields = {k: getattr(h, k) for k in h.__dataclass_fields__}
    fields.update(changes)
    return fmt.Header(**fields).pack() + data[fmt.HEADER_SIZE:]


def with_program(data: bytes, program: bytes) -> bytes:
    """data with its program section replaced by a same-size one, program and
    header hashes recomputed: the result is corrupt only in its contents."""
    h = fmt.unpack_header(data)
    assert len(program) == h.program_size
    out = bytearray(data)
    out[h.program_offset:h.program_offset + h.program_size] = program
    return with_header(bytes(out), program_hash=fmt.xxh64(program))


def patched(data: bytes, patch) -> bytes:
    """Calls patch(buf, root) on a copy of the program flatbuffer (root is its
    fb.Archive), then rehashes."""
    h = fmt.unpack_header(data)
    buf = bytearray(data[h.program_offset:h.program_offset + h.program_size])
    patch(buf, fb.Archive.GetRootAs(bytes(buf), 0))
    return with_program(data, bytes(buf))


def flip(data: bytes, pos: int, mask: int = 0xFF) -> bytes:
    out = bytearray(data)
    out[pos] ^= mask
    return bytes(out)


def spread(start: int, end: int, k: int, n: int) -> int:
    """The k-th of n offsets spread evenly over [start, end), both ends included."""
    return start + (end - 1 - start) * k // (n - 1)


# Positions of fields inside a flatbuffer table (generated-code objects).
def field_pos(obj, slot: int) -> int:
    o = obj._tab.Offset(4 + 2 * slot)
    assert o, f"field {slot} absent"
    return obj._tab.Pos + o


def elem_pos(obj, slot: int, i: int, width: int) -> int:
    """Position of element i of the vector (or first byte of the string) in field `slot`."""
    o = obj._tab.Offset(4 + 2 * slot)
    assert o, f"field {slot} absent"
    return obj._tab.Vector(o) + i * width


def put(buf: bytearray, pos: int, fmt_: str, value):
    struct.pack_into("<" + fmt_, buf, pos, value)


def assemble(programs, info, *, target="cpu", segment_shift=0, segment_hash=None) -> bytes:
    """writer.archive_bytes, with knobs: the segment moved `segment_shift`
    bytes past its aligned place (the flatbuffer pointing at it), or a wrong
    segment hash stored. All section and header hashes stay correct."""
    weights = writer.WeightTable(programs)
    segment = weights.segment_bytes()
    true_hash = fmt.xxh64(segment)
    stored_hash = true_hash if segment_hash is None else segment_hash
    metadata = writer.build_metadata(programs, weights, info)
    offset = 0
    while True:  # the same fixpoint as the writer's
        program = writer.build_flatbuffer(programs, weights, target, offset, stored_hash)
        wanted = fmt.align(fmt.HEADER_SIZE + len(program) + len(metadata), fmt.SEGMENT_ALIGNMENT)
        if wanted == offset:
            break
        offset = wanted
    if segment_shift:
        offset += segment_shift
        program = writer.build_flatbuffer(programs, weights, target, offset, stored_hash)
        assert fmt.HEADER_SIZE + len(program) + len(metadata) <= offset
    header = fmt.Header(fmt.FORMAT_MAJOR, fmt.FORMAT_MINOR, fmt.HEADER_SIZE, len(program),
                        fmt.xxh64(program), fmt.HEADER_SIZE + len(program), len(metadata),
                        fmt.xxh64(metadata))
    out = bytearray(header.pack()) + program + metadata
    out += bytes(offset - len(out))
    return bytes(out + segment)


# --------------------------------------------------------------------------
# The helpers themselves


def test_helpers_reproduce_valid_archives(base):
    """assemble() without knobs is the writer; patched() with no patch and
    with_header() with no change are the identity. Otherwise the cases below
    would test the helpers, not the runtime."""
    programs = [base.program]
    data = assemble(programs, base.info)
    assert data == writer.archive_bytes(programs, base.info)
    expect_loads_like_base(base, data)
    assert patched(base.data, lambda buf, root: None) == base.data
    assert with_header(base.data) == base.data


# --------------------------------------------------------------------------
# Truncation

HEADER_CUTS = list(range(fmt.HEADER_SIZE))
SECTION_CUTS = {"program": 14, "metadata": 10, "padding": 6, "segment": 10}


@pytest.mark.parametrize("cut", HEADER_CUTS, ids=lambda c: f"header@{c}")
def test_truncated_in_header(base, cut):
    if cut == 0:
        expect_rejected(b"", "empty", same_message=False, reader_words=["magic"])
    else:
        expect_rejected(base.data[:cut], ("truncated", "magic"))


@pytest.mark.parametrize("section,k", [(s, k) for s, n in SECTION_CUTS.items() for k in range(n)])
def test_truncated_in_section(base, section, k):
    start, end = base.section(section)
    cut = spread(start, end, k, SECTION_CUTS[section])  # the last segment cut is len - 1
    expect_rejected(base.data[:cut], "truncated", f"lies outside the {cut}-byte file",
                    (f"{section} section", "segment 0") if section != "padding" else "segment 0")


# --------------------------------------------------------------------------
# Flipped bytes


def _header_flip_expectation(pos: int):
    if pos < 8:
        return dict(words=["bad magic"], exc=rt.InvalidArchiveError)
    if pos < 10:
        return dict(words=["format", ("upgrade", "rebuild")], exc=rt.IncompatibleArchiveError)
    if 12 <= pos < 16:
        return dict(words=["header size"], exc=rt.InvalidArchiveError)
    return dict(words=["header checksum mismatch", "corrupted"], exc=rt.IntegrityError)


@pytest.mark.parametrize("pos", range(fmt.HEADER_SIZE), ids=lambda p: f"header@{p}")
def test_flipped_header_byte(base, pos):
    e = _header_flip_expectation(pos)
    expect_rejected(flip(base.data, pos), *e["words"], exc=e["exc"])


FLIP_COUNTS = {"program": 24, "metadata": 10, "segment": 12}


@pytest.mark.parametrize("section,k", [(s, k) for s, n in FLIP_COUNTS.items() for k in range(n)])
def test_flipped_section_byte(base, section, k):
    start, end = base.section(section)
    pos = spread(start, end, k, FLIP_COUNTS[section])
    what = "segment 0" if section == "segment" else f"{section} section"
    expect_rejected(flip(base.data, pos), f"{what} checksum mismatch", "corrupted",
                    exc=rt.IntegrityError)


@pytest.mark.parametrize("k", range(4))
def test_flipped_padding_byte_is_harmless(base, k):
    """Padding between metadata and segment is covered by no hash, by design."""
    start, end = base.section("padding")
    expect_loads_like_base(base, flip(base.data, spread(start, end, k, 4)))


# --------------------------------------------------------------------------
# Not an archive at all


def test_empty_file(base):
    assert expect_rejected(b"", "empty", same_message=False, reader_words=["magic"]) == "archive is empty"


def test_wrong_magic(base):
    expect_rejected(b"TTPACK\x00\x1b" + base.data[8:], "not a ttpack archive", "bad magic")
    expect_rejected(b"ttpack\x00\x1a" + base.data[8:], "not a ttpack archive", "bad magic")


def test_npy_file(base, tmp_path):
    np.save(tmp_path / "x.npy", base.x)
    expect_rejected((tmp_path / "x.npy").read_bytes(), "not a ttpack archive", "bad magic")


def test_text_file(base):
    expect_rejected(b"hello, this is not an archive\n" * 10, "not a ttpack archive", "bad magic")


def test_elf_file(base):
    expect_rejected(Path(_CTX["exe"]).read_bytes(), "not a ttpack archive", "bad magic")


def test_magic_only(base):
    expect_rejected(fmt.MAGIC, "truncated inside its header")
    expect_rejected(base.data[:12], "truncated inside its header")


# --------------------------------------------------------------------------
# Format versions


def test_newer_major_says_which_format_and_to_upgrade(base):
    newer = fmt.FORMAT_MAJOR + 1
    data = with_header(base.data, major=newer)
    assert data[:8] == base.data[:8] and data[10:72] == base.data[10:72] and data[80:] == base.data[80:]
    msg = expect_rejected(data, f"format {newer}.{fmt.FORMAT_MINOR}", f"format {fmt.FORMAT_MAJOR}.x",
                          "upgrade", exc=rt.IncompatibleArchiveError)
    assert f"reads format {newer}.x" in msg  # which format it needs


def test_newer_major_with_unknown_layout(base):
    """A future format may change everything after the version: still a
    version error, not a corruption error."""
    newer = struct.pack("<H", 0xFFFF)
    data = base.data[:8] + newer + b"\xab" * (len(base.data) - 10)
    expect_rejected(data, "format 65535.", "upgrade", exc=rt.IncompatibleArchiveError)
    expect_rejected(data[:12], "format 65535.", "upgrade", exc=rt.IncompatibleArchiveError)


def test_older_major(base):
    expect_rejected(with_header(base.data, major=0), f"format 0.{fmt.FORMAT_MINOR}", f"{fmt.FORMAT_MAJOR}.x",
                    "rebuild",
                    exc=rt.IncompatibleArchiveError)


def test_newer_minor_loads(base):
    """Any minor of the runtime's major is readable."""
    expect_loads_like_base(base, with_header(base.data, minor=fmt.FORMAT_MINOR + 7))


def test_format_2_0_archive_loads(base):
    """2.1 added Program.regions; an archive without loops is what 2.0 wrote."""
    assert fmt.FORMAT_MINOR == 1 and not read_archive(base.path).programs[0]["regions"]
    expect_loads_like_base(base, with_header(base.data, minor=0))


# --------------------------------------------------------------------------
# Header fields with a valid header hash


def test_section_offsets_outside_file(base):
    n = len(base.data)
    expect_rejected(with_header(base.data, program_offset=n), "program section", "outside")
    expect_rejected(with_header(base.data, program_size=n), "program section", "outside")
    expect_rejected(with_header(base.data, metadata_offset=2**64 - 1), "metadata section", "outside")
    expect_rejected(with_header(base.data, metadata_size=2**64 - 8), "metadata section", "outside")


def test_section_overlapping_header(base):
    """The section [0, +8) is the magic itself: its hash can be made right."""
    data = with_header(base.data, program_offset=0, program_size=8, program_hash=fmt.xxh64(fmt.MAGIC))
    expect_rejected(data, "program section", "header", reader="lenient")


def test_metadata_not_msgpack_is_blamed_on_the_metadata(base):
    """The C runtime treats the metadata as opaque bytes (it loads this
    archive); the Python reader decodes them and must name the right section."""
    h = base.header
    out = bytearray(base.data)
    out[h.metadata_offset:h.metadata_offset + h.metadata_size] = b"\xc1" * h.metadata_size  # never msgpack
    data = with_header(bytes(out), metadata_hash=fmt.xxh64(b"\xc1" * h.metadata_size))
    with pytest.raises(fmt.ArchiveFormatError) as e:
        read_archive(data)
    _has_words(str(e.value), ["metadata"], "read_archive")


def test_wrong_section_hash_in_header(base):
    expect_rejected(with_header(base.data, program_hash=base.header.program_hash ^ 1),
                    "program section checksum mismatch", exc=rt.IntegrityError)
    expect_rejected(with_header(base.data, metadata_hash=base.header.metadata_hash ^ 1),
                    "metadata section checksum mismatch", exc=rt.IntegrityError)


# --------------------------------------------------------------------------
# The segment, re-assembled with the writer's internals


def test_misaligned_segment(base):
    data = assemble([base.program], base.info, segment_shift=64)
    expect_rejected(data, "segment 0", "not 4096-byte aligned")


def test_wrong_segment_hash(base):
    data = assemble([base.program], base.info, segment_hash=12345)
    expect_rejected(data, "segment 0 checksum mismatch", exc=rt.IntegrityError)


def test_segment_outside_file(base):
    def patch(buf, root):
        put(buf, field_pos(root.Segments(0), 0), "Q", 4 * fmt.SEGMENT_ALIGNMENT)
    expect_rejected(patched(base.data, patch), "segment 0", "outside", "truncated")


# --------------------------------------------------------------------------
# Structurally invalid program sections with valid hashes


def test_random_program_section(base):
    rng = np.random.default_rng(0)
    data = with_program(base.data, rng.bytes(base.header.program_size))
    expect_rejected(data, "program section is not a ttpack flatbuffer")


@pytest.mark.parametrize("seed", range(6))
def test_random_program_section_with_identifier(base, seed):
    """Random bytes behind a valid identifier: an error, whichever."""
    raw = bytearray(np.random.default_rng(seed).bytes(base.header.program_size))
    raw[4:8] = fmt.FILE_IDENTIFIER
    if seed % 2:  # a root offset inside the buffer, so decoding gets further
        put(raw, 0, "I", 8 + 4 * seed)
    expect_rejected(with_program(base.data, bytes(raw)), exc=(rt.InvalidArchiveError, rt.UnsupportedError),
                    reader="lenient")


def _op(root, i):
    return root.Programs(0).Operations(i)


@pytest.mark.parametrize("field", ["inputs", "outputs"])
def test_op_tensor_index_out_of_range(base, field):
    n = root_tensor_count(base)

    def patch(buf, root):
        put(buf, elem_pos(_op(root, 0), 1 if field == "inputs" else 2, 0, 4), "I", 999)
    expect_rejected(patched(base.data, patch), "operation 0", f"names tensor 999 of {n}", reader="lenient")


def root_tensor_count(base) -> int:
    h = base.header
    return fb.Archive.GetRootAs(base.data[h.program_offset:h.program_offset + h.program_size], 0) \
        .Programs(0).TensorsLength()


def test_binding_tensor_out_of_range(base):
    def patch(buf, root):  # (input x is tensor 0, a default the flatbuffer leaves out)
        put(buf, field_pos(root.Programs(0).Outputs(0), 1), "I", 0xFFFFFFFF)
    expect_rejected(patched(base.data, patch), "output 'output'", "names tensor 4294967295", reader="lenient")


def test_op_reads_tensor_before_it_is_computed(base):
    last = root_tensor_count(base) - 1  # the final op's result

    def patch(buf, root):
        put(buf, elem_pos(_op(root, 0), 1, 0, 4), "I", last)
    expect_rejected(patched(base.data, patch), f"reads tensor {last} before it is computed", reader="lenient")


def test_unknown_op_name(base):
    def patch(buf, root):
        assert _op(root, 0).Op() == b"linear"
        pos = elem_pos(_op(root, 0), 0, 0, 1)
        buf[pos:pos + 6] = b"frobni"
    msg = expect_rejected(patched(base.data, patch), "'frobni'", "not known to this runtime", "upgrade",
                          exc=rt.UnsupportedError, reader="lenient")
    assert "operation 0" in msg


def test_tensor_rank_9(base):
    program = copy.deepcopy(base.program)
    out = program.ops[0].outputs[0]
    out.type = TensorType((1,) * (9 - out.type.rank) + out.type.shape, out.type.dtype)
    expect_rejected(assemble([program], base.info), "rank 9 exceeds the maximum of 8", reader="lenient")


def test_weight_rank_9(base):
    program = copy.deepcopy(base.program)
    w = next(v for v in program.constants() if v.weight_name == "w1")
    w.type = TensorType((1,) * (9 - w.type.rank) + w.type.shape, w.type.dtype)
    w.data = w.data.reshape(w.type.shape)
    expect_rejected(assemble([program], base.info), "weight 'w1'", "rank 9 exceeds the maximum of 8",
                    reader="lenient")


def _weight(root, name: bytes):
    return next(root.Weights(i) for i in range(root.WeightsLength()) if root.Weights(i).Name() == name)


@pytest.mark.parametrize("delta", [4, -4, -128, 2**40])
def test_weight_size_disagrees_with_shape(base, delta):
    def patch(buf, root):
        w = _weight(root, b"w1")
        put(buf, field_pos(w, 6), "Q", w.Size() + delta)
    expect_rejected(patched(base.data, patch), "weight 'w1' has", f"its storage needs {4 * 8 * 4}",
                    reader="lenient")


def _storage_field(table, slot: int) -> int:
    """Position of field `slot` of a Weight's or TensorDesc's Storage table."""
    return field_pos(table.Storage(), slot)


def test_weight_storage_size_disagrees_with_its_shape(base):
    def patch(buf, root):  # Storage.size (slot 4) of w1
        put(buf, _storage_field(_weight(root, b"w1"), 4), "Q", 4 * 8 * 4 + 64)
    expect_rejected(patched(base.data, patch), "weight 'w1'", "says 192 bytes, its shape needs 128",
                    reader="lenient")


def test_weight_storage_disagrees_with_program_tensor(base):
    def patch(buf, root):  # the weight's Storage.dtype (slot 1) says int32, its tensor's float32
        put(buf, _storage_field(_weight(root, b"w1"), 1), "B", 7)
    expect_rejected(patched(base.data, patch), "does not match the storage of weight 'w1'", reader="lenient")


def test_tensor_storage_unknown_storage_dtype(base):
    def patch(buf, root):  # Storage.dtype (slot 1) of the input tensor
        put(buf, _storage_field(root.Programs(0).Tensors(0), 1), "B", 12)  # uint64
    expect_rejected(patched(base.data, patch), "tensor 0", "storage element type uint64",
                    exc=rt.UnsupportedError, reader="lenient")


def test_weight_shape_disagrees_with_program_tensor(base):
    def patch(buf, root):  # w1 [4, 8] -> [8, 4]: same size, other shape
        w = _weight(root, b"w1")
        put(buf, elem_pos(w, 2, 0, 8), "q", 8)
        put(buf, elem_pos(w, 2, 1, 8), "q", 4)
    expect_rejected(patched(base.data, patch), "does not match the type of weight 'w1'", reader="lenient")


def test_weight_outside_segment(base):
    def patch(buf, root):
        put(buf, field_pos(_weight(root, b"w2"), 5), "Q", 2**40)  # (w1's offset, 0, is left out)
    expect_rejected(patched(base.data, patch), "weight 'w2'", "outside segment 0", reader="lenient")


def test_weight_misaligned_in_segment(base):
    def patch(buf, root):
        put(buf, field_pos(_weight(root, b"w2"), 5), "Q", _weight(root, b"w2").Offset() + 4)
    expect_rejected(patched(base.data, patch), "weight 'w2'", "not 64-byte aligned", reader="lenient")


def test_weight_names_missing_segment(base, monkeypatch):
    # The writer stores segment 0, a default the flatbuffer leaves out, so
    # there is nothing to patch in place: have its builder write segment 5.
    add = writer.fb.WeightAddSegment
    monkeypatch.setattr(writer.fb, "WeightAddSegment", lambda b, seg: add(b, seg + 5))
    data = assemble([base.program], base.info)
    monkeypatch.undo()
    expect_rejected(data, "names segment 5 of 1", reader="lenient")


def test_tensor_names_missing_weight(base):
    prog = fb.Archive.GetRootAs(base.data[base.header.program_offset:], 0).Programs(0)
    wt = next(i for i in range(prog.TensorsLength()) if prog.Tensors(i).Kind() == writer.TENSOR_WEIGHT
              and prog.Tensors(i).Weight() > 0)

    def patch(buf, root):
        put(buf, field_pos(root.Programs(0).Tensors(wt), 3), "I", 99)
    expect_rejected(patched(base.data, patch), f"tensor {wt} names weight 99", reader="lenient")


def test_negative_dimension(base):
    def patch(buf, root):
        put(buf, elem_pos(root.Programs(0).Tensors(0), 0, 0, 8), "q", -2)
    expect_rejected(patched(base.data, patch), "tensor 0", "negative dimension -2", reader="lenient")


def test_unsupported_tensor_dtype(base):
    def patch(buf, root):
        put(buf, field_pos(root.Programs(0).Tensors(0), 1), "B", 4)  # float64
    expect_rejected(patched(base.data, patch), "tensor 0", "float64", exc=rt.UnsupportedError, reader="lenient")


def test_unknown_tensor_kind(base):
    def patch(buf, root):
        put(buf, field_pos(root.Programs(0).Tensors(0), 2), "B", 9)
    expect_rejected(patched(base.data, patch), "tensor 0 has unknown kind 9", reader="lenient")


def test_wrong_file_identifier(base):
    def patch(buf, root):
        buf[4:8] = b"TTPJ"
    expect_rejected(patched(base.data, patch), "program section is not a ttpack flatbuffer")


def test_vector_length_past_section(base):
    def patch(buf, root):  # the ops vector claims 2**30 operations
        o = root.Programs(0)._tab.Offset(4 + 2 * 4)
        put(buf, root.Programs(0)._tab.Vector(o) - 4, "I", 2**30)
    expect_rejected(patched(base.data, patch), "program 'main'", "out of bounds", reader="lenient")


# --------------------------------------------------------------------------
# Strings the Python bindings decode


def _expect_clean_or_loads(data: bytes):
    """Loads, or fails with a TTPackError: never another exception type."""
    for source in (bytes(data), write_tmp(data)):
        try:
            model = rt.load(source)
            repr(model), model.inputs, model.outputs  # noqa: B018 - decoding names
        except rt.TTPackError:
            pass
    proc = run_c(write_tmp(data))
    assert proc.returncode >= 0, proc.returncode


def _patch_string(data: bytes, locate, new: bytes) -> bytes:
    def patch(buf, root):
        pos = locate(root)
        buf[pos:pos + len(new)] = new
    return patched(data, patch)




def test_non_utf8_target(base):
    _expect_clean_or_loads(_patch_string(base.data, lambda root: elem_pos(root, 0, 0, 1), b"\x9c"))


def test_non_utf8_input_name(base):
    _expect_clean_or_loads(_patch_string(base.data, lambda root: elem_pos(root.Programs(0).Inputs(0), 0, 0, 1),
                                         b"\xff"))


# --------------------------------------------------------------------------
# The program flatbuffer mutated byte by byte and word by word, hashes recomputed

FUZZ_CHILD = textwrap.dedent("""
    import json, struct, sys, numpy as np
    import ttpack.runtime as rt
    from ttpack.archive import format as fmt
    data = open(sys.argv[1], "rb").read()
    h = fmt.unpack_header(data)
    original = data[h.program_offset:h.program_offset + h.program_size]
    n = len(original)

    def variants():
        for pos in range(n):  # every byte, flipped two ways
            for mask in (0xFF, 0x01):
                prog = bytearray(original)
                prog[pos] ^= mask
                yield f"flip {pos} ^{mask:#x}", prog
        rng = np.random.default_rng(2024)
        words = [0, 1, 4, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFC, n, n - 4, n + 4]
        for k in range(3000):  # 1-3 aligned u32 words set to boundary values
            prog = bytearray(original)
            for _ in range(1 + k % 3):
                pos = int(rng.integers(0, n // 4)) * 4
                struct.pack_into("<I", prog, pos, int(rng.choice(words)))
            yield f"words #{k}", prog

    counts, unclean = {"loaded": 0}, []
    for name, prog in variants():
        head = fmt.Header(h.major, h.minor, h.program_offset, h.program_size, fmt.xxh64(bytes(prog)),
                          h.metadata_offset, h.metadata_size, h.metadata_hash).pack()
        case = head + bytes(prog) + data[h.program_offset + h.program_size:]
        print(name, file=sys.stderr, flush=True)  # the last line names a crashing case
        stage = "load"
        try:
            m = rt.load(case)
            stage = "run"  # what loads must run, or fail cleanly
            if len(sys.argv) < 3:  # "load-only": a mutated loop may legitimately never end
                m(*[np.zeros(s.shape, s.dtype) for s in m.inputs])
            counts["loaded"] += 1
        except rt.TTPackError as e:
            ok = type(e) in (rt.InvalidArchiveError, rt.IntegrityError, rt.UnsupportedError) and str(e)
            if stage == "run":
                ok = ok or type(e) is rt.InvalidInputError
            key = stage + ":" + type(e).__name__
            counts[key] = counts.get(key, 0) + 1
            if not ok:
                unclean.append([name, stage, type(e).__name__, str(e)])
        except Exception as e:
            unclean.append([name, stage, type(e).__name__, str(e)])
    print(json.dumps({"counts": counts, "unclean": unclean}))
""")


@pytest.fixture(scope="module")
def fuzz(base):
    """Every byte of the program flatbuffer flipped (two ways), then 3000
    variants with 1-3 words set to boundary values; hashes recomputed; each
    variant loaded and, when it loads, run. In a child process, so that a
    crash names its case (the child's last stderr line)."""
    proc = subprocess.run([sys.executable, "-c", FUZZ_CHILD, str(base.path)], capture_output=True,
                          text=True, timeout=120)
    return proc


@pytest.fixture(scope="module")
def fuzz_loop(tmp_path_factory, ttpack_run_exe):
    """The same mutations of an archive holding a loop (regions, format 2.1),
    loaded only: a mutated cond may make a well-formed loop that never ends."""
    import jax

    path = tmp_path_factory.mktemp("loop") / "loop.ttpack"
    ttpack.build(lambda x: jax.lax.fori_loop(0, 3, lambda i, c: c * 2.0 + 1.0, x), [np.ones(4, np.float32)],
                 output=path)
    assert read_archive(path).programs[0]["regions"]
    return subprocess.run([sys.executable, "-c", FUZZ_CHILD, str(path), "load-only"], capture_output=True,
                          text=True, timeout=300)


def test_loop_program_mutations_never_crash_the_decoder(fuzz_loop):
    result = _fuzz_result(fuzz_loop)
    assert result["counts"].get("load:InvalidArchiveError", 0) > 1000, result["counts"]
    others = [u for u in result["unclean"] if u[2] != "UnicodeDecodeError"]
    assert others == [], f"{len(others)} variants (case, stage, type, message): {others[:10]}"


def _fuzz_result(fuzz) -> dict:
    last = fuzz.stderr.strip().splitlines()[-1:]
    assert fuzz.returncode == 0, f"child exited {fuzz.returncode}; last case: {last}\n{fuzz.stderr[-2000:]}"
    return json.loads(fuzz.stdout.strip().splitlines()[-1])


def test_program_mutations_with_valid_hashes_never_crash(fuzz):
    """No crash, no hang, and no error other than a TTPackError, except the
    UnicodeDecodeError case of the test below."""
    result = _fuzz_result(fuzz)
    assert result["counts"].get("load:InvalidArchiveError", 0) > 1000, result["counts"]
    assert result["counts"]["loaded"] > 0, result["counts"]  # e.g. a flipped location string
    others = [u for u in result["unclean"] if u[2] != "UnicodeDecodeError"]
    assert others == [], f"{len(others)} variants (case, stage, type, message): {others[:10]}"


def test_program_mutations_with_valid_hashes_fail_only_with_ttpack_errors(fuzz):
    unclean = _fuzz_result(fuzz)["unclean"]
    assert unclean == [], f"{len(unclean)} variants (case, stage, type, message): {unclean[:10]}"
