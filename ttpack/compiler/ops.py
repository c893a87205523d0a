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

import ml_dtypes  # noqa: F401  (JAX's dependency; registers numpy's "bfloat16")
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
    attrs: tuple[str, ...]   # required, then optional (see `optional`)
    shape_rule: ShapeRule
    reference: Reference
    dtypes: tuple[str, ...]  # logical input element types the op is defined on
    doc: str
    optional: tuple[str, ...] = ()  # attributes that may be absent (e.g. compute config)


REGISTRY: list[OpDef] = []
BY_NAME: dict[str, OpDef] = {}

# Attributes whose values are floats (archives store them in Attribute.floats);
# every other attribute holds integers.
FLOAT_ATTRS = {"epsilon", "value"}

# float16 is a logical type like bfloat16: computed in float32, rounded where stored
NUMERIC = ("float32", "bfloat16", "float16", "int32")
FLOAT = ("float32", "bfloat16", "float16")
ALL = ("float32", "bfloat16", "float16", "int32", "bool")
INTEGRAL = ("int32", "bool")

# The compute config of ops that run on the matrix engine (tt-mlir's
# DeviceComputeKernelConfig): math fidelity (MATH_FIDELITY codes, as in
# tt-mlir's MathFidelity enum) and fp32 accumulation (0/1). Absent on cpu
# builds, where these ops compute exactly in float32.
COMPUTE_CONFIG = ("math_fidelity", "fp32_dest_acc_en")
MATH_FIDELITY = {"lofi": 0, "hifi2": 2, "hifi3": 3, "hifi4": 4}


def _register(name, attrs, shape_rule, reference, dtypes, doc, optional=()):
    op = OpDef(name, tuple(attrs) + tuple(optional), shape_rule, reference, tuple(dtypes), doc, tuple(optional))
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
          lambda xs, a: [np.matmul(xs[0], xs[1]).astype(xs[0].dtype, copy=False)], NUMERIC,
          "batched matmul [..., M, K] @ [..., K, N], batch dims broadcast", optional=COMPUTE_CONFIG)
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


# --- fused and NN ops (TTNN's linear, softmax, layer_norm, conv2d, pools...) ---

# activation attribute values of linear and conv2d
ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 2, "gelu": 3, "gelu_tanh": 4}


def _erf(x):
    import math

    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


def _erfc(x):
    import math

    return np.vectorize(math.erfc, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


def _gelu(x, approximate):
    x64 = x.astype(np.float64)
    if approximate:
        y = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1 + _erf(x64 / np.sqrt(2)))
    return y.astype(x.dtype)


def _activate(y, code):
    if code == ACTIVATIONS["relu"]:
        return np.maximum(y, 0)
    if code == ACTIVATIONS["relu6"]:
        return np.clip(y, 0, 6)
    if code in (ACTIVATIONS["gelu"], ACTIVATIONS["gelu_tanh"]):
        return _gelu(y, code == ACTIVATIONS["gelu_tanh"])
    return y


def _check_activation(attrs):
    if attrs["activation"][0] not in ACTIVATIONS.values():
        raise OpError(f"unknown activation code {attrs['activation'][0]}")


def _softmax_rule(ins, attrs):
    (dim,) = attrs["dim"]
    if not 0 <= dim < ins[0].rank:
        raise OpError(f"softmax dim {dim} out of range for rank {ins[0].rank}")
    return [ins[0]]


def _softmax(xs, attrs):
    x = xs[0].astype(np.float64)
    (dim,) = attrs["dim"]
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return [(e / np.sum(e, axis=dim, keepdims=True)).astype(xs[0].dtype)]


def _per_channel_rule(n_params, channel_dim):
    """x plus n_params vectors of the size of x's channel dim."""

    def rule(ins, attrs):
        x, params = ins[0], ins[1:]
        dim = channel_dim(x, attrs)
        if not 0 <= dim < x.rank:
            raise OpError(f"channel dim {dim} out of range for {x}")
        if len(params) != n_params or any(p.shape != (x.shape[dim],) or p.dtype != x.dtype for p in params):
            raise OpError(f"needs {n_params} {x.dtype}[{x.shape[dim]}] parameter vectors, got {list(map(str, params))}")
        return [x]

    return rule


def _layer_norm(xs, attrs):
    x, w, b = (a.astype(np.float64) for a in xs)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return [((x - mean) / np.sqrt(var + attrs["epsilon"][0]) * w + b).astype(xs[0].dtype)]


