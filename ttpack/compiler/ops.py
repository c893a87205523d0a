"""The op registry: every TTNN-level op ttpack knows, defined once.

Each entry says what the op is called in archives, which attributes it takes,
how its output type follows from its inputs (the shape rule), and what it
computes (a numpy reference used for build-time folding and as the oracle in
tests). Its position in the registry is its kernel id: the C runtime's op
table (runtime_c/src/ops_generated.h) is generated from this file by
scripts/gen_schema.py, so a new op is added here and in one C kernel.

Attribute values are tuples of ints or of floats. Binary, ternary and
comparison ops broadcast numpy-style, like TTNN's eltwise ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .types import TensorType, broadcast_shapes, dtype_name

Attrs = dict[str, tuple]
ShapeRule = Callable[[Sequence[TensorType], Attrs], list[TensorType]]
Reference = Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]]


class OpError(ValueError):
    """An op was built with inputs or attributes it does not accept."""


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs: tuple[str, ...]
    shape_rule: ShapeRule
    reference: Reference
    dtypes: tuple[str, ...]  # input element types the CPU kernel accepts
    doc: str


REGISTRY: list[OpDef] = []
BY_NAME: dict[str, OpDef] = {}

NUMERIC = ("float32", "int32")
FLOAT = ("float32",)
ALL = ("float32", "int32", "bool")
INTEGRAL = ("int32", "bool")


def _register(name, attrs, shape_rule, reference, dtypes, doc):
    op = OpDef(name, tuple(attrs), shape_rule, reference, tuple(dtypes), doc)
    if name in BY_NAME:
        raise AssertionError(f"op {name!r} registered twice")
    REGISTRY.append(op)
    BY_NAME[name] = op
    return op


def kernel_id(name: str) -> int:
    return REGISTRY.index(BY_NAME[name])


# --- shape rules -------------------------------------------------------------


def _same_as_input(ins, attrs):
    return [ins[0]]


def _broadcast(result_dtype=None):
    """Shape rule of ops that broadcast operands of one element type."""

    def rule(ins, attrs):
        dtypes = sorted({t.dtype for t in ins})
        if len(dtypes) != 1:
            raise OpError(f"operands have different element types {dtypes}")
        try:
            shape = broadcast_shapes(*(t.shape for t in ins))
        except ValueError as e:
            raise OpError(str(e)) from None
        return [TensorType(shape, result_dtype or dtypes[0])]

    return rule


def _where_rule(ins, attrs):
    if ins[0].dtype != "bool":
        raise OpError(f"where's condition must be bool, got {ins[0].dtype}")
    (out,) = _broadcast()(ins[1:], attrs)
    try:
        shape = broadcast_shapes(ins[0].shape, out.shape)
    except ValueError as e:
        raise OpError(str(e)) from None
    return [TensorType(shape, out.dtype)]


def _typecast_rule(ins, attrs):
    return [TensorType(ins[0].shape, dtype_name(attrs["dtype"][0]))]


def _matmul_rule(ins, attrs):
    a, b = ins
    if a.rank < 2 or b.rank < 2 or a.dtype != b.dtype:
        raise OpError(f"matmul needs two rank>=2 tensors of one dtype, got {a} and {b}")
    if a.shape[-1] != b.shape[-2]:
        raise OpError(f"matmul inner dimensions differ: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)]


def _reshape_rule(ins, attrs):
    shape = tuple(attrs["shape"])
    if int(np.prod(shape, dtype=np.int64)) != ins[0].numel:
        raise OpError(f"cannot reshape {ins[0].shape} to {shape}")
    return [TensorType(shape, ins[0].dtype)]


def _permute_rule(ins, attrs):
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(ins[0].rank)):
        raise OpError(f"{perm} is not a permutation of {ins[0].rank} dims")
    return [TensorType(tuple(ins[0].shape[p] for p in perm), ins[0].dtype)]


def _concat_rule(ins, attrs):
    (dim,) = attrs["dim"]
    first = ins[0]
    for t in ins[1:]:
        if t.dtype != first.dtype or t.rank != first.rank or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != dim
        ):
            raise OpError(f"concat operands differ outside dim {dim}: {first} and {t}")
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in ins)
    return [TensorType(tuple(shape), first.dtype)]


def _slice_rule(ins, attrs):
    begins, ends, steps = attrs["begins"], attrs["ends"], attrs["steps"]
    shape = ins[0].shape
    if not len(begins) == len(ends) == len(steps) == len(shape):
        raise OpError("slice needs one begin, end and step per dimension")
    out = []
    for b, e, s, n in zip(begins, ends, steps, shape):
        if s < 1 or not 0 <= b <= e <= n:
            raise OpError(f"slice [{b}:{e}:{s}] is out of range for a dimension of {n}")
        out.append((e - b + s - 1) // s)
    return [TensorType(tuple(out), ins[0].dtype)]


def _reduce_rule(ins, attrs):
    dims = tuple(attrs["dims"])
    (keepdim,) = attrs["keepdim"]
    if len(set(dims)) != len(dims) or any(not 0 <= d < ins[0].rank for d in dims):
        raise OpError(f"bad reduction dims {dims} for rank {ins[0].rank}")
    shape = tuple(
        (1 if keepdim else None) if i in dims else n for i, n in enumerate(ins[0].shape)
    )
    return [TensorType(tuple(n for n in shape if n is not None), ins[0].dtype)]


def _repeat_rule(ins, attrs):
    shape = tuple(attrs["shape"])
    src = ins[0].shape
    if len(shape) != len(src) or any(s not in (1, n) for s, n in zip(src, shape)):
        raise OpError(f"cannot broadcast {src} to {shape}")
    return [TensorType(shape, ins[0].dtype)]


def _arange_rule(ins, attrs):
    return [TensorType(tuple(attrs["shape"]), dtype_name(attrs["dtype"][0]))]


# --- numpy references ----------------------------------------------------------


def _unary(fn):
    return lambda xs, attrs: [np.asarray(fn(xs[0])).astype(xs[0].dtype, copy=False)]


def _binary(fn):
    def ref(xs, attrs):
        with np.errstate(all="ignore"):
            return [np.asarray(fn(xs[0], xs[1])).astype(xs[0].dtype, copy=False)]

    return ref


def _compare(fn):
    return lambda xs, attrs: [np.asarray(fn(xs[0], xs[1]))]


def _int_divide(a, b):
    """Integer division truncating toward zero; x/0 = -1 and INT_MIN/-1 = INT_MIN (XLA)."""
    if a.dtype.kind != "i":
        return a / b
    a64, b64 = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    safe = np.where(b64 == 0, 1, b64)
    q = np.trunc(a64 / safe).astype(np.int64)
    q = np.where(b64 == 0, -1, q)
    return q.astype(a.dtype)  # INT_MIN / -1 wraps back to INT_MIN


def _int_remainder(a, b):
    """Remainder with the dividend's sign (C fmod); x%0 = x (XLA)."""
    if a.dtype.kind != "i":
        return np.fmod(a, b)
    a64, b64 = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    safe = np.where(b64 == 0, 1, b64)
    return np.where(b64 == 0, a64, np.fmod(a64, safe)).astype(a.dtype)


