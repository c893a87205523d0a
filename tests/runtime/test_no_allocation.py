"""A steady-state run allocates nothing (issue 9): runtime_c/tests/alloc_count.c,
linked with -Wl,--wrap around every allocation function, counts the
allocations the runtime makes during runs after the first, on programs that
cover the GEMM family (packed weights, scratch), the row kernels, the
threaded paths and a chip archive's emulation (operand cuts, rounding)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or not sys.platform.startswith("linux"),
                                reason="needs cmake and GNU ld's --wrap")


@pytest.fixture(scope="module")
def alloc_count(tmp_path_factory):
    build = tmp_path_factory.mktemp("alloc")
    subprocess.run(["cmake", "-S", ROOT / "runtime_c", "-B", build, "-DTTP_BUILD_ALLOC_TEST=ON",
                    "-DTTP_BUILD_TOOLS=OFF"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", build, "--target", "ttpack-alloc-count", "-j2"], check=True,
                   capture_output=True)
    return build / "ttpack-alloc-count"


def _block(p, x, ids):
    """linear + gelu, layer norm, attention-shaped batched matmuls, softmax, a conv, an int matmul."""
    h = jax.nn.gelu(x @ p["w1"] + p["b1"], approximate=False)
    h = (h - h.mean(-1, keepdims=True)) * jax.lax.rsqrt(h.var(-1, keepdims=True) + 1e-5) * p["g"] + p["beta"]
    q = h.reshape(2, 8, 4, 8).transpose(0, 2, 1, 3)
    att = jax.nn.softmax(q @ q.transpose(0, 1, 3, 2), axis=-1) @ q
    img = att.reshape(2, 4, 8, 8).transpose(0, 2, 3, 1)
    y = jax.lax.conv_general_dilated(img, p["k"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.nn.relu(y), ids @ ids.T


@pytest.mark.parametrize("target", ["cpu", "n150"])
def test_steady_state_runs_allocate_nothing(alloc_count, tmp_path, target):
    rng = np.random.default_rng(0)
    p = {"w1": rng.standard_normal((20, 32)).astype(np.float32), "b1": np.zeros(32, np.float32),
         "g": np.ones(32, np.float32), "beta": np.zeros(32, np.float32),
         "k": rng.standard_normal((3, 3, 4, 5)).astype(np.float32)}
    x = rng.standard_normal((16, 20)).astype(np.float32)
    ids = rng.integers(0, 5, (3, 4)).astype(np.int32)
    options = {"math_fidelity": "hifi3", "fp32_dest_acc_en": False} if target != "cpu" else None
    # what is allocated, not accuracy, is under test (bfloat16 through this block drifts past verify's bar)
    path = ttpack.build(_block, [x, ids], params=p, output=tmp_path / "m.ttpack", target=target, options=options,
                        verify=target == "cpu")
    for threads in ("1", "2"):
        proc = subprocess.run([alloc_count, path, "5", threads], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == "allocations during 5 runs: 0"
