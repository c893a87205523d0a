"""Archive properties: deterministic, atomic, aligned, named, self-describing."""

from __future__ import annotations

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
from conftest import ROOT
from ttpack.archive import format as fmt
from ttpack.archive.reader import read_archive


def _mlp(params, x):
    h = jnp.maximum(x @ params["layers"][0]["w"] + params["layers"][0]["b"], 0)
    return h @ params["layers"][1]["w"].T  # the transpose is folded at build time


def _params(rng):
    return {"layers": [{"w": rng.standard_normal((8, 16)).astype(np.float32),
                        "b": rng.standard_normal(16).astype(np.float32)},
                       {"w": rng.standard_normal((4, 16)).astype(np.float32)}]}


def test_same_inputs_give_byte_identical_archives(tmp_path, rng):
    params = _params(rng)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    a = ttpack.build(_mlp, [x], params=params, output=tmp_path / "a.ttpack")
    b = ttpack.build(_mlp, [x], params=params, output=tmp_path / "b.ttpack")
    assert a.read_bytes() == b.read_bytes()


def test_weights_are_named_by_pytree_path_aligned_and_folded(tmp_path, rng):
    params = _params(rng)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    path = ttpack.build(_mlp, [x], params=params, output=tmp_path / "m.ttpack")
    c = read_archive(path)
    names = {w["name"]: w for w in c.weights}
    assert "layers.0.w" in names and names["layers.0.w"]["shape"] == [8, 16]
    # layers.1.w is only used transposed: the archive stores the folded transpose
    folded = [n for n in names if n.startswith("layers.1.w")]
    assert folded == ["layers.1.w:permute"] and names[folded[0]]["shape"] == [16, 4]
    ops = [op["op"] for op in c.programs[0]["ops"]]
    assert "permute" not in ops
    data = path.read_bytes()
    for s in c.segments:
        assert s["offset"] % fmt.SEGMENT_ALIGNMENT == 0
    for w in c.weights:
        assert w["offset"] % fmt.WEIGHT_ALIGNMENT == 0
    w = names["layers.0.w"]
    start = c.segments[0]["offset"] + w["offset"]
    stored = np.frombuffer(data[start:start + w["size"]], np.float32).reshape(8, 16)
    np.testing.assert_array_equal(stored, params["layers"][0]["w"])
    kinds = {m["name"]: m["kind"] for m in c.metadata["weights"]}
    assert kinds["layers.0.w"] == "parameter" and kinds["layers.1.w:permute"] == "folded"


def test_metadata_describes_the_build(tmp_path, rng):
    x = rng.standard_normal((2, 8)).astype(np.float32)
    path = ttpack.build(_mlp, [x], params=_params(rng), output=tmp_path / "m.ttpack")
    meta = read_archive(path).metadata
    assert meta["producer"] == "ttpack" and meta["producer_version"] == ttpack.__version__
    assert meta["source"]["framework"] == "jax" and meta["source"]["function"] == "_mlp"
    assert meta["target"] == "cpu" and meta["format"] == [fmt.FORMAT_MAJOR, fmt.FORMAT_MINOR]
    assert meta["options"] == {}
    assert meta["compile_options"]["fold_constants"] is True and meta["compile_options"]["fuse"] is True
    assert meta["target_descriptor"]["name"] == "cpu"
    (prog,) = meta["programs"]
    assert prog["inputs"] == [{"name": "x", "shape": [2, 8], "dtype": "float32"}]
    assert prog["outputs"] == [{"name": "output", "shape": [2, 4], "dtype": "float32"}]
    lowered = meta["compile"]["programs"]["main"]["op_counts_lowered"]
    assert sum(lowered.values()) > sum(prog["op_counts"].values())