def _power(a, b):
    if a.dtype.kind != "i":
        return np.power(a, b)
    # Integer power by squaring with wrap-around; negative exponents give 0
    # except for bases 1 and -1 (XLA).
    a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    out = np.ones_like(a)
    base, exp = a.copy(), b.copy()
    neg = exp < 0
    exp = np.where(neg, 0, exp)
    while np.any(exp > 0):
        odd = (exp & 1) == 1
        out = np.where(odd, (out * base) & 0xFFFFFFFF, out)
        base = (base * base) & 0xFFFFFFFF
        exp >>= 1
    out = np.where(neg, np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0)), out)
    return out.astype(np.uint32).view(np.int32) if out.dtype != np.int32 else out


def _typecast(xs, attrs):
    x, dtype = xs[0], np.dtype(dtype_name(attrs["dtype"][0]))
    if dtype.kind == "i" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            # in float64: float32(INT32_MAX) would round up to 2^31 and wrap
            y = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0, posinf=info.max, neginf=info.min)
            return [np.clip(y, info.min, info.max).astype(dtype)]
    if dtype == np.bool_:
        return [x != 0]
    return [x.astype(dtype)]


def _slice(xs, attrs):
    idx = tuple(slice(b, e, s) for b, e, s in zip(attrs["begins"], attrs["ends"], attrs["steps"]))
    return [np.asarray(xs[0][idx], order="C")]


def _reduce(fn):
    def ref(xs, attrs):
        out = fn(xs[0], axis=tuple(attrs["dims"]), keepdims=bool(attrs["keepdim"][0]))
        return [np.asarray(out).astype(xs[0].dtype)]

    return ref


def _arange(xs, attrs):
    (start,), (step,) = attrs["start"], attrs["step"]
    (n,) = attrs["shape"]
    return [(start + step * np.arange(n, dtype=np.int64)).astype(dtype_name(attrs["dtype"][0]))]


def _logical_or_bitwise(logical, bitwise):
    def ref(xs, attrs):
        a, b = xs
        return [(logical if a.dtype == np.bool_ else bitwise)(a, b)]

    return ref


def _shift(kind):
    def ref(xs, attrs):
        a, b = (x.astype(np.int64) for x in xs)
        bits = 32
        oob = (b < 0) | (b >= bits)
        bs = np.where(oob, 0, b)
        if kind == "left":
            r = np.where(oob, 0, (a << bs) & 0xFFFFFFFF)
        elif kind == "right_logical":
            r = np.where(oob, 0, (a & 0xFFFFFFFF) >> bs)
        else:
            r = np.where(oob, np.where(a < 0, -1, 0), a >> bs)
        return [(r & 0xFFFFFFFF).astype(np.uint32).view(np.int32).reshape(r.shape)]

    return ref


# --- the registry ----------------------------------------------------------------

