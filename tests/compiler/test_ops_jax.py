"""Per-op results through the whole pipeline: a JAX function is lowered to
StableHLO, compiled by ttpack.build into a .ttpack archive, run by the C
runtime (ttpack.runtime) and compared with what JAX itself computes on the
same seeded random inputs.

Every test names the StableHLO op(s) it is meant to exercise and checks that
JAX really emits them, and test_every_lowering_is_covered checks that those
names, together with the ones test_ops_torch.py checks torch_xla emits (ops
JAX never emits: batch_norm_*, custom_call @mhlo.erf), cover every entry of
the frontend's LOWERINGS table. Where a fusion pass should turn a function
into one TTNN op (conv2d + bias + relu, linear + gelu, softmax, layer_norm,
avg_pool2d...), the archive's op list is checked too.

Tolerances (float32 results; integers and bools are always compared exactly):
  ELEMENTWISE     rtol 1e-5, atol 1e-6: one correctly rounded op per element.
  TRANSCENDENTAL  rtol 2e-5, atol 1e-6: XLA's CPU backend evaluates exp, log,
                  tanh, sin, pow, ... with its own vectorized polynomial
                  approximations while the C runtime calls libm, so the two
                  may differ by a few ulp. (Observed within 1e-5 here; 2e-5,
                  ~170 ulp, leaves room for other libm/XLA versions.)
  ACCUMULATING    rtol 1e-4, atol 1e-5: reductions, matmuls, convolutions,
                  window sums (avg pooling, cumsum) and the fused softmax /
                  layer_norm sum in a different order (and the runtime sums
                  in double), so rounding differs with the number of terms.
erf/erfc and the gelus use TRANSCENDENTAL (XLA's erf is a polynomial of its
own); max pooling, pad, gathers and slices move values: ELEMENTWISE/exact.
"""

from __future__ import annotations

import inspect
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_matches_jax, jax_reference

ELEMENTWISE = dict(rtol=1e-5, atol=1e-6)
TRANSCENDENTAL = dict(rtol=2e-5, atol=1e-6)
ACCUMULATING = dict(rtol=1e-4, atol=1e-5)
EXACT = dict(rtol=0, atol=0)

F32, I32, BOOL = np.float32, np.int32, np.bool_
INT_MIN, INT_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max

# A rank-0 scalar, a size-1 dim, a non-square matrix, a rank-3 shape with a
# size-1 dim in the middle, and a zero-size dim.
SHAPES = [(), (1,), (3, 4), (2, 1, 5), (0, 3)]

# StableHLO op names the tests below assert JAX emits (see `covers`).
COVERED: set[str] = set()


def covers(*ops: str) -> tuple[str, ...]:
    COVERED.update(ops)
    return ops


# --- inputs ---------------------------------------------------------------------


def floats(rng, shape, kind="any"):
    """Seeded float32 data. "any" mixes random normals with exact integers,
    halves and signed zeros (the interesting points of sign/floor/ceil);
    "positive" is in [0.1, 5); "nonzero" has magnitude in [0.5, 3)."""
    if kind == "positive":
        return np.asarray(rng.uniform(0.1, 5.0, shape), F32)
    if kind == "nonzero":
        return np.asarray(rng.uniform(0.5, 3.0, shape) * rng.choice([-1.0, 1.0], shape), F32)
    x = np.asarray(rng.standard_normal(shape) * 3, F32)
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, 2.0, -3.0, 0.5, -2.5, 1.0, -1.0], F32)
    flat[::3] = specials[np.arange(flat[::3].size) % specials.size]
    return x


def ints(rng, shape, lo=-20, hi=20):
    return np.asarray(rng.integers(lo, hi + 1, shape), I32)


def nonzero_ints(rng, shape, lo=-7, hi=7):
    x = ints(rng, shape, lo, hi)
    return np.where(x == 0, 3, x).astype(I32)


def bools(rng, shape):
    return np.asarray(rng.random(shape) < 0.5)


def make(rng, shape, kind):
    """kind: float[-positive|-nonzero], int (in [-20, 20]), int-nonzero,
    int-full (all of int32), shift (in [0, 31]), bool."""
    if kind.startswith("float"):
        return floats(rng, shape, kind.split("-", 1)[1] if "-" in kind else "any")
    if kind == "int":
        return ints(rng, shape)
    if kind == "int-nonzero":
        return nonzero_ints(rng, shape)
    if kind == "int-full":
        return np.asarray(rng.integers(INT_MIN, INT_MAX, shape, endpoint=True), I32)
    if kind == "shift":
        return ints(rng, shape, 0, 31)
    if kind == "bool":
        return bools(rng, shape)
    raise AssertionError(kind)


# --- checking -------------------------------------------------------------------


def stablehlo_text(fn, inputs, params=None) -> str:
    args = ([params] if params is not None else []) + list(inputs)
    return jax.jit(fn).lower(*args).as_text()


def assert_emits(fn, inputs, ops, params=None):
    """The test is only meaningful if JAX lowers fn to the op under test."""
    text = stablehlo_text(fn, inputs, params)
    for op in ops:
        pattern = r"\bcall @" if op == "func.call" else re.escape(op) + r"(?![\w.])"
        assert re.search(pattern, text), f"JAX did not emit {op} for this function:\n{text}"


def check(build_and_load, fn, inputs, ops=(), *, params=None, options=None, tol=ELEMENTWISE):
    if ops:
        assert_emits(fn, inputs, ops, params)
    kw = {"options": options} if options is not None else {}
    model, path = build_and_load(fn, inputs, params, **kw)
    assert path.exists()
    assert_matches_jax(model, fn, inputs, params=params, **tol)
    return model


def ids(table):
    return [row[0] for row in table]


def _stablehlo_primitive(name, emit):
    """A JAX primitive lowered to one StableHLO op, for ops jnp/lax never emit
    on their own (JAX expands lax.logistic into exp/add/divide, and lax.pow
    rejects integer bases). jax.jit of it still gives XLA's own result."""
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    prim = Primitive(name)
    prim.def_abstract_eval(lambda x, *rest: jax.core.ShapedArray(x.shape, x.dtype))
    mlir.register_lowering(prim, lambda ctx, *args: [emit(*args)])
    return prim.bind


def _stablehlo_op(name):
    from jaxlib.mlir.dialects import stablehlo

    return getattr(stablehlo, name)


stablehlo_logistic = _stablehlo_primitive("ttpack_test_logistic", lambda x: _stablehlo_op("logistic")(x))
stablehlo_power = _stablehlo_primitive("ttpack_test_power", lambda x, y: _stablehlo_op("power")(x, y))


# --- unary ------------------------------------------------------------------------

UNARY_FLOAT = [
    # name, fn, input kind, StableHLO op, tolerance
    ("negate", jnp.negative, "float", "stablehlo.negate", ELEMENTWISE),
    ("abs", jnp.abs, "float", "stablehlo.abs", ELEMENTWISE),
    ("sign", jnp.sign, "float", "stablehlo.sign", ELEMENTWISE),
    ("exp", jnp.exp, "float", "stablehlo.exponential", TRANSCENDENTAL),
    ("log", jnp.log, "float-positive", "stablehlo.log", TRANSCENDENTAL),
    ("sqrt", jnp.sqrt, "float-positive", "stablehlo.sqrt", ELEMENTWISE),
    ("rsqrt", jax.lax.rsqrt, "float-positive", "stablehlo.rsqrt", TRANSCENDENTAL),
    ("tanh", jnp.tanh, "float", "stablehlo.tanh", TRANSCENDENTAL),
    ("logistic", stablehlo_logistic, "float", "stablehlo.logistic", TRANSCENDENTAL),
    ("sigmoid", jax.nn.sigmoid, "float", "stablehlo.exponential", TRANSCENDENTAL),
    ("sine", jnp.sin, "float", "stablehlo.sine", TRANSCENDENTAL),
    ("cosine", jnp.cos, "float", "stablehlo.cosine", TRANSCENDENTAL),
    ("floor", jnp.floor, "float", "stablehlo.floor", ELEMENTWISE),
    ("ceil", jnp.ceil, "float", "stablehlo.ceil", ELEMENTWISE),
]
for _row in UNARY_FLOAT:
    covers(_row[3])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,fn,kind,op,tol", UNARY_FLOAT, ids=ids(UNARY_FLOAT))
def test_unary_float(build_and_load, rng, name, fn, kind, op, tol, shape):
    # jax.nn.sigmoid is 1 / (1 + exp(-x)) with rank-0 literals, also for a rank-0 x.
    x = make(rng, shape, kind)
    check(build_and_load, fn, [x], [op], tol=tol)


UNARY_INT = [
    ("negate", jnp.negative, "stablehlo.negate"),
    ("abs", jnp.abs, "stablehlo.abs"),
    ("sign", jnp.sign, "stablehlo.sign"),
    ("not", jnp.invert, "stablehlo.not"),
]
covers("stablehlo.not")


@pytest.mark.parametrize("shape", [(), (3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("name,fn,op", UNARY_INT, ids=ids(UNARY_INT))
def test_unary_int32(build_and_load, rng, name, fn, op, shape):
    check(build_and_load, fn, [ints(rng, shape)], [op])


@pytest.mark.parametrize("name,fn,op", UNARY_INT, ids=ids(UNARY_INT))
def test_unary_int32_extremes(build_and_load, name, fn, op):
    # INT_MIN has no positive counterpart: negate/abs wrap in XLA.
    x = np.array([INT_MIN, INT_MIN + 1, -1, 0, 1, INT_MAX], I32)
    check(build_and_load, fn, [x], [op])


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (0, 3)], ids=str)
def test_not_bool(build_and_load, rng, shape):
    check(build_and_load, jnp.logical_not, [bools(rng, shape)], ["stablehlo.not"])


def test_unary_float_special_values(build_and_load):
    # inf, -inf and NaN through the exact-valued unary ops; JAX defines them all.
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e30, -1e30, 1e-30], F32)
    for fn in (jnp.negative, jnp.abs, jnp.sign, jnp.floor, jnp.ceil, jnp.exp, jnp.tanh,
               stablehlo_logistic):
        check(build_and_load, fn, [x], tol=TRANSCENDENTAL)


def test_unary_float_domain_edges(build_and_load):
    # log(0) = -inf, log(<0) = NaN, sqrt(-0) = -0, rsqrt(0) = inf, rsqrt(-0) = -inf ...
    x = np.array([0.0, -0.0, -1.0, np.inf, 1e-30, 1e30], F32)
    for fn in (jnp.log, jnp.sqrt, jax.lax.rsqrt):
        check(build_and_load, fn, [x], tol=TRANSCENDENTAL)
    check(build_and_load, lambda x: 1.0 / jnp.sqrt(x), [x])  # -0.0 keeps its sign: -inf


def test_sign_of_negative_zero(build_and_load):
    # XLA keeps the sign of zero: 1 / sign(-0.0) = -inf.
    x = np.array([-0.0, 0.0, -2.0], F32)
    check(build_and_load, lambda x: 1.0 / jnp.sign(x), [x], ["stablehlo.sign"])


# --- binary -------------------------------------------------------------------------

BINARY_FLOAT = [
    # name, fn, lhs kind, rhs kind, StableHLO op, tolerance
    ("add", jnp.add, "float", "float", "stablehlo.add", ELEMENTWISE),
    ("subtract", jnp.subtract, "float", "float", "stablehlo.subtract", ELEMENTWISE),
    ("multiply", jnp.multiply, "float", "float", "stablehlo.multiply", ELEMENTWISE),
    ("divide", jnp.divide, "float", "float-nonzero", "stablehlo.divide", ELEMENTWISE),
    ("remainder", jax.lax.rem, "float", "float-nonzero", "stablehlo.remainder", ELEMENTWISE),
    ("maximum", jnp.maximum, "float", "float", "stablehlo.maximum", ELEMENTWISE),
    ("minimum", jnp.minimum, "float", "float", "stablehlo.minimum", ELEMENTWISE),
    ("power", jnp.power, "float-positive", "float", "stablehlo.power", TRANSCENDENTAL),
]
for _row in BINARY_FLOAT:
    covers(_row[4])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,fn,lk,rk,op,tol", BINARY_FLOAT, ids=ids(BINARY_FLOAT))
def test_binary_float(build_and_load, rng, name, fn, lk, rk, op, tol, shape):
    check(build_and_load, fn, [make(rng, shape, lk), make(rng, shape, rk)], [op], tol=tol)


BINARY_INT = [
    ("add", jnp.add, "int-full", "int-full", "stablehlo.add"),  # wraps on overflow
    ("subtract", jnp.subtract, "int-full", "int-full", "stablehlo.subtract"),
    ("multiply", jnp.multiply, "int-full", "int-full", "stablehlo.multiply"),
    ("multiply-small", jnp.multiply, "int", "int", "stablehlo.multiply"),
    # lax.div truncates toward zero and lax.rem takes the dividend's sign;
    # operands of both signs, no zero divisors (see test_int_division_edge_cases).
    ("divide", jax.lax.div, "int", "int-nonzero", "stablehlo.divide"),
    ("remainder", jax.lax.rem, "int", "int-nonzero", "stablehlo.remainder"),
    ("maximum", jnp.maximum, "int", "int", "stablehlo.maximum"),
    ("minimum", jnp.minimum, "int", "int", "stablehlo.minimum"),
    ("and", jnp.bitwise_and, "int-full", "int-full", "stablehlo.and"),
    ("or", jnp.bitwise_or, "int-full", "int-full", "stablehlo.or"),
    ("xor", jnp.bitwise_xor, "int-full", "int-full", "stablehlo.xor"),
    ("shift_left", jax.lax.shift_left, "int-full", "shift", "stablehlo.shift_left"),
    ("shift_right_logical", jax.lax.shift_right_logical, "int-full", "shift",
     "stablehlo.shift_right_logical"),
    ("shift_right_arithmetic", jax.lax.shift_right_arithmetic, "int-full", "shift",
     "stablehlo.shift_right_arithmetic"),
]
for _row in BINARY_INT:
    covers(_row[4])


@pytest.mark.parametrize("shape", [(), (3, 4), (2, 1, 5), (0, 3)], ids=str)
@pytest.mark.parametrize("name,fn,lk,rk,op", BINARY_INT, ids=ids(BINARY_INT))
def test_binary_int32(build_and_load, rng, name, fn, lk, rk, op, shape):
    check(build_and_load, fn, [make(rng, shape, lk), make(rng, shape, rk)], [op])


def test_int_divide_negative_operands(build_and_load):
    # Every sign combination, exact and inexact quotients.
    a = np.array([7, -7, 7, -7, 6, -6, 1, -1, 0, INT_MAX, INT_MIN, INT_MIN], I32)
    b = np.array([2, 2, -2, -2, 3, -3, 5, 5, -4, -1, 2, 7], I32)
    check(build_and_load, jax.lax.div, [a, b], ["stablehlo.divide"])
    check(build_and_load, jax.lax.rem, [a, b], ["stablehlo.remainder"])


def test_int_division_edge_cases(build_and_load):
    # XLA's CPU results are defined here: x/0 = -1, x%0 = x, INT_MIN/-1 = INT_MIN,
    # INT_MIN%-1 = 0 (the C runtime must not trap on them either).
    a = np.array([5, -5, 0, INT_MIN, INT_MIN, INT_MAX, 3], I32)
    b = np.array([0, 0, 0, -1, 0, -1, -1], I32)
    check(build_and_load, jax.lax.div, [a, b], ["stablehlo.divide"])
    check(build_and_load, jax.lax.rem, [a, b], ["stablehlo.remainder"])


def test_float_division_by_zero(build_and_load):
    a = np.array([1.0, -1.0, 0.0, np.inf, 2.5], F32)
    b = np.array([0.0, 0.0, 0.0, 0.0, -0.0], F32)
    check(build_and_load, jnp.divide, [a, b], ["stablehlo.divide"])


def test_python_style_floor_divide_and_mod_int32(build_and_load, rng):
    # jnp's // and % on ints are composites of divide, remainder, sign, select...
    a, b = ints(rng, (4, 5)), nonzero_ints(rng, (4, 5))
    check(build_and_load, lambda a, b: (a // b, a % b), [a, b],
          ["stablehlo.divide", "stablehlo.remainder"])


def test_float_power_and_remainder_special_values(build_and_load):
    a = np.array([0.0, 0.0, -8.0, -2.0, np.inf, 1.0, 2.0, -0.0, 0.5, -1.0], F32)
    b = np.array([0.0, -1.0, 1 / 3, 3.0, -1.0, np.nan, np.inf, -1.0, -np.inf, np.inf], F32)
    check(build_and_load, jnp.power, [a, b], ["stablehlo.power"])
    a = np.array([5.5, -5.5, np.inf, 1.0, 0.0, -0.0, 7.0], F32)
    b = np.array([0.0, 2.0, 2.0, np.inf, -3.0, 2.0, -2.5], F32)
    check(build_and_load, jax.lax.rem, [a, b], ["stablehlo.remainder"])


def test_clamp_nan(build_and_load):
    x = np.array([np.nan, -5.0, 5.0, 0.5], F32)
    check(build_and_load, lambda x: (jnp.clip(x, -1.0, 1.0), jax.lax.clamp(F32(-1.0), x, F32(1.0))), [x],
          ["stablehlo.clamp"])


def test_float_maximum_minimum_nan(build_and_load):
    # XLA's maximum/minimum propagate NaN from either operand.
    a = np.array([np.nan, 1.0, np.nan, -np.inf, 0.0], F32)
    b = np.array([1.0, np.nan, np.nan, 3.0, -0.0], F32)
    check(build_and_load, lambda a, b: (jnp.maximum(a, b), jnp.minimum(a, b)), [a, b],
          ["stablehlo.maximum", "stablehlo.minimum"])


@pytest.mark.parametrize("shape", [(), (3, 4), (0, 2)], ids=str)
def test_power_float_base_int_exponent(build_and_load, rng, shape):
    # lax.pow(float, int32) converts the exponent and uses stablehlo.power.
    x, n = floats(rng, shape, "nonzero"), ints(rng, shape, -4, 4)
    check(build_and_load, jax.lax.pow, [x, n], ["stablehlo.power"], tol=TRANSCENDENTAL)


@pytest.mark.parametrize("shape", [(), (3, 4)], ids=str)
def test_power_int32(build_and_load, rng, shape):
    # jnp.power on int arrays is square-and-multiply built from multiply/and/shift/select.
    x, n = ints(rng, shape, -6, 6), ints(rng, shape, 0, 5)
    check(build_and_load, jnp.power, [x, n], ["stablehlo.multiply"])


@pytest.mark.parametrize("shape", [(), (3, 4), (0, 3)], ids=str)
def test_stablehlo_power_int32(build_and_load, rng, shape):
    # stablehlo.power on int32 itself (see stablehlo_power): small exponents
    # of either sign; negative exponents give 0 except for bases 1 and -1.
    x, n = ints(rng, shape, -5, 5), ints(rng, shape, -3, 6)
    check(build_and_load, stablehlo_power, [x, n], ["stablehlo.power"])


def test_stablehlo_power_int32_edge_cases(build_and_load):
    x = np.array([0, 0, 1, -1, -1, 2, 2, 3, -2, 7, INT_MIN, 0], I32)
    n = np.array([0, -1, -7, -7, -8, 31, 32, 20, 31, 0, 2, 5], I32)  # wrap-around included
    check(build_and_load, stablehlo_power, [x, n], ["stablehlo.power"])


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7])
def test_integer_pow_static_exponent(build_and_load, rng, k):
    # x ** k with a Python int is lax.integer_pow: a chain of multiplies.
    xi, xf = ints(rng, (3, 4), -9, 9), floats(rng, (3, 4))
    check(build_and_load, lambda a, b: (a ** k, b ** k), [xi, xf], tol=ACCUMULATING)


