"""Building for Tenstorrent chips: every compile option's visible effect, the
TTNN storage rules, the memory plan against each chip, and the cpu device's
emulation of the chip's numerics, each checked against an independent numpy
model of what the chip computes (operand bit cuts, block-float weights)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from conftest import run_cli
from ttpack.archive.reader import read_archive
from ttpack.compiler.numerics import quantize, round_bf16


def _matmul(w, x):
    return x @ w


@pytest.fixture
def mm(rng):
    w = rng.standard_normal((64, 48)).astype(np.float32)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    return w, x


def _build(tmp_path, fn, inputs, params=None, target="n150", **options):
    path = ttpack.build(fn, inputs, params=params, output=tmp_path / f"m{len(list(tmp_path.iterdir()))}.ttpack",
                        target=target, options=options)
    return path, read_archive(path)


def _storages(contents) -> set[str]:
    return {t["storage"] for p in contents.programs for t in p["tensor_types"]}


def _cut(a, mask):
    return (np.ascontiguousarray(a, np.float32).view(np.uint32) & np.uint32(mask)).view(np.float32)


HI5, HI7 = 0xFFF80000, 0xFFFE0000


def test_default_chip_build_is_a_ttnn_program_with_exact_float32(tmp_path, mm):
    w, x = mm
    path, c = _build(tmp_path, _matmul, [x], w)
    ops = [op["op"] for op in c.programs[0]["ops"]]
    assert ops == ["to_layout", "linear", "to_layout"]  # host -> device, compute, device -> host
    types = c.programs[0]["tensor_types"]
    io = [types[b] for b in (c.programs[0]["ops"][0]["inputs"][0], c.programs[0]["ops"][-1]["outputs"][0])]
    assert all(t["storage"] == "row_major:float32@host" for t in io)
    assert "tile:float32@dram/interleaved" in _storages(c)
    linear = c.programs[0]["ops"][1]
    assert linear["attrs"]["math_fidelity"] == [4] and linear["attrs"]["fp32_dest_acc_en"] == [1]
    model = rt.load(path)
    assert model.target == "n150" and model.emulated
    np.testing.assert_allclose(model(x), x @ w, rtol=1e-5, atol=1e-5)  # HiFi4 on float32: the float32 product
    assert c.metadata["target_descriptor"]["name"] == "n150" and c.metadata["accuracy"]["pearson"] > 0.99999


@pytest.mark.parametrize("option, dtype, tile_bytes", [("bfp_bf8", "bfloat8_b", 1088), ("bfp_bf4", "bfloat4_b", 576)])
def test_weight_dtype_changes_the_stored_bytes_and_the_answer(tmp_path, mm, option, dtype, tile_bytes):
    w, x = mm
    path, c = _build(tmp_path, _matmul, [x], w, experimental_weight_dtype=option)
    (weight,) = [v for v in c.weights if v["name"] == "params"]
    assert weight["storage"] == f"tile:{dtype}@dram/interleaved"
    assert weight["size"] == 2 * 2 * tile_bytes  # [64, 48] pads to 2 x 2 tiles
    got = rt.load(path)(x)
    want = x @ quantize(w, dtype)  # the chip multiplies the block-float weights
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert np.abs(got - x @ w).max() > 1e-3  # and that is a different answer
    acc = c.metadata["accuracy"]
    assert 0.9 < acc["pearson"] < 1 and acc["max_abs_error"] > 0


@pytest.mark.parametrize("fidelity", ["lofi", "hifi2", "hifi3", "hifi4"])
def test_math_fidelity_changes_the_answer_of_a_matmul(tmp_path, mm, fidelity):
    w, x = mm
    path, _ = _build(tmp_path, _matmul, [x], w, math_fidelity=fidelity)
    want = {"lofi": _cut(x, HI5) @ _cut(w, HI7),
            "hifi2": x @ _cut(w, HI7),
            "hifi3": x @ _cut(w, HI7) + _cut(x, HI5) @ (w - _cut(w, HI7)),
            "hifi4": x @ w}[fidelity]
    got = rt.load(path)(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    error = np.abs(got - x @ w).max()
    assert (error > 1e-2) if fidelity in ("lofi", "hifi2") else (error < 1e-2)


def test_fidelity_of_an_activation_times_activation_matmul(tmp_path, rng):
    a = rng.standard_normal((4, 16, 32)).astype(np.float32)
    b = rng.standard_normal((4, 32, 8)).astype(np.float32)
    path, _ = _build(tmp_path, lambda a, b: jnp.tanh(a) @ b, [a, b], math_fidelity="lofi")
    np.testing.assert_allclose(rt.load(path)(a, b), _cut(np.tanh(a), HI5) @ _cut(b, HI7), rtol=1e-4, atol=1e-4)


def test_without_fp32_accumulation_results_leave_a_bfloat16_register(tmp_path, mm):
    w, x = mm
    path, _ = _build(tmp_path, _matmul, [x], w, fp32_dest_acc_en="false")
    got = rt.load(path)(x)
    np.testing.assert_array_equal(got, round_bf16(got))
    np.testing.assert_allclose(got, x @ w, rtol=1e-2, atol=1e-2)


def test_l1_placement_changes_memory_configs_and_the_plan(tmp_path, rng):
    w = rng.standard_normal((256, 256)).astype(np.float32)
    x = rng.standard_normal((256, 256)).astype(np.float32)

    def fn(w, x):
        return jnp.tanh(jnp.tanh(x @ w).reshape(128, 512)).sum(axis=1)

    plans = {}
    for name, opts in [("dram", {}), ("interleaved", {"enable_l1_interleaved": "true"}),
                       ("sharded", {"optimization_level": 2})]:
        path, c = _build(tmp_path, fn, [x], w, **opts)
        plans[name] = c.metadata["programs"][0]["memory_plan"]
        storages = _storages(c)
        ops = [op["op"] for op in c.programs[0]["ops"]]
        np.testing.assert_allclose(rt.load(path)(x), np.asarray(jax.jit(fn)(w, x)), rtol=1e-4, atol=1e-4)
        if name == "dram":
            assert not any("@l1" in s for s in storages)
        elif name == "interleaved":
            assert "tile:float32@l1/interleaved" in storages and "to_memory_config" not in ops
        else:
            assert any("@l1/height_sharded[8x1 cores, shard 32x256]" in s for s in storages), storages
            assert "to_memory_config" in ops  # reshape takes interleaved inputs
    assert plans["dram"]["l1_peak_bytes_per_core"] == 0 and plans["dram"]["dram_activation_peak_bytes"] > 0
    for name in ("interleaved", "sharded"):
        assert 0 < plans[name]["l1_peak_bytes_per_core"] <= plans[name]["l1_capacity_bytes_per_core"]
        assert plans[name]["dram_activation_peak_bytes"] < plans["dram"]["dram_activation_peak_bytes"]


def test_conv2d_multiply_fusion_folds_the_scale_into_the_weights(tmp_path, rng):
    w = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    scale = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((1, 10, 10, 4)).astype(np.float32)

    def fn(p, x):
        y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y * p["s"])

    params = {"w": w, "s": scale}
    want = np.asarray(jax.jit(fn)(params, x))
    for opts, multiplies in [({}, 1), ({"enable_fusing_conv2d_with_multiply_pattern": "true"}, 0),
                             ({"optimization_level": 1}, 0)]:
        path, c = _build(tmp_path, fn, [x], params, **opts)
        ops = [op["op"] for op in c.programs[0]["ops"]]
        assert ops.count("multiply") == multiplies and ops.count("conv2d") == 1, ops
        np.testing.assert_allclose(rt.load(path)(x), want, rtol=1e-4, atol=1e-4)
    # on the cpu target too: the fusion is not chip-specific
    path, c = _build(tmp_path, fn, [x], params, target="cpu", enable_fusing_conv2d_with_multiply_pattern=True)
    assert "multiply" not in [op["op"] for op in c.programs[0]["ops"]]


def test_const_eval_option(tmp_path, mm):
    w, x = mm
    fn = lambda w, x: x @ (w * 2)  # noqa: E731
    for value, runs_on_device in (("false", True), ("true", False)):
        path, c = _build(tmp_path, fn, [x], w, enable_const_eval=value)
        assert ("multiply" in [op["op"] for op in c.programs[0]["ops"]]) == runs_on_device
        np.testing.assert_allclose(rt.load(path)(x), x @ (w * 2), rtol=1e-5, atol=1e-4)


def test_ttnn_storage_rules(tmp_path, rng):
    table = rng.standard_normal((50, 16)).astype(np.float32)
    conv = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    ids = rng.integers(0, 50, (2, 5)).astype(np.int32)
    img = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)

    def fn(p, ids, img):
        y = jax.lax.conv_general_dilated(img, p["c"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return p["t"][ids].sum(), y.max()

    path, c = _build(tmp_path, fn, [ids, img], {"t": table, "c": conv}, experimental_weight_dtype="bfp_bf8")
    prog = c.programs[0]
    types = prog["tensor_types"]
    by_op = {op["op"]: op for op in prog["ops"]}
    emb, cv = by_op["embedding"], by_op["conv2d"]
    assert types[emb["inputs"][0]]["storage"] == "row_major:uint32@dram/interleaved"  # indices
    assert types[emb["inputs"][1]]["storage"] == "row_major:bfloat16@dram/interleaved"  # the table
    assert types[emb["outputs"][0]]["storage"] == "tile:bfloat16@dram/interleaved"
    assert types[cv["inputs"][0]]["storage"] == "row_major:float32@dram/interleaved"
    assert all(s.startswith("tile:") for s in _storages(c) if "bfloat8_b" in s)
    got = rt.load(path)(ids, img)
    want = jax.jit(fn)({"t": table, "c": conv}, ids, img)
    # the table is held in bfloat16 on the chip: the sum is the bfloat16 table's
    np.testing.assert_allclose(got[0], round_bf16(table)[ids].sum(), rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)


@pytest.mark.parametrize("target, fits", [("n150", False), ("n300", False), ("p150", True)])
def test_memory_plan_fit_against_each_chip(tmp_path, target, fits):
    n = 60_000  # a 60000 x 60000 float32 outer product: 14.4 GB of activations

    def outer(a, b):
        return (a[:, None] * b[None, :]).max(axis=0)

    args = [jax.ShapeDtypeStruct((n,), jnp.float32)] * 2
    if fits:
        _, c = _build(tmp_path, outer, args, target=target)
        plan = c.metadata["programs"][0]["memory_plan"]
        assert plan["dram_peak_bytes"] >= n * n * 4 and plan["dram_peak_bytes"] <= plan["dram_capacity_bytes"]
        return
    with pytest.raises(ttpack.BuildError) as e:
        _build(tmp_path, outer, args, target=target)
    msg = str(e.value)
    assert f"does not fit {target}'s DRAM" in msg and "GiB of activations" in msg and "11.98 GiB usable" in msg
    assert "bfp_bf8" in msg and "smaller batch" in msg
    assert not list(tmp_path.glob("*.ttpack"))
    # the same program in bfloat16 fits (7.2 GB)
    _build(tmp_path, outer, [jax.ShapeDtypeStruct((n,), jnp.bfloat16)] * 2, target=target)


@pytest.mark.parametrize("target", ["cpu", "n150"])
def test_jax_function_on_bfloat16_inputs(tmp_path, rng, target):
    w = jnp.asarray(rng.standard_normal((64, 32)), jnp.bfloat16)
    x = jnp.asarray(rng.standard_normal((8, 64)), jnp.bfloat16)

    def fn(w, x):
        return jax.nn.gelu(x @ w) + jnp.sin(x[:, :32]) * jnp.bfloat16(2), (x * 3).sum(axis=0)

    path, c = _build(tmp_path, fn, [x], w, target=target)
    model = rt.load(path)
    assert [s.dtype for s in model.inputs] == [np.dtype(ml_dtypes.bfloat16)]
    got = model(np.asarray(x))
    want = jax.jit(fn)(w, x)
    for g, e in zip(got, want):
        assert g.dtype == np.dtype(ml_dtypes.bfloat16)
        g64, e64 = g.astype(np.float64).ravel(), np.asarray(e).astype(np.float64).ravel()
        # every tensor is stored in bfloat16 (8 significant bits) between ops, as on a chip; XLA's CPU
        # backend rounds only at the end of its fusions, so the two differ by a few bfloat16 ulps
        assert np.corrcoef(g64, e64)[0, 1] > 0.9999
        assert np.abs(g64 - e64).max() <= 0.02 * np.abs(e64).max()
    # float inputs are rounded to bfloat16 by the bindings
    np.testing.assert_array_equal(model(np.asarray(x).astype(np.float32))[1], got[1])


def test_inspect_shows_storage_plan_accuracy_and_estimate(tmp_path, mm):
    w, x = mm
    path, _ = _build(tmp_path, _matmul, [x], w, experimental_weight_dtype="bfp_bf8", optimization_level=2)
    out = run_cli("inspect", path, "--ops", "--estimate").stdout
    assert "target n150 (Tenstorrent Wormhole n150" in out
    assert "tile:bfloat8_b@dram/interleaved" in out and "row_major:float32@host" in out
    assert "memory plan on n150: DRAM" in out and "L1" in out
    assert "accuracy vs jax on the example inputs (cpu (emulating n150)): pearson 0.99" in out
    assert "ESTIMATED device time on n150" in out and "not a measurement" in out and "linear" in out
    doc = json.loads(run_cli("inspect", path, "--json", "--estimate").stdout)
    est = doc["estimates"]["main"]
    assert est["estimate"] is True and est["total_seconds"] > 0
    cpu_path, _ = _build(tmp_path, _matmul, [x], w, target="cpu")
    proc = run_cli("inspect", cpu_path, "--estimate", check=False)
    assert proc.returncode != 0 and "--estimate estimates chip time" in proc.stderr


def test_inspect_shows_a_loop_and_its_regions(tmp_path):
    fn = lambda x: jax.lax.fori_loop(0, 4, lambda i, c: jnp.tanh(c) * 2.0, x)
    path, _ = _build(tmp_path, fn, [np.ones((32, 32), np.float32)])
    out = run_cli("inspect", path, "--ops", "--estimate").stdout
    assert "ttpack archive format 2.1" in out
    assert "ops after compilation: " in out and "tanh 1" in out and "while 1" in out  # the body counted once
    assert "region 0(" in out and "region 1(" in out and "= tanh(" in out
    doc = json.loads(run_cli("inspect", path, "--json", "--estimate").stdout)
    assert doc["estimates"]["main"]["loops"] == 1 and "one iteration" in doc["estimates"]["main"]["note"]


def test_cond_on_a_chip_target_runs_either_branch_and_estimates_the_slower(tmp_path):
    def fn(p, x):
        return jax.lax.cond(p > 0, lambda v: v @ v @ v, lambda v: jnp.tanh(v), x)

    x = np.random.default_rng(3).standard_normal((64, 64)).astype(np.float32) / 8
    path, _ = _build(tmp_path, fn, [np.float32(1.0), x])
    model = rt.load(path)
    for p in (1.0, -1.0):  # bf16 storage on n150: compare as the accuracy report does
        got, want = np.asarray(model(np.float32(p), x)), np.asarray(jax.jit(fn)(np.float32(p), x))
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.999
    out = run_cli("inspect", path, "--ops").stdout
    assert "case 1" in out and "region 0(" in out and "region 1(" in out
    est = json.loads(run_cli("inspect", path, "--json", "--estimate").stdout)["estimates"]["main"]
    case_row = next(r for r in est["ops"] if r["op"] == "case")
    assert case_row["flops"] >= 2 * 2 * 64 ** 3  # the matmul branch, the slower one


def test_roofline_estimate_of_a_large_matmul_is_compute_bound_at_the_fidelity_peak(tmp_path):
    from ttpack.estimate import estimate_program
    from ttpack.targets import get_target

    args = [jax.ShapeDtypeStruct((4096, 4096), jnp.bfloat16)] * 2
    n150 = get_target("n150")
    times = {}
    for fidelity in ("lofi", "hifi4"):
        _, c = _build(tmp_path, lambda a, b: a @ b, args, math_fidelity=fidelity)
        est = estimate_program(c.programs[0], n150)
        (mm_row,) = [r for r in est["ops"] if r["op"] in ("matmul", "linear")]
        assert mm_row["bound"] == "compute" and mm_row["flops"] == 2 * 4096 ** 3
        assert mm_row["seconds"] == pytest.approx(2 * 4096 ** 3 / (n150.matmul_tflops(fidelity) * 1e12))
        times[fidelity] = mm_row["seconds"]
    assert times["hifi4"] == pytest.approx(4 * times["lofi"])


def test_emit_ir_writes_stablehlo_ttnn_text_and_archive(tmp_path, mm):
    w, x = mm
    ir_dir = tmp_path / "ir"
    ttpack.build(_matmul, [x], params=w, output=tmp_path / "m.ttpack", target="n150", emit_ir=ir_dir)
    assert sorted(p.name for p in ir_dir.iterdir()) == ["main.stablehlo.mlir", "main.ttnn.txt", "main.ttpack"]
    assert "stablehlo.dot_general" in (ir_dir / "main.stablehlo.mlir").read_text()
    ttnn = (ir_dir / "main.ttnn.txt").read_text()
    assert "linear(" in ttnn and "tile:float32@dram/interleaved" in ttnn and "row_major:float32@host" in ttnn
    assert (ir_dir / "main.ttpack").read_bytes() == (tmp_path / "m.ttpack").read_bytes()


def test_cli_builds_for_a_chip_with_tt_xla_options(tmp_path):
    from conftest import ROOT

    out = tmp_path / "mlp.ttpack"
    proc = run_cli("build", ROOT / "samples" / "jax_mlp.py", "-o", out, "--target", "p150",
                   "-O", "experimental_weight_dtype=bfp_bf4", "-O", "math_fidelity=lofi")
    assert "emulating p150" in proc.stderr and "pearson" in proc.stderr
    assert read_archive(out).metadata["options"] == {"experimental_weight_dtype": "bfp_bf4", "math_fidelity": "lofi"}
    run = run_cli("run", out, "--random-inputs").stdout
    assert "ran main" in run
    bad = run_cli("build", ROOT / "samples" / "jax_mlp.py", "-o", tmp_path / "x.ttpack", "--target", "n150",
                  "-O", "enable_optimizer=perhaps", check=False)
    assert bad.returncode != 0 and "enable_optimizer='perhaps' is not valid; allowed: true/false" in bad.stderr


@pytest.mark.parametrize("fidelity", ["lofi", "hifi3", "hifi4"])
def test_math_fidelity_of_a_transposed_convolution(tmp_path, rng, fidelity):
    w = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    x = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)

    def conv(w, x):
        return jax.lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def up(p, x):
        return jax.nn.relu(conv(p["w"], x) + p["b"])

    path, c = _build(tmp_path, up, [x], {"w": w, "b": b}, math_fidelity=fidelity)
    (op,) = [o for o in c.programs[0]["ops"] if o["op"] == "conv_transpose2d"]
    assert op["attrs"]["math_fidelity"] == [{"lofi": 0, "hifi3": 3, "hifi4": 4}[fidelity]]
    product = {"lofi": conv(_cut(w, HI7), _cut(x, HI5)),
               "hifi3": conv(_cut(w, HI7), x) + conv(w - _cut(w, HI7), _cut(x, HI5)),
               "hifi4": conv(w, x)}[fidelity]
    want = jax.nn.relu(product + b)
    np.testing.assert_allclose(rt.load(path)(x), np.asarray(want), rtol=1e-4, atol=1e-4)