def _batch_norm(xs, attrs):
    x, mean, var, w, b = (a.astype(np.float64) for a in xs)
    (dim,), (eps,) = attrs["dim"], attrs["epsilon"]
    shape = [1] * x.ndim
    shape[dim] = -1
    r = lambda v: v.reshape(shape)
    return [((x - r(mean)) / np.sqrt(r(var) + eps) * r(w) + r(b)).astype(xs[0].dtype)]


def _linear_rule(ins, attrs):
    x, w, b = ins
    _check_activation(attrs)
    if x.rank < 1 or w.rank != 2 or x.shape[-1] != w.shape[0] or b.shape != (w.shape[1],):
        raise OpError(f"linear needs x[..., K], w[K, N], b[N]; got {x}, {w}, {b}")
    if len({x.dtype, w.dtype, b.dtype}) != 1:
        raise OpError("linear operands must share one element type")
    return [TensorType(x.shape[:-1] + (w.shape[1],), x.dtype)]


def _linear(xs, attrs):
    x, w, b = xs
    y = np.matmul(x.astype(np.float64), w.astype(np.float64)) + b
    return [_activate(y, attrs["activation"][0]).astype(x.dtype)]


def _window_out(size, k, s, lo, hi, d=1):
    span = d * (k - 1) + 1
    if s < 1 or d < 1 or k < 1 or lo < 0 or hi < 0:
        raise OpError("window sizes, strides and dilations must be >= 1 and padding >= 0")
    if size + lo + hi < span:
        raise OpError(f"window of {span} does not fit a padded size of {size + lo + hi}")
    return (size + lo + hi - span) // s + 1


def _conv_operands(name, ins, attrs):
    """x[N,H,W,C], w[KH,KW,C/groups,O], b[O] of one dtype, as conv2d and
    conv_transpose2d take them: (x dims, w dims)."""
    x, w, b = ins
    _check_activation(attrs)
    (groups,) = attrs["groups"]
    if x.rank != 4 or w.rank != 4 or b.rank != 1 or len({x.dtype, w.dtype, b.dtype}) != 1:
        raise OpError(f"{name} needs x[N,H,W,C], w[KH,KW,C/groups,O], b[O] of one dtype; got {x}, {w}, {b}")
    c, (kh, kw, cg, o) = x.shape[3], w.shape
    if groups < 1 or c % groups or o % groups or cg * groups != c or b.shape != (o,):
        raise OpError(f"{name} channels do not match: x {x}, w {w}, b {b}, groups {groups}")
    return x.shape, w.shape


def _conv2d_rule(ins, attrs):
    x = ins[0]
    (n, h, wd, c), (kh, kw, cg, o) = _conv_operands("conv2d", ins, attrs)
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = attrs["stride"], attrs["padding"], attrs["dilation"]
    return [TensorType((n, _window_out(h, kh, sh, pt, pb, dh), _window_out(wd, kw, sw, pl, pr, dw), o), x.dtype)]