BINARY_BOOL = [
    ("and", jnp.logical_and, "stablehlo.and"),
    ("or", jnp.logical_or, "stablehlo.or"),
    ("xor", jnp.logical_xor, "stablehlo.xor"),
    ("bitwise_and", jnp.bitwise_and, "stablehlo.and"),
    ("maximum", jnp.maximum, None),
    ("minimum", jnp.minimum, None),
]


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("name,fn,op", BINARY_BOOL, ids=ids(BINARY_BOOL))
def test_binary_bool(build_and_load, rng, name, fn, op, shape):
    check(build_and_load, fn, [bools(rng, shape), bools(rng, shape)], [op] if op else [])


SHIFTS = [
    ("shift_left", jax.lax.shift_left),
    ("shift_right_logical", jax.lax.shift_right_logical),
    ("shift_right_arithmetic", jax.lax.shift_right_arithmetic),
]


@pytest.mark.parametrize("name,fn", SHIFTS, ids=ids(SHIFTS))
def test_shift_every_amount(build_and_load, name, fn):
    # Every in-range amount on negative and positive values (sign bit handling).
    a = np.repeat(np.array([INT_MIN, -12345, -1, 1, 0x40000001, INT_MAX], I32)[:, None], 32, 1)
    s = np.tile(np.arange(32, dtype=I32), (6, 1))
    check(build_and_load, fn, [a, s], [f"stablehlo.{name}"])


@pytest.mark.parametrize("name,fn", SHIFTS, ids=ids(SHIFTS))
def test_shift_out_of_range_amounts(build_and_load, name, fn):
    # XLA defines shifts by amounts outside [0, 32): they saturate.
    a = np.array([5, -5, INT_MIN, INT_MAX, 1, -1], I32)
    s = np.array([32, 33, 100, -1, INT_MIN, INT_MAX], I32)
    check(build_and_load, fn, [a, s], [f"stablehlo.{name}"])


# --- compare --------------------------------------------------------------------------

COMPARES = [
    ("EQ", jnp.equal), ("NE", jnp.not_equal), ("LT", jnp.less),
    ("LE", jnp.less_equal), ("GT", jnp.greater), ("GE", jnp.greater_equal),
]
covers("stablehlo.compare")


def _compare_operands(rng, dtype, shape):
    if dtype == "float32":
        a = floats(rng, shape)
        b = floats(rng, shape)
        b.reshape(-1)[::2] = a.reshape(-1)[::2]  # half the pairs equal
        return a, b
    if dtype == "int32":
        return ints(rng, shape, -3, 3), ints(rng, shape, -3, 3)  # many ties
    return bools(rng, shape), bools(rng, shape)


