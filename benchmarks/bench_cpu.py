"""Steady-state latency of the CPU device on the issue-9 models, and GEMM
GFLOP/s beside numpy's BLAS, optionally against a second ("before") build
of the runtime library in the same run.

    .venv/bin/python benchmarks/bench_cpu.py [--before /path/to/libttpack_runtime.so]
        [--threads 1 2] [--rounds 2] [--models mlp1 mlp64 resnet18 minilm gemm]

Archives are built once into --dir (default /tmp/ttpack_bench_cpu) from
seeded random weights. Each measurement runs in a fresh worker process (so
two libraries can be compared: TTPACK_RUNTIME_LIBRARY picks the one it
loads), and rounds interleave before/after, so a noisy shared machine
affects both alike. A library that refuses num_threads > 1 (the runtime
before issue 9) is measured at 1 thread only. Not a test: nothing is
asserted; the numbers are for the issue's notes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GEMM = (256, 1024, 1024)  # M, K, N of the GEMM measured beside numpy


def build(name: str, path: Path) -> None:
    import torch

    import ttpack

    torch.manual_seed(0)
    if name in ("mlp1", "mlp64"):
        model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                    torch.nn.ReLU(), torch.nn.Linear(1024, 10)).eval()
        inputs = [torch.randn(1 if name == "mlp1" else 64, 784)]
    elif name == "resnet18":
        import torchvision

        model = torchvision.models.resnet18(weights=None).eval()
        inputs = [torch.randn(1, 3, 224, 224)]
    elif name == "minilm":
        import transformers

        config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                                         num_attention_heads=12, intermediate_size=1536)
        model = transformers.BertModel(config).eval()
        inputs = {"input_ids": torch.randint(0, config.vocab_size, (1, 128)),
                  "attention_mask": torch.ones(1, 128, dtype=torch.int64)}
    elif name == "gemm":
        m, k, n = GEMM
        model = torch.nn.Linear(k, n).eval()
        inputs = [torch.randn(m, k)]
    else:
        raise SystemExit(f"unknown model {name}")
    ttpack.build(model, inputs, output=path)


def worker(path: str, threads: int, seconds: float) -> None:
    """Prints {"median_ms", "p90_ms", "runs", "numpy_gflops"?} for one archive."""
    import ttpack.runtime as rt

    try:
        model = rt.load(path, num_threads=threads)
    except TypeError:  # a runtime before num_threads: one thread
        model = rt.load(path)
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 1000, s.shape).astype(s.dtype) if s.dtype.kind == "i"
          else rng.standard_normal(s.shape).astype(s.dtype) for s in model.inputs]
    for _ in range(3):
        model(*xs)
    times = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t0 = time.perf_counter()
        model(*xs)
        times.append(time.perf_counter() - t0)
    times.sort()
    out = {"median_ms": statistics.median(times) * 1e3, "p90_ms": times[int(0.9 * (len(times) - 1))] * 1e3,
           "runs": len(times)}
    if Path(path).stem == "gemm":
        m, k, n = GEMM
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        nt = []
        for _ in range(20):
            t0 = time.perf_counter()
            a @ b
            nt.append(time.perf_counter() - t0)
        out["numpy_gflops"] = 2 * m * k * n / statistics.median(nt) / 1e9
        out["gflops"] = 2 * m * k * n / (out["median_ms"] * 1e-3) / 1e9
    print(json.dumps(out))


def measure(lib: str | None, path: Path, threads: int, seconds: float) -> dict | None:
    env = dict(os.environ)
    if lib:
        env["TTPACK_RUNTIME_LIBRARY"] = lib
    # numpy's BLAS gets the same thread count as the runtime
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, __file__, "--worker", str(path), str(threads), str(seconds)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        if "num_threads" in proc.stderr:
            return None  # this library runs one thread only
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--before", help="a libttpack_runtime.so to compare against")
    ap.add_argument("--dir", default="/tmp/ttpack_bench_cpu")
    ap.add_argument("--models", nargs="+", default=["mlp1", "mlp64", "resnet18", "minilm", "gemm"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), float(args.worker[2]))
        return
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        if not (d / f"{name}.ttpack").exists():
            print(f"building {name}", flush=True)
            build(name, d / f"{name}.ttpack")
    libs = {"after": None, **({"before": args.before} if args.before else {})}
    results: dict = {}
    for r in range(args.rounds):
        for name in args.models:
            for threads in args.threads:
                for label, lib in libs.items():
                    res = measure(lib, d / f"{name}.ttpack", threads, args.seconds)
                    if res:
                        results.setdefault((name, threads, label), []).append(res)
                        extra = (f"  {res['gflops']:.1f} GFLOP/s (numpy {res['numpy_gflops']:.1f})"
                                 if "gflops" in res else "")
                        print(f"round {r} {name:9s} threads {threads} {label:6s} median {res['median_ms']:8.3f} ms"
                              f"  p90 {res['p90_ms']:8.3f} ms{extra}", flush=True)
    print("\nmedian over rounds (ms); spread = max/min of the rounds' medians")
    for name in args.models:
        for threads in args.threads:
            row = []
            for label in libs:
                rs = results.get((name, threads, label))
                if rs:
                    meds = [x["median_ms"] for x in rs]
                    row.append(f"{label} {statistics.median(meds):8.3f} (spread {max(meds) / min(meds):.2f})")
            print(f"{name:9s} threads {threads}: " + "   ".join(row))


if __name__ == "__main__":
    main()
