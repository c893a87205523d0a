"""The Coverage II ops (reverse, sort, top_k, conv_transpose2d, prod,
cumprod, expm1, log1p, round, round_afz, isfinite) in archives of one op,
assembled by hand: the C kernels against the registry's numpy references
(the compiler's oracle) on the cases frameworks rarely produce (strided
dims, both float orders, asymmetric padding...), and the op verifier
(runtime_c/src/op_verify.c) refusing every count, type, shape and
attribute those kernels rely on. Framework-level tests are in
test_ops_jax.py and test_ops_torch.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from test_c_api import INPUT, expect_refused, wrap  # noqa: E402
from test_op_verify import Ops  # noqa: E402

import ttpack.runtime as rt  # noqa: E402
from ttpack.compiler import ops as registry  # noqa: E402

F32, BF16, I32, BOOL = 1, 3, 7, 13
NP = {F32: np.float32, BF16: np.dtype(ml_dtypes.bfloat16), I32: np.int32, BOOL: np.bool_}
NAMES = {F32: "float32", BF16: "bfloat16", I32: "int32", BOOL: "bool"}


def archive(name, inputs, outputs, attrs=()) -> bytes:
    """One op reading program inputs x0, x1... ((shape, dtype) each) and
    writing program outputs y0, y1... ((shape, dtype) each)."""
    def build(seg_offset, seg_hash):
        f = Ops()
        t = [f.typed(s, d, INPUT) for s, d in inputs] + [f.typed(s, d) for s, d in outputs]
        n = len(inputs)
        ops = [f.op(name, list(range(n)), list(range(n, n + len(outputs))), attrs)]
        prog = f.program(t, [(f"x{i}", i) for i in range(n)], [(f"y{j}", n + j) for j in range(len(outputs))], ops)
        return f.finish([prog])
    return wrap(build)


def run_against_reference(name, xs, attrs, exact=True, rtol=0.0):
    """The op on xs in the C runtime, and in the registry's reference."""
    tattrs = {k: tuple(v) for k, v in attrs.items()}
    types = registry.infer(name, [registry.TensorType(x.shape, x.dtype.name) for x in xs], tattrs)
    code = {v: k for k, v in NAMES.items()}
    data = archive(name, [(x.shape, code[x.dtype.name]) for x in xs], [(t.shape, code[t.dtype]) for t in types],
                   list(attrs.items()))
    got = rt.load(data)(*xs)
    got = list(got) if isinstance(got, tuple) else [got]
    want = registry.evaluate(name, xs, tattrs)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if exact or w.dtype.kind in "biu":
            np.testing.assert_array_equal(g.reshape(-1).view(np.uint8), np.array(w).reshape(-1).view(np.uint8))
        else:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=1e-6)
            np.testing.assert_array_equal(np.signbit(g) | np.isnan(g), np.signbit(w) | np.isnan(w))
    return got


def bits(v):
    return np.asarray(v, np.uint32).view(np.float32)


SPECIALS = np.array([1.0, np.nan, -0.0, 0.0, -np.inf, np.inf, bits(0xFFC00000), 1.0, -2.0, 0.0, -0.0, bits(0x7F800001),
                     3.0e38, -1e-45, 1e-45, 2.0], np.float32)


# --------------------------------------------------------------------------
# kernels against the references


@pytest.mark.parametrize("total_order", [0, 1])
@pytest.mark.parametrize("descending", [0, 1])
def test_sort_float_orders(rng, descending, total_order):
    # rows along dims 0, 1 and 2 (strided), ties, signed zeros, NaNs of both signs
    x = rng.permutation(np.tile(SPECIALS, 6)).reshape(4, 6, 4).astype(np.float32)
    for dim in range(3):
        run_against_reference("sort", [x], {"dim": [dim], "descending": [descending], "stable": [0],
                                            "total_order": [total_order]})


