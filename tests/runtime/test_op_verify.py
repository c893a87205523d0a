"""The op verifier (runtime_c/src/op_verify.c): each op's counts, element
types, shapes and attributes are checked once, when a program is decoded, on
the logical plan (float32, bfloat16, int32, bool), whatever device then runs
it. Archives are assembled with test_c_api's flatbuffer helpers, so each case
holds exactly the op under test; two cases build with JAX.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from test_c_api import INPUT, INTERMEDIATE, WEIGHT, Fb, expect_refused, wrap

import ttpack.runtime as rt
from ttpack.archive.fb import ttpack_generated as fb

F32, BF16, I32, BOOL = 1, 3, 7, 13
SIZE = {F32: 4, BF16: 2, I32: 4, BOOL: 1}
BF16_NP = np.dtype(ml_dtypes.bfloat16)


class Ops(Fb):
    """Fb with typed tensors and ops that carry a source location."""

    def typed(self, shape, dtype=F32, kind=INTERMEDIATE, weight=None) -> int:
        size = int(np.prod(shape, dtype=np.int64)) * SIZE[dtype]
        return self.tensor(shape, kind, dtype=dtype, weight=weight,
                           storage=self.storage(shape, dtype, size=size))

    def op(self, name, inputs, outputs, attrs=(), location="model.py:7") -> int:
        return super().op(name, inputs, outputs, attrs, location)


def one_op(name, inputs, output, attrs=()) -> bytes:
    """A program of one op: `inputs` are (shape, dtype) program inputs x0,
    x1, ...; `output` the (shape, dtype) of its result y."""
    def build(seg_offset, seg_hash):
        f = Ops()
        t = [f.typed(s, d, INPUT) for s, d in inputs] + [f.typed(*output)]
        n = len(inputs)
        ops = [f.op(name, list(range(n)), [n], attrs)]
        prog = f.program(t, [(f"x{i}", i) for i in range(n)], [("y", n)], ops)
        return f.finish([prog])
    return wrap(build)


def matmul_archive(attrs, dtype=F32) -> bytes:
    """y = x @ w for x: [2, 3] (input) and w: [3, 2] (a weight of ones)."""
    w = np.ones((3, 2), np.float32)
    data = w.astype(BF16_NP).tobytes() if dtype == BF16 else w.tobytes()
    segment = data + bytes(4096 - len(data))

    def build(seg_offset, seg_hash):
        f = Ops()
        st = f.storage([3, 2], dtype, size=len(data))
        name, shape = f.b.CreateString("w"), f.b.CreateNumpyVector(np.asarray([3, 2], np.int64))
        fb.WeightStart(f.b)
        fb.WeightAddStorage(f.b, st)
        fb.WeightAddName(f.b, name)
        fb.WeightAddDtype(f.b, dtype)
        fb.WeightAddShape(f.b, shape)
        fb.WeightAddOffset(f.b, 0)
        fb.WeightAddSize(f.b, len(data))
        weight = fb.WeightEnd(f.b)
        seg = f.segment(seg_offset, len(segment), seg_hash)
        t = [f.typed([2, 3], dtype, INPUT), f.typed([3, 2], dtype, WEIGHT, weight=0), f.typed([2, 2], dtype)]
        prog = f.program(t, [("x", 0)], [("y", 2)], [f.op("matmul", [0, 1], [2], attrs)])
        return f.finish([prog], weights=[weight], segments=[seg])
    return wrap(build, segment)


# --------------------------------------------------------------------------
# bfloat16 is accepted wherever float32 is


def test_bfloat16_jax_program_is_accepted(tmp_path):
    import jax
    import jax.numpy as jnp

    import ttpack

    path = ttpack.build(lambda x: x * 2 + 1, [jax.ShapeDtypeStruct((4,), jnp.bfloat16)],
                        output=tmp_path / "bf16.ttpack")
    model = rt.load(path)
    assert model.inputs[0].bfloat16 and model.outputs[0].bfloat16
    x = np.array([0.5, -1.25, 3.0, 100.0], BF16_NP)
    y = model(x)
    assert y.dtype == BF16_NP
    np.testing.assert_array_equal(y.astype(np.float32), [2.0, -1.5, 7.0, 201.0])


@pytest.mark.parametrize("name,inputs,output", [
    ("add", [([2, 3], BF16), ([3], BF16)], ([2, 3], BF16)),
    ("lt", [([2, 3], BF16), ([2, 1], BF16)], ([2, 3], BOOL)),
    ("where", [([2, 3], BOOL), ([2, 3], BF16), ([], BF16)], ([2, 3], BF16)),
    ("exp", [([2, 3], BF16)], ([2, 3], BF16)),
    ("to_layout", [([2, 3], BF16)], ([2, 3], BF16)),
    ("to_memory_config", [([2, 3], I32)], ([2, 3], I32)),
    ("to_layout", [([2, 3], BOOL)], ([2, 3], BOOL)),
])
def test_bfloat16_and_storage_ops_are_accepted(name, inputs, output):
    model = rt.load(one_op(name, inputs, output))
    args = [np.ones(s, {F32: np.float32, BF16: BF16_NP, I32: np.int32, BOOL: np.bool_}[d]) for s, d in inputs]
    assert model(*args).shape == tuple(output[0])


def test_bfloat16_arange_runs():
    def build(seg_offset, seg_hash):
        f = Ops()
        ops = [f.op("arange", [], [0], [("start", [1]), ("step", [256]), ("shape", [3]), ("dtype", [BF16])])]
        return f.finish([f.program([f.typed([3], BF16)], [], [("y", 0)], ops)])
    y = rt.load(wrap(build))()
    assert y.dtype == BF16_NP
    np.testing.assert_array_equal(y.astype(np.float32), [1.0, 256.0, 512.0])  # 257 rounds to even


def test_bfloat16_matmul_runs():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = rt.load(matmul_archive([], BF16))(x.astype(BF16_NP))
    np.testing.assert_array_equal(y.astype(np.float32), x @ np.ones((3, 2), np.float32))


def test_typecast_to_bfloat16_is_accepted():
    model = rt.load(one_op("typecast", [([4], F32)], ([4], BF16), [("dtype", [BF16])]))
    x = np.array([1.0, 1.00390625, -2.5, 3.0e38], np.float32)  # 1 + 2**-8 rounds to even: 1.0
    y = model(x)
    assert y.dtype == BF16_NP
    np.testing.assert_array_equal(y, x.astype(BF16_NP))
    # and back, and from integers and bools
    back = rt.load(one_op("typecast", [([4], BF16)], ([4], F32), [("dtype", [F32])]))(y)
    np.testing.assert_array_equal(back, y.astype(np.float32))
    ints = rt.load(one_op("typecast", [([3], I32)], ([3], BF16), [("dtype", [BF16])]))(np.array([1, 257, -3], np.int32))
    np.testing.assert_array_equal(ints.astype(np.float32), [1.0, 256.0, -3.0])


def test_typecast_to_bfloat16_in_jax_runs(tmp_path):
    import jax.numpy as jnp

    import ttpack

    x = np.array([1.0, 1.00390625, -2.5], np.float32)
    path = ttpack.build(lambda a: a.astype(jnp.bfloat16) * 2, [x], output=tmp_path / "cast.ttpack")
    np.testing.assert_array_equal(rt.load(path)(x), (x.astype(BF16_NP) * 2))


# --------------------------------------------------------------------------
# The compute config of matrix-engine ops


@pytest.mark.parametrize("fidelity", [0, 2, 3, 4])
@pytest.mark.parametrize("acc", [0, 1])
def test_valid_compute_config_is_accepted(fidelity, acc):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = rt.load(matmul_archive([("math_fidelity", [fidelity]), ("fp32_dest_acc_en", [acc])]))(x)
    np.testing.assert_array_equal(y, x @ np.ones((3, 2), np.float32))  # small integers: exact at any fidelity


@pytest.mark.parametrize("fidelity", [1, 5, -1, 2**40])
def test_invalid_math_fidelity_is_refused(fidelity, ttpack_run_exe, tmp_path):
    expect_refused(matmul_archive([("math_fidelity", [fidelity])]), rt.InvalidArchiveError,
                   "program 'main': operation 0 'matmul' (model.py:7)",
                   f"math_fidelity {fidelity} is not LoFi (0), HiFi2 (2), HiFi3 (3) or HiFi4 (4)",
                   exe=ttpack_run_exe, tmp_path=tmp_path)


@pytest.mark.parametrize("attrs,words", [
    ([("math_fidelity", [2, 4])], ["attribute 'math_fidelity' must hold 1 integer(s), has 2"]),
    ([("math_fidelity", [])], ["attribute 'math_fidelity' must hold 1 integer(s), has 0"]),
    ([("fp32_dest_acc_en", [2])], ["attribute 'fp32_dest_acc_en' is 2, expected 0 to 1"]),
])
def test_malformed_compute_config_is_refused(attrs, words):
    expect_refused(matmul_archive(attrs), rt.InvalidArchiveError, "operation 0 'matmul'", *words)


# --------------------------------------------------------------------------
# Broken shape rules are refused at load, as the kernels' checks refused them


@pytest.mark.parametrize("inputs,output,words", [
    ([([3], F32), ([4], F32)], ([4], F32), ["input shapes float32[3] and float32[4] do not broadcast"]),
    ([([2, 3], F32), ([3], F32)], ([2, 4], F32), ["output is float32[2, 4], expected shape [2, 3]"]),
    ([([3], BF16), ([3], BF16)], ([4], BF16), ["output is bfloat16[4], expected shape [3]"]),
    ([([3], F32), ([3], BF16)], ([3], F32), ["operands have different element types", "bfloat16[3]"]),
    ([([3], BF16), ([3], BF16)], ([3], F32), ["output is float32[3], expected element type bfloat16"]),
    ([([3], F32)], ([3], F32), ["takes 2 input(s), got 1"]),
])
def test_add_breaking_its_shape_rule_is_refused_at_load(inputs, output, words, ttpack_run_exe, tmp_path):
    expect_refused(one_op("add", inputs, output), rt.InvalidArchiveError,
                   "program 'main': operation 0 'add' (model.py:7)", *words, exe=ttpack_run_exe, tmp_path=tmp_path)


@pytest.mark.parametrize("name,inputs,output,attrs,exc,words", [
    ("typecast", [([4], F32)], ([4], BF16), [("dtype", [F32])], rt.InvalidArchiveError,
     ["output is bfloat16[4], expected element type float32"]),
    ("typecast", [([4], F32)], ([4], F32), [("dtype", [4])], rt.UnsupportedError,
     ["cannot produce element type float64"]),
    ("typecast", [([4], F32)], ([4], F32), [("dtype", [99])], rt.InvalidArchiveError,
     ["attribute 'dtype' is 99, which is not a DataType"]),
    ("typecast", [([4], F32)], ([4], BF16), [], rt.InvalidArchiveError, ["missing attribute 'dtype'"]),
    ("to_layout", [([2, 3], BF16)], ([2, 3], F32), [], rt.InvalidArchiveError,
     ["output is float32[2, 3], expected element type bfloat16"]),
    ("to_memory_config", [([2, 3], F32)], ([3, 2], F32), [], rt.InvalidArchiveError,
     ["output is float32[3, 2], expected shape [2, 3]"]),
    ("lt", [([3], BF16), ([3], BF16)], ([3], BF16), [], rt.InvalidArchiveError,
     ["output is bfloat16[3], expected element type bool"]),
    ("sum", [([2, 3], BF16)], ([2], BF16), [("dims", [1]), ("keepdim", [2])], rt.InvalidArchiveError,
     ["attribute 'keepdim' is 2, expected 0 or 1"]),
    ("softmax", [([2, 3], BF16)], ([2, 3], BF16), [("dim", [2])], rt.InvalidArchiveError,
     ["attribute 'dim' is 2, out of range for bfloat16[2, 3]"]),
])
def test_other_broken_ops_are_refused(name, inputs, output, attrs, exc, words):
    expect_refused(one_op(name, inputs, output, attrs), exc, f"operation 0 '{name}' (model.py:7)", *words)


def test_input_types_outside_the_registry_are_refused():
    """shift_left is int32 only: decoding's registry check, before the op's rules."""
    expect_refused(one_op("shift_left", [([3], BF16), ([3], BF16)], ([3], BF16)), rt.InvalidArchiveError,
                   "operation 0 'shift_left'", "input 0 is bfloat16, which the op is not defined on")