@pytest.mark.parametrize("shape", [(), (3, 4), (2, 0)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
@pytest.mark.parametrize("direction,fn", COMPARES, ids=ids(COMPARES))
def test_compare(build_and_load, rng, direction, fn, dtype, shape):
    a, b = _compare_operands(rng, dtype, shape)
    text = stablehlo_text(fn, [a, b])
    assert re.search(rf"stablehlo\.compare\s+{direction}\b", text), text
    check(build_and_load, fn, [a, b])


def test_compare_float_nan_and_signed_zero(build_and_load):
    a = np.array([np.nan, np.nan, 1.0, 0.0, -np.inf, np.inf], F32)
    b = np.array([np.nan, 1.0, np.nan, -0.0, -np.inf, 1.0], F32)
    check(build_and_load, lambda a, b: tuple(fn(a, b) for _, fn in COMPARES), [a, b],
          ["stablehlo.compare"])


def test_compare_broadcasting_and_against_constant(build_and_load, rng):
    x, row = floats(rng, (3, 4)), floats(rng, (4,))
    check(build_and_load, lambda x, r: (x < r, x >= 0.5, 2 == jnp.floor(x)), [x, row],
          ["stablehlo.compare"])


# --- select, convert, clamp ----------------------------------------------------------------

covers("stablehlo.select")


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("kind", ["float", "int", "bool"])
def test_select(build_and_load, rng, kind, shape):
    c, x, y = bools(rng, shape), make(rng, shape, kind), make(rng, shape, kind)
    check(build_and_load, jax.lax.select, [c, x, y], ["stablehlo.select"])


def test_where_broadcasting_and_scalars(build_and_load, rng):
    # jnp.where broadcasts all three operands (inside a private @_where).
    c, x, y = bools(rng, (3, 1)), floats(rng, (1, 4)), floats(rng, ())
    check(build_and_load, lambda c, x, y: (jnp.where(c, x, y), jnp.where(x > 0, x, 0.0),
                                           jnp.where(c, 1, -1)),
          [c, x, y], ["stablehlo.select", "func.call"])


CONVERTS = [(s, d) for s in ("float32", "int32", "bool") for d in ("float32", "int32", "bool") if s != d]
covers("stablehlo.convert")


@pytest.mark.parametrize("shape", [(), (3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("src,dst", CONVERTS, ids=[f"{s}->{d}" for s, d in CONVERTS])
def test_convert(build_and_load, rng, src, dst, shape):
    # Floats include negatives, halves and zeros: -2.5 -> -2 (truncation),
    # 0.0 -> False. x.astype(bool) is x != 0 against a rank-0 zero literal.
    x = {"float32": floats(rng, shape) * 4, "int32": ints(rng, shape, -3, 3),
         "bool": bools(rng, shape)}[src].astype(src)
    check(build_and_load, lambda x: x.astype(dst), [x], ["stablehlo.convert"])


def test_convert_float_to_int32_truncates_toward_zero(build_and_load):
    x = np.array([-2.9, -2.5, -2.1, -0.9, -0.0, 0.4, 0.5, 0.99, 1.5, 2.5, 123456.7, -7654321.5], F32)
    check(build_and_load, lambda x: x.astype(jnp.int32), [x], ["stablehlo.convert"])


def test_convert_float_to_int32_out_of_range(build_and_load):
    # XLA's CPU convert saturates out-of-range floats and maps NaN to 0.
    x = np.array([3e9, -3e9, 2147483648.0, -2147483648.0, np.inf, -np.inf, np.nan, 2147483520.0], F32)
    check(build_and_load, lambda x: x.astype(jnp.int32), [x], ["stablehlo.convert"])


def test_convert_large_int32_to_float(build_and_load):
    # Rounds to nearest float32.
    x = np.array([INT_MAX, INT_MIN, 16777217, -16777217, 123456789], I32)
    check(build_and_load, lambda x: x.astype(jnp.float32), [x], ["stablehlo.convert"])


def test_convert_special_floats_to_bool(build_and_load):
    # (No subnormals: XLA's CPU backend flushes them to zero, so JAX says
    # bool(1e-40) is False where IEEE arithmetic says True.)
    x = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30], F32)
    check(build_and_load, lambda x: x.astype(jnp.bool_), [x], ["stablehlo.convert"])


covers("stablehlo.clamp")
CLAMPS = [
    # fn(x, lo, hi, a, b): lo/hi are arrays, a < b scalars of x's dtype
    ("clip-scalars", lambda x, lo, hi, a, b: jnp.clip(x, a, b), None),
    ("clip-lower-only", lambda x, lo, hi, a, b: jnp.clip(x, min=a), None),
    ("clip-array-bounds", lambda x, lo, hi, a, b: jnp.clip(x, lo, hi), None),
    ("clip-row-bounds", lambda x, lo, hi, a, b: jnp.clip(x, lo[0], hi[:, :1]), None),
    ("lax-scalars", lambda x, lo, hi, a, b: jax.lax.clamp(a, x, b), "stablehlo.clamp"),
    ("lax-array-bounds", lambda x, lo, hi, a, b: jax.lax.clamp(lo, x, hi), "stablehlo.clamp"),
    ("lax-crossed-bounds", lambda x, lo, hi, a, b: jax.lax.clamp(hi, x, lo), "stablehlo.clamp"),
]


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize("name,fn,op", CLAMPS, ids=ids(CLAMPS))
def test_clamp(build_and_load, rng, name, fn, op, dtype):
    if dtype == "float32":
        x, lo, hi = floats(rng, (3, 4)), floats(rng, (3, 4)) - 2, floats(rng, (3, 4)) + 2
        a, b = F32(-1.0), F32(1.5)
    else:
        x, lo, hi = ints(rng, (3, 4)), ints(rng, (3, 4), -15, 0), ints(rng, (3, 4), 0, 15)
        a, b = I32(-3), I32(5)
    check(build_and_load, lambda x, lo, hi: fn(x, lo, hi, a, b), [x, lo, hi],
          [op] if op else ["func.call", "stablehlo.maximum"])


@pytest.mark.parametrize("shape", [(), (5,), (0, 2)], ids=str)
def test_lax_clamp_scalar_operand_shapes(build_and_load, rng, shape):
    x = floats(rng, shape)
    lo, hi = np.array(-0.5, F32), np.array(0.75, F32)
    check(build_and_load, lambda lo, x, hi: jax.lax.clamp(lo, x, hi), [lo, x, hi], ["stablehlo.clamp"])


# --- dot_general ------------------------------------------------------------------------------

covers("stablehlo.dot_general")
EINSUMS = [
    ("ij,jk->ik", (3, 4), (4, 5)),
    ("ij,j->i", (3, 4), (4,)),
    ("i,ij->j", (4,), (4, 5)),
    ("i,i->", (7,), (7,)),
    ("i,j->ij", (3,), (4,)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    ("ij,kj->ik", (3, 4), (5, 4)),
    ("ji,jk->ik", (4, 3), (4, 5)),
    ("jbi,bjk->bik", (4, 2, 3), (2, 4, 5)),
    ("ijk,jkl->il", (2, 3, 4), (3, 4, 5)),
    ("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),
    ("bij,jk->bik", (2, 3, 4), (4, 5)),
    ("ij,bjk->bik", (3, 4), (2, 4, 5)),
    ("ij,jk->ik", (1, 4), (4, 1)),
    ("ij,jk->ik", (3, 0), (0, 4)),
    ("ij,jk->ik", (0, 4), (4, 2)),
]


@pytest.mark.parametrize("spec,sa,sb", EINSUMS, ids=[f"{s}:{a}x{b}" for s, a, b in EINSUMS])
def test_einsum_float32(build_and_load, rng, spec, sa, sb):
    a, b = floats(rng, sa), floats(rng, sb)
    check(build_and_load, lambda a, b: jnp.einsum(spec, a, b), [a, b], ["stablehlo.dot_general"],
          tol=ACCUMULATING)


@pytest.mark.parametrize("spec,sa,sb", EINSUMS[:10], ids=[s for s, _, _ in EINSUMS[:10]])
def test_einsum_int32(build_and_load, rng, spec, sa, sb):
    a, b = ints(rng, sa), ints(rng, sb)
    check(build_and_load, lambda a, b: jnp.einsum(spec, a, b), [a, b], ["stablehlo.dot_general"])


DOT_GENERALS = [
    # lhs shape, rhs shape, ((lhs contract, rhs contract), (lhs batch, rhs batch))
    ((4, 2, 3), (2, 4, 5), (((0,), (1,)), ((1,), (0,)))),       # 'jbi,bjk->bik' as written
    ((3, 2, 4), (5, 4, 2), (((2,), (1,)), ((1,), (2,)))),       # batch dims in the middle/last
    ((2, 3, 4), (4, 3, 2), (((1, 2), (1, 0)), ((), ()))),       # two contracting dims, crossed
    ((3, 4), (4, 3), (((0, 1), (1, 0)), ((), ()))),             # full contraction to a scalar
    ((2, 3, 2, 4), (2, 4, 2, 5), (((3,), (1,)), ((0, 2), (0, 2)))),  # two batch dims
    ((2, 3, 4, 5), (5, 6, 2), (((3,), (0,)), ((), ()))),        # several free dims per side
    ((3, 2, 5, 4), (4, 2, 6, 1), (((3,), (0,)), ((1,), (1,)))),  # batch + free dims on both sides
]


@pytest.mark.parametrize("sa,sb,dims", DOT_GENERALS, ids=[str(d) for _, _, d in DOT_GENERALS])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_lax_dot_general(build_and_load, rng, sa, sb, dims, dtype):
    if dtype == "float32":
        a, b = floats(rng, sa), floats(rng, sb)
    else:
        a, b = ints(rng, sa), ints(rng, sb)
    check(build_and_load, lambda a, b: jax.lax.dot_general(a, b, dims), [a, b],
          ["stablehlo.dot_general"], tol=ACCUMULATING)


def test_matmul_operators(build_and_load, rng):
    x, w, v = floats(rng, (3, 4)), floats(rng, (4, 6)), floats(rng, (6,))
    check(build_and_load, lambda x, w, v: (x @ w, jnp.dot(x @ w, v), jnp.matmul(w.T, x.T), jnp.vdot(v, v)),
          [x, w, v], ["stablehlo.dot_general"], tol=ACCUMULATING)


def test_matmul_int32_wraps(build_and_load, rng):
    a = ints(rng, (3, 4), -(2**20), 2**20)
    b = ints(rng, (4, 2), -(2**20), 2**20)
    check(build_and_load, jnp.matmul, [a, b], ["stablehlo.dot_general"])


def test_matmul_larger(build_and_load, rng):
    # wider than one 256-column tile of the CPU kernel
    a, b = floats(rng, (2, 33, 70)), floats(rng, (70, 300))
    check(build_and_load, jnp.matmul, [a, b], ["stablehlo.dot_general"], tol=ACCUMULATING)


# --- broadcast_in_dim ---------------------------------------------------------------------------

covers("stablehlo.broadcast_in_dim")
BROADCASTS = [
    ("x+bias", lambda x, y: x + y, (3, 4), (4,), "float"),
    ("scalar+matrix", lambda x, y: x + y, (), (3, 4), "float"),
    ("col+row", lambda x, y: x + y, (3, 1), (1, 4), "float"),
    ("rank3+col", lambda x, y: x * y, (2, 3, 4), (3, 1), "float"),
    ("size1-everywhere", lambda x, y: x - y, (1, 1, 5), (4, 1, 1), "float"),
    ("int-col+row", lambda x, y: x + y, (3, 1), (1, 4), "int"),
    ("bool-and", jnp.logical_and, (3, 1), (4,), "bool"),
    ("zero-size", lambda x, y: x + y, (0, 1), (1, 4), "float"),
    ("broadcast_to", lambda x, y: (jnp.broadcast_to(x, (2, 3, 4)), jnp.broadcast_to(y, (5, 4))), (4,), (1, 4), "float"),
    ("broadcast_to-scalar", lambda x, y: (jnp.broadcast_to(x, (2, 3)), y), (), (1,), "int"),
    ("broadcast_to-bool", lambda x, y: jnp.broadcast_to(x, (3, 5)) ^ y, (3, 1), (5,), "bool"),
    ("lax-leading-dim", lambda x, y: jax.lax.broadcast_in_dim(x, (3, 4, 2), (0,)) + y, (3,), (2,), "float"),
    ("lax-middle-dims", lambda x, y: jax.lax.broadcast_in_dim(x, (2, 3, 5, 4), (1, 3)), (3, 4), (), "int"),
    # broadcast_dimensions need not be increasing: these also transpose.
    ("lax-swapped-dims", lambda x, y: jax.lax.broadcast_in_dim(x, (4, 3), (1, 0)), (3, 4), (), "float"),
    ("lax-permuted-dims", lambda x, y: jax.lax.broadcast_in_dim(x, (4, 2, 3), (2, 0)), (3, 4), (), "int"),
    ("lax-permuted-size1", lambda x, y: jax.lax.broadcast_in_dim(x, (5, 2, 3), (2, 1)) * y, (3, 1), (5, 1, 1), "float"),
    ("lax-permuted-bool", lambda x, y: jax.lax.broadcast_in_dim(x, (2, 4, 3, 2), (2, 1, 0)), (3, 4, 2), (), "bool"),
]


@pytest.mark.parametrize("name,fn,sa,sb,kind", BROADCASTS, ids=ids(BROADCASTS))
def test_broadcast(build_and_load, rng, name, fn, sa, sb, kind):
    a, b = make(rng, sa, kind), make(rng, sb, kind)
    check(build_and_load, fn, [a, b], ["stablehlo.broadcast_in_dim"])


def test_larger_strided_shapes(build_and_load, rng):
    # Shapes big enough for the runtime's dim merging, tiling and strided
    # loops to take their general paths: broadcasting on several axes, a
    # transposed operand, reductions over inner and outer dims.
    a, b, c = floats(rng, (17, 1, 33)), floats(rng, (1, 19, 1)), floats(rng, (33, 19, 17))

    def fn(a, b, c):
        d = a * b + jnp.transpose(c, (2, 1, 0))
        return (d, jnp.sum(d, axis=1), jnp.max(d, axis=(0, 2)), jnp.min(jnp.transpose(d, (1, 2, 0)), axis=-1),
                jnp.where(d > 0, d, c.T), d[3:15:4, ::5, 1:])
    check(build_and_load, fn, [a, b, c], tol=ACCUMULATING)


# --- data movement: reshape, transpose, concatenate, slice --------------------------------------

covers("stablehlo.reshape")
RESHAPES = [((2, 3, 4), (6, 4)), ((2, 3, 4), (24,)), ((2, 3, 4), (4, 1, 6)), ((), (1, 1)),
            ((1,), ()), ((5, 1), (1, 5)), ((0, 3), (3, 0)), ((6,), (3, 2))]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("src,dst", RESHAPES, ids=[f"{a}->{b}" for a, b in RESHAPES])
def test_reshape(build_and_load, rng, src, dst, kind):
    check(build_and_load, lambda x: x.reshape(dst), [make(rng, src, kind)], ["stablehlo.reshape"])


covers("stablehlo.transpose")
TRANSPOSES = [((3, 4), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (1, 0, 2)),
              ((2, 3, 4, 5), (3, 1, 0, 2)), ((2, 3, 4, 5), (0, 2, 3, 1)), ((1, 3, 1, 2), (3, 2, 1, 0)),
              ((0, 3, 2), (2, 0, 1))]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,perm", TRANSPOSES, ids=[f"{s}{p}" for s, p in TRANSPOSES])
def test_transpose(build_and_load, rng, shape, perm, kind):
    check(build_and_load, lambda x: jnp.transpose(x, perm), [make(rng, shape, kind)],
          ["stablehlo.transpose"])


def test_transpose_chain_then_compute(build_and_load, rng):
    # transposes feeding elementwise ops and each other (merged by simplify).
    x = floats(rng, (2, 3, 4))
    check(build_and_load, lambda x: (jnp.transpose(jnp.transpose(x, (1, 2, 0)), (2, 0, 1)) + 1,
                                     jnp.transpose(x, (2, 1, 0)) * 2, x.T.T),
          [x], ["stablehlo.transpose"])


covers("stablehlo.concatenate")
CONCATS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 5)], 1),
    ([(2, 3, 4), (2, 3, 1), (2, 3, 2), (2, 3, 4)], -1),
    ([(1, 3, 4), (2, 3, 4)], 0),
    ([(2, 1, 4), (2, 3, 4)], 1),
    ([(3,), (0,), (2,)], 0),
    ([(2, 3)], 0),
]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shapes,axis", CONCATS, ids=[f"{s}@{a}" for s, a in CONCATS])
def test_concatenate(build_and_load, rng, shapes, axis, kind):
    xs = [make(rng, s, kind) for s in shapes]
    fn = lambda *xs: jnp.concatenate(xs, axis=axis)
    if len(shapes) == 1:
        fn = lambda x: jnp.concatenate([x, x + x if kind != "bool" else ~x], axis=axis)
    check(build_and_load, fn, xs, ["stablehlo.concatenate"])


covers("stablehlo.slice")
SLICES = [
    ((8, 9), lambda x: x[1:5:2, ::3]),
    ((8, 9), lambda x: x[2:]),
    ((8, 9), lambda x: x[:, 1:2]),
    ((8, 9), lambda x: x[7:8, 8:]),
    ((4, 5, 6), lambda x: x[..., ::2]),
    ((4, 5, 6), lambda x: x[1:4:2, 1:, 5:0:1]),   # an empty slice
    ((4, 5, 6), lambda x: x[1]),                  # slice + reshape
    ((10,), lambda x: x[3:10:4]),
]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,fn", SLICES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(SLICES)])
def test_slice(build_and_load, rng, shape, fn, kind):
    check(build_and_load, fn, [make(rng, shape, kind)], ["stablehlo.slice"])


# --- iota --------------------------------------------------------------------------------------

covers("stablehlo.iota")
IOTAS = [
    ("arange+x", lambda x: jnp.arange(5) + x),
    ("arange-step", lambda x: jnp.arange(2, 12, 3) * x),
    ("arange-float", lambda x: jnp.arange(4, dtype=jnp.float32) * x.astype(jnp.float32)),
    ("lax.iota", lambda x: jax.lax.iota(jnp.int32, 6) - x),
    ("broadcasted_iota-dim1", lambda x: jax.lax.broadcasted_iota(jnp.int32, (3, 4), 1) + x),
    ("broadcasted_iota-dim0-f32", lambda x: jax.lax.broadcasted_iota(jnp.float32, (3, 4), 0) + x),
    ("broadcasted_iota-rank3", lambda x: jax.lax.broadcasted_iota(jnp.int32, (2, 3, 4), 1) * x),
    ("iota-output", lambda x: (jax.lax.broadcasted_iota(jnp.int32, (2, 5), 1), x)),
    ("large-iota", lambda x: jax.lax.iota(jnp.int32, 20000) + x),   # too big to fold into the archive
    ("large-iota-f32", lambda x: jax.lax.iota(jnp.float32, 17000) * x.astype(jnp.float32)),
]


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("name,fn", IOTAS, ids=ids(IOTAS))
def test_iota(build_and_load, name, fn, fold):
    x = np.array(3, I32)
    check(build_and_load, fn, [x], ["stablehlo.iota"], options={"fold_constants": fold})


# --- reduce ------------------------------------------------------------------------------------

covers("stablehlo.reduce")
REDUCTIONS = [("sum", jnp.sum, "stablehlo.add"), ("max", jnp.max, "stablehlo.maximum"),
              ("min", jnp.min, "stablehlo.minimum")]
AXES = [(0, False), (1, False), (2, False), (-1, True), ((0, 2), False), ((0, 1, 2), False),
        (None, False), (None, True), ((1, 2), True)]


@pytest.mark.parametrize("axis,keepdims", AXES, ids=[f"{a}{'-keep' if k else ''}" for a, k in AXES])
@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("name,fn,body", REDUCTIONS, ids=ids(REDUCTIONS))
def test_reduce(build_and_load, rng, name, fn, body, kind, axis, keepdims):
    x = make(rng, (3, 4, 5), kind)
    check(build_and_load, lambda x: fn(x, axis=axis, keepdims=keepdims), [x],
          ["stablehlo.reduce"], tol=ACCUMULATING)


@pytest.mark.parametrize("shape,axis", [((), None), ((1,), 0), ((1, 5), 0), ((4, 1), 1), ((7,), None)],
                         ids=str)
@pytest.mark.parametrize("name,fn,body", REDUCTIONS, ids=ids(REDUCTIONS))
def test_reduce_small_shapes(build_and_load, rng, name, fn, body, shape, axis):
    x, i = floats(rng, shape), ints(rng, shape)
    check(build_and_load, lambda x, i: (fn(x, axis=axis), fn(i, axis=axis)), [x, i], tol=ACCUMULATING)


@pytest.mark.parametrize("axis", [0, 1, None, (0, 1)], ids=str)
def test_reduce_zero_size(build_and_load, axis):
    # sum of nothing is 0; max/min of nothing need an initial value in jnp,
    # which is combined in after the reduce as a rank-0 literal.
    x, i = np.zeros((0, 3), F32), np.zeros((0, 3), I32)
    check(build_and_load, lambda x, i: (jnp.sum(x, axis=axis), jnp.sum(i, axis=axis),
                                        jnp.max(x, axis=axis, initial=-2.0),
                                        jnp.min(i, axis=axis, initial=7)),
          [x, i], ["stablehlo.reduce"])


def test_reduce_int32_sum_wraps(build_and_load, rng):
    x = rng.integers(2**29, 2**31 - 1, (4, 9)).astype(I32)
    check(build_and_load, lambda x: (jnp.sum(x, axis=1), jnp.sum(x)), [x], ["stablehlo.reduce"])


def test_reduce_extremes(build_and_load):
    x = np.array([[np.inf, -np.inf, 1.0], [np.nan, 2.0, 3.0]], F32)
    i = np.array([[INT_MIN, INT_MAX, 0], [INT_MIN, INT_MIN, INT_MIN]], I32)
    check(build_and_load, lambda x, i: (jnp.max(x, axis=1), jnp.min(x, axis=0), jnp.sum(x, axis=1),
                                        jnp.max(i, axis=1), jnp.min(i, axis=1)),
          [x, i], ["stablehlo.reduce"])


@pytest.mark.parametrize("axis,keepdims", [(0, False), (1, True), (None, False), ((0, 2), False)], ids=str)
@pytest.mark.parametrize("name,fn,body", [("any", jnp.any, "stablehlo.or"), ("all", jnp.all, "stablehlo.and"),
                                          ("max", jnp.max, None), ("min", jnp.min, None)],
                         ids=["any", "all", "max", "min"])
def test_reduce_bool(build_and_load, rng, name, fn, body, axis, keepdims):
    x = rng.random((3, 4, 5)) < 0.2  # sparse enough that some any()s are False...
    x[0] = True  # ...and some all()s True
    check(build_and_load, lambda x: fn(x, axis=axis, keepdims=keepdims), [x], ["stablehlo.reduce"])


def test_any_all_zero_size(build_and_load):
    x = np.zeros((0, 4), BOOL)
    check(build_and_load, lambda x: (jnp.any(x, axis=0), jnp.all(x, axis=0), jnp.any(x), jnp.all(x)),
          [x], ["stablehlo.reduce"])


def test_sum_of_bool_and_mean(build_and_load, rng):
    x = rng.random((4, 6)) < 0.5
    y = floats(rng, (4, 6))
    check(build_and_load, lambda x, y: (jnp.sum(x, axis=1), jnp.mean(y, axis=0), jnp.count_nonzero(x)),
          [x, y], ["stablehlo.reduce"], tol=ACCUMULATING)


@pytest.mark.parametrize("name,op,init", [("sum", jax.lax.add, 2.5), ("max", jax.lax.max, 0.25),
                                          ("min", jax.lax.min, -0.25)], ids=["sum", "max", "min"])
def test_reduce_with_non_identity_init(build_and_load, rng, name, op, init):
    # StableHLO folds the init value into each result; JAX's jnp never emits
    # this form, lax.reduce does (a constant init, and an init that is an input).
    x = floats(rng, (3, 4))
    check(build_and_load, lambda x, i: (jax.lax.reduce(x, F32(init), op, (1,)),
                                        jax.lax.reduce(x, i, op, (0,)),
                                        jax.lax.reduce(x, i, op, (0, 1))),
          [x, np.array(init, F32)], ["stablehlo.reduce"], tol=ACCUMULATING)


def test_reduce_with_initial_keyword(build_and_load, rng):
    x = floats(rng, (3, 4))
    check(build_and_load, lambda x: (jnp.sum(x, axis=0, initial=1.5), jnp.max(x, axis=1, initial=0.5)),
          [x], ["stablehlo.reduce"], tol=ACCUMULATING)


def test_reduce_all_axes_with_initial_keyword(build_and_load, rng):
    x = floats(rng, (3, 4))
    check(build_and_load, lambda x: jnp.min(x, initial=-0.5), [x], ["stablehlo.reduce"])


@pytest.mark.parametrize("kind", ["float", "int"])
def test_rank0_input_with_scalar_literal(build_and_load, rng, kind):
    # A rank-0 literal stays rank 0: f(x) = x + 1 for a rank-0 x is rank 0.
    check(build_and_load, lambda x: x + 1, [make(rng, (), kind)], ["stablehlo.constant"])


# --- NN ops: convolution, pooling, pad, gather, dynamic slices, arg reductions, cumsum, erf ------------
# These lower to TTNN-level ops (conv2d, max_pool2d, avg_pool2d, pad, embedding,
# argmax, cumsum, erf...) and some are fused further (conv2d + bias + relu,
# linear + gelu, softmax). Convolutions are matmul-like: ACCUMULATING.


def archive_ops(path) -> list[dict]:
    from ttpack.archive.reader import read_archive

    (program,) = read_archive(path).programs
    return program["ops"]


def op_names(path) -> list[str]:
    return [op["op"] for op in archive_ops(path)]


def check_archive(build_and_load, fn, inputs, ops=(), *, params=None, tol=ELEMENTWISE):
    """check() that also returns the archive's op list."""
    if ops:
        assert_emits(fn, inputs, ops, params)
    model, path = build_and_load(fn, inputs, params)
    assert_matches_jax(model, fn, inputs, params=params, **tol)
    return op_names(path)


covers("stablehlo.convolution")
CONVS = [
    # name, x NHWC shape, w HWIO shape, strides, padding, rhs dilation, feature groups
    ("3x3-valid", (2, 7, 7, 3), (3, 3, 3, 4), (1, 1), "VALID", (1, 1), 1),
    ("3x3-same-stride2-odd", (1, 9, 7, 3), (3, 3, 3, 5), (2, 2), "SAME", (1, 1), 1),
    ("2x3-asymmetric-pad", (1, 6, 5, 2), (2, 3, 2, 3), (1, 2), ((1, 0), (2, 1)), (1, 1), 1),
    ("3x3-dilated", (1, 9, 8, 2), (3, 3, 2, 2), (1, 1), ((2, 2), (1, 3)), (2, 2), 1),
    ("5x5-stride2", (1, 11, 9, 2), (5, 5, 2, 3), (2, 2), ((2, 2), (2, 2)), (1, 1), 1),
    ("1x1", (2, 4, 5, 6), (1, 1, 6, 3), (1, 1), "VALID", (1, 1), 1),
    ("groups2", (2, 6, 6, 4), (3, 3, 2, 6), (1, 1), "SAME", (1, 1), 2),
    ("depthwise", (1, 6, 7, 3), (3, 3, 1, 3), (1, 1), "SAME", (1, 1), 3),
    ("depthwise-multiplier2-stride2", (1, 8, 8, 3), (3, 3, 1, 6), (2, 2), ((1, 1), (1, 1)), (1, 1), 3),
    ("kernel-covers-input", (1, 3, 3, 2), (3, 3, 2, 4), (1, 1), "VALID", (1, 1), 1),
]
CONV_LAYOUTS = {
    # name: (dimension_numbers, x NHWC -> layout, w HWIO -> layout)
    "NHWC-HWIO": (("NHWC", "HWIO", "NHWC"), (0, 1, 2, 3), (0, 1, 2, 3)),
    "NCHW-OIHW": (("NCHW", "OIHW", "NCHW"), (0, 3, 1, 2), (3, 2, 0, 1)),
}


@pytest.mark.parametrize("layout", list(CONV_LAYOUTS))
@pytest.mark.parametrize("name,xs,ws,strides,padding,dilation,groups", CONVS, ids=ids(CONVS))
def test_conv_general_dilated(build_and_load, rng, name, xs, ws, strides, padding, dilation, groups, layout):
    dn, xperm, wperm = CONV_LAYOUTS[layout]
    x = np.transpose(floats(rng, xs), xperm).copy()
    w = np.transpose(floats(rng, ws), wperm).copy()
    fn = lambda x, w: jax.lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation,
                                                   dimension_numbers=dn, feature_group_count=groups)
    ops = check_archive(build_and_load, fn, [x, w], ["stablehlo.convolution"], tol=ACCUMULATING)
    assert ops.count("conv2d") == 1, ops


def test_conv_mixed_layouts(build_and_load, rng):
    # Input, kernel and output each in their own layout.
    x, w = floats(rng, (2, 3, 6, 5)), floats(rng, (4, 3, 3, 2))  # NCHW; O=4, I=3, W=3, H=2
    fn = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 2), "SAME", dimension_numbers=("NCHW", "OIWH", "NWHC"))
    check(build_and_load, fn, [x, w], ["stablehlo.convolution"], tol=ACCUMULATING)


def test_conv_with_weights_bias_relu_fuses(build_and_load, rng):
    # Weights as params: conv + bias + relu becomes one conv2d, activation relu (1).
    params = {"w": floats(rng, (3, 3, 3, 4)) / 4, "b": floats(rng, (4,))}
    x = floats(rng, (2, 5, 6, 3))

    def fn(p, x):
        y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y + p["b"])
    assert_emits(fn, [x], ["stablehlo.convolution"], params)
    model, path = build_and_load(fn, [x], params)
    assert_matches_jax(model, fn, [x], params=params, **ACCUMULATING)
    ops = archive_ops(path)
    assert [op["op"] for op in ops] == ["conv2d"], ops
    assert ops[0]["attrs"]["activation"] == [1], ops


covers("stablehlo.reduce_window")


def max_pool(x, window, strides, padding, dims=(1, 2)):
    """flax.linen.max_pool on the two dims `dims` of a rank-4 x."""
    win, st = [1] * 4, [1] * 4
    for d, k, s in zip(dims, window, strides):
        win[d], st[d] = k, s
    if not isinstance(padding, str):
        pads = [(0, 0)] * 4
        for d, p in zip(dims, padding):
            pads[d] = p
        padding = pads
    init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
    return jax.lax.reduce_window(x, jnp.array(init, x.dtype), jax.lax.max, win, st, padding)


def sum_pool(x, window, strides, padding):
    """The window sum flax.linen.avg_pool divides, over dims 1 and 2."""
    if not isinstance(padding, str):
        padding = ((0, 0), *padding, (0, 0))
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, *window, 1), (1, *strides, 1), padding)


POOLS = [
    # name, x NHWC shape, window, strides, padding
    ("2x2-stride2", (2, 6, 6, 3), (2, 2), (2, 2), "VALID"),
    ("2x2-stride2-odd", (1, 7, 5, 2), (2, 2), (2, 2), "VALID"),
    ("3x3-stride2-same", (1, 7, 8, 2), (3, 3), (2, 2), "SAME"),
    ("3x3-stride1-pad1", (2, 5, 5, 3), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ("3x2-asymmetric", (1, 6, 7, 2), (3, 2), (1, 2), ((0, 2), (1, 0))),
    ("global", (2, 4, 5, 3), (4, 5), (1, 1), "VALID"),
]


@pytest.mark.parametrize("name,shape,window,strides,padding", POOLS, ids=ids(POOLS))
def test_max_pool(build_and_load, rng, name, shape, window, strides, padding):
    x = floats(rng, shape)
    fn = lambda x: max_pool(x, window, strides, padding)
    ops = check_archive(build_and_load, fn, [x], ["stablehlo.reduce_window"])
    assert ops == ["max_pool2d"], ops


def test_max_pool_int32_nchw_and_dilated(build_and_load, rng):
    x, i = floats(rng, (1, 2, 7, 6)), ints(rng, (2, 6, 5, 3))
    fn = lambda x, i: (max_pool(x, (2, 3), (2, 1), ((1, 0), (1, 1)), dims=(2, 3)),   # NCHW
                       max_pool(i, (2, 2), (1, 2), ((1, 1), (0, 1))),                 # int32
                       jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 1, 1), "VALID",
                                             window_dilation=(1, 1, 2, 3)))
    check(build_and_load, fn, [x, i], ["stablehlo.reduce_window"])