@pytest.mark.parametrize("dtype", [np.int32, ml_dtypes.bfloat16])
def test_sort_int32_and_bfloat16(rng, dtype):
    x = rng.integers(-3, 4, (5, 9)).astype(dtype)
    if dtype == np.int32:
        x[0, :3] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max, -1]
    for dim, desc in [(0, 0), (1, 1), (1, 0)]:
        run_against_reference("sort", [x], {"dim": [dim], "descending": [desc], "stable": [1], "total_order": [1]})


@pytest.mark.parametrize("descending", [(0, 0), (1, 0), (0, 1)])
@pytest.mark.parametrize("total_order", [(0, 0), (1, 0), (0, 1)])
def test_sort_by_two_keys(rng, descending, total_order):
    # a float key of specials (ties in the first key under both orders) and a
    # few-valued int key, then the index: along dims 0, 1 and 2 (strided)
    x = rng.permutation(np.tile(SPECIALS, 6)).reshape(4, 6, 4).astype(np.float32)
    i = rng.integers(-2, 3, (4, 6, 4)).astype(np.int32)
    for keys, flags in [((x, i), (descending, total_order)), ((i, x), (descending, total_order[::-1]))]:
        for dim in range(3):
            run_against_reference("sort", list(keys), {"dim": [dim], "descending": list(flags[0]), "stable": [1],
                                                       "total_order": list(flags[1])})
    y = rng.permutation(np.tile(SPECIALS, 6)).reshape(4, 6, 4).astype(np.float32)
    run_against_reference("sort", [x, y, i], {"dim": [1], "descending": [1, 0, 1], "stable": [1],
                                              "total_order": [1, 0, 0]})


def test_sort_long_rows_and_empty_dims(rng):
    # many equal keys over a long row; dims of size 1 and 0
    run_against_reference("sort", [rng.integers(0, 5, (2, 3000)).astype(np.float32)],
                          {"dim": [1], "descending": [1], "stable": [1], "total_order": [0]})
    for shape, dim in [((1,), 0), ((3, 1), 1), ((0, 4), 1), ((4, 0), 1), ((2, 0, 3), 1)]:
        run_against_reference("sort", [rng.standard_normal(shape).astype(np.float32)],
                              {"dim": [dim], "descending": [0], "stable": [1], "total_order": [1]})


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k(rng, largest):
    x = rng.permutation(np.tile(SPECIALS, 6)).reshape(4, 6, 4).astype(np.float32)
    i = rng.integers(-2, 3, (4, 6, 4)).astype(np.int32)
    for dim in range(3):
        for k in {0, 1, 3, x.shape[dim]}:
            for v in (x, i):
                run_against_reference("top_k", [v], {"k": [k], "dim": [dim], "largest": [largest]})
    run_against_reference("top_k", [rng.standard_normal((3, 500)).astype(np.float32)],
                          {"k": [37], "dim": [1], "largest": [largest]})


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, ml_dtypes.bfloat16])
def test_reverse(rng, dtype):
    x = (rng.standard_normal((2, 3, 1, 4)) * 4).astype(dtype)
    for dims in [[], [0], [3], [1, 3], [0, 1, 2, 3], [2], [3, 0]]:
        run_against_reference("reverse", [x], {"dims": dims})
    run_against_reference("reverse", [np.asarray(2.5, np.float32)], {"dims": []})
    run_against_reference("reverse", [np.zeros((0, 3), np.float32)], {"dims": [1]})


