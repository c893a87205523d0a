"""Cold start and latency of the CPU runtime on the sample MLP, beside JAX.

    .venv/bin/python benchmarks/bench_runtime.py [--iters 2000]

Reports: archive open + program load (cold start, median of fresh
processes), per-call latency through the Python bindings and through the C
API (ttpack-run -n), and jax.jit on the same function. Numbers are for the
machine it runs on; the closing notes of each issue record them.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_sample(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "samples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ttpack_spec()


def timeit(fn, iters):
    fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6, min(times) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--sample", default="jax_mlp")
    args = ap.parse_args()

    import jax

    import ttpack
    import ttpack.runtime as rt

    spec = load_sample(args.sample)
    tmp = Path(tempfile.mkdtemp())
    path = tmp / "model.ttpack"
    t0 = time.perf_counter()
    ttpack.build(spec.fn, spec.example_inputs, params=spec.params, output=path)
    build_s = time.perf_counter() - t0

    cold = []
    for _ in range(5):
        code = ("import time; t0=time.perf_counter(); import ttpack.runtime as rt; t1=time.perf_counter(); "
                f"m=rt.load({str(path)!r}); t2=time.perf_counter(); print((t1-t0)*1e3, (t2-t1)*1e3)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        cold.append(tuple(map(float, out.split())))
    import_ms = statistics.median(c[0] for c in cold)
    load_ms = statistics.median(c[1] for c in cold)

    model = rt.load(path)
    xs = [np.asarray(x) for x in spec.example_inputs]
    py_med, py_min = timeit(lambda: model(*xs), args.iters)

    args_j = ([spec.params] if spec.params is not None else []) + xs
    jitted = jax.jit(spec.fn)
    jax_med, jax_min = timeit(lambda: jax.block_until_ready(jitted(*args_j)), args.iters)

    # the C API without Python: ttpack-run reports its best of -n runs
    exe = next(Path(d) / "bin" / "ttpack-run" for d in rt.__path__ if (Path(d) / "bin" / "ttpack-run").exists())
    c_args = []
    for s, x in zip(model.inputs, xs):
        np.save(tmp / f"{s.name}.npy", x)
        c_args += ["-i", f"{s.name}={tmp / f'{s.name}.npy'}"]
    out = subprocess.run([exe, path, *c_args, "-n", str(args.iters)], capture_output=True, text=True, check=True).stdout
    c_best_us = float(out.split("best ")[1].split(" ms")[0]) * 1e3

    print(f"sample {args.sample}: archive {path.stat().st_size:,} bytes, build {build_s:.2f} s")
    print(f"cold start: import ttpack.runtime {import_ms:.2f} ms, load {load_ms:.2f} ms")
    print(f"latency (median / best, us): ttpack python {py_med:.1f} / {py_min:.1f}, "
          f"ttpack C API best {c_best_us:.1f}, jax.jit {jax_med:.1f} / {jax_min:.1f}")


if __name__ == "__main__":
    main()