for _name, _fn, _dtypes in [
    ("neg", np.negative, NUMERIC),
    ("abs", np.abs, NUMERIC),
    ("sign", lambda x: np.where(x == 0, x, np.sign(x)), NUMERIC),  # XLA: sign(-0.0) = -0.0
    ("exp", np.exp, FLOAT),
    ("log", np.log, FLOAT),
    ("sqrt", np.sqrt, FLOAT),
    ("rsqrt", lambda x: 1.0 / np.sqrt(x), FLOAT),
    ("tanh", np.tanh, FLOAT),
    ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), FLOAT),
    ("sin", np.sin, FLOAT),
    ("cos", np.cos, FLOAT),
    ("floor", np.floor, FLOAT),
    ("ceil", np.ceil, FLOAT),
]:
    _register(_name, (), _same_as_input, _unary(_fn), _dtypes, f"elementwise {_name}")

_register("logical_not", (), _same_as_input,
          lambda xs, a: [np.logical_not(xs[0]) if xs[0].dtype == np.bool_ else np.invert(xs[0])],
          INTEGRAL, "logical not for bool, bitwise not for integers")

for _name, _fn, _dtypes in [
    ("add", np.add, NUMERIC),
    ("subtract", np.subtract, NUMERIC),
    ("multiply", np.multiply, NUMERIC),
    ("divide", _int_divide, NUMERIC),
    ("remainder", _int_remainder, NUMERIC),
    ("maximum", np.maximum, ALL),
    ("minimum", np.minimum, ALL),
    ("pow", _power, NUMERIC),
]:
    _register(_name, (), _broadcast(), _binary(_fn), _dtypes, f"broadcasting elementwise {_name}")

for _name, _logical, _bitwise in [
    ("logical_and", np.logical_and, np.bitwise_and),
    ("logical_or", np.logical_or, np.bitwise_or),
    ("logical_xor", np.logical_xor, np.bitwise_xor),
]:
    _register(_name, (), _broadcast(), _logical_or_bitwise(_logical, _bitwise), INTEGRAL,
              f"broadcasting {_name} for bool, bitwise for integers")

for _name, _kind in [("shift_left", "left"), ("shift_right_logical", "right_logical"),
                     ("shift_right_arithmetic", "right_arithmetic")]:
    _register(_name, (), _broadcast(), _shift(_kind), ("int32",),
              f"broadcasting {_name} of int32; shifts outside [0, 32) saturate as in XLA")

for _name, _fn in [
    ("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
    ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
]:
    _register(_name, (), _broadcast("bool"), _compare(_fn), ALL, f"broadcasting comparison {_name} -> bool")

_register("where", (), _where_rule,
          lambda xs, a: [np.where(xs[0], xs[1], xs[2])], ALL,
          "where(cond, a, b), broadcasting; cond is bool")
_register("typecast", ("dtype",), _typecast_rule, _typecast, ALL,
          "element type conversion; float->int truncates and saturates, NaN -> 0")
_register("matmul", (), _matmul_rule,
          lambda xs, a: [np.matmul(xs[0], xs[1])], NUMERIC,
          "batched matmul [..., M, K] @ [..., K, N], batch dims broadcast")
_register("reshape", ("shape",), _reshape_rule,
          lambda xs, a: [xs[0].reshape(a["shape"])], ALL, "reshape (row-major order kept)")
_register("permute", ("perm",), _permute_rule,
          lambda xs, a: [np.asarray(np.transpose(xs[0], a["perm"]), order="C")], ALL,
          "dimension permutation: out.shape[i] = in.shape[perm[i]]")
_register("concat", ("dim",), _concat_rule,
          lambda xs, a: [np.concatenate(xs, axis=a["dim"][0])], ALL, "concatenation along dim")
_register("slice", ("begins", "ends", "steps"), _slice_rule, _slice, ALL,
          "strided slice with static begins, ends and steps (steps >= 1)")
_register("repeat", ("shape",), _repeat_rule,
          lambda xs, a: [np.asarray(np.broadcast_to(xs[0], a["shape"]), order="C")], ALL,
          "materialized broadcast of size-1 dims to shape")
_register("sum", ("dims", "keepdim"), _reduce_rule, _reduce(np.sum), NUMERIC, "sum over dims")
_register("max", ("dims", "keepdim"), _reduce_rule, _reduce(np.max), ALL, "max over dims")
_register("min", ("dims", "keepdim"), _reduce_rule, _reduce(np.min), ALL, "min over dims")
_register("arange", ("start", "step", "shape", "dtype"), _arange_rule, _arange, (),
          "1-D start + step * i")

UNARY = {op.name for op in REGISTRY if op.shape_rule is _same_as_input}
BROADCASTING = {
    op.name for op in REGISTRY if op.shape_rule.__qualname__.startswith(("_broadcast", "_where"))
}


def infer(name: str, ins: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    op = BY_NAME[name]
    for t in ins:
        if op.dtypes and t.dtype not in op.dtypes:
            raise OpError(f"{name} does not take {t.dtype} operands (takes {', '.join(op.dtypes)})")
    missing = set(op.attrs) - set(attrs)
    if missing:
        raise OpError(f"{name} is missing attributes {sorted(missing)}")
    return op.shape_rule(ins, attrs)


def evaluate(name: str, xs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    return BY_NAME[name].reference(xs, attrs)