CONV_TRANSPOSE_CASES = [
    # x NHWC, w [KH, KW, C/g, O], stride, padding (t, b, l, r), output padding, dilation, groups, activation
    ((2, 4, 5, 3), (3, 3, 3, 4), (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1, 0),
    ((1, 3, 4, 4), (2, 3, 2, 6), (3, 2), (0, 2, 3, 1), (2, 0), (1, 2), 2, 1),
    ((1, 5, 3, 2), (4, 1, 2, 3), (1, 3), (5, 0, 0, 2), (0, 4), (2, 1), 1, 3),
    ((1, 2, 2, 3), (3, 3, 1, 6), (2, 2), (0, 0, 0, 0), (0, 0), (1, 1), 3, 2),
    ((2, 1, 70, 5), (1, 3, 5, 2), (1, 2), (0, 0, 1, 1), (0, 1), (1, 1), 1, 0),  # more than one GEMM block of pixels
    ((1, 3, 3, 0), (2, 2, 0, 2), (2, 2), (0, 0, 0, 0), (0, 0), (1, 1), 1, 1),  # no input channels: act(b)
    ((0, 3, 3, 2), (2, 2, 2, 2), (2, 2), (0, 0, 0, 0), (0, 0), (1, 1), 1, 0),  # no images
]


@pytest.mark.parametrize("xs,ws,stride,padding,extra,dilation,groups,act", CONV_TRANSPOSE_CASES)
def test_conv_transpose2d(rng, xs, ws, stride, padding, extra, dilation, groups, act):
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[3]).astype(np.float32)
    run_against_reference("conv_transpose2d", [x, w, b],
                          {"stride": stride, "padding": padding, "output_padding": extra, "dilation": dilation,
                           "groups": [groups], "activation": [act]}, exact=False, rtol=2e-5)


def test_prod_and_cumprod(rng):
    x = rng.uniform(0.5, 1.5, (3, 4, 5)).astype(np.float32)
    i = rng.integers(-3, 4, (3, 4, 5)).astype(np.int32)
    for dims, keep in [([1], 0), ([0, 2], 1), ([], 0), ([0, 1, 2], 0)]:
        run_against_reference("prod", [x], {"dims": dims, "keepdim": [keep]}, exact=False, rtol=1e-6)
        run_against_reference("prod", [i], {"dims": dims, "keepdim": [keep]})
    run_against_reference("prod", [np.zeros((0, 3), np.float32)], {"dims": [0], "keepdim": [0]})
    big = np.full((1, 40), 65536, np.int32)  # wraps to 0
    run_against_reference("prod", [big], {"dims": [1], "keepdim": [0]})
    for dim in range(3):
        run_against_reference("cumprod", [x], {"dim": [dim]})  # float32 in order: bit for bit
        run_against_reference("cumprod", [i], {"dim": [dim]})


def test_rounding_and_elementwise():
    x = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 3.5, -0.3, 0.3, 0.49999997, -0.49999997, 4194304.5, -4194304.5,
                  8388607.5, 8388609.0, 1e30, -0.0, 0.0, np.inf, -np.inf, np.nan, 1e-45], np.float32)
    for name in ("round", "round_afz", "isfinite"):
        run_against_reference(name, [x], {})
    y = np.array([0.0, -0.0, 1e-10, -1e-10, 1e-30, 0.5, -0.5, 20.0, 88.0, 89.0, -100.0, -0.99999994, -1.0, -2.0,
                  np.inf, -np.inf, np.nan], np.float32)
    for name in ("expm1", "log1p"):
        run_against_reference(name, [y], {}, exact=False, rtol=1e-6)


# --------------------------------------------------------------------------
# the verifier


