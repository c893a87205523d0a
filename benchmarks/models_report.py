"""The model table for the notes: ops before/after compilation, build time,
archive size, accuracy against the framework, and CPU latency.

    .venv/bin/python benchmarks/models_report.py [model ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples"))
import zoo  # noqa: E402


def main(names):
    import ttpack
    import ttpack.runtime as rt
    from ttpack.archive.reader import read_archive

    print("| model | ops lowered -> compiled | fused ops | build s | archive MB | pearson (min) | max rel err | run ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names or sorted(zoo.MODELS):
        model, params, make_inputs = zoo.MODELS[name]()
        out = Path(tempfile.mkdtemp()) / f"{name}.ttpack"
        t0 = time.perf_counter()
        ttpack.build(model, make_inputs(0), params=params, output=out)
        build_s = time.perf_counter() - t0
        contents = read_archive(out)
        ops = [op["op"] for op in contents.programs[0]["ops"]]
        lowered = sum(contents.metadata["compile"]["programs"]["main"]["op_counts_lowered"].values())
        fused = sorted({o for o in ops if o in ("linear", "conv2d", "softmax", "layer_norm", "gelu",
                                                  "avg_pool2d", "max_pool2d", "embedding")})
        runtime = rt.load(out)
        pearsons, rels = [], []
        for seed in (1, 2, 3):
            inputs = make_inputs(seed)
            got = runtime(*zoo.as_numpy(inputs))
            got = list(got) if isinstance(got, tuple) else [got]
            for g, w in zip(got, zoo.reference(model, params, inputs)):
                g64, w64 = g.astype(np.float64).ravel(), w.astype(np.float64).ravel()
                pearsons.append(np.corrcoef(g64, w64)[0, 1])
                rels.append(np.max(np.abs(g64 - w64)) / np.max(np.abs(w64)))
        x = zoo.as_numpy(make_inputs(1))
        runtime(*x)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            runtime(*x)
            times.append(time.perf_counter() - t)
        print(f"| {name} | {lowered} -> {len(ops)} | {', '.join(fused)} | {build_s:.1f} | "
              f"{out.stat().st_size / 1e6:.2f} | {min(pearsons):.9f} | {max(rels):.1e} | {min(times) * 1e3:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
