"""The C runtime built with AddressSanitizer and UndefinedBehaviorSanitizer:
valid archives run cleanly, and corrupted ones are rejected without a
single memory error or undefined operation."""

from __future__ import annotations

import shutil
import subprocess

import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")


@pytest.fixture(scope="module")
def asan_run(tmp_path_factory):
    build = tmp_path_factory.mktemp("asan")
    cfg = subprocess.run(["cmake", "-S", ROOT / "runtime_c", "-B", build, "-DTTP_SANITIZE=ON",
                          "-DCMAKE_BUILD_TYPE=Debug"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    make = subprocess.run(["cmake", "--build", build, "--target", "ttpack-run", "-j2"],
                          capture_output=True, text=True)
    assert make.returncode == 0, make.stdout + make.stderr
    return build / "ttpack-run"


def _model(params, x, ids):
    h = jnp.tanh(x @ params["w"] + params["b"])
    return h.sum(axis=1) * (ids > 2), jnp.concatenate([h, x[:, :5]], axis=0).max(axis=0)


def _run(exe, *args):
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def test_sanitized_runtime_on_valid_and_corrupted_archives(asan_run, tmp_path, rng):
    params = {"w": rng.standard_normal((6, 5)).astype(np.float32),
              "b": rng.standard_normal(5).astype(np.float32)}
    x = rng.standard_normal((4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (4,)).astype(np.int32)
    path = ttpack.build(_model, [x, ids], params=params, output=tmp_path / "m.ttpack")
    _runs_as_from_python(asan_run, tmp_path, path, x, ids)

    data = path.read_bytes()
    _refuses_corruptions_cleanly(asan_run, tmp_path, data,
                                 sorted(set(np.linspace(0, len(data) - 1, 48).astype(int)) | set(range(0, 80, 5))))


def _runs_as_from_python(asan_run, tmp_path, path, x, ids):
    """ttpack-run under the sanitizers gives what the Python bindings give."""
    import ttpack.runtime as rt

    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", ids)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    ok = _run(asan_run, path, "-i", f"x={tmp_path / 'x.npy'}", "-i", f"ids={tmp_path / 'ids.npy'}", "-o", out)
    assert ok.returncode == 0, ok.stderr
    np.testing.assert_array_equal(np.load(out / "output_0.npy"), rt.load(path)(x, ids)[0])


def _refuses_corruptions_cleanly(asan_run, tmp_path, data: bytes, positions, kinds=("trunc", "flip")):
    """Each truncation at and byte flip of `positions` runs without a sanitizer report or a crash."""
    for i, pos in enumerate(positions):
        for kind in kinds:
            corrupt = data[:pos] if kind == "trunc" else data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1:]
            bad = tmp_path / f"{kind}{i}.ttpack"
            bad.write_bytes(corrupt)
            proc = _run(asan_run, bad)
            assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, (kind, pos, proc.stderr)
            assert proc.returncode >= 0, (kind, pos, proc.returncode)


def test_sanitized_runtime_on_a_chip_archive(asan_run, tmp_path, rng):
    """Block-float and tiled weights, bfloat16 storage and fidelity emulation
    run cleanly, and their corruptions are refused cleanly."""
    params = {"w": rng.standard_normal((40, 5)).astype(np.float32),
              "b": rng.standard_normal(5).astype(np.float32)}
    x = rng.standard_normal((3, 40)).astype(np.float32)
    ids = rng.integers(0, 5, (3,)).astype(np.int32)
    path = ttpack.build(_model, [x, ids], params=params, output=tmp_path / "chip.ttpack", target="n150",
                        options={"experimental_weight_dtype": "bfp_bf4", "math_fidelity": "hifi3",
                                 "fp32_dest_acc_en": False, "optimization_level": 2})
    _runs_as_from_python(asan_run, tmp_path, path, x, ids)
    _refuses_corruptions_cleanly(asan_run, tmp_path, path.read_bytes(),
                                 sorted(set(np.linspace(0, len(path.read_bytes()) - 1, 40).astype(int))), ("flip",))


def _loop_model(x, ids):
    import jax

    h = jax.lax.fori_loop(0, 3, lambda i, c: jnp.tanh(c) + ids[0], x)
    h = jax.lax.switch(ids[1], [lambda: h * 2.0, lambda: h - 1.0, lambda: jnp.exp(h)])  # a case, one branch run
    s = jax.lax.scan(lambda c, r: (c + r, c * 2.0), jnp.zeros(x.shape[1], x.dtype), x)[1]
    return h.astype(jnp.float16), s


def test_sanitized_runtime_on_loops_and_float16(asan_run, tmp_path, rng):
    """Regions (the while's cond and body, a case's branches, their buffers
    and the copies of the values they carry) and float16 outputs run cleanly. (Corrupted loops are
    fuzzed at load in tests/archive/test_malformed.py: a mutated cond may
    make a valid loop that never ends, so they are not run here.)"""
    x = rng.standard_normal((4, 6)).astype(np.float32)
    ids = rng.integers(0, 5, (4,)).astype(np.int32)
    for target in ("cpu", "n150"):
        path = ttpack.build(_loop_model, [x, ids], output=tmp_path / f"loop_{target}.ttpack", target=target)
        _runs_as_from_python(asan_run, tmp_path, path, x, ids)
