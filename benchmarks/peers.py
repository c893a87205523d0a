"""ttpack's CPU device beside the other CPU inference engines, in one run.

    bash scripts/setup.sh dev && bash benchmarks/setup_peers.sh
    .venv-peers/bin/python benchmarks/peers.py [--rounds 2] [--threads 2] [--models ...] [--engines ...]

Builds each model once from code with seeded random weights, hands the SAME
weights to every engine (a ttpack archive; an ONNX file for ONNX Runtime,
OpenVINO and IREE; an ExecuTorch program lowered to XNNPACK; torch eager; a
JAX jit of the MLP), then measures every (engine, model) pair in its own fresh
process, so one engine's thread pool never competes with another's:

- steady-state latency: warm-up, then median and p90 of timed runs;
- cold start: process start -> first output (Python engines minus the time of
  `python -c "import numpy"`; C tools as they are);
- peak RSS of that process, and the engine's error against torch eager f32.

Every table is repeated --rounds times and the median kept (the machine is
shared and noisy: compare engines within one run, never across runs). Writes
benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

MODELS = ["mlp_b1", "mlp_b64", "resnet18", "minilm"]
ENGINES = ["ttpack", "ttpack_c", "onnxruntime", "openvino", "openvino_bf16", "iree_c", "iree",
           "executorch", "torch", "jax"]


# ---------------------------------------------------------------- models

def make_model(name: str):
    """(torch module in eval mode, example inputs as numpy arrays), seeded, so
    every call (and every worker process) makes the same weights."""
    import torch

    torch.manual_seed(0)
    if name.startswith("mlp"):
        batch = 1 if name == "mlp_b1" else 64
        module = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                     torch.nn.ReLU(), torch.nn.Linear(1024, 10))
        inputs = [np.random.default_rng(0).standard_normal((batch, 784), dtype=np.float32)]
    elif name == "resnet18":
        import torchvision

        module = torchvision.models.resnet18(weights=None)
        inputs = [np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)]
    elif name == "minilm":
        import transformers

        # all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads, FFN 1536.
        config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                                         num_attention_heads=12, intermediate_size=1536,
                                         attn_implementation="eager")
        bert = transformers.BertModel(config, add_pooling_layer=False)

        class Encoder(torch.nn.Module):  # one tensor in, one out: every engine takes it
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids):
                return self.bert(input_ids=input_ids).last_hidden_state

        module = Encoder()
        inputs = [np.random.default_rng(0).integers(0, 30522, (1, 128)).astype(np.int64)]
    else:
        raise SystemExit(f"unknown model {name!r}; choose from {MODELS}")
    return module.eval(), inputs


def model_flops(name: str) -> float:
    """Multiply-adds x 2 of the model's matmuls and convolutions."""
    if name.startswith("mlp"):
        batch = 1 if name == "mlp_b1" else 64
        return 2.0 * batch * (784 * 1024 + 1024 * 1024 + 1024 * 10)
    if name == "resnet18":
        return 2 * 1.814e9
    if name == "minilm":
        s, h, f, layers = 128, 384, 1536, 6
        per_layer = 2 * s * h * h * 4 + 2 * s * h * f * 2 + 2 * s * s * h * 2
        return float(layers * per_layer)
    return float("nan")


# ---------------------------------------------------------------- exports

