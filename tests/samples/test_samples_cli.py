"""The samples end to end, as a user runs them: CLI build/inspect/run, the
Python runtime, and the C program on the same archive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli

SAMPLES = ["jax_mlp", "jax_sincos", "torch_resnet18", "torch_bert"]
# float32 throughout; deep convolution stacks (ResNet-18) accumulate in a
# different order than PyTorch, so allow 1e-4 relative there.
TOL = {"rtol": 1e-4, "atol": 1e-5}


def _spec(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "samples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ttpack_spec()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    paths = {}
    for name in SAMPLES:
        path = out / f"{name}.ttpack"
        proc = run_cli("build", ROOT / "samples" / f"{name}.py", "-o", path)
        assert "verified against" in proc.stderr, proc.stderr
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", SAMPLES)
def test_build_writes_one_file_and_reports_progress(built, name):
    path = built[name]
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}")] == []


@pytest.mark.parametrize("name", SAMPLES)
def test_python_runtime_matches_jax(built, name):
    import ttpack.runtime as rt
    from ttpack.verify import framework_outputs, runtime_inputs

    spec = _spec(name)
    model = rt.load(built[name])
    got = model(*runtime_inputs(spec))
    got = list(got) if isinstance(got, tuple) else [got]
    for g, w in zip(got, framework_outputs(spec)):
        np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("name", SAMPLES)
def test_cli_run_and_c_program_agree_with_jax(built, name, tmp_path, ttpack_run_exe):
    import ttpack.runtime as rt
    from ttpack.verify import framework_outputs, runtime_inputs

    spec = _spec(name)
    model = rt.load(built[name])
    args = []
    for s, x in zip(model.inputs, runtime_inputs(spec)):
        np.save(tmp_path / f"{s.name}.npy", x.astype(s.dtype))  # int64 ids -> the archive's int32
        args += ["--input", f"{s.name}={tmp_path / f'{s.name}.npy'}"]
    run_cli("run", built[name], *args, "--output", tmp_path / "out.npz")
    cli_out = np.load(tmp_path / "out.npz")
    want = framework_outputs(spec)
    for s, w in zip(model.outputs, want):
        np.testing.assert_allclose(cli_out[s.name], w, **TOL)

    c_args = []
    for s in model.inputs:
        c_args += ["-i", f"{s.name}={tmp_path / f'{s.name}.npy'}"]
    outdir = tmp_path / "c_out"
    outdir.mkdir()
    proc = subprocess.run([ttpack_run_exe, built[name], *c_args, "-o", outdir],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for s, w in zip(model.outputs, want):
        np.testing.assert_allclose(np.load(outdir / f"{s.name}.npy"), w, **TOL)
        # the C program and the Python bindings run the same kernels: identical bits
        np.testing.assert_array_equal(np.load(outdir / f"{s.name}.npy"), cli_out[s.name])


def test_c_program_prints_signature(built, ttpack_run_exe):
    proc = subprocess.run([ttpack_run_exe, built["jax_mlp"]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "input  x: float32[8, 64]" in proc.stdout
    assert "output output: float32[8, 10]" in proc.stdout


def test_inspect_text_and_json(built):
    text = run_cli("inspect", built["jax_mlp"]).stdout
    assert "input  x: float32[8, 64]" in text
    assert "dense1.kernel: float32[64, 128]" in text
    assert "ops after compilation" in text and "ops as lowered" in text
    doc = json.loads(run_cli("inspect", built["jax_mlp"], "--json").stdout)
    assert doc["metadata"]["source"]["framework"] == "jax"
    assert doc["metadata"]["producer"] == "ttpack"
    assert {w["name"] for w in doc["weights"]} >= {"dense1.kernel", "dense2.kernel"}
    ops = [op["op"] for op in doc["programs"][0]["ops"]]
    assert ops.count("linear") == 2 and "softmax" in ops  # fused: matmul + bias (+ relu), softmax


def test_run_with_random_inputs(built):
    out = run_cli("run", built["jax_mlp"], "--random-inputs").stdout
    assert "output: float32[8, 10]" in out


def test_bench_reports_median_and_p90(built):
    doc = json.loads(run_cli("bench", built["jax_mlp"], "--runs", "7", "--warmup", "1", "--threads", "2",
                             "--json").stdout)
    assert doc["runs"] == 7 and doc["threads"] == 2 and doc["program"] == "main"
    assert 0 < doc["best_ms"] <= doc["median_ms"] <= doc["p90_ms"]
    out = run_cli("bench", built["jax_mlp"], "--runs", "3").stdout
    assert "median" in out and "p90" in out and "3 runs after 5 warm-up" in out
    proc = run_cli("bench", built["jax_mlp"], "--runs", "0", check=False)
    assert proc.returncode != 0 and "--runs must be at least 1" in proc.stderr


def test_run_reports_missing_inputs(built):
    proc = run_cli("run", built["jax_mlp"], check=False)
    assert proc.returncode != 0
    assert "takes inputs" in proc.stderr and "--random-inputs" in proc.stderr


def test_build_rejects_file_without_spec(tmp_path):
    bad = tmp_path / "nospec.py"
    bad.write_text("x = 1\n")
    proc = run_cli("build", bad, "-o", tmp_path / "x.ttpack", check=False)
    assert proc.returncode != 0 and "ttpack_spec" in proc.stderr
    assert not (tmp_path / "x.ttpack").exists()


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text().splitlines()
    test_command = readme[1].strip()
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "ttpack build samples/jax_mlp.py" in readme[0]


def test_build_option_syntax_and_verify_failure(tmp_path, monkeypatch):
    proc = run_cli("build", ROOT / "samples" / "jax_sincos.py", "-o", tmp_path / "s.ttpack", "-O", "fuse", check=False)
    assert proc.returncode != 0 and "compile options are KEY=VALUE, got 'fuse'" in proc.stderr
    # a model whose archive disagrees with the framework fails the build's verify step
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import numpy as np, jax.numpy as jnp, ttpack\n"
        "import ttpack.verify\n"
        "ttpack.verify.framework_outputs = lambda spec: [np.zeros(3, np.float32)]\n"
        "def ttpack_spec():\n"
        "    return ttpack.BuildSpec(fn=lambda x: x + 1, example_inputs=[np.ones(3, np.float32)])\n")
    proc = run_cli("build", bad, "-o", tmp_path / "bad.ttpack", check=False)
    assert proc.returncode != 0 and "does not match jax" in proc.stderr, proc.stderr


def test_run_rejects_extra_input_files(built, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((8, 64), np.float32))
    proc = run_cli("run", built["jax_mlp"], "-i", tmp_path / "x.npy", "-i", tmp_path / "x.npy", check=False)
    assert proc.returncode != 0 and "unnamed input files" in proc.stderr