def _pad_nhwc(x, padding, value):
    pt, pb, pl, pr = padding
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(x, kernel, stride, dilation):
    """All window taps as a list of strided views: [N, Ho, Wo, C] each."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
    return [((i, j), x[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw, :])
            for i in range(kh) for j in range(kw)]


def _conv2d(xs, attrs):
    x, w, b = (a.astype(np.float64) for a in xs)
    (groups,) = attrs["groups"]
    xp = _pad_nhwc(x, attrs["padding"], 0.0)
    kh, kw, cg, o = w.shape
    og = o // groups
    taps = _windows(xp, (kh, kw), attrs["stride"], attrs["dilation"])
    out = np.zeros(taps[0][1].shape[:3] + (o,))
    for (i, j), v in taps:
        for g in range(groups):
            out[..., g * og:(g + 1) * og] += v[..., g * cg:(g + 1) * cg] @ w[i, j, :, g * og:(g + 1) * og]
    return [_activate(out + b, attrs["activation"][0]).astype(xs[0].dtype)]


def _pool_rule(ins, attrs):
    x = ins[0]
    if x.rank != 4:
        raise OpError(f"pooling needs x[N,H,W,C], got {x}")
    (kh, kw), (sh, sw), (pt, pb, pl, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    return [TensorType((x.shape[0], _window_out(x.shape[1], kh, sh, pt, pb, dh),
                        _window_out(x.shape[2], kw, sw, pl, pr, dw), x.shape[3]), x.dtype)]


def _max_pool(xs, attrs):
    x = xs[0]
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    taps = _windows(_pad_nhwc(x, attrs["padding"], low), attrs["kernel"], attrs["stride"], attrs["dilation"])
    return [np.maximum.reduce([v for _, v in taps]).astype(x.dtype)]


def _sum_pool(xs, attrs):
    x = xs[0]
    taps = _windows(_pad_nhwc(x.astype(np.float64), attrs["padding"], 0), attrs["kernel"], attrs["stride"], (1, 1))
    return [np.sum([v for _, v in taps], axis=0).astype(x.dtype)]


def _avg_pool(xs, attrs):
    (total,) = _sum_pool(xs, attrs)
    kh, kw = attrs["kernel"]
    if attrs["count_include_pad"][0]:
        return [(total / (kh * kw)).astype(xs[0].dtype)]
    (count,) = _sum_pool([np.ones(xs[0].shape[:3] + (1,))], attrs)
    return [(total / count).astype(xs[0].dtype)]


def _pad_rule(ins, attrs):
    lo, hi = attrs["low"], attrs["high"]
    x = ins[0]
    if len(lo) != x.rank or len(hi) != x.rank or any(p < 0 for p in lo + hi):
        raise OpError(f"pad needs one non-negative low and high per dim of {x}")
    return [TensorType(tuple(n + a + b for n, a, b in zip(x.shape, lo, hi)), x.dtype)]


def _pad(xs, attrs):
    x = xs[0]
    return [np.pad(x, list(zip(attrs["low"], attrs["high"])), constant_values=np.asarray(attrs["value"][0]).astype(x.dtype))]


def _embedding_rule(ins, attrs):
    ids, table = ins
    if ids.dtype != "int32" or table.rank != 2:
        raise OpError(f"embedding needs int32 ids and a [V, D] table, got {ids} and {table}")
    return [TensorType(ids.shape + (table.shape[1],), table.dtype)]


def _embedding(xs, attrs):
    ids, table = xs
    return [table[np.clip(ids, 0, table.shape[0] - 1)]]  # XLA gather clamps indices


def _arg_rule(ins, attrs):
    (t,) = _reduce_rule(ins, {"dims": attrs["dim"], "keepdim": attrs["keepdim"]})
    return [TensorType(t.shape, "int32")]


def _arg(fn):
    def ref(xs, attrs):
        (dim,), (keep,) = attrs["dim"], attrs["keepdim"]
        r = fn(xs[0], axis=dim).astype(np.int32)  # first index wins ties; NaN counts as the extreme
        return [np.expand_dims(r, dim) if keep else r]

    return ref


def _cumsum_rule(ins, attrs):
    (dim,) = attrs["dim"]
    if not 0 <= dim < ins[0].rank:
        raise OpError(f"cumsum dim {dim} out of range for {ins[0]}")
    return [ins[0]]


_register("erf", (), _same_as_input, lambda xs, a: [_erf(xs[0])], FLOAT, "error function")
_register("relu", (), _same_as_input, lambda xs, a: [np.maximum(xs[0], 0).astype(xs[0].dtype)], NUMERIC, "max(x, 0)")
_register("gelu", ("approximate",), _same_as_input, lambda xs, a: [_gelu(xs[0], a["approximate"][0])], FLOAT,
          "x * Phi(x); approximate=1 is the tanh form")
_register("softmax", ("dim",), _softmax_rule, _softmax, FLOAT, "exp(x - max) / sum over dim (numerically stable)")
_register("layer_norm", ("epsilon",), _per_channel_rule(2, lambda x, a: x.rank - 1), _layer_norm, FLOAT,
          "layer_norm(x, weight, bias): normalize over the last dim, then scale and shift")
_register("batch_norm", ("dim", "epsilon"), _per_channel_rule(4, lambda x, a: a["dim"][0]), _batch_norm, FLOAT,
          "batch_norm(x, mean, var, weight, bias) with running statistics over channel dim")
_register("linear", ("activation",), _linear_rule, _linear, FLOAT,
          "linear(x[..., K], w[K, N], b[N]) = act(x @ w + b); activation codes in ACTIVATIONS",
          optional=COMPUTE_CONFIG)
_register("conv2d", ("stride", "padding", "dilation", "groups", "activation"), _conv2d_rule, _conv2d, FLOAT,
          "NHWC conv2d(x[N,H,W,C], w[KH,KW,C/groups,O], b[O]); padding = top, bottom, left, right",
          optional=COMPUTE_CONFIG)
_register("max_pool2d", ("kernel", "stride", "padding", "dilation"), _pool_rule, _max_pool, NUMERIC,
          "NHWC max pooling; padding counts as -inf")
_register("avg_pool2d", ("kernel", "stride", "padding", "count_include_pad"), _pool_rule, _avg_pool, FLOAT,
          "NHWC average pooling; count_include_pad=0 divides by the taps inside the input")
_register("sum_pool2d", ("kernel", "stride", "padding"), _pool_rule, _sum_pool, FLOAT,
          "NHWC window sum (what reduce_window add lowers to before fusion into avg_pool2d)")
_register("pad", ("low", "high", "value"), _pad_rule, _pad, ALL, "constant padding before/after each dim")
_register("embedding", (), _embedding_rule, _embedding, ("int32",) + FLOAT,
          "embedding(ids int32[...], table[V, D]) -> [..., D]; ids clamped to [0, V)")
_register("argmax", ("dim", "keepdim"), _arg_rule, _arg(np.argmax), NUMERIC, "index of the max along dim (int32)")
_register("argmin", ("dim", "keepdim"), _arg_rule, _arg(np.argmin), NUMERIC, "index of the min along dim (int32)")
_register("erfc", (), _same_as_input, lambda xs, a: [_erfc(xs[0])], FLOAT,
          "complementary error function, accurate where 1 - erf(x) would round to 0")
_register("cumsum", ("dim",), _cumsum_rule,
          lambda xs, a: [np.cumsum(xs[0], axis=a["dim"][0], dtype=xs[0].dtype)], NUMERIC, "inclusive prefix sum")

# --- Coverage II: reverse, conv_transpose2d, sort / top_k, more elementwise and
# multiplicative reductions -------------------------------------------------------------


def _to_bool_rule(ins, attrs):
    return [TensorType(ins[0].shape, "bool")]


def _round_half_away(x):
    """C's round(): ties away from zero (StableHLO round_nearest_afz). In
    float64, where |x| + 0.5 is exact for every float32 that is not already
    an integer."""
    x64 = x.astype(np.float64)
    return np.copysign(np.trunc(np.abs(x64) + 0.5), x64).astype(x.dtype)


def _dims_rule(ins, attrs):
    dims = tuple(attrs["dims"])
    if len(set(dims)) != len(dims) or any(not 0 <= d < ins[0].rank for d in dims):
        raise OpError(f"bad dims {dims} for rank {ins[0].rank}")
    return [ins[0]]


def _flag(attrs, name):
    (v,) = attrs[name]
    if v not in (0, 1):
        raise OpError(f"attribute {name} must be 0 or 1, got {v}")
    return v


def _sort_rule(ins, attrs):
    x = ins[0]
    (dim,) = attrs["dim"]
    if x.rank < 1 or not 0 <= dim < x.rank:
        raise OpError(f"sort dim {dim} out of range for {x}")
    if any(k.shape != x.shape for k in ins):
        raise OpError(f"sort keys must have one shape, got {[k.shape for k in ins]}")
    _flag(attrs, "stable")
    for name in ("descending", "total_order"):  # one flag per key
        if len(attrs[name]) != len(ins) or any(v not in (0, 1) for v in attrs[name]):
            raise OpError(f"sort attribute {name} must hold a 0 or 1 for each of its {len(ins)} keys, "
                          f"got {list(attrs[name])}")
    return [x, TensorType(x.shape, "int32")]


def _top_k_rule(ins, attrs):
    x = ins[0]
    (k,), (dim,) = attrs["k"], attrs["dim"]
    _flag(attrs, "largest")
    if x.rank < 1 or not 0 <= dim < x.rank:
        raise OpError(f"top_k dim {dim} out of range for {x}")
    if not 0 <= k <= x.shape[dim]:
        raise OpError(f"top_k k={k} out of range for a dim of {x.shape[dim]}")
    shape = x.shape[:dim] + (k,) + x.shape[dim + 1:]
    return [TensorType(shape, x.dtype), TensorType(shape, "int32")]


def _order_keys(x, total_order):
    """int64 keys whose order is the sort order of x's elements: for floats
    IEEE 754 totalOrder (-NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN),
    or with total_order=0 the numeric order with -0 == +0 and every NaN above
    +inf (NumPy's, JAX's and PyTorch's sort)."""
    if x.dtype.kind in "iub":
        return x.astype(np.int64)
    f = x.astype(np.float32)
    if not total_order:
        f = np.where(f == 0, np.float32(0), f)
        f = np.where(np.isnan(f), np.float32(np.nan), f)
    bits = np.ascontiguousarray(f).view(np.int32).astype(np.int64)
    return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def _sorted_order(xs, dim, descending, total_order):
    """Indices that stably sort along dim by the keys xs, lexicographically
    (xs[0] first; elements equal in every key keep their order)."""
    keys = [-k if d else k for k, d, t in zip((_order_keys(x, t) for x, t in zip(xs, total_order)),
                                               descending, total_order)]
    return np.lexsort(keys[::-1], axis=dim)  # lexsort is stable and sorts by its LAST key first


def _sort(xs, attrs):
    (dim,) = attrs["dim"]
    idx = _sorted_order(xs, dim, attrs["descending"], attrs["total_order"])
    return [np.take_along_axis(xs[0], idx, axis=dim), idx.astype(np.int32)]


def _top_k(xs, attrs):
    x, (k,), (dim,) = xs[0], attrs["k"], attrs["dim"]
    idx = np.take(_sorted_order([x], dim, attrs["largest"], (1,)), np.arange(k), axis=dim)
    return [np.take_along_axis(x, idx, axis=dim), idx.astype(np.int32)]


def _transposed_out(size, k, s, lo, hi, extra, d=1):
    """Output size of a transposed convolution (PyTorch's ConvTranspose):
    (size - 1) * s - lo - hi + d * (k - 1) + extra + 1."""
    if s < 1 or d < 1 or k < 1 or lo < 0 or hi < 0 or extra < 0:
        raise OpError("transposed conv strides, dilations and windows must be >= 1, padding >= 0")
    if size < 1:
        raise OpError("transposed conv of an empty spatial dim")
    out = (size - 1) * s + d * (k - 1) + 1 + extra - lo - hi
    if out < 1:
        raise OpError(f"transposed conv padding {lo} + {hi} crops its whole output")
    return out


def _conv_transpose2d_rule(ins, attrs):
    x = ins[0]
    (n, h, wd, c), (kh, kw, cg, o) = _conv_operands("conv_transpose2d", ins, attrs)
    (sh, sw), (pt, pb, pl, pr) = attrs["stride"], attrs["padding"]
    (oh, ow), (dh, dw) = attrs["output_padding"], attrs["dilation"]
    return [TensorType((n, _transposed_out(h, kh, sh, pt, pb, oh, dh), _transposed_out(wd, kw, sw, pl, pr, ow, dw),
                        o), x.dtype)]


def _conv_transpose2d(xs, attrs):
    """Each input pixel (h, w) adds x[h, w] @ w[i, j] to the output pixel
    (h * s - pt + i * d, w * s - pl + j * d), computed on a canvas of the
    uncropped output (plus output_padding) that is then cropped."""
    x, w, b = (a.astype(np.float64) for a in xs)
    (groups,) = attrs["groups"]
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    (sh, sw), (pt, pb, pl, pr) = attrs["stride"], attrs["padding"]
    (oph, opw), (dh, dw) = attrs["output_padding"], attrs["dilation"]
    ho = _transposed_out(h, kh, sh, pt, pb, oph, dh)
    wo = _transposed_out(wd, kw, sw, pl, pr, opw, dw)
    canvas = np.zeros((n, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw, o))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (h - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (wd - 1) * sw + 1, sw)
            for g in range(groups):
                outs = slice(g * og, (g + 1) * og)
                canvas[:, rows, cols, outs] += x[..., g * cg:(g + 1) * cg] @ w[i, j, :, outs]
    out = canvas[:, pt:pt + ho, pl:pl + wo, :] + b
    return [_activate(out, attrs["activation"][0]).astype(xs[0].dtype)]


def _quiet(fn):
    """fn without numpy's warnings for inf/NaN results (overflow, log1p(-1))."""
    def run(x):
        with np.errstate(all="ignore"):
            return fn(x)
    return run


for _name, _fn, _doc in [
    ("expm1", _quiet(np.expm1), "exp(x) - 1, accurate near 0"),
    ("log1p", _quiet(np.log1p), "log(1 + x), accurate near 0"),
    ("round", np.rint, "round to nearest integer, ties to even (torch.round, jnp.round)"),
    ("round_afz", _round_half_away, "round to nearest integer, ties away from zero (C round)"),
]:
    _register(_name, (), _same_as_input, _unary(_fn), FLOAT, f"elementwise {_doc}")
_register("isfinite", (), _to_bool_rule, lambda xs, a: [np.isfinite(xs[0])], FLOAT,
          "elementwise: neither inf nor NaN -> bool")
_register("reverse", ("dims",), _dims_rule,
          lambda xs, a: [np.array(np.flip(xs[0], axis=tuple(a["dims"])), order="C")], ALL,
          "reverses the order of elements along each of dims")
_register("prod", ("dims", "keepdim"), _reduce_rule, _reduce(np.prod), NUMERIC, "product over dims")
_register("cumprod", ("dim",), _cumsum_rule,
          lambda xs, a: [np.cumprod(xs[0], axis=a["dim"][0], dtype=xs[0].dtype)], NUMERIC, "inclusive prefix product")
_register("sort", ("dim", "descending", "stable", "total_order"), _sort_rule, _sort, NUMERIC,
          "sort(keys...) along dim -> (the first key sorted, int32 indices): lexicographic by the keys (all of "
          "one shape), the first deciding, each ascending or descending (descending[k]); elements equal in "
          "every key keep their order (always stable); floats in IEEE totalOrder (total_order[k]=1) or with "
          "-0 == +0 and NaN after +inf (total_order[k]=0)")
_register("top_k", ("k", "dim", "largest"), _top_k_rule, _top_k, NUMERIC,
          "the k largest (largest=1) or smallest elements along dim, in order -> (values, int32 indices); floats "
          "in IEEE totalOrder, equal values by lower index first")
_register("conv_transpose2d", ("stride", "padding", "output_padding", "dilation", "groups", "activation"),
          _conv_transpose2d_rule, _conv_transpose2d, FLOAT,
          "NHWC transposed conv (PyTorch's ConvTranspose2d) of x[N,H,W,C] with w[KH,KW,C/groups,O], b[O]: "
          "x[h, w] @ w[i, j] adds to output (h*s - pad_top + i*d, w*s - pad_left + j*d); padding = top, bottom, "
          "left, right; output_padding adds rows/columns at the bottom/right", optional=COMPUTE_CONFIG)

# --- Indexing: a general gather -------------------------------------------------------------------


def _gather_rule(ins, attrs):
    """gather(x[R], indices int32[..., K]): for each position b of the
    indices' leading dims, the slice of x of slice_sizes starting at
    indices[b, k] along dim index_dims[k] (0 along the other dims), each
    start clamped into [0, x.shape[d] - slice_sizes[d]] as XLA clamps; the
    output is indices.shape[:-1] + slice_sizes."""
    x, idx = ins
    dims, sizes = tuple(attrs["index_dims"]), tuple(attrs["slice_sizes"])
    if idx.dtype != "int32" or idx.rank < 1:
        raise OpError(f"gather needs int32 indices of rank >= 1, got {idx}")
    if len(sizes) != x.rank or any(not 0 <= s <= n for s, n in zip(sizes, x.shape)):
        raise OpError(f"gather slice_sizes {sizes} do not fit {x}")
    if len(dims) != idx.shape[-1] or len(set(dims)) != len(dims) or any(not 0 <= d < x.rank for d in dims):
        raise OpError(f"gather index_dims {dims} do not name {idx.shape[-1]} distinct dims of {x}")
    return [TensorType(idx.shape[:-1] + sizes, x.dtype)]


def _gather(xs, attrs):
    x, idx = xs
    dims, sizes = tuple(attrs["index_dims"]), tuple(attrs["slice_sizes"])
    batch = idx.shape[:-1]
    out = np.zeros(batch + sizes, x.dtype)
    if out.size == 0:
        return [out]
    count = int(np.prod(batch, dtype=np.int64))
    flat = idx.reshape(count, idx.shape[-1]).astype(np.int64)
    starts = np.zeros((count, x.ndim), np.int64)
    for k, d in enumerate(dims):
        starts[:, d] = np.clip(flat[:, k], 0, x.shape[d] - sizes[d])
    # one index array per operand dim: start + offset within the slice, [count, *sizes]
    where = tuple(starts[:, d].reshape((count,) + (1,) * x.ndim)
                  + np.arange(sizes[d]).reshape([1] + [-1 if e == d else 1 for e in range(x.ndim)])
                  for d in range(x.ndim))
    return [np.ascontiguousarray(x[where] if x.ndim else np.broadcast_to(x, (count,))).reshape(out.shape)]


_register("gather", ("index_dims", "slice_sizes"), _gather_rule, _gather, ALL,
          "gather(x[R], indices int32[..., K]) -> [..., *slice_sizes]: the slice of slice_sizes starting at "
          "indices[..., k] along dim index_dims[k] (0 elsewhere); starts clamped into [0, dim - size] (XLA)")

def _update_slice_rule(ins, attrs):
    x, u, starts = ins
    if u.dtype != x.dtype or u.rank != x.rank or any(k > n for k, n in zip(u.shape, x.shape)):
        raise OpError(f"update_slice needs an update no larger than its operand, of its type; got {u} for {x}")
    if starts.dtype != "int32" or starts.shape != (x.rank,):
        raise OpError(f"update_slice needs int32[{x.rank}] starts, got {starts}")
    return [x]


def _update_slice(xs, attrs):
    x, u, starts = xs
    out = np.array(x, copy=True)
    begins = [int(min(max(int(v), 0), n - k)) for v, n, k in zip(starts, x.shape, u.shape)]
    out[tuple(slice(b, b + k) for b, k in zip(begins, u.shape))] = u
    return [out]


_register("update_slice", (), _update_slice_rule, _update_slice, ALL,
          "update_slice(x, update, starts int32[R]) -> x with update written at starts, each clamped into "
          "[0, dim - update dim] (XLA's dynamic_update_slice)")

# scatter's mode attribute: how an update combines with the element it lands on
SCATTER_MODES = {"assign": 0, "add": 1, "multiply": 2, "min": 3, "max": 4}


def _scatter_rule(ins, attrs):
    """scatter(x[R], indices int32[..., K], updates[..., *window]) -> like x."""
    x, idx, u = ins
    dims, (mode,) = tuple(attrs["index_dims"]), attrs["mode"]
    if idx.dtype != "int32" or idx.rank < 1:
        raise OpError(f"scatter needs int32 indices of rank >= 1, got {idx}")
    if len(dims) != idx.shape[-1] or len(set(dims)) != len(dims) or any(not 0 <= d < x.rank for d in dims):
        raise OpError(f"scatter index_dims {dims} do not name {idx.shape[-1]} distinct dims of {x}")
    batch = idx.shape[:-1]
    if (u.dtype != x.dtype or u.rank != len(batch) + x.rank or u.shape[:len(batch)] != batch
            or any(w > n for w, n in zip(u.shape[len(batch):], x.shape))):
        raise OpError(f"scatter updates {u} do not match indices {idx} and operand {x}")
    if mode not in SCATTER_MODES.values() or (x.dtype == "bool" and mode in (1, 2)):
        raise OpError(f"scatter mode {mode} is not defined on {x.dtype}")
    return [x]


def _scatter(xs, attrs):
    """Updates applied in index order (a later assignment wins); a window
    that does not fit inside x at its start is dropped whole (XLA)."""
    x, idx, u = xs
    dims, (mode,) = tuple(attrs["index_dims"]), attrs["mode"]
    if x.dtype in (np.dtype("bfloat16"), np.float16):  # combined in float32, rounded once (as computed here)
        return [_scatter([x.astype(np.float32), idx, u.astype(np.float32)], attrs)[0].astype(x.dtype)]
    out = np.array(x, copy=True)
    window = u.shape[idx.ndim - 1:]
    count = int(np.prod(idx.shape[:-1], dtype=np.int64))
    flat = idx.reshape(count, idx.shape[-1]).astype(np.int64)
    wins = u.reshape((count,) + window)
    if out.size == 0 or wins.size == 0:
        return [out]
    combine = {1: np.add, 2: np.multiply, 3: np.minimum, 4: np.maximum}.get(mode)
    for b in range(flat.shape[0]):
        starts = [0] * x.ndim
        for k, d in enumerate(dims):
            starts[d] = int(flat[b, k])
        if any(s < 0 or s + w > n for s, w, n in zip(starts, window, x.shape)):
            continue
        at = tuple(slice(s, s + w) for s, w in zip(starts, window))
        with np.errstate(all="ignore"):
            out[at] = wins[b] if combine is None else combine(out[at], wins[b]).astype(x.dtype)
    return [out]


_register("scatter", ("index_dims", "mode"), _scatter_rule, _scatter, ALL,
          "scatter(x[R], indices int32[..., K], updates[..., *window]) -> x with each window combined into x at "
          "start indices[..., k] along dim index_dims[k] (0 elsewhere), in index order; mode in SCATTER_MODES "
          "(assign, add, multiply, min, max); windows that do not fit at their start are dropped (XLA)")

# Storage conversions, as TTNN programs spell them (inserted by
# compiler/storage.py): the logical value is unchanged; the output's Storage
# says what it becomes (layout and storage type; memory config), so a lossy
# conversion (float32 -> bfloat8_b) rounds as that storage does.
_register("to_layout", (), _same_as_input, lambda xs, a: [xs[0]], ALL,
          "convert to the output's layout and storage element type (host <-> device, tilize, pack)")
_register("to_memory_config", (), _same_as_input, lambda xs, a: [xs[0]], ALL,
          "move to the output's memory config (DRAM <-> L1, interleaved <-> sharded)")

# --- control flow --------------------------------------------------------------
#
# An op with regions runs sub-programs (compiler/ir.py). Its attributes name
# them by index: into the op's own regions in the IR, into the program's
# regions in an archive (the writer renumbers). REGION_ATTRS lists, per op,
# the attributes that hold region indices.
REGION_ATTRS = {"while": ("cond", "body"), "case": ("branches",)}


def _while_rule(ins, attrs):
    if not ins:
        raise OpError("while needs at least one carried value")
    return list(ins)


def _no_reference(xs, attrs):
    raise AssertionError("an op with regions is evaluated by ir.interpret, never by the registry alone")


_register("while", ("cond", "body"), _while_rule, _no_reference, ALL,
          "while(carried...) -> carried...: while cond(carried) (a bool scalar) is true, carried = "
          "body(carried); cond and body index regions taking the carried types, body returning them "
          "(StableHLO's while)")


def _case_rule(ins, attrs):
    if not ins or ins[0] != TensorType((), "int32"):
        raise OpError(f"case's first operand is its branch index, an int32 scalar; got {ins[0] if ins else 'none'}")
    if not attrs["branches"]:
        raise OpError("case needs at least one branch")
    return None  # the branches' outputs: ir.make_op reads them from the regions


_register("case", ("branches",), _case_rule, _no_reference, ALL,
          "case(index int32[], operands...) -> outputs: runs branch regions[branches[index]] on the operands "
          "(index out of [0, n) runs the last branch) and returns its outputs; every branch takes the operands' "
          "types to the same output types (StableHLO's case; its if is case on the predicate as int32 with "
          "branches (false, true), as JAX lowers lax.cond)")


def _bitcast_rule(ins, attrs):
    (x,), out = ins, dtype_name(attrs["dtype"][0])
    if {x.dtype, out} != {"float32", "int32"}:
        raise OpError(f"bitcast reinterprets float32 as int32 or back, not {x.dtype} as {out}")
    return [TensorType(x.shape, out)]


_register("bitcast", ("dtype",), _bitcast_rule,
          lambda xs, a: [np.ascontiguousarray(xs[0]).view(dtype_name(a["dtype"][0]))], ("float32", "int32"),
          "bitcast(x) -> x's 32 bits read as the other of float32 and int32 (StableHLO's bitcast_convert; "
          "jax.random builds floats from random bits this way)")


def check_regions(name: str, ins: Sequence[TensorType], attrs: Attrs,
                  regions: Sequence[tuple[list[TensorType], list[TensorType]]]) -> None:
    """The regions (input types, output types) an op is built with fit it:
    as many as its region attributes index, each index once, and for while a
    cond taking the carried types to a bool scalar and a body taking them to
    themselves; for case, every branch taking the operands after the index
    to the same types."""
    names = REGION_ATTRS.get(name, ())
    if not names:
        if regions:
            raise OpError(f"{name} takes no regions, got {len(regions)}")
        return
    indices = [i for a in names for i in attrs[a]]
    if sorted(indices) != list(range(len(regions))):
        raise OpError(f"{name}'s region attributes {indices} do not index its {len(regions)} regions once each")
    if name == "case":
        operands, outputs = list(ins[1:]), regions[indices[0]][1]
        for k, (takes, gives) in enumerate(regions[i] for i in indices):
            if takes != operands or gives != outputs:
                raise OpError(f"case's branch {k} takes {takes} to {gives}; every branch must take the operands "
                              f"{operands} to the first branch's outputs {outputs}")
        return
    carried = list(ins)
    cond, body = (regions[attrs[a][0]] for a in names)
    if cond[0] != carried or cond[1] != [TensorType((), "bool")]:
        raise OpError(f"while's cond takes {cond[0]} to {cond[1]}; it must take the carried values "
                      f"{carried} to a bool scalar")
    if body[0] != carried or body[1] != carried:
        raise OpError(f"while's body takes {body[0]} to {body[1]}; it must take the carried values "
                      f"{carried} to values of the same types")


UNARY = {op.name for op in REGISTRY if op.shape_rule is _same_as_input} - {"to_layout", "to_memory_config"}
BROADCASTING = {
    op.name for op in REGISTRY if op.shape_rule.__qualname__.startswith(("_broadcast", "_where"))
}


def infer(name: str, ins: Sequence[TensorType], attrs: Attrs,
          regions: Sequence[tuple[list[TensorType], list[TensorType]]] = ()) -> list[TensorType]:
    """The op's output types; `regions` are its regions' (input, output)
    types, which give a case its outputs."""
    op = BY_NAME[name]
    for t in ins:
        if op.dtypes and t.dtype not in op.dtypes:
            raise OpError(f"{name} does not take {t.dtype} operands (takes {', '.join(op.dtypes)})")
    missing = set(op.attrs) - set(op.optional) - set(attrs)
    if missing:
        raise OpError(f"{name} is missing attributes {sorted(missing)}")
    outs = op.shape_rule(ins, attrs)
    if outs is None:  # the outputs are the first region's (a case's branches all agree: check_regions)
        first = attrs[REGION_ATTRS[name][0]][0]
        if not 0 <= first < len(regions):
            raise OpError(f"{name} names region {first}, but has {len(regions)}")
        outs = list(regions[first][1])
    return outs


def evaluate(name: str, xs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    return BY_NAME[name].reference(xs, attrs)