def export_all(name: str, work: Path, engines: list[str], say) -> None:
    """Writes every artifact the engines load, plus inputs and the reference output."""
    import torch

    module, inputs = make_model(name)
    for i, x in enumerate(inputs):
        np.save(work / f"input{i}.npy", x)
    with torch.inference_mode():
        ref = module(*[torch.from_numpy(x) for x in inputs]).numpy()
    np.save(work / "reference.npy", ref)

    if {"ttpack", "ttpack_c"} & set(engines):
        import ttpack

        say(f"{name}: ttpack build")
        ttpack.build(module, tuple(torch.from_numpy(x) for x in inputs), output=work / "model.ttpack",
                     progress=lambda m: None)
    if {"onnxruntime", "openvino", "openvino_bf16", "iree", "iree_c"} & set(engines):
        say(f"{name}: ONNX export")
        torch.onnx.export(module, tuple(torch.from_numpy(x) for x in inputs), str(work / "model.onnx"),
                          input_names=[f"x{i}" for i in range(len(inputs))], output_names=["y"],
                          opset_version=17, dynamo=False)
    if {"iree", "iree_c"} & set(engines):
        say(f"{name}: IREE compile (llvm-cpu, host CPU)")
        subprocess.run([str(BIN / "iree-import-onnx"), str(work / "model.onnx"), "--opset-version", "17",
                        "-o", str(work / "model.mlir")], check=True, capture_output=True)
        subprocess.run([str(BIN / "iree-compile"), str(work / "model.mlir"), "--iree-hal-target-device=local",
                        "--iree-hal-local-target-device-backends=llvm-cpu", "--iree-llvmcpu-target-cpu=host",
                        "-o", str(work / "model.vmfb")], check=True, capture_output=True)
    if "executorch" in engines:
        say(f"{name}: ExecuTorch export (XNNPACK)")
        try:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower

            exported = torch.export.export(module, tuple(torch.from_numpy(x) for x in inputs))
            program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
            (work / "model.pte").write_bytes(program.buffer)
        except Exception as e:  # reported in the table as a failed export, not a crash of the run
            (work / "executorch.error").write_text(f"{type(e).__name__}: {e}")


# ---------------------------------------------------------------- workers

def worker(engine: str, name: str, work: Path, threads: int, warmup: int, iters: int) -> dict:
    """Runs in a fresh process: load, first output (cold start), steady state."""
    t_start = time.time()
    inputs = [np.load(work / f"input{i}.npy") for i in range(len(list(work.glob("input*.npy"))))]
    run = load_engine(engine, name, work, threads, inputs)
    out = run()
    t_first = time.time()
    for _ in range(warmup):
        run()
    times = []
    deadline = time.perf_counter() + 20.0  # keeps slow engines on big models bounded
    for _ in range(iters):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    ref = np.load(work / "reference.npy")
    out = np.asarray(out, dtype=np.float32).reshape(ref.shape)
    err = float(np.max(np.abs(out - ref)) / (np.max(np.abs(ref)) + 1e-30))
    pearson = float(np.corrcoef(out.ravel(), ref.ravel())[0, 1])
    return {"first_output_s": t_first - t_start, "process_start": t_start,
            "median_ms": statistics.median(times) * 1e3,
            "p90_ms": float(np.percentile(times, 90)) * 1e3, "runs": len(times),
            "peak_rss_mb": peak_rss_mb(), "max_rel_err": err,
            "pearson": pearson}


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: on Linux the
    latter keeps the peak of the parent's image this process was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def iree_tool(name: str) -> Path:
    """The IREE C tool itself: the same-named script in bin/ is a Python launcher."""
    import iree.runtime

    return Path(iree.runtime.__file__).parents[1] / "_runtime_libs" / name


def load_engine(engine: str, name: str, work: Path, threads: int, inputs):
    """A zero-argument function that runs the model once and returns its output."""
    if engine == "ttpack":
        import inspect

        import ttpack.runtime as rt

        kwargs = {"num_threads": threads} if "num_threads" in inspect.signature(rt.load).parameters else {}
        model = rt.load(work / "model.ttpack", **kwargs)
        return lambda: model(*inputs)
    if engine == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(work / "model.onnx"), so, providers=["CPUExecutionProvider"])
        feed = {f"x{i}": x for i, x in enumerate(inputs)}
        return lambda: sess.run(None, feed)[0]
    if engine in ("openvino", "openvino_bf16"):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16" if engine == "openvino_bf16" else "f32",
                  "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        compiled = core.compile_model(str(work / "model.onnx"), "CPU", config)
        request = compiled.create_infer_request()

        def run():
            request.infer({i: x for i, x in enumerate(inputs)})
            return request.get_output_tensor(0).data.copy()
        return run
    if engine == "iree":
        import iree.runtime as ireert

        config = ireert.Config("local-task")
        with open(work / "model.vmfb", "rb") as f:
            vm_module = ireert.VmModule.copy_buffer(config.vm_instance, f.read())
        ctx = ireert.SystemContext(config=config)
        ctx.add_vm_module(vm_module)
        fn = ctx.modules.module["main_graph"]
        return lambda: np.asarray(fn(*inputs))
    if engine == "executorch":
        if not (work / "model.pte").exists():
            raise RuntimeError((work / "executorch.error").read_text() if (work / "executorch.error").exists()
                               else "no ExecuTorch program")
        import torch
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(work / "model.pte").load_method("forward")
        tensors = [torch.from_numpy(x) for x in inputs]
        return lambda: method.execute(tensors)[0].numpy()
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
        module, _ = make_model(name)  # seeded: the weights every other engine got
        tensors = [torch.from_numpy(x) for x in inputs]

        def run():
            with torch.inference_mode():
                return module(*tensors).numpy()
        return run
    if engine == "jax":
        if not name.startswith("mlp"):
            raise RuntimeError("JAX is measured on the MLP only (the other models are PyTorch code)")
        os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}")
        import jax
        import jax.numpy as jnp
        import torch

        module, _ = make_model(name)
        layers = [(jnp.asarray(m.weight.detach().numpy().T), jnp.asarray(m.bias.detach().numpy()))
                  for m in module if isinstance(m, torch.nn.Linear)]

        @jax.jit
        def mlp(x):
            for i, (w, b) in enumerate(layers):
                x = x @ w + b
                if i < len(layers) - 1:
                    x = jax.nn.relu(x)
            return x
        x = jnp.asarray(inputs[0])
        return lambda: np.asarray(mlp(x).block_until_ready())
    raise RuntimeError(f"no worker for engine {engine!r}")