def test_compile_options_have_visible_effects(tmp_path, rng):
    x = rng.standard_normal((2, 8)).astype(np.float32)
    params = _params(rng)
    path = ttpack.build(_mlp, [x], params=params, output=tmp_path / "m.ttpack",
                        options={"fold_constants": False})
    ops = [op["op"] for op in read_archive(path).programs[0]["ops"]]
    assert "permute" in ops  # the weight transpose now runs at run time
    import ttpack.runtime as rt

    want = np.maximum(x @ params["layers"][0]["w"] + params["layers"][0]["b"], 0) @ params["layers"][1]["w"].T
    np.testing.assert_allclose(rt.load(path)(x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ttpack.build_api.BuildError, match="unknown compile option"):
        ttpack.build(_mlp, [x], params=params, output=tmp_path / "n.ttpack", options={"fast": True})


def test_failed_write_leaves_previous_archive_untouched(tmp_path, rng, monkeypatch):
    from ttpack.archive import writer

    x = rng.standard_normal((2, 8)).astype(np.float32)
    path = ttpack.build(_mlp, [x], params=_params(rng), output=tmp_path / "m.ttpack")
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        ttpack.build(_mlp, [x * 2], params=_params(rng), output=path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ttpack"]


def test_unsupported_target_and_framework_errors(tmp_path, rng):
    x = rng.standard_normal((2, 8)).astype(np.float32)
    with pytest.raises(ttpack.build_api.BuildError, match="unknown target 'n151'; choose one of cpu, n150"):
        ttpack.build(_mlp, [x], params=_params(rng), output=tmp_path / "m.ttpack", target="n151")
    assert not (tmp_path / "m.ttpack").exists()


def test_shape_dtype_struct_inputs(tmp_path, rng):
    import jax

    import ttpack.runtime as rt

    params = _params(rng)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    path = ttpack.build(_mlp, [jax.ShapeDtypeStruct((3, 8), jnp.float32)], params=params,
                        output=tmp_path / "m.ttpack")
    want = np.maximum(x @ params["layers"][0]["w"] + params["layers"][0]["b"], 0) @ params["layers"][1]["w"].T
    np.testing.assert_allclose(rt.load(path)(x), want, rtol=1e-5, atol=1e-5)


def test_generated_files_match_schema_and_registry():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_schema.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_signature_problems_are_build_errors(tmp_path):
    import jax

    with pytest.raises(ttpack.BuildError, match="rank <= 8"):
        ttpack.build(lambda x: x.reshape((1,) * 9) + 1, [np.ones(1, np.float32)], output=tmp_path / "r.ttpack")
    with pytest.raises(ttpack.BuildError, match="complex"):
        ttpack.build(lambda x: x, [jax.ShapeDtypeStruct((2,), jnp.complex64)], output=tmp_path / "b.ttpack")
    assert list(tmp_path.iterdir()) == []


def test_colliding_output_names_are_made_distinct(tmp_path):
    import ttpack.runtime as rt

    path = ttpack.build(lambda x: {"0": x, "output_0": x * 2}, [np.ones(2, np.float32)], output=tmp_path / "o.ttpack")
    names = [s.name for s in rt.load(path).outputs]
    assert len(set(names)) == 2 and "output_0" in names


def test_option_values_are_checked(tmp_path, rng):
    x = rng.standard_normal((2, 8)).astype(np.float32)
    with pytest.raises(ttpack.BuildError, match=r"fuse='maybe' is not valid; allowed: true/false"):
        ttpack.build(_mlp, [x], params=_params(rng), output=tmp_path / "m.ttpack", options={"fuse": "maybe"})


def test_float_attributes_are_stored_as_floats(tmp_path):
    """epsilon given as a numpy float32 must not be truncated to an int."""
    from ttpack.archive.writer import archive_bytes
    from ttpack.compiler import ir
    from ttpack.compiler.types import TensorType
    import ttpack.runtime as rt

    x = ir.Value(TensorType((2, 4), "float32"))
    w, b = ir.constant(np.ones(4, np.float32)), ir.constant(np.zeros(4, np.float32))
    op = ir.make_op("layer_norm", [x, w, b], {"epsilon": (np.float32(0.5),)})
    prog = ir.Program("main", [("x", x)], [("y", op.outputs[0])], [op])
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(rt.load(archive_bytes([prog], {}))(data), ir.interpret(prog, [data])[0], rtol=1e-6)


def test_element_type_codes_agree_everywhere():
    """DataType codes are spelled in the schema, the compiler, the public C
    header and the Python bindings: they must never drift apart."""
    import re

    import ttpack.runtime as rt
    from ttpack.archive.fb import ttpack_generated as fb
    from ttpack.compiler.types import DTYPE_CODES

    schema = {k: v for k, v in vars(fb.DataType).items() if not k.startswith("_") and k != "Invalid"}
    ours = DTYPE_CODES
    assert {k.lower(): v for k, v in schema.items()} == {k.replace("_", ""): v for k, v in ours.items()}
    header = (ROOT / "runtime_c" / "include" / "ttpack" / "runtime.h").read_text()
    c_codes = {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"TTP_DTYPE_(\w+) = (\d+)", header)}
    for name, code in c_codes.items():
        assert DTYPE_CODES[name] == code, name
    for code, dtype in {**rt._DTYPES, rt._BF16_CODE: rt._bf16()}.items():
        assert DTYPE_CODES[dtype.name] == code