def test_max_pool_special_values(build_and_load):
    x = np.array([[np.nan, 1.0, -np.inf, -np.inf], [2.0, 0.0, -np.inf, -np.inf],
                  [np.inf, -1.0, -0.0, 0.0], [3.0, 4.0, 0.0, -0.0]], F32).reshape(1, 4, 4, 1)
    check(build_and_load, lambda x: max_pool(x, (2, 2), (2, 2), "VALID"), [x], ["stablehlo.reduce_window"])


@pytest.mark.parametrize("name,shape,window,strides,padding", POOLS, ids=ids(POOLS))
def test_avg_pool(build_and_load, rng, name, shape, window, strides, padding):
    # flax.linen.avg_pool: the window sum divided by the window size, padded
    # taps counted (count_include_pad=True); fused into one avg_pool2d.
    x = floats(rng, shape)
    fn = lambda x: sum_pool(x, window, strides, padding) / np.prod(window)
    ops = check_archive(build_and_load, fn, [x], ["stablehlo.reduce_window"], tol=ACCUMULATING)
    assert ops == ["avg_pool2d"], ops


def test_avg_pool_excluding_padding(build_and_load, rng):
    # flax's avg_pool(count_include_pad=False) divides by the window sum of ones.
    x = floats(rng, (2, 5, 6, 3))

    def fn(x):
        pad = ((1, 1), (1, 1))
        return sum_pool(x, (3, 3), (2, 2), pad) / sum_pool(jnp.ones_like(x), (3, 3), (2, 2), pad)
    ops = check_archive(build_and_load, fn, [x], ["stablehlo.reduce_window"], tol=ACCUMULATING)
    assert ops == ["avg_pool2d"], ops


def test_sum_pool_is_not_averaged(build_and_load, rng):
    x = floats(rng, (1, 6, 5, 2))
    ops = check_archive(build_and_load, lambda x: (sum_pool(x, (2, 2), (2, 1), ((0, 0), (1, 0))),
                                                   sum_pool(x, (3, 3), (1, 1), "SAME") / 2.0),
                        [x], ["stablehlo.reduce_window"], tol=ACCUMULATING)
    assert "avg_pool2d" not in ops and ops.count("sum_pool2d") == 2, ops


CUMSUMS = [((7,), 0), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), -1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 3)]


@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("shape,axis", CUMSUMS, ids=str)
def test_cumsum(build_and_load, rng, shape, axis, kind):
    # On CPU JAX emits cumsum as a reduce_window add over the whole axis,
    # padded by n - 1 in front.
    x = make(rng, shape, kind)
    ops = check_archive(build_and_load, lambda x: jnp.cumsum(x, axis=axis), [x], ["stablehlo.reduce_window"],
                        tol=ACCUMULATING)
    assert ops == ["cumsum"], ops


@pytest.mark.parametrize("shape,axis", [((1, 4), 0), ((2, 1, 3), 1)], ids=str)
def test_cumsum_over_size1_axis(build_and_load, rng, shape, axis):
    x = floats(rng, shape)
    check(build_and_load, lambda x: jnp.cumsum(x, axis=axis), [x], ["stablehlo.reduce_window"])


def test_cumsum_int32_wraps_and_bool(build_and_load, rng):
    x = np.array([INT_MAX, 1, INT_MIN, -1, 5], I32)
    check(build_and_load, lambda x, b: (jnp.cumsum(x), jnp.cumsum(b, dtype=jnp.int32)), [x, bools(rng, (5,))],
          ["stablehlo.reduce_window"])


covers("stablehlo.pad")
PADS = [
    ("jnp-constant", lambda x: jnp.pad(x, ((1, 2), (0, 3)))),
    ("jnp-value", lambda x: jnp.pad(x, ((2, 0), (1, 1)), constant_values=-1)),
    ("lax-negative-crop", lambda x: jax.lax.pad(x, jnp.array(0, x.dtype), ((-1, 0, 0), (0, -2, 0)))),
    ("lax-mixed", lambda x: jax.lax.pad(x, jnp.array(3, x.dtype), ((2, -1, 0), (-3, 1, 0)))),
    ("lax-zero", lambda x: jax.lax.pad(x, jnp.array(0, x.dtype), ((0, 0, 0), (0, 0, 0))) + x),
]


# jnp.pad hands its padding value to a private @_pad as an int32 and converts
# it there, so for float and bool arrays the value reaching stablehlo.pad is
# computed (a convert of a constant), not a constant.
PAD_CASES = [pytest.param(name, fn, kind, id=f"{name}-{kind}",
                          )
             for name, fn in PADS for kind in ("float", "int", "bool")]


@pytest.mark.parametrize("name,fn,kind", PAD_CASES)
def test_pad(build_and_load, rng, name, fn, kind):
    x = make(rng, (3, 4), kind)
    if kind == "bool" and name == "lax-zero":
        fn = lambda x: jax.lax.pad(x, jnp.array(False), ((0, 0, 0), (0, 0, 0))) ^ x
    check(build_and_load, fn, [x], ["stablehlo.pad"])


def test_pad_rank4_and_rank1(build_and_load, rng):
    x, v = floats(rng, (1, 3, 4, 2)), floats(rng, (5,))
    check(build_and_load, lambda x, v: (jax.lax.pad(x, F32(0.5), ((0, 0, 0), (1, 1, 0), (2, 0, 0), (0, 0, 0))),
                                        jax.lax.pad(v, F32(-2.0), ((-2, 3, 0),))),
          [x, v], ["stablehlo.pad"])


covers("stablehlo.gather")
GATHERS = [
    # name, table shape, ids, fn
    ("take-rows", (10, 4), [3, 0, 9, 3], lambda t, i: jnp.take(t, i, axis=0)),
    ("take-2d-ids", (7, 3), [[1, 2], [6, 0], [5, 5]], lambda t, i: jnp.take(t, i, axis=0)),
    ("take-scalar-id", (6, 5), 4, lambda t, i: jnp.take(t, i, axis=0)),
    ("index-rows-negative", (8, 2), [-1, 0, -8, 7], lambda t, i: t[i]),
    ("index-matrices", (5, 2, 3), [[4, 1, 0]], lambda t, i: t[i]),
    ("take-clip-out-of-range", (6, 3), [-5, 2, 6, 100], lambda t, i: jnp.take(t, i, axis=0, mode="clip")),
    ("take-fill-out-of-range", (6, 3), [-5, 2, 6, 100, 0], lambda t, i: jnp.take(t, i, axis=0)),
    ("index-two-dims", (4, 5, 3), [[0, 3, 1], [4, 0, 2]], lambda t, i: t[i[0], i[1]]),
]


@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("name,shape,idx,fn", GATHERS, ids=ids(GATHERS))
def test_gather_rows(build_and_load, rng, name, shape, idx, fn, kind):
    # Embedding-style lookups with int32 ids; jnp's default mode fills
    # out-of-range rows (NaN for floats, INT_MIN for ints), "clip" clamps.
    table, ids_ = make(rng, shape, kind), np.asarray(idx, I32)
    ops = check_archive(build_and_load, fn, [table, ids_], ["stablehlo.gather"])
    assert "embedding" in ops, ops


def test_gather_bool_rows_and_weight_table(build_and_load, rng):
    mask = bools(rng, (6, 4))
    params = {"embedding": floats(rng, (9, 5))}
    ids_ = np.array([[8, 0, 1], [2, 2, 7]], I32)
    check(build_and_load, lambda p, m, i: (m[i[0]], jnp.take(p["embedding"], i, axis=0)), [mask, ids_],
          ["stablehlo.gather"], params=params)


covers("stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice")
DYNAMIC_SLICES = [
    ((4, 5), (1, 2), (2, 2)),
    ((4, 5), (3, 4), (2, 2)),     # starts clamped so the slice fits: (2, 3)
    ((4, 5), (-1, 0), (4, 1)),    # negative starts clamp to 0
    ((2, 3, 4), (1, 0, 2), (1, 3, 2)),
    ((6,), (5,), (6,)),
]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,starts,sizes", DYNAMIC_SLICES, ids=str)
def test_dynamic_slice_constant_starts(build_and_load, rng, shape, starts, sizes, kind):
    x = make(rng, shape, kind)
    check(build_and_load, lambda x: jax.lax.dynamic_slice(x, starts, sizes), [x], ["stablehlo.dynamic_slice"])


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,starts,sizes", DYNAMIC_SLICES, ids=str)
def test_dynamic_update_slice_constant_starts(build_and_load, rng, shape, starts, sizes, kind):
    x, u = make(rng, shape, kind), make(rng, sizes, kind)
    check(build_and_load, lambda x, u: jax.lax.dynamic_update_slice(x, u, starts), [x, u],
          ["stablehlo.dynamic_update_slice"])


# --- general gather, dynamic slices with traced starts, scatter ------------------------------------
# Forms beyond whole-row lookups lower to ttpack's gather (slices at starts
# clamped into range, as XLA clamps), update_slice and scatter (windows that
# do not fit at their start dropped, as XLA drops them). jnp wraps negative
# indices itself before the op; its default gather mode fills out-of-range
# results, "clip" clamps; its scatter drops out-of-range updates.

X3 = (4, 5, 6)
GENERAL_GATHERS = [
    # name, index values (int32), fn(x, i)
    ("take-axis1", [[3, -1], [9, 0]], lambda x, i: jnp.take(x, i, axis=1)),
    ("take-axis2-clip", [[-4, 2], [7, 5]], lambda x, i: jnp.take(x, i, axis=2, mode="clip")),
    ("take-axis-last-fill", [0, 6, -7, 5], lambda x, i: jnp.take(x, i, axis=-1)),
    ("columns", [1, 4, 0, 4], lambda x, i: x[:, i]),
    ("two-index-dims", [1, -2, 0, 3], lambda x, i: x[i, :, i]),
    ("two-index-arrays", [2, 0, 3], lambda x, i: x[i, i[::-1]]),
    ("index-then-slice", [3, 1], lambda x, i: x[i, 1:4]),
    ("take-along-axis", [[0], [5], [-1], [2]], lambda x, i: jnp.take_along_axis(
        x, jnp.broadcast_to(i.reshape(4, 1, 1), (4, 5, 1)), axis=2)),
    ("take-along-axis-1", [[1, 0, 4], [4, 4, 2], [0, 1, 2], [3, 3, 3]], lambda x, i: jnp.take_along_axis(
        x, jnp.broadcast_to(i.reshape(4, 3, 1), (4, 3, 6)), axis=1, mode="clip")),
    ("vmap-index", [1, 4, 0, 2], lambda x, i: jax.vmap(lambda a, k: a[k])(x, i)),
    ("vmap-partial-slices", [[1, 2], [4, 5], [0, -3], [3, 9]], lambda x, i: jax.vmap(
        lambda a, k: jax.lax.dynamic_slice(a, (k[0], k[1]), (2, 3)))(x, i)),
    ("lax-gather-window", [[0, 4], [3, 1], [-2, 8]], lambda x, i: jax.lax.gather(
        x, i, jax.lax.GatherDimensionNumbers(offset_dims=(1, 2), collapsed_slice_dims=(0,),
                                             start_index_map=(0, 2)),
        slice_sizes=(1, 5, 3), mode=jax.lax.GatherScatterMode.CLIP)),
]


EMBEDDING_FORMS = {"take-axis1", "take-axis2-clip", "take-axis-last-fill", "columns", "two-index-dims",
                   "two-index-arrays"}


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("name,idx,fn", GENERAL_GATHERS, ids=ids(GENERAL_GATHERS))
def test_gather_general(build_and_load, rng, name, idx, fn, kind):
    x, i = make(rng, X3, kind), np.asarray(idx, I32)
    ops = check_archive(build_and_load, fn, [x, i], ["stablehlo.gather"])
    # whole-row lookups keep the embedding fast path; the other forms are one gather
    assert ("embedding" if name in EMBEDDING_FORMS else "gather") in ops, ops


def test_gather_general_bfloat16_and_int64_indices(build_and_load, rng):
    import ml_dtypes

    x = floats(rng, X3).astype(ml_dtypes.bfloat16)
    i = np.array([[4, 0], [-1, 9]], I32)
    check(build_and_load, lambda x, i: (jnp.take(x, i, axis=1), x[i[0], :, i[1]]), [x, i], ["stablehlo.gather"])


def test_gather_zero_size_is_folded_by_jax(build_and_load, rng):
    # JAX emits no gather for empty operands or indices (the kernels' empty
    # cases are in test_ops_indexing_runtime.py); the results still match.
    x, empty = floats(rng, (3, 0, 4)), np.zeros((0,), I32)
    check(build_and_load, lambda x, i: (jnp.take(x, i[:2] % 3, axis=0), x[:, :, i[:1] % 4]),
          [x, np.array([2, 0], I32)])
    check(build_and_load, lambda x, i: (x[:, i], x[i, 1]), [floats(rng, (4, 5)), empty])


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_gather_general_from_weights_and_folded(build_and_load, rng, fold):
    # weight-only gathers are evaluated at build time by the registry's reference (folded) or run by the kernel
    params = {"w": floats(rng, (6, 7))}
    i = np.array([6, 0, -3], I32)
    fn = lambda p, i: (p["w"][:, i], p["w"][:, jnp.array([1, 5])] * 2,
                       jax.vmap(lambda k: jax.lax.dynamic_slice(p["w"], (k, k + 1), (2, 3)))(jnp.array([0, 5, 3, -1])),
                       jax.vmap(lambda k: jax.lax.dynamic_slice(p["w"], (k, 0), (3, 7)))(i))
    model, path = build_and_load(fn, [i], params, options={"fold_constants": fold})
    assert_emits(fn, [i], ["stablehlo.gather"], params)
    assert_matches_jax(model, fn, [i], params=params)
    assert "gather" in op_names(path)  # the gather of input-dependent starts runs on the device either way


DYNAMIC_TRACED = [
    # operand shape, slice sizes, start values (clamped: negative -> 0, past the end -> n - size)
    ((4, 5), (2, 2), [1, 2]),
    ((4, 5), (2, 2), [3, 4]),
    ((4, 5), (4, 1), [-1, -9]),
    ((2, 3, 4), (1, 3, 2), [1, 0, 2]),
    ((6,), (6,), [5]),
    ((6,), (0,), [3]),
    ((5, 0), (2, 0), [2, 1]),
]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,sizes,starts", DYNAMIC_TRACED, ids=str)
def test_dynamic_slice_traced_starts(build_and_load, rng, shape, sizes, starts, kind):
    x, s = make(rng, shape, kind), np.asarray(starts, I32)
    ops = check_archive(build_and_load, lambda x, s: jax.lax.dynamic_slice(x, tuple(s), sizes), [x, s],
                        ["stablehlo.dynamic_slice"])
    assert "gather" in ops, ops


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,sizes,starts", DYNAMIC_TRACED, ids=str)
def test_dynamic_update_slice_traced_starts(build_and_load, rng, shape, sizes, starts, kind):
    x, u, s = make(rng, shape, kind), make(rng, sizes, kind), np.asarray(starts, I32)
    ops = check_archive(build_and_load, lambda x, u, s: jax.lax.dynamic_update_slice(x, u, tuple(s)), [x, u, s],
                        ["stablehlo.dynamic_update_slice"])
    assert "update_slice" in ops, ops


def test_dynamic_index_and_kv_cache_update(build_and_load, rng):
    # x[i] with a traced i (negative wraps in jnp), and a KV cache written at a traced position
    cache, new = floats(rng, (2, 8, 3)), floats(rng, (2, 1, 3))
    for pos in [0, 5, 7, 12, -2]:
        p = np.array(pos, I32)
        check(build_and_load, lambda c, n, p: (jax.lax.dynamic_update_slice(c, n, (0, p, 0)), c[:, p], c[p % 2]),
              [cache, new, p], ["stablehlo.dynamic_update_slice", "stablehlo.dynamic_slice"])


def test_dynamic_slice_bfloat16_and_mixed_constant_starts(build_and_load, rng):
    import ml_dtypes

    x = floats(rng, (5, 6)).astype(ml_dtypes.bfloat16)
    u = floats(rng, (2, 3)).astype(ml_dtypes.bfloat16)
    s = np.array(4, I32)
    check(build_and_load, lambda x, u, s: (jax.lax.dynamic_slice(x, (s, 2), (2, 3)),
                                           jax.lax.dynamic_update_slice(x, u, (1, s))), [x, u, s],
          ["stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice"])


covers("stablehlo.scatter")
SCATTERS = [
    # name, operand shape, index values, fn(x, i, u) with u shaped by `update_shape`
    ("set-rows", (5, 4), [1, 3, 0], lambda x, i, u: x.at[i].set(u)),
    ("add-rows", (5, 4), [1, 3, 0], lambda x, i, u: x.at[i].add(u)),
    ("mul-rows", (5, 4), [4, 2], lambda x, i, u: x.at[i].multiply(u)),
    ("min-rows", (5, 4), [0, -1], lambda x, i, u: x.at[i].min(u)),
    ("max-rows", (5, 4), [2, 1, 4], lambda x, i, u: x.at[i].max(u)),
    ("set-out-of-bounds-dropped", (5, 4), [7, -1, 2, -9], lambda x, i, u: x.at[i].set(u)),
    ("add-out-of-bounds-dropped", (5, 4), [5, 100, 0, -6], lambda x, i, u: x.at[i].add(u)),
    ("set-columns", (5, 4), [3, 0], lambda x, i, u: x.at[:, i].set(u)),
    ("set-elements-2d", (5, 4), [[0, 1], [4, 3], [2, 0]], lambda x, i, u: x.at[i[:, 0], i[:, 1]].set(u)),
    ("add-elements-2d", (5, 4), [[0, 1], [4, 3], [2, 0]], lambda x, i, u: x.at[i[:, 0], i[:, 1]].add(u)),
    ("vmap-add", (5, 4), [1, 3, 0, 2, 3], lambda x, i, u: jax.vmap(lambda r, k, v: r.at[k].add(v))(x, i, u)),
    ("set-scalar-broadcast", (5, 4), [4, 1], lambda x, i, u: x.at[i, 2].set(u[0, 0])),
]