def c_tool_runs(engine: str, work: Path, threads: int, iters: int) -> dict:
    """The C tools: cold start (process start -> exit after one run) and steady state."""
    if engine == "ttpack_c":
        tool = str(_ttpack_run_path())
        inputs = []
        for p in sorted(work.glob("input*.npy")):  # ttpack-run reads int32 ids; Python narrows int64 itself
            x = np.load(p)
            if x.dtype == np.int64:
                p = p.with_name(f"c_{p.name}")
                np.save(p, x.astype(np.int32))
            inputs.append(p)
        base = [tool, str(work / "model.ttpack")] + [a for p in inputs for a in ("-i", str(p))]
        env = dict(os.environ, TTPACK_NUM_THREADS=str(threads))
        cold_cmd, steady_cmd = base + ["-n", "1"], base + ["-n", str(iters)]  # -n reports the best run
        parse = lambda text: float(text.split("best ")[1].split(" ms")[0])  # noqa: E731
    else:  # iree_c
        inputs = sorted(work.glob("input*.npy"))
        args = [f"--module={work / 'model.vmfb'}", "--device=local-task", "--function=main_graph",
                f"--task_topology_max_group_count={threads}"] + [f"--input=@{p}" for p in inputs]
        env = dict(os.environ)
        cold_cmd = [str(iree_tool("iree-run-module"))] + args
        steady_cmd = [str(iree_tool("iree-benchmark-module"))] + args + [
            "--benchmark_repetitions=1", f"--benchmark_min_time={max(iters, 10)}x", "--benchmark_format=json"]
        parse = lambda text: json.loads(text)["benchmarks"][0]["real_time"] / (  # noqa: E731
            1e6 if json.loads(text)["benchmarks"][0]["time_unit"] == "ns" else 1e3 if
            json.loads(text)["benchmarks"][0]["time_unit"] == "us" else 1.0)
    colds = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cold_cmd, check=True, capture_output=True, env=env)
        colds.append(time.perf_counter() - t0)
    # GNU time reports the tool's own peak RSS (kB); without it the column stays empty.
    rss = float("nan")
    if Path("/usr/bin/time").exists():
        timed = subprocess.run(["/usr/bin/time", "-f", "%M"] + cold_cmd, capture_output=True, text=True, env=env)
        rss = int(timed.stderr.strip().splitlines()[-1]) / 1024
    steady = subprocess.run(steady_cmd, check=True, capture_output=True, text=True, env=env)
    return {"cold_ms": statistics.median(colds) * 1e3, "median_ms": parse(steady.stdout), "p90_ms": float("nan"),
            "peak_rss_mb": rss, "max_rel_err": float("nan"), "pearson": float("nan")}


def _runtime_dir() -> Path:
    """Where the runtime's library and ttpack-run are installed (the package
    path also lists an editable install's build copy)."""
    import ttpack.runtime as rt

    return next(Path(d) for d in rt.__path__ if (Path(d) / "libttpack_runtime.so").exists())


