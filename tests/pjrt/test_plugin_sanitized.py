"""The plugin library built with AddressSanitizer and UndefinedBehaviorSanitizer,
loaded into JAX: transfers (strided, converted), compiles, runs, errors and
serialized executables without a single memory error or undefined operation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from pjrt_helpers import run_script

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("gcc") is None,
                                reason="needs cmake and gcc")


def _gcc_library(name: str) -> str | None:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if Path(path).is_absolute() and Path(path).exists() else None


@pytest.fixture(scope="module")
def sanitized_plugin(tmp_path_factory) -> tuple[Path, str]:
    asan, cxx = _gcc_library("libasan.so"), _gcc_library("libstdc++.so.6")
    if asan is None or cxx is None:
        pytest.skip("gcc's libasan is not installed")
    build = tmp_path_factory.mktemp("pjrt-asan")
    cfg = subprocess.run(["cmake", "-S", ROOT / "runtime_c", "-B", build, "-DTTP_SANITIZE=ON", "-DTTP_BUILD_TOOLS=OFF",
                          "-DCMAKE_BUILD_TYPE=Debug"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    make = subprocess.run(["cmake", "--build", build, "--target", "ttpack_pjrt", "-j2"], capture_output=True, text=True)
    assert make.returncode == 0, make.stdout + make.stderr
    # the sanitizer runtime first; libstdc++ before jaxlib so ASan can intercept C++ throws
    return build / "libttpack_pjrt.so", f"{asan} {cxx}"


def test_jax_on_the_sanitized_plugin(sanitized_plugin):
    library, preload = sanitized_plugin
    out = run_script("""
        import json
        import jax, jax.numpy as jnp, numpy as np
        from jax.experimental import serialize_executable
        jax.config.update("jax_enable_x64", True)
        tt = jax.devices("tt")[0]
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        w = np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5)
        f = jax.jit(lambda a, b, i: (jnp.tanh(a.T.T @ b), i * 2, a > 3))
        on_tt = [jax.device_put(v, tt) for v in (x.T, w, np.arange(5))]  # a strided host array, int64
        y, i2, mask = f(jax.device_put(x, tt), on_tt[1], on_tt[2])
        compiled = f.lower(jax.device_put(x, tt), on_tt[1], on_tt[2]).compile()
        blob, in_tree, out_tree = serialize_executable.serialize(compiled)
        again = serialize_executable.deserialize_and_load(blob, in_tree, out_tree, backend="tt")
        y2 = again(jax.device_put(x, tt), on_tt[1], on_tt[2])[0]
        try:
            jax.jit(jnp.sin).lower(on_tt[1]).compile(compiler_options={"no_such_option": 1})
            error = None
        except Exception as e:
            error = str(e).splitlines()[0]
        print(json.dumps({"y": float(np.abs(np.asarray(y) - np.tanh(x @ w)).max()),
                          "y2": float(np.abs(np.asarray(y2) - np.asarray(y)).max()),
                          "transposed": np.asarray(on_tt[0]).tolist() == x.T.tolist(),
                          "i2": np.asarray(i2).tolist(), "i2_dtype": str(i2.dtype),
                          "mask": np.asarray(mask).sum().item(), "error": error}))
    """, env={"LD_PRELOAD": preload, "TTPACK_PJRT_LIBRARY": str(library),
              "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"})
    assert out["y"] < 1e-5 and out["y2"] == 0 and out["transposed"]
    assert out["i2"] == [0, 2, 4, 6, 8] and out["i2_dtype"] == "int64" and out["mask"] == 8
    assert "unknown compile option(s) ['no_such_option']" in out["error"]
