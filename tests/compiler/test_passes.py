"""Passes preserve meaning (checked with the registry's numpy interpreter)
and do what they claim to the op list."""

from __future__ import annotations

import numpy as np
import pytest

from ttpack.compiler import ir, passes
from ttpack.compiler.ops import OpError
from ttpack.compiler.types import TensorType


def _program(build):
    x = ir.Value(TensorType((2, 3), "float32"))
    ops = []

    def emit(name, inputs, **attrs):
        op = ir.make_op(name, inputs, attrs)
        ops.append(op)
        return op.outputs[0]

    out = build(x, emit)
    return ir.Program("p", [("x", x)], [("y", out)], ops)


def _check_same(before, after, rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for a, b in zip(ir.interpret(before, [x]), ir.interpret(after, [x])):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_fold_constants_evaluates_weight_only_subgraphs(rng):
    w = ir.constant(rng.standard_normal((3, 4)).astype(np.float32), "w")

    def build(x, emit):
        wt = emit("permute", [emit("permute", [w], perm=(1, 0))], perm=(1, 0))
        scaled = emit("multiply", [wt, ir.constant(np.float32(2.0) * np.ones((1, 1), np.float32))])
        return emit("matmul", [x, scaled])

    before = _program(build)
    after = passes.run_pipeline(before)
    assert [op.name for op in after.ops] == ["linear"]  # a matmul by a constant weight
    folded = [v for v in after.constants() if v.weight_name]
    assert [v.weight_name for v in folded] == ["w:multiply"]
    _check_same(before, after, rng)


def test_simplify_merges_reshapes_and_drops_identities(rng):
    def build(x, emit):
        r = emit("reshape", [emit("reshape", [x], shape=(3, 2))], shape=(6,))
        r = emit("reshape", [r], shape=(6,))
        p = emit("permute", [emit("reshape", [r], shape=(2, 3))], perm=(0, 1))
        return emit("exp", [p])

    before = _program(build)
    after = passes.run_pipeline(before)
    assert [op.name for op in after.ops] == ["exp"]
    _check_same(before, after, rng)


def test_fold_broadcasts_keeps_repeat_only_where_needed(rng):
    b = ir.constant(rng.standard_normal((1, 3)).astype(np.float32))

    def build(x, emit):
        big = emit("repeat", [b], shape=(2, 3))        # feeds add: implicit broadcast
        s = emit("add", [x, big])
        col = emit("reshape", [emit("sum", [x], dims=(1,), keepdim=0)], shape=(2, 1))
        wide = emit("repeat", [col], shape=(2, 3))       # feeds concat: must stay
        return emit("concat", [s, wide], dim=0)

    before = _program(build)
    after = passes.run_pipeline(before)
    assert [op.name for op in after.ops].count("repeat") == 1
    _check_same(before, after, rng)


def test_dedupe_constants_keeps_named_weights_apart():
    a = ir.constant(np.ones((2, 3), np.float32))
    b = ir.constant(np.ones((2, 3), np.float32))
    w = ir.constant(np.ones((2, 3), np.float32), "w")

    def build(x, emit):
        return emit("add", [emit("add", [emit("add", [x, a]), b]), w])

    after = passes.run_pipeline(_program(build), [passes.dedupe_constants])
    assert len(after.constants()) == 2


def test_shape_rules_reject_bad_ops():
    x = ir.Value(TensorType((2, 3), "float32"))
    with pytest.raises(OpError, match="inner dimensions"):
        ir.make_op("matmul", [x, x])
    with pytest.raises(OpError, match="cannot reshape"):
        ir.make_op("reshape", [x], {"shape": (4,)})
    with pytest.raises(OpError, match="do not broadcast"):
        ir.make_op("add", [x, ir.Value(TensorType((3, 2), "float32"))])
    with pytest.raises(OpError, match="does not take bool"):
        ir.make_op("exp", [ir.Value(TensorType((2,), "bool"))])


def test_bfloat16_idioms_fuse_like_float32_ones(tmp_path, rng):
    """softmax, layer_norm and gelu written by hand in bfloat16 fuse as in
    float32 (equivalence is confirmed in float32 arithmetic)."""
    import jax
    import jax.numpy as jnp

    import ttpack
    from ttpack.archive.reader import read_archive

    def block(p, x):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        h = (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["g"] + p["b"]
        return jax.nn.softmax(h @ h.T, axis=-1), jax.nn.gelu(h, approximate=False)

    params = {k: jnp.asarray(rng.standard_normal(16), jnp.bfloat16) for k in ("g", "b")}
    x = jnp.asarray(rng.standard_normal((8, 16)), jnp.bfloat16)
    path = ttpack.build(block, [x], params=params, output=tmp_path / "b.ttpack")  # verified against JAX
    ops = [op["op"] for op in read_archive(path).programs[0]["ops"]]
    assert {"layer_norm", "softmax", "gelu"} <= set(ops), ops