def _ttpack_run_path() -> Path:
    return _runtime_dir() / "bin" / "ttpack-run"


# ---------------------------------------------------------------- driver

def measure(engine: str, name: str, work: Path, args) -> dict:
    if engine in ("ttpack_c", "iree_c"):
        artifact = work / ("model.ttpack" if engine == "ttpack_c" else "model.vmfb")
        if not artifact.exists():
            return {"error": "no artifact"}
        try:
            return c_tool_runs(engine, work, args.threads, args.iters)
        except subprocess.CalledProcessError as e:
            return {"error": (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or str(e)}
    t0 = time.time()
    proc = subprocess.run([sys.executable, __file__, "--worker", engine, name, str(work), "--threads",
                           str(args.threads), "--iters", str(args.iters), "--warmup", str(args.warmup)],
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:160]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cold_ms"] = (result["process_start"] + result["first_output_s"] - t0) * 1e3 - args.numpy_ms
    return result


def numpy_import_ms() -> float:
    """The floor every Python engine's cold start stands on (fastest of 5)."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy"], check=True)
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def matmul_peak_gflops(threads: int) -> float:
    """The f32 GEMM peak of this run: the better of numpy's BLAS and torch's
    (MKL/oneDNN) on a square 2048 GEMM, best of 20, in a fresh process."""
    code = ("import time, numpy as np, torch\n"
            f"torch.set_num_threads({threads})\n"
            "a = np.random.rand(2048, 2048).astype(np.float32); b = a.copy(); ta, tb = torch.from_numpy(a), torch.from_numpy(b)\n"
            "def best(f):\n"
            "    f(); ts = []\n"
            "    for _ in range(20):\n"
            "        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)\n"
            "    return min(ts)\n"
            "print(2 * 2048 ** 3 / min(best(lambda: a @ b), best(lambda: ta @ tb)) / 1e9)\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                env=env).stdout)


def sizes(work_root: Path) -> list[tuple[str, float]]:
    """Runtime library sizes (stripped copies) of the engines that can be found."""
    rows = []

    def stripped_mb(path: Path) -> float:
        with tempfile.TemporaryDirectory() as d:
            copy = Path(d) / path.name
            shutil.copy(path, copy)
            subprocess.run(["strip", str(copy)], capture_output=True)
            return copy.stat().st_size / 1e6
    rows.append(("ttpack libttpack_runtime.so", stripped_mb(_runtime_dir() / "libttpack_runtime.so")))
    rows.append(("ttpack ttpack-run (static)", stripped_mb(_ttpack_run_path())))
    try:
        rows.append(("IREE iree-run-module", stripped_mb(iree_tool("iree-run-module"))))
    except (ImportError, FileNotFoundError):
        pass
    try:
        import onnxruntime

        lib = next(Path(onnxruntime.__file__).parent.glob("capi/libonnxruntime.so*"))
        rows.append(("ONNX Runtime libonnxruntime.so", stripped_mb(lib)))
    except (ImportError, StopIteration):
        pass
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--work", default=None, help="where artifacts go (default: a temporary folder)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--worker", nargs=3, metavar=("ENGINE", "MODEL", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        engine, name, work = args.worker
        print(json.dumps(worker(engine, name, Path(work), args.threads, args.warmup, args.iters)))
        return

    models = args.models.split(",")
    engines = args.engines.split(",")
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e!r}; choose from {ENGINES}")
    say = lambda m: print(f"[peers] {m}", file=sys.stderr, flush=True)  # noqa: E731
    # ExecuTorch's exporter runs `flatc`, which the project's dev extra installs.
    os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    root = Path(args.work or tempfile.mkdtemp(prefix="ttpack-peers-"))
    for name in models:
        (root / name).mkdir(parents=True, exist_ok=True)
        export_all(name, root / name, engines, say)

    args.numpy_ms = numpy_import_ms()
    peak = matmul_peak_gflops(args.threads)
    say(f"numpy import {args.numpy_ms:.0f} ms; numpy f32 GEMM peak {peak:.0f} GFLOP/s with {args.threads} threads")
    rounds = []
    for r in range(args.rounds):
        table = {}
        for name in models:
            for engine in engines:
                say(f"round {r + 1}/{args.rounds}: {engine} on {name}")
                table[(engine, name)] = measure(engine, name, root / name, args)
        rounds.append(table)
    write_report(args, models, engines, rounds, peak, sizes(root), root)
    say(f"wrote {args.out}")


def merged(rounds, key, field):
    """Across rounds: the median, except cold start, whose best is kept (the
    noise of a shared machine only ever adds to it)."""
    values = [t[key][field] for t in rounds if field in t[key]]
    if not values:
        return None
    return min(values) if field == "cold_ms" else statistics.median(values)


def write_report(args, models, engines, rounds, peak, size_rows, root: Path):
    import ttpack

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        rev = "?"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [
        "# ttpack's CPU device beside other CPU inference engines",
        "",
        f"`benchmarks/peers.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, ttpack {rev} "
        f"({ttpack.__name__}), {cpu}, {os.cpu_count()} cores, {args.threads} threads for every engine, "
        f"median of {args.rounds} rounds. numpy f32 GEMM peak in this run: {peak:.0f} GFLOP/s.",
        "Same seeded random weights for every engine; f32 unless the engine name says bf16.",
        "",
        "## Steady-state latency, ms (median of runs; ttpack_c and iree_c are their C tools' own figures: "
        "ttpack-run's best run, iree-benchmark-module's mean; ratio = engine / best f32 peer)",
        "",
        "| model | " + " | ".join(engines) + " | best f32 peer |",
        "|---|" + "---|" * (len(engines) + 1),
    ]
    peers_f32 = [e for e in engines if e not in ("ttpack", "ttpack_c", "openvino_bf16")]
    for name in models:
        cells, best = [], None
        for e in peers_f32:
            v = merged(rounds, (e, name), "median_ms")
            if v is not None and (best is None or v < best[1]):
                best = (e, v)
        for e in engines:
            v = merged(rounds, (e, name), "median_ms")
            if v is None:
                cells.append("—")
            else:
                ratio = f" ({v / best[1]:.2f}×)" if best and e.startswith("ttpack") else ""
                cells.append(f"{v:.3f}{ratio}")
        gflops = model_flops(name) / ((best[1] if best else float("nan")) * 1e-3) / 1e9
        cells.append(f"{best[0]} {best[1]:.3f} ({gflops / peak * 100:.0f}% of peak)" if best else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## ttpack's share of the GEMM peak", "", "| model | GFLOP | ttpack GFLOP/s | % of peak |",
              "|---|---|---|---|"]
    for name in models:
        v = merged(rounds, ("ttpack", name), "median_ms")
        if v:
            g = model_flops(name) / (v * 1e-3) / 1e9
            lines.append(f"| {name} | {model_flops(name) / 1e9:.3f} | {g:.0f} | {g / peak * 100:.0f}% |")
    lines += ["", f"## Cold start (fresh process -> first output, ms, best of {args.rounds} rounds; Python engines "
              f"above `python -c 'import numpy'`, {args.numpy_ms:.0f} ms here), peak RSS (MB), accuracy vs torch "
              "eager f32", "",
              "| model | engine | cold start ms | peak RSS MB | max rel err | pearson | error |", "|---|---|---|---|---|---|---|"]
    for name in models:
        for e in engines:
            cold = merged(rounds, (e, name), "cold_ms")
            rss = merged(rounds, (e, name), "peak_rss_mb")
            err = merged(rounds, (e, name), "max_rel_err")
            pr = merged(rounds, (e, name), "pearson")
            failure = next((t[(e, name)]["error"] for t in rounds if "error" in t[(e, name)]), "")
            fmt = lambda v, f: "—" if v is None or v != v else format(v, f)  # noqa: E731
            lines.append(f"| {name} | {e} | {fmt(cold, '.0f')} | {fmt(rss, '.0f')} | {fmt(err, '.1e')} | "
                         f"{fmt(pr, '.6f')} | {str(failure)[:100]} |")
    lines += ["", "## Sizes", "", "| artifact | MB |", "|---|---|"]
    for name in models:
        for f in ("model.ttpack", "model.onnx", "model.vmfb", "model.pte"):
            p = root / name / f
            if p.exists():
                lines.append(f"| {name} {f} | {p.stat().st_size / 1e6:.2f} |")
    lines += [f"| {label} (stripped) | {mb:.2f} |" for label, mb in size_rows]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
