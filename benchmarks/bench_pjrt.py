"""Dispatch overhead and compile time of JAX on ttpack's PJRT plugin "tt",
against JAX's own CPU backend in the same process.

    .venv/bin/python benchmarks/bench_pjrt.py [--calls 5000]

Dispatch: the median wall time of `f(x).block_until_ready()` for a tiny
jitted function (x + 1 on 4 floats) whose input already lives on the
device, after warm-up. Compile: wall time of `.lower(...).compile()` for the
tutorial's sin*cos function and a 3-layer MLP (best of 3, each a fresh jit).
tt runs on ttpack's CPU device emulating an n150; no chip is used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def dispatch_us(f, x, calls: int) -> float:
    for _ in range(100):
        f(x).block_until_ready()
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        f(x).block_until_ready()
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def compile_s(make, args) -> float:
    import jax

    best = float("inf")
    for _ in range(3):
        jax.clear_caches()  # else JAX reuses the executable it compiled for the same module
        f = make()
        t0 = time.perf_counter()
        f.lower(*args).compile()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    import jax
    import jax.numpy as jnp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    rng = np.random.default_rng(0)
    mlp_args = [rng.standard_normal(s).astype(np.float32) for s in [(32, 256), (256, 512), (512,), (512, 512),
                                                                      (512,), (512, 10)]]

    def mlp(x, w1, b1, w2, b2, w3):
        return jax.nn.relu(jax.nn.relu(x @ w1 + b1) @ w2 + b2) @ w3

    def sin_cos(x):
        return jnp.sin(x) * jnp.cos(x)

    print(f"jax {jax.__version__}; tt device kind: {jax.devices('tt')[0].device_kind}")
    print("| backend | dispatch median (us) | compile sin*cos (s) | compile MLP 256-512-512-10 (s) |")
    print("|---|---|---|---|")
    for platform in ("cpu", "tt"):
        device = jax.devices(platform)[0]
        tiny = jax.jit(lambda a: a + 1.0)
        x = jax.device_put(np.ones(4, np.float32), device)
        d = dispatch_us(tiny, x, calls)
        ones = jax.device_put(np.ones(10, np.float32), device)
        c1 = compile_s(lambda: jax.jit(sin_cos), [ones])
        c2 = compile_s(lambda: jax.jit(mlp), [jax.device_put(a, device) for a in mlp_args])
        print(f"| {platform} | {d:.1f} | {c1:.3f} | {c2:.3f} |")


if __name__ == "__main__":
    main()
