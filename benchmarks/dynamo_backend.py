"""The dynamo backend "tt": compile time (the first call) and time per call,
against eager PyTorch and against the archive run directly by
ttpack.runtime (the difference is the backend's own cost per call: guards,
torch <-> numpy, the weight-change check).

    .venv/bin/python benchmarks/dynamo_backend.py [--repeat 20]

Everything runs on the host CPU; the n150 rows are the CPU device emulating
the chip's numerics, not chip timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))


def _per_call(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _tiny():
    return torch.nn.Sequential(torch.nn.Linear(8, 8)).eval(), [torch.randn(2, 8)]


def _resnet18():
    import zoo

    model, _, inputs = zoo.torch_resnet18()
    return model, inputs(0)


def _bert():
    import zoo

    model, _, inputs = zoo.torch_bert()
    return model, inputs(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from ttpack.torch import dynamo

    print("| model | target | first call s (compile) | tt per call ms | runtime alone ms | backend cost ms "
          "| eager per call ms |")
    print("|---|---|---|---|---|---|---|")
    for name, make in [("linear 8x8", _tiny), ("resnet18 1x3x64x64", _resnet18), ("bert_small 2x16", _bert)]:
        for target in ("cpu", "n150"):
            model, inputs = make()
            kept = []

            def backend(gm, example, **kw):
                kept.append(dynamo.tt_backend(gm, example, **kw))
                return kept[-1]

            torch._dynamo.reset()
            compiled = torch.compile(model, backend=backend, options={"target": target})
            call = (lambda: compiled(**inputs)) if isinstance(inputs, dict) else (lambda: compiled(*inputs))
            eager = (lambda: model(**inputs)) if isinstance(inputs, dict) else (lambda: model(*inputs))
            with torch.no_grad():
                t0 = time.perf_counter()
                call()
                first = time.perf_counter() - t0
                tt = _per_call(call, args.repeat)
                plain = _per_call(eager, args.repeat)
            direct = 0.0
            for graph in kept:  # every graph's archive run with the inputs it last saw, straight from numpy
                for executable in graph._executables.values():
                    arrays = [torch.zeros(s.shape, dtype=torch.float32).numpy() if s.dtype.kind == "f"
                              else torch.zeros(s.shape, dtype=torch.int32).numpy()
                              for s in executable.program.inputs]
                    direct += _per_call(lambda: executable.program(*arrays), args.repeat)
            print(f"| {name} | {target} | {first:.2f} | {tt * 1e3:.3f} | {direct * 1e3:.3f} | "
                  f"{(tt - direct) * 1e3:.3f} | {plain * 1e3:.3f} |", flush=True)


if __name__ == "__main__":
    main()