def _scatter_updates(rng, name, shape, idx, kind):
    i = np.asarray(idx)
    if name.startswith(("set-elements", "add-elements")):
        ushape = (i.shape[0],)
    elif name == "set-columns":
        ushape = (shape[0], i.shape[0])
    elif name.startswith("vmap"):
        ushape = (shape[0],)
    else:
        ushape = i.shape + shape[1:]
    return make(rng, ushape, kind)


# jnp refuses add and multiply scatters of bool
SCATTER_KINDS = [(row, kind) for row in SCATTERS for kind in ("float", "int", "bool")
                 if not (kind == "bool" and row[0].startswith(("add", "mul", "vmap-add")))]


@pytest.mark.parametrize("row,kind", SCATTER_KINDS, ids=[f"{r[0]}-{k}" for r, k in SCATTER_KINDS])
def test_scatter(build_and_load, rng, row, kind):
    name, shape, idx, fn = row
    x, i = make(rng, shape, kind), np.asarray(idx, I32)
    u = _scatter_updates(rng, name, shape, idx, kind)
    ops = check_archive(build_and_load, fn, [x, i, u], ["stablehlo.scatter"])
    assert "scatter" in ops, ops


def test_scatter_add_duplicates_accumulate(build_and_load, rng):
    x, u = floats(rng, (4, 3)), floats(rng, (6, 3))
    i = np.array([1, 1, 3, 1, -1, 3], I32)  # -1 wraps to 3 (jnp)
    check(build_and_load, lambda x, i, u: (x.at[i].add(u), jnp.zeros(5, jnp.int32).at[i].add(7),
                                           jnp.ones(4, F32).at[i].multiply(2.0)), [x, i, u],
          ["stablehlo.scatter"], tol=ACCUMULATING)


def test_scatter_segment_sum_and_histogram(build_and_load, rng):
    data, seg = floats(rng, (10, 2)), np.array([0, 0, 1, 3, 3, 3, 2, 0, 1, 9], I32)
    check(build_and_load, lambda d, s: (jax.ops.segment_sum(d, s, num_segments=4),
                                        jax.ops.segment_max(d, s, num_segments=4),
                                        jnp.bincount(s, length=5)), [data, seg], ["stablehlo.scatter"],
          tol=ACCUMULATING)


def test_scatter_partial_windows_dropped(build_and_load, rng):
    # a window that does not fit at its start is dropped whole
    x, u = floats(rng, (6, 5)), floats(rng, (3, 2, 3))
    i = np.array([[0, 0], [5, 1], [2, 3]], I32)
    dn = jax.lax.ScatterDimensionNumbers(update_window_dims=(1, 2), inserted_window_dims=(),
                                         scatter_dims_to_operand_dims=(0, 1))
    check(build_and_load, lambda x, i, u: (jax.lax.scatter(x, i, u, dn), jax.lax.scatter_add(x, i, u, dn)),
          [x, i, u], ["stablehlo.scatter"])


def test_scatter_bfloat16_and_zero_size(build_and_load, rng):
    import ml_dtypes

    x = floats(rng, (5, 3)).astype(ml_dtypes.bfloat16)
    u = floats(rng, (2, 3)).astype(ml_dtypes.bfloat16)
    i = np.array([4, 1], I32)
    check(build_and_load, lambda x, i, u: (x.at[i].set(u), x.at[i].max(u)), [x, i, u], ["stablehlo.scatter"])
    # (JAX folds scatters of empty updates or operands away)
    check(build_and_load, lambda x, i, u: (x.at[i[:0]].add(u[:0]), x[:, :0].at[i].set(u[:, :0])),
          [floats(rng, (5, 3)), i, floats(rng, (2, 3))])


def test_scatter_nan_max_and_int_wrap(build_and_load):
    x = np.array([1.0, np.nan, -0.0, 3.0], F32)
    u = np.array([np.nan, 2.0, 0.0, -np.inf], F32)
    i = np.array([0, 1, 2, 3], I32)
    check(build_and_load, lambda x, i, u: (x.at[i].max(u), x.at[i].min(u)), [x, i, u], ["stablehlo.scatter"])
    xi = np.array([INT_MAX, INT_MIN, 5], I32)
    check(build_and_load, lambda x, i: x.at[i].add(jnp.array([1, -1, 2], jnp.int32)), [xi, i[:3]],
          ["stablehlo.scatter"])


def test_scatter_unsupported_update_computation(tmp_path):
    import ttpack
    from ttpack.frontends.stablehlo import UnsupportedOpsError

    x, i = np.ones((4,), F32), np.array([1, 2], I32)
    dn = jax.lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                         scatter_dims_to_operand_dims=(0,))
    fn = lambda x, i: jax.lax.scatter_apply(x, i[:, None], jnp.sin, dn, update_shape=(2,))
    with pytest.raises(UnsupportedOpsError, match="update computation"):
        ttpack.build(fn, [x, i], output=tmp_path / "s.ttpack")


ARG_AXES = [(0, False), (1, False), (2, True), (-1, False), (None, False)]


@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("axis,keepdims", ARG_AXES, ids=[f"{a}{'-keep' if k else ''}" for a, k in ARG_AXES])
@pytest.mark.parametrize("name,fn", [("argmax", jnp.argmax), ("argmin", jnp.argmin)], ids=["argmax", "argmin"])
def test_argmax_argmin(build_and_load, rng, name, fn, axis, keepdims, kind):
    # A two-operand reduce (value, iota); ints in [-3, 3] have many ties
    # (the first index wins).
    x = floats(rng, (3, 4, 5)) if kind == "float" else ints(rng, (3, 4, 5), -3, 3)
    ops = check_archive(build_and_load, lambda x: fn(x, axis=axis, keepdims=keepdims), [x], ["stablehlo.reduce"])
    assert name in ops, ops


def test_argmax_argmin_special_values(build_and_load):
    # NaN counts as the largest and the smallest value (JAX's argmax/argmin
    # return the first NaN); -0.0 and 0.0 tie; infinities.
    x = np.array([[1.0, np.nan, 3.0, np.nan], [-np.inf, -np.inf, np.inf, 0.0], [-0.0, 0.0, -1.0, -1.0],
                  [2.0, 1.0, np.nan, 5.0]], F32)
    check(build_and_load, lambda x: (jnp.argmax(x, axis=1), jnp.argmin(x, axis=1), jnp.argmax(x, axis=0)), [x],
          ["stablehlo.reduce"])


def test_lax_reduce_argmax_returns_value_and_index(build_and_load, rng):
    # A hand-written two-operand reduce (value, iota) using both results;
    # ties go to the lower index.
    x = ints(rng, (4, 6), -2, 2).astype(F32)

    def pick_max(a, b):
        (av, ai), (bv, bi) = a, b
        take_a = (av > bv) | ((av == bv) & (ai < bi))
        return jnp.where(take_a, av, bv), jnp.where(take_a, ai, bi)

    def fn(x):
        idx = jax.lax.broadcasted_iota(jnp.int32, x.shape, 1)
        return jax.lax.reduce((x, idx), (F32(-np.inf), I32(0)), pick_max, (1,))
    check(build_and_load, fn, [x], ["stablehlo.reduce"])


covers("chlo.erf")


@pytest.mark.parametrize("shape", [(), (3, 4), (0, 2)], ids=str)
def test_erf(build_and_load, rng, shape):
    x = floats(rng, shape)
    ops = check_archive(build_and_load, jax.scipy.special.erf, [x], ["chlo.erf"], tol=TRANSCENDENTAL)
    assert ops == (["erf"] if np.prod(shape) else ops), ops


def test_erf_special_values(build_and_load):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, 6.0, -6.0, 0.5, -3.9], F32)
    check(build_and_load, jax.scipy.special.erf, [x], ["chlo.erf"], tol=TRANSCENDENTAL)


def test_gelu_tanh_fuses(build_and_load, rng):
    x = floats(rng, (3, 8))
    ops = check_archive(build_and_load, lambda x: jax.nn.gelu(x, approximate=True), [x], ["stablehlo.tanh"],
                        tol=TRANSCENDENTAL)
    assert ops == ["gelu"], ops


covers("chlo.erfc")


def test_erfc(build_and_load, rng):
    # (Lowered as 1 - erf: for x > ~3 erfc is below float32's resolution
    # of 1 and comes out 0, within atol but not relatively close.)
    x = np.concatenate([floats(rng, (12,)), np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.5, -4.0], F32)])
    check(build_and_load, jax.scipy.special.erfc, [x], ["chlo.erfc"], tol=TRANSCENDENTAL)


def test_gelu_exact_fuses(build_and_load, rng):
    # jax.nn.gelu(approximate=False) is x * erfc(-x / sqrt 2) / 2.
    x = floats(rng, (3, 8))
    ops = check_archive(build_and_load, lambda x: jax.nn.gelu(x, approximate=False), [x], ["chlo.erfc"],
                        tol=TRANSCENDENTAL)
    assert ops == ["gelu"], ops


def test_gelu_exact_written_with_erf_fuses(build_and_load, rng):
    # x * Phi(x) spelled with erf, as PyTorch and most model code write it.
    x = floats(rng, (3, 8))
    fn = lambda x: 0.5 * x * (1.0 + jax.scipy.special.erf(x / np.sqrt(2.0).astype(F32)))
    ops = check_archive(build_and_load, fn, [x], ["chlo.erf"], tol=TRANSCENDENTAL)
    assert ops == ["gelu"], ops


def test_linear_gelu_fuses(build_and_load, rng):
    # x @ W + b then gelu (tanh form): one linear with activation gelu_tanh (4).
    params = {"w": floats(rng, (6, 5)) / 3, "b": floats(rng, (5,))}
    x = floats(rng, (2, 3, 6))
    fn = lambda p, x: jax.nn.gelu(x @ p["w"] + p["b"], approximate=True)
    model, path = build_and_load(fn, [x], params)
    assert_matches_jax(model, fn, [x], params=params, **ACCUMULATING)
    ops = [op for op in archive_ops(path) if op["op"] != "reshape"]  # x flattened to 2-D and back
    assert [op["op"] for op in ops] == ["linear"], ops
    assert ops[0]["attrs"]["activation"] == [4], ops


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_fuses(build_and_load, rng, axis):
    x = floats(rng, (3, 4, 5))
    ops = check_archive(build_and_load, lambda x: jax.nn.softmax(x, axis=axis), [x],
                        ["stablehlo.exponential", "stablehlo.reduce"], tol=ACCUMULATING)
    assert ops == ["softmax"], ops


def test_softmax_extreme_inputs(build_and_load):
    # Large logits must not overflow (max subtracted first); -inf entries give 0.
    x = np.array([[1000.0, 999.0, -1000.0], [-np.inf, 0.0, 1.0], [88.0, 89.0, 90.0]], F32)
    check(build_and_load, lambda x: jax.nn.softmax(x, axis=-1), [x], tol=ACCUMULATING)


def _layer_norm(x, w, b, eps=1e-5, axis=-1):
    mean = jnp.mean(x, axis=axis, keepdims=True)
    d = x - mean
    var = jnp.mean(d * d, axis=axis, keepdims=True)
    return d * jax.lax.rsqrt(var + eps) * w + b


@pytest.mark.parametrize("shape", [(4, 8), (2, 3, 8)], ids=str)
def test_layer_norm_hand_written_fuses(build_and_load, rng, shape):
    # Normalization over the last dim plus a weight and bias: one layer_norm.
    params = {"w": floats(rng, (8,)), "b": floats(rng, (8,))}
    fn = lambda p, x: _layer_norm(x, p["w"], p["b"], eps=1e-6)
    x = floats(rng, shape)
    model, path = build_and_load(fn, [x], params)
    assert_matches_jax(model, fn, [x], params=params, **ACCUMULATING)
    ops = archive_ops(path)
    assert [op["op"] for op in ops] == ["layer_norm"], ops
    assert ops[0]["attrs"]["epsilon"] == [pytest.approx(1e-6)], ops


def test_normalization_over_other_axis(build_and_load, rng):
    # Over axis 0 this is not a layer norm over the last dim; the values must still be right.
    x, w = floats(rng, (5, 3)), floats(rng, (1, 3))
    check(build_and_load, lambda x, w: _layer_norm(x, w, 0.5, axis=0), [x, w], ["stablehlo.rsqrt"],
          tol=ACCUMULATING)


# --- Coverage II: reverse, sort and top_k, expm1 / log1p / is_finite / rounding, prod and cumprod,
# logsumexp, transposed convolution ---------------------------------------------------------------------


def _bits_f32(v) -> np.ndarray:
    return np.asarray(v, np.uint32).view(F32)


NEG_NAN = _bits_f32(0xFFC00000)  # a NaN with the sign bit set


def assert_same_float_bits_class(got, want, exact=False):
    """NaN positions and the signs of the other values (of zeros, too)
    agree, which assert_allclose ignores; exact: every bit agrees (values
    moved, not computed: NaN signs and payloads too). Computed NaNs' signs
    are the hardware's, so they are not compared."""
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    if exact:
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.signbit(got) & ~np.isnan(got), np.signbit(want) & ~np.isnan(want))


def check_bits(build_and_load, fn, inputs, ops=(), tol=ELEMENTWISE, exact=False):
    """check(), then assert_same_float_bits_class on every float output."""
    model = check(build_and_load, fn, inputs, ops, tol=tol)
    got = model(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    for g, w in zip(got, jax_reference(fn, inputs)):
        if w.dtype.kind == "f":
            assert_same_float_bits_class(g, w, exact)
    return model


def bf16_check(build_and_load, fn, inputs, ops=(), rtol=8e-3):
    """For bfloat16 outputs: same dtype, values within a bfloat16 ulp or two
    (JAX may round an intermediate where the runtime computes in float32)."""
    if ops:
        assert_emits(fn, inputs, ops)
    model, _ = build_and_load(fn, inputs)
    got = model(*inputs)
    got = list(got) if isinstance(got, tuple) else [got]
    want = jax_reference(fn, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.dtype, w.dtype)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g.astype(F32), w.astype(F32), rtol=rtol, atol=1e-6)


covers("stablehlo.reverse")
FLIPS = [((5,), 0), ((3, 4), 1), ((3, 4), (0, 1)), ((2, 1, 5), (0, 1, 2)), ((0, 3), 1), ((2, 3, 4), -1),
         ((2, 3, 4, 5), (1, 3)), ((1,), 0)]


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
@pytest.mark.parametrize("shape,axis", FLIPS, ids=str)
def test_reverse(build_and_load, rng, shape, axis, kind):
    # Size-1 dims are not reversed; a flip of only size-1 dims is no op at all.
    x = make(rng, shape, kind)
    ops = check_archive(build_and_load, lambda x: jnp.flip(x, axis), [x], ["stablehlo.reverse"])
    assert ops == ([] if shape == (1,) else ["reverse"]), ops


def test_reverse_of_weights_is_folded_and_of_bfloat16_runs(build_and_load, rng):
    params = {"w": floats(rng, (3, 4))}
    fn = lambda p, x: x + jnp.flip(p["w"], (0, 1))
    x = floats(rng, (3, 4))
    assert_emits(fn, [x], ["stablehlo.reverse"], params)
    model, path = build_and_load(fn, [x], params)
    assert_matches_jax(model, fn, [x], params=params)
    assert op_names(path) == ["add"]
    bf16_check(build_and_load, lambda x: jnp.flip(x, 1), [floats(rng, (2, 5)).astype(jnp.bfloat16)],
               ["stablehlo.reverse"], rtol=0)


covers("stablehlo.sort")
SORTS = [((7,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 1, 4), 1), ((2, 3, 4), 1), ((1,), 0), ((0, 3), 1), ((4, 0), 0)]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("shape,axis", SORTS, ids=str)
def test_sort_and_argsort(build_and_load, rng, shape, axis, kind, descending):
    # ints in [-3, 3] and floats() (repeated specials, signed zeros) have
    # ties: jnp.argsort is stable. JAX writes descending as a reverse around
    # an ascending sort; argsort as a two-operand sort with an iota.
    x = floats(rng, shape) if kind == "float" else ints(rng, shape, -3, 3)
    fn = lambda x: (jnp.sort(x, axis=axis, descending=descending),
                    jnp.argsort(x, axis=axis, descending=descending))
    ops = check_archive(build_and_load, fn, [x], ["stablehlo.sort"])
    assert ops.count("sort") == (2 if x.size else 1) and "embedding" not in ops, ops  # (empty indices: a constant)


def test_sort_special_values(build_and_load):
    # JAX's comparators make -0.0 equal to 0.0 (ties keep input order) and
    # put NaNs of either sign after +inf; values keep their bits.
    x = np.array([[1.0, np.nan, -0.0, 0.0, -np.inf, np.inf, NEG_NAN, 1.0, -2.0, 0.0, -0.0],
                  [0.0, -0.0, np.nan, NEG_NAN, 3.0, 3.0, -np.inf, -np.inf, 2.0, np.nan, -1.0]], F32)
    fn = lambda x: (jnp.sort(x, axis=1), jnp.argsort(x, axis=1), jnp.sort(x, axis=1, descending=True),
                    jnp.argsort(x, axis=1, descending=True), jnp.sort(x, axis=0), jnp.argsort(x, axis=0))
    check_bits(build_and_load, fn, [x], ["stablehlo.sort"], exact=True)


def test_sort_extreme_ints_bool_and_bfloat16(build_and_load, rng):
    i = np.array([[INT_MAX, INT_MIN, 0, -1, INT_MAX, 1, INT_MIN]], I32)
    b = bools(rng, (3, 6))
    check(build_and_load, lambda i, b: (jnp.sort(i, axis=1), jnp.argsort(i, axis=1, descending=True),
                                        jnp.sort(b, axis=1), jnp.argsort(b, axis=0)), [i, b], ["stablehlo.sort"])
    h = floats(rng, (3, 6)).astype(jnp.bfloat16)
    h[0, :4] = np.array([np.nan, -0.0, 0.0, -np.inf], F32).astype(jnp.bfloat16)
    bf16_check(build_and_load, lambda h: (jnp.sort(h, axis=1), jnp.argsort(h, axis=0, descending=True)), [h],
               ["stablehlo.sort"], rtol=0)