@pytest.mark.parametrize("name,inputs,outputs,attrs,words", [
    ("sort", [([3, 4], F32)], [([3, 4], F32)], [("dim", [1]), ("descending", [0]), ("stable", [0]),
                                                ("total_order", [0])], ["has 2 output(s), got 1"]),
    ("sort", [([3, 4], F32)], [([3, 4], F32), ([3, 4], F32)],
     [("dim", [1]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["output 1 is float32[3, 4], expected element type int32"]),
    ("sort", [([3, 4], F32)], [([3, 4], F32), ([4, 3], I32)],
     [("dim", [1]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["output 1 is int32[4, 3], expected shape [3, 4]"]),
    ("sort", [([3, 4], BF16)], [([3, 4], F32), ([3, 4], I32)],
     [("dim", [1]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["output 0 is float32[3, 4], expected element type bfloat16"]),
    ("sort", [([3, 4], F32)], [([3, 4], F32), ([3, 4], I32)],
     [("dim", [2]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["attribute 'dim' is 2, out of range for float32[3, 4]"]),
    ("sort", [([3, 4], F32)], [([3, 4], F32), ([3, 4], I32)],
     [("dim", [0]), ("descending", [2]), ("stable", [0]), ("total_order", [0])],
     ["attribute 'descending' must hold 0 or 1 per key, key 0 has 2"]),
    ("sort", [([3, 4], F32)], [([3, 4], F32), ([3, 4], I32)], [("dim", [0]), ("descending", [0]), ("stable", [0])],
     ["missing attribute 'total_order'"]),
    ("sort", [([], F32)], [([], F32), ([], I32)],
     [("dim", [0]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["attribute 'dim' is 0, out of range for float32[]"]),
    ("sort", [([2, 2**31 + 1], F32)], [([2, 2**31 + 1], F32), ([2, 2**31 + 1], I32)],
     [("dim", [1]), ("descending", [0]), ("stable", [0]), ("total_order", [0])],
     ["too long for int32 indices"]),
    ("top_k", [([3, 4], F32)], [([3, 2], F32), ([3, 2], I32)], [("k", [5]), ("dim", [1]), ("largest", [1])],
     ["attribute 'k' is 5, expected 0 to 4"]),
    ("top_k", [([3, 4], F32)], [([3, 2], F32), ([3, 2], I32)], [("k", [-1]), ("dim", [1]), ("largest", [1])],
     ["attribute 'k' is -1"]),
    ("top_k", [([3, 4], F32)], [([3, 2], F32), ([3, 2], I32)], [("k", [2]), ("dim", [0]), ("largest", [1])],
     ["output 0 is float32[3, 2], expected shape [2, 4]"]),
    ("top_k", [([3, 4], I32)], [([3, 2], I32), ([3, 2], F32)], [("k", [2]), ("dim", [1]), ("largest", [1])],
     ["output 1 is float32[3, 2], expected element type int32"]),
    ("top_k", [([3, 4], F32)], [([3, 2], F32), ([3, 2], I32)], [("k", [2]), ("dim", [1]), ("largest", [3])],
     ["attribute 'largest' is 3, expected 0 to 1"]),
    ("reverse", [([3, 4], F32)], [([3, 4], F32)], [("dims", [0, 0])], ["attribute 'dims' [0, 0] is not a set"]),
    ("reverse", [([3, 4], F32)], [([3, 4], F32)], [("dims", [2])], ["attribute 'dims' [2] is not a set"]),
    ("reverse", [([3, 4], F32)], [([3, 4], F32)], [("dims", [-1])], ["is not a set of dims"]),
    ("reverse", [([3, 4], F32)], [([3, 4], F32)], [("dims", [0, 1, 0])], ["must hold 0 to 2 integers"]),
    ("reverse", [([3, 4], F32)], [([4, 3], F32)], [("dims", [0])], ["output is float32[4, 3], expected shape [3, 4]"]),
    ("isfinite", [([3], F32)], [([3], F32)], [], ["output is float32[3], expected element type bool"]),
    ("isfinite", [([3], BF16)], [([4], BOOL)], [], ["output is bool[4], expected shape [3]"]),
    ("round", [([3], F32)], [([3], BF16)], [], ["output is bfloat16[3], expected element type float32"]),
    ("expm1", [([3], F32)], [([3], F32), ([3], F32)], [], ["has 1 output(s), got 2"]),
    ("prod", [([2, 3], F32)], [([2], F32)], [("dims", [1, 1]), ("keepdim", [0])], ["bad reduction dims [1, 1]"]),
    ("prod", [([2, 3], F32)], [([3], F32)], [("dims", [1]), ("keepdim", [0])], ["expected shape [2]"]),
    ("cumprod", [([2, 3], I32)], [([2, 3], I32)], [("dim", [-1])], ["attribute 'dim' is -1, out of range"]),
])
def test_broken_ops_are_refused(name, inputs, outputs, attrs, words):
    expect_refused(archive(name, inputs, outputs, attrs), rt.InvalidArchiveError,
                   f"operation 0 '{name}' (model.py:7)", *words)


def conv_t_attrs(stride=(1, 1), padding=(0, 0, 0, 0), extra=(0, 0), dilation=(1, 1), groups=1, act=0):
    return [("stride", stride), ("padding", padding), ("output_padding", extra), ("dilation", dilation),
            ("groups", [groups]), ("activation", [act])]


BIG = 2**62


@pytest.mark.parametrize("x,w,b,out,attrs,words", [
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(), None),  # valid
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 6, 4], conv_t_attrs(), ["expected shape [1, 5, 5, 4]"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 1, 1, 4], conv_t_attrs(padding=(2, 2, 2, 2)), None),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 1, 1, 4], conv_t_attrs(padding=(3, 2, 2, 2)), ["crops all 5 positions"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 1, 1, 4], conv_t_attrs(padding=(0, 5, 2, 2)), ["crops all"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(padding=(-1, 0, 0, 0)),
     ["padding and output padding >= 0"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(stride=(0, 1)), ["must be >= 1"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(dilation=(1, 0)), ["must be >= 1"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(extra=(0, -2)), ["output padding >= 0"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(stride=(BIG, 1)), ["overflow"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(dilation=(1, BIG)), ["overflow"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(extra=(BIG, 0)), ["overflow"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(stride=(2**61, 1)), ["overflow"]),
    ([1, 0, 3, 2], [3, 3, 2, 4], [4], [1, 2, 5, 4], conv_t_attrs(), ["input height is empty"]),
    ([1, 3, 3, 2], [3, 3, 3, 4], [4], [1, 5, 5, 4], conv_t_attrs(), ["channels do not match"]),
    ([1, 3, 3, 4], [3, 3, 2, 3], [3], [1, 5, 5, 3], conv_t_attrs(groups=2), ["channels do not match"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [3], [1, 5, 5, 4], conv_t_attrs(), ["channels do not match"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(groups=0), ["attribute 'groups' is 0"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(act=9), ["attribute 'activation' is 9"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs()[:-1], ["missing attribute 'activation'"]),
    ([1, 3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], [(n, v[:1]) if n == "padding" else (n, v)
                                                      for n, v in conv_t_attrs()], ["'padding' must hold 4"]),
    ([3, 3, 2], [3, 3, 2, 4], [4], [1, 5, 5, 4], conv_t_attrs(), ["needs x[N,H,W,C]"]),
])
def test_conv_transpose2d_rules(x, w, b, out, attrs, words):
    data = archive("conv_transpose2d", [(x, F32), (w, F32), (b, F32)], [(out, F32)], attrs)
    if words is None:
        model = rt.load(data)
        args = [np.ones(s, np.float32) for s in (x, w, b)]
        assert model(*args).shape == tuple(out)
    else:
        expect_refused(data, rt.InvalidArchiveError, "operation 0 'conv_transpose2d' (model.py:7)", *words)


def test_input_types_outside_the_registry_are_refused():
    expect_refused(archive("sort", [([3], BOOL)], [([3], BOOL), ([3], I32)],
                           [("dim", [0]), ("descending", [0]), ("stable", [0]), ("total_order", [0])]),
                   rt.InvalidArchiveError, "operation 0 'sort'", "input 0 is bool, which the op is not defined on")
    expect_refused(archive("expm1", [([3], I32)], [([3], I32)]), rt.InvalidArchiveError,
                   "input 0 is int32, which the op is not defined on")
