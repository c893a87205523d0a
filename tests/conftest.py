"""Shared test helpers. Tests mirror the pipeline: compiler/ (frontend,
registry, passes, per-op results), archive/ (format, malformed input),
runtime/ (Python bindings, C program), samples/ (CLI end to end)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_ttpack_run() -> Path:
    """The C command-line program installed beside the runtime library."""
    import ttpack.runtime as rt

    for d in map(Path, rt.__path__):
        exe = d / "bin" / "ttpack-run"
        if exe.exists():
            return exe
    pytest.fail("ttpack-run was not installed with the package (pip install -e .)")


@pytest.fixture(scope="session")
def ttpack_run_exe() -> Path:
    return find_ttpack_run()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def build_and_load(tmp_path):
    """build_and_load(fn, inputs, params=None) -> (runtime model, archive path)."""
    import ttpack
    import ttpack.runtime as rt

    counter = iter(range(10**6))

    def run(fn, inputs, params=None, **kw):
        path = tmp_path / f"m{next(counter)}.ttpack"
        ttpack.build(fn, inputs, output=path, params=params, **kw)
        return rt.load(path), path

    return run


def jax_reference(fn, inputs, params=None) -> list[np.ndarray]:
    import jax

    args = ([params] if params is not None else []) + list(inputs)
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(fn)(*args))]


def assert_matches_jax(model, fn, inputs, params=None, rtol=1e-5, atol=1e-6):
    """Runs the archive and JAX on the same inputs and compares every output."""
    got = model(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    want = jax_reference(fn, inputs, params)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def run_cli(*args, check=True, **kw) -> subprocess.CompletedProcess:
    """Runs `ttpack ...` in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "ttpack.cli", *map(str, args)],
                          capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"ttpack {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