def test_sort_several_operands_by_the_first(build_and_load, rng):
    # lax.sort with num_keys=1: the other operands follow the first, ties in
    # order; a constant operand along the dim is one lookup, others gather rows.
    x = ints(rng, (3, 7), -2, 2).astype(F32)
    y, z, w = ints(rng, (3, 7)), bools(rng, (3, 7)), floats(rng, (3, 7))
    ops = check_archive(build_and_load, lambda x, y, z, w: jax.lax.sort((x, y, z, w), dimension=1, num_keys=1),
                        [x, y, z, w], ["stablehlo.sort"])
    assert ops.count("sort") == 1, ops
    fn = lambda x: jax.lax.sort((x, jnp.broadcast_to(jnp.arange(7.0)[::-1] * 2, x.shape)), dimension=1,
                                num_keys=1)
    check(build_and_load, fn, [x], ["stablehlo.sort"])
    fn0 = lambda x, y: jax.lax.sort((x, y), dimension=0, num_keys=1)
    check(build_and_load, fn0, [x, y], ["stablehlo.sort"])


def test_argsort_unstable(build_and_load, rng):
    # is_stable = false: with distinct keys there is one answer
    x = rng.permutation(24).reshape(4, 6).astype(F32) - 12
    check(build_and_load, lambda x: (jnp.argsort(x, axis=1, stable=False), jnp.sort(x, axis=0, stable=False)), [x],
          ["stablehlo.sort"])


# Several sort keys: JAX's comparator for num_keys > 1 (lax.sort, jnp.lexsort)
# is a lexicographic chain lt(k0) or (eq(k0) and ...); it becomes one sort op
# over the keys, stable like JAX's.
def test_sort_by_several_keys_with_ties(build_and_load, rng):
    # few distinct values, so many elements tie in the first key and some in every key
    x, y = ints(rng, (4, 9), -2, 2).astype(F32), ints(rng, (4, 9), -1, 1)
    z, w = floats(rng, (4, 9)), bools(rng, (4, 9))
    for fn in (lambda x, y, z, w: jax.lax.sort((x, y, z, w), dimension=1, num_keys=2),
               lambda x, y, z, w: jax.lax.sort((y, w, x, z), dimension=0, num_keys=3),
               lambda x, y, z, w: jax.lax.sort((w, y, z), dimension=1, num_keys=2)):
        ops = check_archive(build_and_load, fn, [x, y, z, w], ["stablehlo.sort"], tol=EXACT)
        assert ops.count("sort") == 1, ops


def test_lexsort(build_and_load, rng):
    # jnp.lexsort sorts by its LAST key first; the permutation comes from the
    # sort's iota operand
    a, b, c = ints(rng, (3, 8), -1, 1), ints(rng, (3, 8), -1, 1).astype(F32), floats(rng, (3, 8))
    check(build_and_load, lambda a, b, c: (jnp.lexsort((c, b, a)), jnp.lexsort((a, b), axis=0)), [a, b, c],
          ["stablehlo.sort"], tol=EXACT)


def test_sort_by_several_keys_with_special_floats(build_and_load):
    # JAX's comparators make -0.0 equal to 0.0 and NaNs of either sign equal
    # to each other and after +inf, in every key: such ties go to the next key
    k0 = np.array([[np.nan, 1.0, NEG_NAN, -0.0, 0.0, np.nan, -np.inf, 0.0, np.inf, -0.0]], F32)
    k1 = np.array([[2.0, 0.0, 1.0, 5.0, -1.0, NEG_NAN, 3.0, -0.0, 0.0, 0.0]], F32)
    iota = np.arange(10, dtype=I32).reshape(1, 10)
    fn = lambda k0, k1, i: jax.lax.sort((k0, k1, i), dimension=1, num_keys=2)
    check_bits(build_and_load, fn, [k0, k1, iota], ["stablehlo.sort"], exact=True)
    fn = lambda k0, k1: jnp.lexsort((k0, k1))
    check(build_and_load, fn, [k0, k1], ["stablehlo.sort"], tol=EXACT)


def _sort_with_comparator(body: str) -> str:
    """A StableHLO module sorting two f32[4] operands %a, %b with the
    comparator `body` over elements a0, a1 (of %a) and b0, b1, returning %r."""
    t, c = "tensor<f32>", "tensor<i1>"
    return f"""
    func.func public @main(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {{
      %s:2 = "stablehlo.sort"(%a, %b) <{{dimension = 0 : i64, is_stable = true}}> ({{
      ^bb0(%a0: {t}, %a1: {t}, %b0: {t}, %b1: {t}):
        {body}
        stablehlo.return %r : {c}
      }}) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
      return %s#0, %s#1 : tensor<4xf32>, tensor<4xf32>
    }}""".replace("CMP", f": ({t}, {t}) -> {c}")


@pytest.mark.parametrize("body, problem", [
    ("%l = stablehlo.compare LT, %a0, %a1, FLOAT CMP\n %e = stablehlo.compare EQ, %a0, %a1, FLOAT CMP\n"
     "%g = stablehlo.compare GT, %a0, %a1, FLOAT CMP\n %n = stablehlo.and %e, %g : tensor<i1>\n"
     "%r = stablehlo.or %l, %n : tensor<i1>", "compares one operand as two keys"),
    ("%l = stablehlo.compare LT, %a0, %a1, FLOAT CMP\n %m = stablehlo.compare LT, %b0, %b1, FLOAT CMP\n"
     "%r = stablehlo.or %l, %m : tensor<i1>", "neither one comparison nor a lexicographic chain"),
    ("%l = stablehlo.compare LT, %a0, %a1, FLOAT CMP\n %e = stablehlo.compare EQ, %b0, %b1, FLOAT CMP\n"
     "%m = stablehlo.compare LT, %b0, %b1, FLOAT CMP\n %n = stablehlo.and %e, %m : tensor<i1>\n"
     "%r = stablehlo.or %l, %n : tensor<i1>", "neither one comparison nor a lexicographic chain"),
])
def test_sort_comparators_that_are_not_key_orders_are_refused(body, problem):
    # (the third ties on the second key where it should on the first)
    from jax.interpreters import mlir as jax_mlir
    from jaxlib.mlir import ir as mlir
    from ttpack.frontends.stablehlo import UnsupportedOpsError, import_module

    with jax_mlir.make_ir_context():
        module = mlir.Module.parse(_sort_with_comparator(body))
        with pytest.raises(UnsupportedOpsError, match=problem):
            import_module(module, "m", ["a", "b"], ["x", "y"], {})


covers("chlo.top_k")
TOP_KS = [((5,), 1), ((5,), 5), ((3, 6), 3), ((2, 3, 4), 2), ((4, 3), 0), ((1,), 1), ((0, 4), 2)]


@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("shape,k", TOP_KS, ids=str)
def test_top_k(build_and_load, rng, shape, k, kind):
    # ties (ints in [-3, 3], repeated float specials) go to the lower index
    x = floats(rng, shape) if kind == "float" else ints(rng, shape, -3, 3)
    ops = check_archive(build_and_load, lambda x: jax.lax.top_k(x, k), [x], ["chlo.top_k"])
    assert ops == ["top_k"], ops


def test_top_k_special_values_and_bfloat16(build_and_load, rng):
    # XLA's TopK orders by IEEE totalOrder: +NaN first, -0.0 after +0.0, -NaN last
    x = np.array([[1.0, np.nan, -0.0, 0.0, -np.inf, np.inf, NEG_NAN, 1.0, -2.0, 0.0, -0.0],
                  [INT_MAX, -3.0e38, 3.0e38, 1e-45, -1e-45, 0.0, np.nan, 5.0, 5.0, 5.0, -0.0]], F32)
    check_bits(build_and_load, lambda x: (jax.lax.top_k(x, 11), jax.lax.top_k(x, 4)), [x], ["chlo.top_k"],
               exact=True)
    h = floats(rng, (3, 6)).astype(jnp.bfloat16)
    bf16_check(build_and_load, lambda h: jax.lax.top_k(h, 3), [h], ["chlo.top_k"], rtol=0)


UNARY_MORE = [
    ("expm1", jnp.expm1, "float", "stablehlo.exponential_minus_one", TRANSCENDENTAL),
    ("log1p", jnp.log1p, "float-positive", "stablehlo.log_plus_one", TRANSCENDENTAL),
    ("is_finite", jnp.isfinite, "float", "stablehlo.is_finite", ELEMENTWISE),
    ("round", jnp.round, "float", "stablehlo.round_nearest_even", ELEMENTWISE),
    ("round_afz", jax.lax.round, "float", "stablehlo.round_nearest_afz", ELEMENTWISE),
]
for _row in UNARY_MORE:
    covers(_row[3])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,fn,kind,op,tol", UNARY_MORE, ids=ids(UNARY_MORE))
def test_unary_more(build_and_load, rng, name, fn, kind, op, tol, shape):
    # floats() holds the ties 0.5 and -2.5 and signed zeros
    x = make(rng, shape, kind)
    check_bits(build_and_load, fn, [x], [op], tol=tol)


def test_expm1_log1p_rounding_special_values(build_and_load):
    # Accuracy near 0 (where exp(x) - 1 and log(1 + x) would cancel), the
    # domain edges, overflow, ties of both roundings, and what they do to
    # signed zeros and large floats.
    x = np.array([0.0, -0.0, 1e-10, -1e-10, 1e-7, -3e-8, 1e-30, -1e-38, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, -0.3,
                  0.49999997, -0.49999997, 4194304.5, -4194304.5, 8388609.0, 1e30, -0.99999994, -1.0, -2.5,
                  88.0, 89.0, -100.0, np.inf, -np.inf, np.nan], F32)
    fn = lambda x: (jnp.expm1(x), jnp.log1p(x), jnp.isfinite(x), jnp.round(x), jax.lax.round(x), jnp.rint(x))
    check_bits(build_and_load, fn, [x], ["stablehlo.exponential_minus_one", "stablehlo.log_plus_one"],
               tol=TRANSCENDENTAL)


def test_unary_more_bfloat16(build_and_load, rng):
    x = (floats(rng, (3, 5)) / 3).astype(jnp.bfloat16)
    bf16_check(build_and_load, lambda x: (jnp.expm1(x), jnp.log1p(jnp.abs(x)), jnp.isfinite(x), jnp.round(x * 4),
                                          jax.lax.round(x * 4)), [x], ["stablehlo.is_finite"])


def near_one(rng, shape):
    """Products of these neither overflow nor vanish: magnitudes in [0.5, 1.5), either sign."""
    return np.asarray(rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape), F32)


@pytest.mark.parametrize("axis,keepdims", AXES, ids=[f"{a}{'-keep' if k else ''}" for a, k in AXES])
@pytest.mark.parametrize("kind", ["float", "int"])
def test_prod(build_and_load, rng, axis, keepdims, kind):
    x = near_one(rng, (3, 4, 5)) if kind == "float" else ints(rng, (3, 4, 5), -3, 3)
    ops = check_archive(build_and_load, lambda x: jnp.prod(x, axis=axis, keepdims=keepdims), [x],
                        ["stablehlo.reduce"], tol=ACCUMULATING)
    assert "prod" in ops, ops


def test_prod_edge_cases(build_and_load, rng):
    # empty products are 1, int32 wraps, 0 * inf is NaN, -0 signs, a
    # non-identity init is multiplied in, bools are counted as ints.
    e, ei = np.zeros((0, 3), F32), np.zeros((0, 3), I32)
    s = np.array([[0.0, np.inf, 2.0], [-0.0, 3.0, 1.0], [np.nan, 1.0, 1.0], [-np.inf, -2.0, 0.5]], F32)
    w = np.array([[65536, 65536, 3], [INT_MAX, 2, 1], [-7, INT_MIN, -1]], I32)
    b = bools(rng, (3, 4))
    fn = lambda e, ei, s, w, b: (jnp.prod(e, axis=0), jnp.prod(ei), jnp.prod(s, axis=1), jnp.prod(w, axis=1),
                                 jnp.prod(s, axis=0, initial=2.0), jnp.prod(b, axis=1), jnp.prod(near, axis=0))
    near = near_one(rng, (1, 5))
    check_bits(build_and_load, fn, [e, ei, s, w, b], ["stablehlo.reduce"], tol=ACCUMULATING)


CUMPRODS = [((7,), 0), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), -1), ((2, 3, 4, 5), 1), ((1, 4), 0), ((0, 3), 1)]


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["float", "int"])
@pytest.mark.parametrize("shape,axis", CUMPRODS, ids=str)
def test_cumprod(build_and_load, rng, shape, axis, kind, reverse):
    # JAX emits a reduce_window multiply over the whole axis, padded by n - 1
    # in front (behind for reverse=True).
    x = near_one(rng, shape) if kind == "float" else ints(rng, shape, -3, 3)
    fn = lambda x: jax.lax.cumprod(x, axis=axis % len(shape), reverse=reverse)
    ops = check_archive(build_and_load, fn, [x], ["stablehlo.reduce_window"], tol=ACCUMULATING)
    if shape[axis] > 1:
        assert "cumprod" in ops, ops
    np.testing.assert_array_equal(jnp.cumprod(x, axis=axis), jax.lax.cumprod(x, axis=axis % len(shape)))


def test_cumprod_special_values_and_wrap(build_and_load):
    x = np.array([2.0, np.inf, 0.0, -1.0, np.nan, 3.0], F32)
    i = np.array([65536, 65536, 3, -1, 0, 5], I32)
    check(build_and_load, lambda x, i: (jnp.cumprod(x), jnp.cumprod(i)), [x, i], ["stablehlo.reduce_window"])


def test_logsumexp(build_and_load, rng):
    # jax.nn.logsumexp: max, is_finite (an infinite max counts as 0), exp,
    # sum, log. Rows of -inf give -inf; very negative rows stay exact.
    x = floats(rng, (6, 5))
    x[1] = -np.inf
    x[2, :3] = -np.inf
    x[3] = floats(rng, (5,)) - 1e30
    x[4] = -1e38
    x[5, 0] = np.inf
    fn = lambda x: (jax.nn.logsumexp(x, axis=1), jax.nn.logsumexp(x[:5], axis=0, keepdims=True),
                    jax.nn.logsumexp(x[:4]), jax.scipy.special.logsumexp(x, axis=-1))
    check_bits(build_and_load, fn, [x], ["stablehlo.is_finite", "stablehlo.reduce"], tol=ACCUMULATING)
    n = np.array([[1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf]], F32)
    check_bits(build_and_load, lambda n: jax.nn.logsumexp(n, axis=1), [n], ["stablehlo.is_finite"])


CONV_TRANSPOSES = [
    # name, x NHWC shape, w HWIO shape, strides, padding, rhs dilation, transpose_kernel
    ("3x3-s2-same", (2, 5, 6, 4), (3, 3, 4, 6), (2, 2), "SAME", (1, 1), False),
    ("3x3-s2-valid", (1, 4, 5, 3), (3, 3, 3, 2), (2, 2), "VALID", (1, 1), False),
    ("2x2-s2-upsample", (1, 4, 4, 6), (2, 2, 6, 3), (2, 2), "VALID", (1, 1), False),
    ("4x3-s3x1-explicit", (1, 3, 5, 2), (4, 3, 2, 3), (3, 1), ((2, 1), (0, 2)), (1, 1), False),
    ("3x3-s2-dilated", (1, 4, 4, 2), (3, 3, 2, 2), (2, 2), "SAME", (2, 1), False),
    ("transpose-kernel", (1, 5, 5, 4), (3, 3, 6, 4), (2, 2), "VALID", (1, 1), True),
    ("1x1-s2", (2, 3, 3, 4), (1, 1, 4, 5), (2, 2), "VALID", (1, 1), False),
    ("1x1-input", (1, 1, 1, 3), (3, 3, 3, 2), (2, 2), "SAME", (1, 1), False),
]


@pytest.mark.parametrize("layout", list(CONV_LAYOUTS))
@pytest.mark.parametrize("name,xs,ws,strides,padding,dilation,tk", CONV_TRANSPOSES, ids=ids(CONV_TRANSPOSES))
def test_conv_transpose(build_and_load, rng, name, xs, ws, strides, padding, dilation, tk, layout):
    # lax.conv_transpose is a convolution with lhs_dilation: conv_transpose2d
    dn, xperm, wperm = CONV_LAYOUTS[layout]
    x = np.transpose(floats(rng, xs), xperm).copy()
    w = np.transpose(floats(rng, ws), wperm).copy()
    fn = lambda x, w: jax.lax.conv_transpose(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dn,
                                             transpose_kernel=tk)
    ops = check_archive(build_and_load, fn, [x, w], ["stablehlo.convolution"], tol=ACCUMULATING)
    assert ops.count("conv_transpose2d") == 1 and "conv2d" not in ops, ops


LHS_DILATED = [
    # name, x NHWC shape, w HWIO shape, lhs dilation, padding, rhs dilation, feature groups
    ("asymmetric", (1, 5, 5, 4), (3, 3, 4, 6), (2, 3), ((2, 1), (0, 3)), (1, 2), 1),
    ("negative-padding", (1, 5, 5, 4), (3, 3, 4, 6), (2, 2), ((-1, 0), (1, -2)), (1, 1), 1),
    ("padding-beyond-the-kernel", (1, 4, 4, 2), (3, 3, 2, 3), (2, 1), ((4, 5), (3, 0)), (1, 1), 1),
    ("groups2", (2, 4, 5, 4), (3, 3, 2, 6), (2, 2), ((2, 2), (2, 2)), (1, 1), 2),
    ("depthwise", (1, 4, 4, 3), (3, 3, 1, 3), (2, 2), ((1, 2), (1, 2)), (1, 1), 3),
]


@pytest.mark.parametrize("name,xs,ws,lhs,padding,rhs,groups", LHS_DILATED, ids=ids(LHS_DILATED))
def test_conv_general_dilated_lhs_dilation(build_and_load, rng, name, xs, ws, lhs, padding, rhs, groups):
    x, w = floats(rng, xs), floats(rng, ws)
    fn = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), padding, lhs_dilation=lhs, rhs_dilation=rhs,
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                   feature_group_count=groups)
    ops = check_archive(build_and_load, fn, [x, w], ["stablehlo.convolution"], tol=ACCUMULATING)
    assert "conv_transpose2d" in ops, ops


