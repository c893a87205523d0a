"""ttpack.runtime: signatures, calling conventions, input errors."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import ttpack.runtime as rt
from conftest import ROOT


def _two_in_two_out(params, x, y):
    return {"sum": x @ params["w"] + y, "scaled": 2.0 * x}


@pytest.fixture
def model(build_and_load, rng):
    params = {"w": rng.standard_normal((4, 3)).astype(np.float32)}
    x = rng.standard_normal((2, 4)).astype(np.float32)
    y = rng.standard_normal((2, 3)).astype(np.float32)
    m, path = build_and_load(_two_in_two_out, [x, y], params=params)
    return m, path, params, x, y


def test_signature_names_shapes_dtypes(model):
    m, *_ = model
    assert [(s.name, s.shape, s.dtype) for s in m.inputs] == [
        ("x", (2, 4), np.dtype("float32")), ("y", (2, 3), np.dtype("float32"))]
    assert [s.name for s in m.outputs] == ["scaled", "sum"]  # pytree order (sorted dict keys)
    assert m.programs == ["main"] and m.target == "cpu"


def test_call_and_run_agree_with_numpy(model):
    m, _, params, x, y = model
    scaled, summed = m(x, y)
    np.testing.assert_allclose(summed, x @ params["w"] + y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled, 2 * x, rtol=1e-6)
    outs = m.run({"x": x, "y": y})
    np.testing.assert_array_equal(outs["sum"], summed)
    np.testing.assert_array_equal(m.program("main")(x, y)[0], scaled)


def test_load_from_bytes(model):
    m, path, _, x, y = model
    m2 = rt.load(path.read_bytes())
    for a, b in zip(m(x, y), m2(x, y)):
        np.testing.assert_array_equal(a, b)


def test_float64_and_noncontiguous_inputs_are_accepted(model):
    m, _, params, x, y = model
    xt = np.asfortranarray(x.astype(np.float64))
    np.testing.assert_allclose(m(xt, y)[1], x @ params["w"] + y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, words", [
    (lambda x, y: (x,), "takes 2 input"),
    (lambda x, y: (x, y, y), "takes 2 input"),
    (lambda x, y: (x.T, y), "must have shape [2, 4]"),
    (lambda x, y: (x.astype(np.int32), y), "must be float32, got int32"),
    (lambda x, y: (x > 0, y), "must be float32, got bool"),
])
def test_wrong_inputs_raise_before_running(model, args, words):
    m, _, _, x, y = model
    with pytest.raises(rt.InvalidInputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        m(*args(x, y))


def test_run_names_missing_and_unexpected_inputs(model):
    m, _, _, x, y = model
    with pytest.raises(rt.InvalidInputError, match=r"missing \['y'\], unexpected \['z'\]"):
        m.run({"x": x, "z": y})


def test_unknown_program_and_device(model):
    m, path, *_ = model
    with pytest.raises(rt.TTPackError, match="no program 'nope'"):
        m.program("nope")
    with pytest.raises(rt.TTPackError, match="no device 'tt'"):
        rt.load(path, device="tt")


def test_missing_file():
    with pytest.raises(rt.TTPackError, match="cannot open"):
        rt.load("/nonexistent/model.ttpack")


def test_concurrent_calls_from_threads(model):
    m, _, params, x, y = model
    want = x @ params["w"] + y
    errors = []

    def work():
        for _ in range(50):
            if not np.allclose(m(x, y)[1], want, rtol=1e-5, atol=1e-6):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_import_runtime_does_not_import_frameworks():
    code = ("import sys, ttpack.runtime; "
            "bad = [m for m in ('jax', 'torch', 'msgpack', 'typer', 'flatbuffers', 'ttpack.compiler') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runtime_works_in_a_venv_without_jax_or_torch(model, tmp_path):
    """A fresh virtual environment with numpy only, and only the runtime's
    files (ttpack/__init__.py, ttpack/runtime/): load and run an archive."""
    import shutil
    import venv

    m, path, params, x, y = model
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    pip = subprocess.run([py, "-m", "pip", "install", "-q", "numpy"], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    pkg = tmp_path / "site" / "ttpack"
    (pkg / "runtime").mkdir(parents=True)
    shutil.copy(ROOT / "ttpack" / "__init__.py", pkg / "__init__.py")
    shutil.copy(ROOT / "ttpack" / "runtime" / "__init__.py", pkg / "runtime" / "__init__.py")
    shutil.copy(rt._find_library(), pkg / "runtime" / "libttpack_runtime.so")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    script = f"""
import importlib.util, sys
import numpy as np
import ttpack.runtime as rt
for name in ("jax", "torch"):
    assert importlib.util.find_spec(name) is None, name + " is installed"
m = rt.load({str(path)!r})
out = m.run({{"x": np.load({str(tmp_path / 'x.npy')!r}), "y": np.load({str(tmp_path / 'y.npy')!r})}})
np.save({str(tmp_path / 'sum.npy')!r}, out["sum"])
"""
    proc = subprocess.run([py, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "sum.npy"), x @ params["w"] + y, rtol=1e-5, atol=1e-6)


def test_int64_inputs_are_range_checked_and_misaligned_inputs_copied(build_and_load):
    def fn(ids, x):
        return ids * 2, x + 1

    ids = np.array([1, 2, 3], np.int32)
    x = np.ones(4, np.float32)
    m, _ = build_and_load(fn, [ids, x])
    np.testing.assert_array_equal(m(ids.astype(np.int64), x)[0], [2, 4, 6])
    np.testing.assert_array_equal(m(ids.astype(np.uint8), x)[0], [2, 4, 6])
    with pytest.raises(rt.InvalidInputError, match="outside int32's range"):
        m(np.array([1, 2, 2**31 + 5], np.int64), x)
    raw = np.zeros(4 * 4 + 1, np.uint8)
    misaligned = np.frombuffer(raw.data, np.float32, 4, offset=1)  # C-contiguous, not 4-byte aligned
    np.testing.assert_array_equal(m(ids, misaligned)[1], np.ones(4, np.float32))


def test_error_classes_for_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        rt.load(tmp_path / "missing.ttpack")
    with pytest.raises(rt.ArchiveNotFoundError):
        rt.load(tmp_path / "missing.ttpack")
    with pytest.raises(rt.TTPackError, match="not a regular file") as info:
        rt.load(tmp_path)
    assert not isinstance(info.value, rt.InvalidInputError)