def test_conv_1d_forward_and_transposed(build_and_load, rng):
    # 1-D convolutions run as 2-D ones with a unit height
    x, w, wt = floats(rng, (2, 7, 4)), floats(rng, (3, 4, 6)), floats(rng, (3, 4, 5))
    fn = lambda x, w, wt: (
        jax.lax.conv_general_dilated(x, w, (2,), "SAME", dimension_numbers=("NWC", "WIO", "NWC")),
        jax.lax.conv_general_dilated(jnp.transpose(x, (0, 2, 1)), w, (1,), ((1, 2),), rhs_dilation=(2,),
                                     dimension_numbers=("NCW", "WIO", "NCW")),
        jax.lax.conv_transpose(x, wt, (3,), "VALID", dimension_numbers=("NWC", "WIO", "NWC")))
    ops = check_archive(build_and_load, fn, [x, w, wt], ["stablehlo.convolution"], tol=ACCUMULATING)
    assert ops.count("conv2d") == 2 and ops.count("conv_transpose2d") == 1, ops


def test_conv_transpose_empty_batch_and_channels(build_and_load, rng):
    dn = ("NHWC", "HWIO", "NHWC")
    fn = lambda x, w, c, v: (jax.lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=dn),
                             jax.lax.conv_transpose(c, v, (2, 1), "VALID", dimension_numbers=dn))
    check(build_and_load, fn, [np.zeros((0, 3, 3, 2), F32), floats(rng, (3, 3, 2, 4)), np.zeros((1, 3, 2, 0), F32),
                               np.zeros((2, 2, 0, 3), F32)], ["stablehlo.convolution"])


def test_conv_transpose_with_weights_bias_relu_fuses(build_and_load, rng):
    # A decoder's upsampling: weights as params, bias and relu fold into one op.
    params = {"w": floats(rng, (3, 3, 4, 6)) / 4, "b": floats(rng, (6,))}
    x = floats(rng, (2, 5, 6, 4))

    def fn(p, x):
        y = jax.lax.conv_transpose(x, p["w"], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y + p["b"])
    assert_emits(fn, [x], ["stablehlo.convolution"], params)
    model, path = build_and_load(fn, [x], params)
    assert_matches_jax(model, fn, [x], params=params, **ACCUMULATING)
    ops = archive_ops(path)
    assert [op["op"] for op in ops] == ["conv_transpose2d"], ops
    assert ops[0]["attrs"]["activation"] == [1], ops


# --- constants, identity, calls ----------------------------------------------------------------

covers("stablehlo.constant")


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_constants_inside_function(build_and_load, rng, fold):
    w = rng.standard_normal((4, 3)).astype(F32)
    table = np.arange(12, dtype=I32).reshape(3, 4)

    def fn(x, i):
        y = x @ jnp.asarray(w) + jnp.array([1.0, -2.0, 0.5], F32)
        z = i * jnp.asarray(table) + 7
        return jnp.tanh(y) * 2.0, z, jnp.asarray(table).T + 1  # the last is all-constant
    x, i = floats(rng, (2, 4)), ints(rng, (3, 4))
    check(build_and_load, fn, [x, i], ["stablehlo.constant"], options={"fold_constants": fold},
          tol=ACCUMULATING)


@pytest.mark.parametrize("kind,shape", [("float", (3, 4)), ("int", ()), ("bool", (2, 0)), ("bool", (5,))],
                         ids=str)
def test_identity(build_and_load, rng, kind, shape):
    x = make(rng, shape, kind)
    model = check(build_and_load, lambda x: x, [x])
    assert not np.shares_memory(model(x), x)  # outputs never alias inputs


def test_identity_repeated_and_mixed_outputs(build_and_load, rng):
    x, y = floats(rng, (2, 3)), ints(rng, (4,))
    check(build_and_load, lambda x, y: (x, y, x, {"b": y + 1, "a": x}), [x, y])


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("which", ["float-matrix", "int-scalar", "bool", "computed", "computed-scalar"])
def test_returns_constant(build_and_load, rng, which, fold):
    const = {
        "float-matrix": lambda: jnp.array([[1.5, -2.0], [0.0, 3.25]], F32),
        "int-scalar": lambda: jnp.int32(-42),
        "bool": lambda: jnp.array([True, False, True]),
        "computed": lambda: jnp.exp(jnp.arange(6, dtype=F32)).reshape(2, 3) + jnp.ones((2, 1)),
        "computed-scalar": lambda: jnp.max(jnp.arange(6, dtype=F32)) / 2 - jnp.sum(jnp.ones(3)),
    }[which]
    x = floats(rng, (3,))
    check(build_and_load, lambda x: const(), [x], options={"fold_constants": fold}, tol=TRANSCENDENTAL)
    check(build_and_load, lambda x: (const(), x * 2), [x], options={"fold_constants": fold},
          tol=TRANSCENDENTAL)


@pytest.mark.parametrize("kind", ["float", "int", "bool"])
def test_non_splat_constants(build_and_load, rng, kind):
    # Constants of every element type and several ranks keep their element
    # order (bool constants are bit-packed in MLIR attributes).
    consts = [make(rng, shape, kind) for shape in [(9,), (4, 5), (2, 3, 7)]]
    x = make(rng, (4, 5), kind)
    combine = (lambda a, b: a ^ b) if kind == "bool" else (lambda a, b: a - b)
    check(build_and_load, lambda x: (combine(jnp.asarray(consts[1]), x), *map(jnp.asarray, consts)), [x],
          ["stablehlo.constant"])


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_function_without_inputs(build_and_load, fold):
    fn = lambda: (jnp.arange(6.0).reshape(2, 3) * 2 + 1, jnp.int32(4), jnp.cos(jnp.ones((3,))) > 0.5)
    check(build_and_load, fn, [], options={"fold_constants": fold}, tol=TRANSCENDENTAL)


def test_unused_input_is_kept(build_and_load, rng):
    x, y = floats(rng, (3,)), ints(rng, (2,))
    model = check(build_and_load, lambda x, y: x * 2, [x, y])
    assert [s.name for s in model.inputs] == ["x", "y"]


covers("func.call")


def test_nested_jit_becomes_call(build_and_load, rng):
    inner = jax.jit(lambda a, b: jnp.tanh(a) * b)
    outer = jax.jit(lambda a: inner(a, a) + inner(a, 2 * a))  # a call inside a call
    x = floats(rng, (3, 4))
    check(build_and_load, lambda x: outer(x) - inner(x, x), [x], ["func.call"], tol=TRANSCENDENTAL)


def test_private_functions_from_jnp_helpers(build_and_load, rng):
    # jnp.where and jnp.clip lower to private functions (@_where, @clip), the
    # same one called several times with different arguments.
    x, y = floats(rng, (3, 4)), floats(rng, (3, 4))

    def fn(x, y):
        a = jnp.where(x > y, x, y)
        b = jnp.where(y > 0, a, -a)
        return jnp.clip(b, -1.0, 2.0), jnp.clip(a, y, 3.0), jnp.where(x > 0, 1.0, 0.0)
    check(build_and_load, fn, [x, y], ["func.call"])


def test_small_model(build_and_load, rng):
    # A two-layer MLP with softmax: many ops together, through calls and constants.
    params = {"w1": rng.standard_normal((6, 8)).astype(F32) / 3, "b1": rng.standard_normal(8).astype(F32),
              "w2": rng.standard_normal((8, 4)).astype(F32) / 3, "b2": rng.standard_normal(4).astype(F32)}

    def fn(p, x):
        h = jax.nn.relu(x @ p["w1"] + p["b1"])
        return jax.nn.softmax(h @ p["w2"] + p["b2"], axis=-1), jax.nn.gelu(h, approximate=True)
    check(build_and_load, fn, [floats(rng, (5, 6))], ["func.call"], params=params, tol=ACCUMULATING)


def _torch_covered() -> set[str] | None:
    """test_ops_torch.COVERED, or None without torch and torch_xla."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torch_xla") is None:
        return None
    import test_ops_torch

    return test_ops_torch.COVERED


def test_every_lowering_is_covered():
    from ttpack.frontends.stablehlo import LOWERINGS

    torch_covered = _torch_covered()
    covered = COVERED | (torch_covered or set())
    missing = sorted(set(LOWERINGS) - covered)
    if missing and torch_covered is None:
        pytest.skip(f"{missing} may be covered by test_ops_torch.py, which needs torch and torch_xla")
    assert not missing, ("StableHLO ops the frontend lowers but no test in test_ops_jax.py or test_ops_torch.py "
                         f"exercises: {missing}")


# --- control flow: loops stay loops ----------------------------------------------------------------
#
# stablehlo.while becomes a `while` op whose cond and body are regions of the
# program (format 2.1): the archive holds each once, whatever the trip count,
# and the runtime iterates. Loop tolerances: a body of float32 elementwise ops
# run n times compounds rounding at most n-fold, so loops of <= 20 steps use
# ACCUMULATING; integer results and loop counts are exact.
WHILE = covers("stablehlo.while")


def test_fori_loop(build_and_load, rng):
    fn = lambda x: jax.lax.fori_loop(0, 7, lambda i, c: c * 0.5 + jnp.sin(c) + i, x)
    check(build_and_load, fn, [floats(rng, (3, 4))], WHILE, tol=ACCUMULATING)


def test_scan_cumulative_sum_and_carry(build_and_load, rng):
    def fn(xs):
        total, partial = jax.lax.scan(lambda c, x: (c + x, c + x), jnp.zeros(xs.shape[1:], xs.dtype), xs)
        return total, partial

    check(build_and_load, fn, [floats(rng, (6, 5))], WHILE, tol=ACCUMULATING)


def test_scan_rnn_cell_over_a_sequence(build_and_load, rng):
    params = {"wx": rng.standard_normal((4, 8)).astype(F32) / 2, "wh": rng.standard_normal((8, 8)).astype(F32) / 3,
              "b": rng.standard_normal(8).astype(F32)}

    def fn(p, xs):  # xs: [time, batch, features]
        def cell(h, x):
            h = jnp.tanh(x @ p["wx"] + h @ p["wh"] + p["b"])
            return h, h
        h, hs = jax.lax.scan(cell, jnp.zeros((xs.shape[1], 8), xs.dtype), xs)
        return h, hs

    check(build_and_load, fn, [floats(rng, (9, 2, 4))], WHILE, params=params, tol=ACCUMULATING)


def test_while_loop_with_data_dependent_trip_count(build_and_load, tmp_path):
    # Collatz steps until every element reaches 1: how often the body runs
    # depends on the input's values
    def fn(n):
        def body(c):
            k, steps = c
            return jnp.where(k == 1, 1, jnp.where(k % 2 == 0, k // 2, 3 * k + 1)), steps + 1
        return jax.lax.while_loop(lambda c: jnp.any(c[0] != 1), body, (n, jnp.int32(0)))

    model, _ = build_and_load(fn, [np.array([6, 7, 1], I32)])
    for n in ([6, 7, 1], [1, 1, 1], [27, 2, 3]):
        x = np.array(n, I32)
        got = model(x)
        want = jax_reference(fn, [x])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert int(model(np.array([27, 2, 3], I32))[1]) == 111  # 27 takes 111 steps to reach 1


def test_nested_loops(build_and_load, rng):
    def fn(x):
        def outer(i, c):
            return jax.lax.fori_loop(0, i + 1, lambda j, d: d * 0.9 + j * 0.1, c) + 1.0
        return jax.lax.fori_loop(0, 4, outer, x)

    check(build_and_load, fn, [floats(rng, (2, 3))], WHILE, tol=ACCUMULATING)


def test_loop_state_of_several_dtypes(build_and_load, rng):
    def fn(x, flags):
        def body(c):
            i, y, f = c
            return i + 1, jnp.where(f, y * 2.0, y - 1.0), jnp.logical_not(f)
        return jax.lax.while_loop(lambda c: c[0] < 5, body, (jnp.int32(0), x, flags))

    check(build_and_load, fn, [floats(rng, (4,)), np.array([True, False, True, False])], WHILE)


def test_loop_that_never_runs_its_body(build_and_load, rng):
    fn = lambda x, n: jax.lax.fori_loop(0, n, lambda i, c: c + 1.0, x)
    model, _ = build_and_load(fn, [floats(rng, (3,)), np.array(0, I32)])
    x = floats(rng, (3,))
    np.testing.assert_array_equal(model(x, np.array(0, I32)), x)
    np.testing.assert_array_equal(model(x, np.array(-3, I32)), x)
    np.testing.assert_allclose(model(x, np.array(4, I32)), x + 4.0, **ELEMENTWISE)


def test_archive_size_does_not_grow_with_the_trip_count(build_and_load, rng):
    sizes, counts = [], []
    for n in (3, 300):
        fn = lambda x, n=n: jax.lax.fori_loop(0, n, lambda i, c: jnp.tanh(c * 1.01 + 0.1), x)
        model, path = build_and_load(fn, [floats(rng, (4,))])
        x = floats(rng, (4,))
        np.testing.assert_allclose(model(x), jax.jit(fn)(x), rtol=1e-4, atol=1e-5)
        sizes.append(path.stat().st_size)
        counts.append(len(op_names(path)))
    assert counts[0] == counts[1] and abs(sizes[0] - sizes[1]) < 64, (sizes, counts)


RANDOM_BITS_TO_FLOATS = covers("stablehlo.bitcast_convert", "chlo.erf_inv")


def test_jax_random_inside_a_jitted_function(build_and_load):
    ops = RANDOM_BITS_TO_FLOATS

    def fn(key, x):
        k1, k2 = jax.random.split(key)
        return x + jax.random.normal(k1, x.shape), jax.random.uniform(k2, (3, 5), minval=-2.0, maxval=3.0)

    x = np.zeros((4, 6), F32)
    assert_emits(fn, [np.asarray(jax.random.PRNGKey(0)), x], ("stablehlo.while",) + ops)
    model, _ = build_and_load(fn, [np.asarray(jax.random.PRNGKey(0)), x])
    for seed in (0, 1, 12345):
        key = np.asarray(jax.random.PRNGKey(seed))
        got, want = model(key, x), jax_reference(fn, [key, x])
        # the random bits are exact integer arithmetic; erf_inv (normal) is a
        # float32 polynomial evaluated as XLA does, so the results agree to rounding
        np.testing.assert_allclose(got[0], want[0], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)


def test_erf_inv(build_and_load):
    x = np.concatenate([np.linspace(-0.999999, 0.999999, 201), [0.0, 0.5, -0.9999, 1e-7, 1.0, -1.0]]).astype(F32)
    check(build_and_load, jax.scipy.special.erfinv, [x], ("chlo.erf_inv",), tol=dict(rtol=2e-5, atol=2e-6))


def test_bitcast_convert(build_and_load, rng):
    fn = lambda x, i: (jax.lax.bitcast_convert_type(x, jnp.int32), jax.lax.bitcast_convert_type(i, jnp.float32),
                       jax.lax.bitcast_convert_type(i.astype(jnp.uint32), jnp.float32))
    i = np.array([0, 1, 0x3F800000, -1 << 31, 0x7F800000, 12345678], I32)
    check(build_and_load, fn, [floats(rng, (6,)), i], ("stablehlo.bitcast_convert",))


def test_scan_builds_for_a_chip(tmp_path, rng):
    import ttpack
    import ttpack.runtime as rt

    def fn(xs):
        return jax.lax.scan(lambda c, x: (jnp.tanh(c * 0.5 + x), c), jnp.zeros(xs.shape[1:], xs.dtype), xs)

    xs = floats(rng, (5, 32, 32))
    path = tmp_path / "scan_n150.ttpack"
    ttpack.build(fn, [xs], output=path, target="n150")
    got, want = rt.load(path)(xs), jax_reference(fn, [xs])
    for g, w in zip(got, want):  # bfloat16 activations on the chip: a few bfloat16 ulps after 5 steps
        np.testing.assert_allclose(g, w, rtol=3e-2, atol=3e-2)
    from ttpack.archive.reader import read_archive
    from ttpack.estimate import estimate_program
    from ttpack.targets import get_target

    program = read_archive(path).programs[0]
    assert [op["op"] for op in program["ops"]] == ["while"]  # inputs and outputs cross as host tensors
    body = program["regions"][program["ops"][0]["attrs"]["body"][0]]
    assert {"tanh", "to_layout"} <= {op["op"] for op in body["ops"]}
    est = estimate_program(program, get_target("n150"))
    assert est["loops"] == 1 and est["total_seconds"] > 0 and "one iteration" in est["note"]


# --- params as a pytree --------------------------------------------------------------------------


def _pytree_params(rng):
    return {
        "dense": {"kernel": rng.standard_normal((4, 5)).astype(F32), "bias": rng.standard_normal(5).astype(F32)},
        "layers": [{"w": rng.standard_normal((5, 5)).astype(F32) / 2},
                   {"w": rng.standard_normal((5, 3)).astype(F32) / 2, "scale": np.array(0.5, F32)}],
        "offset": np.array([1, -2, 3], I32),
        "mask": np.array([True, False, True]),
    }


def _pytree_fn(p, x, n):
    h = jnp.tanh(x @ p["dense"]["kernel"] + p["dense"]["bias"])
    h = jax.nn.sigmoid(h @ p["layers"][0]["w"])
    y = (h @ p["layers"][1]["w"]) * p["layers"][1]["scale"]
    return {"y": jnp.where(p["mask"], y, 0.0), "n": n * p["offset"]}


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_params_pytree(build_and_load, rng, fold):
    params = _pytree_params(rng)
    x, n = floats(rng, (2, 4)), ints(rng, (2, 3))
    model = check(build_and_load, _pytree_fn, [x, n], params=params, options={"fold_constants": fold},
                  tol=ACCUMULATING)
    assert [s.name for s in model.inputs] == ["x", "n"]  # weights are baked in, not inputs

    # The same weights passed as inputs give the same results.
    leaves, tree = jax.tree_util.tree_flatten(params)
    as_inputs = lambda x, n, *ls: _pytree_fn(jax.tree_util.tree_unflatten(tree, ls), x, n)
    model2, _ = build_and_load(as_inputs, [x, n, *leaves])
    got1, got2 = model(x, n), model2(x, n, *leaves)
    for a, b in zip(got1, got2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_params_returned_and_weight_only_outputs(build_and_load, rng):
    params = {"w": rng.standard_normal((3, 2)).astype(F32), "k": np.array([4, 5], I32)}
    fn = lambda p, x: (p["w"], x @ p["w"], p["w"].T * 2.0, p["k"] + 1)
    for fold in (True, False):
        check(build_and_load, fn, [floats(rng, (4, 3))], params=params, options={"fold_constants": fold},
              tol=ACCUMULATING)


def test_params_list_and_scalar_leaves(build_and_load, rng):
    params = [np.array(2.0, F32), (rng.standard_normal((3,)).astype(F32), np.array(3, I32))]
    fn = lambda p, x: (x * p[0] + p[1][0], jnp.arange(3) * p[1][1])
    check(build_and_load, fn, [floats(rng, (2, 3))], params=params)


# --- unsupported ops ---------------------------------------------------------------------------------


def _line_of(fn, needle: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    (hit,) = [i for i, line in enumerate(lines) if needle in line]
    return start + hit


def _uses_unsupported_ops(x):
    s = jnp.sort(x.astype(jnp.uint32)).astype(F32)  # unsigned 32-bit keys
    w = jax.lax.fori_loop(0, 3, lambda i, c: c * 2.0, x)  # loops are supported: not reported
    c = jax.lax.cond(x[0, 0] > 0, jnp.cbrt, jnp.cos, x)  # in a branch: still found
    v = jnp.linalg.inv(x[:, :3])
    return s + 1.0, jnp.tanh(w), c, v @ v  # values downstream of the bad ops are not reported again


def test_unsupported_ops_are_all_reported_at_once(tmp_path):
    import ttpack
    from ttpack.frontends.stablehlo import UnsupportedOpsError

    out = tmp_path / "bad.ttpack"
    with pytest.raises(UnsupportedOpsError) as info:
        ttpack.build(_uses_unsupported_ops, [np.ones((3, 4), F32)], output=out)
    err = info.value
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either

    names = [p[0] for p in err.problems]
    assert sorted(names) == ["stablehlo.cbrt", "stablehlo.custom_call", "stablehlo.sort"], err.problems
    expected_lines = {"stablehlo.sort": _line_of(_uses_unsupported_ops, "sort"),
                      "stablehlo.cbrt": _line_of(_uses_unsupported_ops, "cond"),
                      "stablehlo.custom_call": _line_of(_uses_unsupported_ops, "linalg")}
    for name, loc, reason in err.problems:
        assert f"{os.path.basename(__file__)}:{expected_lines[name]}:" in loc, (name, loc)
        assert reason
        assert name in str(err) and loc in str(err)
    # jnp.linalg.inv is a LAPACK call on CPU: the target is named
    assert re.match(r"custom_call @\w+ is not supported", dict((p[0], p[2]) for p in err.problems)[
        "stablehlo.custom_call"])


def _more_unsupported(x, i):
    p = jax.lax.reduce(x, F32(0), lambda a, b: a * b - a, (0,))
    c = jax.lax.complex(x, x)
    h = x.astype(jnp.float16)  # supported: a logical type (not reported)
    d = x.at[i[:2]].apply(jnp.sin)
    q = jax.lax.pad(x, 0.0, ((0, 0, 1), (0, 0, 0)))
    m = jax.lax.reduce_window(x, jnp.inf, jax.lax.min, (2, 2), (1, 1), "VALID")
    f = jax.jit(lambda a: jax.lax.population_count(a))(i)
    return p, jnp.abs(c), h, d, q, m, f, jnp.tanh(x)


def test_unsupported_forms_and_dtypes_reported_with_locations(tmp_path):
    import ttpack
    from ttpack.frontends.stablehlo import UnsupportedOpsError

    out = tmp_path / "bad.ttpack"
    out.write_bytes(b"previous archive")
    with pytest.raises(UnsupportedOpsError) as info:
        ttpack.build(_more_unsupported, [np.ones((3, 4), F32), np.ones((3,), I32)], output=out)
    assert out.read_bytes() == b"previous archive"  # an existing file is left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ttpack"]
    problems = info.value.problems
    assert sorted(p[0] for p in problems) == [
        "stablehlo.complex", "stablehlo.pad", "stablehlo.popcnt",
        "stablehlo.reduce", "stablehlo.reduce_window", "stablehlo.scatter"], problems
    where = {p[0]: p for p in problems}
    for name, needle, words in [
        ("stablehlo.reduce", "lax.reduce(", ["multiply", "subtract"]),
        ("stablehlo.complex", "complex", []),
        ("stablehlo.scatter", ".apply(", ["update computation", "sine"]),
        ("stablehlo.pad", "lax.pad", ["interior"]),
        ("stablehlo.reduce_window", "reduce_window", ["minimum"]),
        ("stablehlo.popcnt", "population_count", []),
    ]:
        assert f"{os.path.basename(__file__)}:{_line_of(_more_unsupported, needle)}:" in where[name][1], where[name]
        for w in words:
            assert w in where[name][2], where[name]


def test_complex_input_is_reported(tmp_path):
    import ttpack
    from ttpack.frontends.stablehlo import UnsupportedOpsError

    def takes_complex(phasor):
        return phasor * 2

    with pytest.raises(UnsupportedOpsError, match="complex") as info:
        ttpack.build(takes_complex, [np.ones(3, np.complex64)], output=tmp_path / "c.ttpack")
    assert "phasor" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# --- build-time folding agrees with the runtime and with XLA --------------------------------------
# With fold_constants (the default) ops on constants are evaluated at build
# time by the registry's numpy references; without it the C kernels run them.
# Both must give JAX's result, edge cases included.

_EDGE_F = np.array([-2.5, -0.0, 0.0, 0.5, 3.0, np.inf, -np.inf, np.nan, 1e30, -7.25], F32)
_EDGE_F2 = np.array([2.0, -1.0, 0.0, -0.0, 0.5, 2.0, 3.0, 1.0, -1e30, 2.0], F32)
_EDGE_I = np.array([7, -7, INT_MIN, INT_MAX, 0, -1, 5, INT_MIN, 3, -9], I32)
_EDGE_I2 = np.array([2, -2, 3, -1, 0, 0, 33, 2, -1, 31], I32)
# XLA's constant folder itself dies with SIGFPE on x / 0 and INT_MIN / -1 when
# JAX compiles the reference, so the constant divisions avoid both (with
# inputs they are covered by test_int_division_edge_cases).
_DIVISORS = np.where(_EDGE_I2 == 0, 3, _EDGE_I2).astype(I32)
CONSTANT_CASES = [
    ("divide-int", lambda: jax.lax.div(_EDGE_I, _DIVISORS)),
    ("remainder-int", lambda: jax.lax.rem(_EDGE_I, _DIVISORS)),
    ("floor_divide-mod-int", lambda: (jnp.floor_divide(_EDGE_I, _DIVISORS), jnp.mod(_EDGE_I, _DIVISORS))),
    ("power-int", lambda: stablehlo_power(_EDGE_I % 4 - 1, _EDGE_I2 % 8)),
    ("shifts", lambda: (jax.lax.shift_left(_EDGE_I, _EDGE_I2), jax.lax.shift_right_logical(_EDGE_I, _EDGE_I2),
                        jax.lax.shift_right_arithmetic(_EDGE_I, _EDGE_I2))),
    ("negate-abs-sign-int", lambda: (-_EDGE_I, jnp.abs(jnp.asarray(_EDGE_I)), jnp.sign(_EDGE_I))),
    ("add-mul-int-wrap", lambda: (jnp.asarray(_EDGE_I) + _EDGE_I2 * INT_MAX, jnp.asarray(_EDGE_I) * _EDGE_I)),
    ("bitwise-int", lambda: (jnp.asarray(_EDGE_I) & _EDGE_I2, jnp.asarray(_EDGE_I) | _EDGE_I2,
                             jnp.asarray(_EDGE_I) ^ _EDGE_I2, ~jnp.asarray(_EDGE_I))),
    ("float-to-int", lambda: jnp.asarray(_EDGE_F).astype(jnp.int32)),
    ("int-to-float-and-bool", lambda: (jnp.asarray(_EDGE_I).astype(F32), jnp.asarray(_EDGE_I).astype(bool),
                                       jnp.asarray(_EDGE_F).astype(bool))),
    ("float-arith", lambda: (jnp.asarray(_EDGE_F) / _EDGE_F2, jax.lax.rem(_EDGE_F, _EDGE_F2),
                             jnp.maximum(_EDGE_F, _EDGE_F2), jnp.minimum(_EDGE_F, _EDGE_F2),
                             jnp.asarray(_EDGE_F) - _EDGE_F2)),
    ("float-unary", lambda: (jnp.floor(_EDGE_F), jnp.ceil(_EDGE_F), jnp.sign(_EDGE_F), jnp.abs(_EDGE_F),
                             jnp.tanh(_EDGE_F), jnp.sqrt(jnp.abs(jnp.asarray(_EDGE_F))))),
    ("compare", lambda: tuple(fn(_EDGE_F, _EDGE_F2) for _, fn in COMPARES)
                        + tuple(fn(_EDGE_I, _EDGE_I2) for _, fn in COMPARES)),
    ("select-clamp", lambda: (jnp.where(jnp.asarray(_EDGE_I) > 0, _EDGE_F, _EDGE_F2),
                              jax.lax.clamp(F32(-1.0), jnp.asarray(_EDGE_F), F32(2.0)))),
    ("reductions", lambda: (jnp.sum(_EDGE_I), jnp.max(_EDGE_I), jnp.min(_EDGE_F2),
                            jnp.sum(jnp.asarray(_EDGE_F2).reshape(2, 5), axis=1), jnp.any(jnp.asarray(_EDGE_I) > 6))),
    ("movement", lambda: (jnp.asarray(_EDGE_I).reshape(2, 5).T[::2], jnp.concatenate([_EDGE_I, _EDGE_I2])[3:14:3],
                          jnp.broadcast_to(jnp.asarray(_EDGE_I2)[:, None], (10, 3)))),
    ("matmul", lambda: (jnp.asarray(_EDGE_I).reshape(2, 5) @ jnp.asarray(_EDGE_I2).reshape(5, 2),
                        jnp.asarray(_EDGE_F2[:6]).reshape(2, 3) @ jnp.arange(6, dtype=F32).reshape(3, 2))),
]


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("name,const_fn", CONSTANT_CASES, ids=ids(CONSTANT_CASES))
def test_constant_operands_folded_and_unfolded(build_and_load, name, const_fn, fold):
    x = np.arange(3, dtype=F32)
    check(build_and_load, lambda x: (const_fn(), x), [x], ["stablehlo.constant"],
          options={"fold_constants": fold}, tol=TRANSCENDENTAL)


covers("chlo.square")


@pytest.mark.parametrize("fn", [jnp.square, lambda x: jnp.var(x, axis=-1), lambda x: jnp.std(x, axis=0)],
                         ids=["square", "var", "std"])
def test_square_var_std(build_and_load, rng, fn):
    x = rng.standard_normal((3, 5)).astype(F32)
    assert "chlo.square" in jax.jit(fn).lower(x).as_text()
    model, _ = build_and_load(fn, [x])
    assert_matches_jax(model, fn, [x], rtol=1e-5, atol=1e-6)


# --- integer widths other than int32: held in int32, with the narrow type's semantics ----------------

INT_WIDTH_CASES = {
    "i32->u8 wraps": lambda x: x.astype(jnp.uint8),
    "i32->i8 wraps": lambda x: x.astype(jnp.int8),
    "i32->i16->i8": lambda x: x.astype(jnp.int16).astype(jnp.int8),
    "i32->u16": lambda x: x.astype(jnp.uint16),
    "u8 add overflows": lambda x: x.astype(jnp.uint8) + jnp.uint8(200),
    "i16 multiply overflows": lambda x: x.astype(jnp.int16) * jnp.int16(300),
    "u32 compare above 2^31": lambda x: x.astype(jnp.uint32) > jnp.uint32(5),
    "u32 add, to float": lambda x: (x.astype(jnp.uint32) + jnp.uint32(3_000_000_000)).astype(jnp.float32),
    "f32->u8 saturates": lambda x: (x * 1.5).astype(jnp.uint8),
    "f32->i8 saturates": lambda x: (x * -1.5).astype(jnp.int8),
}


@pytest.mark.parametrize("name", sorted(INT_WIDTH_CASES))
def test_integer_widths_keep_their_semantics(build_and_load, name):
    fn = INT_WIDTH_CASES[name]
    x = np.array([300, -1, 256, 5, 70000, -129, 127], I32)
    model, _ = build_and_load(fn, [x])
    want = np.asarray(jax.jit(fn)(x))
    got = np.asarray(model(x))
    if want.dtype.kind == "f":  # uint32 -> float32 rounds twice here (via int32): 1 ulp
        np.testing.assert_allclose(got, want, rtol=2e-7)
    else:
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64))


def test_unsigned_division_is_refused(tmp_path):
    import ttpack
    from ttpack.frontends.stablehlo import UnsupportedOpsError

    with pytest.raises(UnsupportedOpsError, match="unsigned 32-bit"):
        ttpack.build(lambda x: x.astype(jnp.uint32) // jnp.uint32(2), [np.ones(3, I32)], output=tmp_path / "u.ttpack")
    assert list(tmp_path.iterdir()) == []


# lax.cond and lax.switch lower to stablehlo.case, whose branches read values
# around them directly; ttpack passes those values in as the case's operands
# (its regions are isolated) and the runtime runs the one branch the index
# picks.
CASE = covers("stablehlo.case")


def test_cond_takes_both_branches(build_and_load, rng):
    fn = lambda p, x, y: jax.lax.cond(p > 0, lambda a: a * y - 1.0, lambda a: jnp.exp(a) + y, x)
    x, y = floats(rng, (3, 4)), floats(rng, (3, 4))
    model = check(build_and_load, fn, [np.array(1.0, F32), x, y], CASE)
    for p in (1.0, -1.0, 0.0):
        p = np.array(p, F32)
        np.testing.assert_allclose(model(p, x, y), jax.jit(fn)(p, x, y), **ELEMENTWISE)


def test_cond_with_several_outputs_and_a_constant_branch(build_and_load, rng):
    def fn(p, x, n):
        return jax.lax.cond(p, lambda: (x * 2.0, n + 1, jnp.float32(0.5)), lambda: (x, n, jnp.float32(-3.0)))

    x, n = floats(rng, (5,)), np.array([1, 2, 3], I32)
    model, _ = build_and_load(fn, [np.array(True), x, n])
    for p in (True, False):
        for g, w in zip(model(np.array(p), x, n), jax.jit(fn)(np.array(p), x, n)):
            np.testing.assert_array_equal(g, w)


def test_switch_every_branch_and_indices_out_of_range(build_and_load, rng):
    branches = [lambda a: a * 2.0, lambda a: a + 1.0, lambda a: -a]
    fn = lambda i, x: jax.lax.switch(i, branches, x)
    x = floats(rng, (2, 3))
    model = check(build_and_load, fn, [np.array(0, I32), x], CASE)
    for i in (0, 1, 2, 3, 100, -1, -7):  # JAX clamps: below 0 runs the first branch, past the end the last
        i = np.array(i, I32)
        np.testing.assert_array_equal(model(i, x), jax.jit(fn)(i, x))


def test_cond_inside_fori_loop(build_and_load, rng):
    def fn(x):
        def body(i, c):
            return jax.lax.cond(i % 2 == 0, lambda v: v * 0.5 + 1.0, lambda v: jnp.sin(v) - i, c)
        return jax.lax.fori_loop(0, 6, body, x)

    check(build_and_load, fn, [floats(rng, (3, 4))], CASE + WHILE, tol=ACCUMULATING)


def test_fori_loop_inside_a_branch(build_and_load, rng):
    fn = lambda p, x: jax.lax.cond(p, lambda v: jax.lax.fori_loop(0, 3, lambda i, c: c * 1.5, v), jnp.tanh, x)
    x = floats(rng, (4,))
    model = check(build_and_load, fn, [np.array(True), x], CASE + WHILE)
    np.testing.assert_allclose(model(np.array(False), x), np.tanh(x), **ELEMENTWISE)


def test_case_branches_must_agree():
    from ttpack.compiler import ir
    from ttpack.compiler.ops import OpError
    from ttpack.compiler.types import TensorType

    index, x = ir.Value(TensorType((), "int32")), ir.Value(TensorType((2,), "float32"))
    ok = ir.Program("b", [("x", ir.Value(x.type))], [], [])
    with pytest.raises(OpError, match="int32 scalar"):
        ir.make_op("case", [x, x], {"branches": [0]}, "", (ok,))
    a_in, b_in = ir.Value(x.type), ir.Value(TensorType((3,), "float32"))
    a, b = ir.Program("a", [("x", a_in)], [("y", a_in)], []), ir.Program("b", [("x", b_in)], [("y", b_in)], [])
    with pytest.raises(OpError, match="branch 1 takes"):
        ir.make_op("case", [index, x], {"branches": [0, 1]}, "", (a, b))


def _emit_if(pred, x):
    """stablehlo.if(pred) {x * x} else {-x}: JAX lowers lax.cond to case, so
    the if is built by hand (other producers, torch_xla among them, emit it)."""
    from jaxlib.mlir import ir as mlir
    from jaxlib.mlir.dialects import stablehlo

    op = stablehlo.IfOp([x.type], pred)
    with mlir.InsertionPoint(op.true_branch.blocks.append()):
        stablehlo.ReturnOp([stablehlo.MulOp(x, x).result])
    with mlir.InsertionPoint(op.false_branch.blocks.append()):
        stablehlo.ReturnOp([stablehlo.NegOp(x).result])
    return op.result


def _if_primitive():
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    prim = Primitive("ttpack_test_if")
    prim.def_abstract_eval(lambda pred, x: jax.core.ShapedArray(x.shape, x.dtype))
    mlir.register_lowering(prim, lambda ctx, pred, x: [_emit_if(pred, x)])
    return prim.bind


stablehlo_if = _if_primitive()
IF = covers("stablehlo.if")


def test_stablehlo_if_takes_both_branches(build_and_load, rng):
    fn = lambda p, x: stablehlo_if(p, x) + 1.0
    x = floats(rng, (2, 5))
    model = check(build_and_load, fn, [np.array(True), x], IF)
    np.testing.assert_allclose(model(np.array(False), x), -x + 1.0, **ELEMENTWISE)
    np.testing.assert_allclose(model(np.array(True), x), x * x + 1.0, **ELEMENTWISE)
