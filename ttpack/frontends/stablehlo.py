"""StableHLO -> ttpack IR: each StableHLO op is lowered to TTNN-level ops.

The module is read with the MLIR Python bindings that jaxlib ships. LOWERINGS
maps StableHLO op names to lowering functions; it is the one list of what
the frontend supports. Unsupported ops do not stop the walk: every one is
collected with its source location and reported together in one
UnsupportedOpsError, so a user sees the whole list at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..compiler import ir
from ..errors import BuildError
from ..compiler.ops import OpError
from ..compiler.types import FLOAT_DTYPES, LOGICAL_DTYPES, TensorType, dtype_code
from .int_ranges import IntRanges
from .torch_locations import torch_location

# MLIR element type spelling -> the element type ttpack computes in. As in
# tt-mlir, integers of every width compute as int32 (TTNN's integer type) and
# float64 as float32: frameworks use int64 for indices and uint8 for masks,
# whose values fit. Values outside int32 saturate when constants are read.
ELEMENT_TYPES = {
    "f32": "float32", "f64": "float32", "f16": "float16", "bf16": "bfloat16",
    "i1": "bool", "i8": "int32", "i16": "int32", "i32": "int32", "i64": "int32",
    "ui8": "int32", "ui16": "int32", "ui32": "int32",
    # uint64 (jax.random's counters) is held as uint32 bits: exact while its
    # values fit 32 bits, which int_ranges.py requires of every uint64 result
    "ui64": "int32",
}


class UnsupportedOpsError(BuildError):
    """The program uses ops (or forms of ops) ttpack cannot lower yet."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems  # (stablehlo op, location, reason)
        lines = [f"  {name} at {loc}: {why}" for name, loc, why in problems]
        ops = sorted({p[0] for p in problems})
        super().__init__(
            f"{len(problems)} unsupported operation(s) ({', '.join(ops)}); no archive was written:\n"
            + "\n".join(lines)
            + "\nRewrite these parts of the model, or file an issue naming the ops above."
        )


class Unsupported(Exception):
    """Raised by a lowering for a form of an op it cannot handle."""


def element_type(mlir_type) -> str:
    """The MLIR spelling of a tensor's element type: 'f32', 'ui8', ..."""
    from jaxlib.mlir import ir as mlir

    return str(mlir.RankedTensorType(mlir_type).element_type)


# Integer types narrower than int32 keep their exact values inside int32 (a
# uint8 holds 0..255); results that can leave that range are wrapped back.
# uint32 is held as int32 bits (two's complement), so +, -, *, bitwise ops
# and shifts left are exact, and unsigned comparisons flip the sign bit.
NARROW_INTS = {"i8": (8, True), "i16": (16, True), "ui8": (8, False), "ui16": (16, False)}
# StableHLO ops whose results stay in their operands' range: no wrap needed
_RANGE_PRESERVING = {
    "stablehlo.constant", "stablehlo.broadcast_in_dim", "stablehlo.reshape", "stablehlo.transpose",
    "stablehlo.slice", "stablehlo.concatenate", "stablehlo.select", "stablehlo.maximum", "stablehlo.minimum",
    "stablehlo.clamp", "stablehlo.gather", "stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice",
    "stablehlo.pad", "stablehlo.and", "stablehlo.or", "stablehlo.iota", "stablehlo.convert", "func.call",
    "stablehlo.reduce_window", "stablehlo.reverse", "stablehlo.sort", "chlo.top_k",
    "stablehlo.while", "stablehlo.case", "stablehlo.if",  # their regions' results are wrapped where computed
    "stablehlo.bitcast_convert",  # 32-bit patterns only
}
# ops whose unsigned 32-bit semantics differ from int32's on values >= 2^31
_SIGNED_ONLY = {"stablehlo.divide", "stablehlo.remainder", "stablehlo.maximum", "stablehlo.minimum",
                "stablehlo.shift_right_arithmetic", "stablehlo.reduce", "stablehlo.clamp", "stablehlo.sign",
                "stablehlo.abs", "stablehlo.power"}


def wrap_int(lo: "Lowerer", x: ir.Value, elem: str) -> ir.Value:
    """x (int32) reduced to the range of the narrow integer type elem."""
    bits, signed = NARROW_INTS[elem]
    if not signed:
        return lo.emit("logical_and", [x, ir.constant(np.array((1 << bits) - 1, np.int32))])
    shift = ir.constant(np.array(32 - bits, np.int32))
    return lo.emit("shift_right_arithmetic", [lo.emit("shift_left", [x, shift]), shift])


def tensor_type(mlir_type) -> TensorType:
    from jaxlib.mlir import ir as mlir

    t = mlir.RankedTensorType(mlir_type)
    elem = str(t.element_type)
    if elem not in ELEMENT_TYPES:
        raise Unsupported(f"element type {elem} is not supported")
    return TensorType(tuple(t.shape), ELEMENT_TYPES[elem])


_LOC_FILE = re.compile(r'"([^"]+)":(\d+):(\d+)')
_LOC_NAME = re.compile(r'loc\("([^"]*)"')


def format_location(loc) -> str:
    """'model.py:12:8 (jit(f)/tanh)' from an MLIR location; '' if unknown.
    PyTorch locations carry torch.export's node metadata (torch_locations.py)."""
    text = str(loc)
    torch_loc = torch_location(text)
    if torch_loc:
        return torch_loc
    where = _LOC_FILE.search(text)
    name = _LOC_NAME.search(text)
    parts = []
    if where:
        parts.append(f"{where.group(1)}:{where.group(2)}:{where.group(3)}")
    if name and name.group(1):
        parts.append(f"({name.group(1)})" if parts else name.group(1))
    return " ".join(parts) or "unknown location"


@dataclass
class Lowerer:
    """Walks one function body, emitting ttpack ops for each StableHLO op."""

    functions: dict  # symbol name -> func.func op
    ops: list[ir.Op] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    poisoned: set[int] = field(default_factory=set)  # values of ops that failed to lower
    call_site: str = ""  # location of the func.call being inlined, if any
    producer: dict[int, ir.Op] = field(default_factory=dict)
    location: str = ""
    ranges: IntRanges = field(default_factory=IntRanges)  # where int64 arithmetic may leave int32
    # the value maps of the blocks being lowered, innermost last: a loop's
    # regions may read values of the blocks around them (constants only)
    scopes: list[dict] = field(default_factory=list)

    def emit(self, name: str, inputs: list[ir.Value], **attrs) -> ir.Value:
        op = ir.make_op(name, inputs, attrs, self.location)
        self.ops.append(op)
        for v in op.outputs:
            self.producer[v.id] = op
        return op.outputs[0]

    def lower_block(self, block, args: list[ir.Value], captured=()) -> list[ir.Value]:
        """The block's results, its arguments then the MLIR values `captured`
        bound to `args`."""
        env = dict(zip([*block.arguments, *captured], args))
        self.scopes.append(env)
        try:
            return self._lower_ops(block, env)
        finally:
            self.scopes.pop()

    def lookup(self, env: dict, v) -> ir.Value:
        """The value of MLIR value v: from this block, or a constant of an enclosing one."""
        if v in env:
            return env[v]
        for outer in reversed(self.scopes[:-1]):
            if v in outer:
                if not outer[v].is_constant and outer[v].id not in self.poisoned:
                    raise Unsupported("a loop region reads a value computed outside the loop; pass it "
                                      "through the loop's carried values")
                return outer[v]
        raise Unsupported("reads a value defined nowhere around it")

    def _lower_ops(self, block, env: dict) -> list[ir.Value]:
        for mop in block.operations:
            name = mop.operation.name
            if name in ("func.return", "stablehlo.return"):
                return [self.lookup(env, v) for v in mop.operands]
            self.location = format_location(mop.location)
            if self.call_site and ":" not in self.location:
                # ops inside jnp helpers (@clip, @_where) carry no file; name the call
                self.location = f"{self.call_site} ({self.location})"
            try:
                inputs = [self.lookup(env, v) for v in mop.operands]
            except Unsupported as e:
                self.problems.append((name, self.location, str(e)))
                inputs = None
            if inputs is None or any(v.id in self.poisoned for v in inputs):
                outs = None  # already reported where the poison came from
            else:
                try:
                    outs = self.lower_op(name, mop, inputs)
                except (Unsupported, OpError) as e:
                    self.problems.append((name, self.location, str(e)))
                    outs = None
                except Exception as e:  # a ttpack bug: still report every op at once
                    self.problems.append((name, self.location, f"internal error while lowering "
                                          f"({type(e).__name__}: {e}); please report it"))
                    outs = None
            if outs is None:
                outs = [ir.Value(TensorType((), "float32")) for _ in mop.results]
                self.poisoned.update(v.id for v in outs)
            for r, v in zip(mop.results, outs):
                env[r] = v
        raise Unsupported("block has no terminator")

    def constant_value(self, v: ir.Value) -> np.ndarray | None:
        """v's data when it is computed from constants alone (a converted or
        broadcast literal, an iota), else None; evaluated with the registry."""
        if v.is_constant:
            return v.data
        from ..compiler import ops as registry

        class NotConstant(Exception):
            pass

        env: dict[int, np.ndarray] = {}

        def value(u):
            if u.is_constant:
                return u.data
            if u.id not in env:
                op = self.producer.get(u.id)
                if op is None or op.regions:  # a program input, or a loop's result
                    raise NotConstant
                results = registry.evaluate(op.name, [value(i) for i in op.inputs], op.attrs)
                env.update((o.id, r) for o, r in zip(op.outputs, results))
            return env[u.id]

        try:
            return value(v)
        except NotConstant:
            return None

    def lower_op(self, name: str, mop, inputs: list[ir.Value]) -> list[ir.Value]:
        lowering = LOWERINGS.get(name)
        if lowering is None:
            raise Unsupported("no lowering for this op")
        for r in mop.results:
            t = tensor_type(r.type)
            if t.dtype not in LOGICAL_DTYPES:
                raise Unsupported(f"{t.dtype} results are not supported yet "
                                  f"(ttpack computes in {', '.join(LOGICAL_DTYPES)})")
        if name in _SIGNED_ONLY and any(element_type(v.type) in ("ui32", "ui64") for v in mop.operands):
            raise Unsupported("unsigned 32-bit arithmetic whose result differs from int32's "
                              "(TTNN computes integers as int32)")
        outs = lowering(self, mop, inputs)
        if name not in _RANGE_PRESERVING:
            outs = [wrap_int(self, v, element_type(r.type)) if element_type(r.type) in NARROW_INTS else v
                    for v, r in zip(outs, mop.results)]
        overflow = self.ranges.note(name, mop, inputs, outs, self.location)
        if overflow:
            raise Unsupported(overflow)
        return outs


# --- attribute helpers -----------------------------------------------------------


def _ints(mop, name) -> tuple[int, ...]:
    from jaxlib.mlir import ir as mlir

    return tuple(int(x) for x in mlir.DenseI64ArrayAttr(mop.attributes[name]))


def _int(mop, name) -> int:
    from jaxlib.mlir import ir as mlir

    return mlir.IntegerAttr(mop.attributes[name]).value


def _result(mop, i=0) -> TensorType:
    return tensor_type(mop.results[i].type)


# --- lowerings ---------------------------------------------------------------------

LOWERINGS: dict[str, Callable[[Lowerer, object, list[ir.Value]], list[ir.Value]]] = {}


def lowering(*names):
    def register(fn):
        for n in names:
            LOWERINGS[n] = fn
        return fn

    return register


def _elementwise(ttnn_name):
    return lambda lo, mop, xs: [lo.emit(ttnn_name, xs)]


for _shlo, _ttnn in {
    "negate": "neg", "abs": "abs", "sign": "sign", "exponential": "exp", "log": "log",
    "sqrt": "sqrt", "rsqrt": "rsqrt", "tanh": "tanh", "logistic": "sigmoid", "sine": "sin",
    "cosine": "cos", "floor": "floor", "ceil": "ceil", "not": "logical_not",
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "remainder": "remainder", "maximum": "maximum", "minimum": "minimum", "power": "pow",
    "and": "logical_and", "or": "logical_or", "xor": "logical_xor",
    "shift_left": "shift_left", "shift_right_logical": "shift_right_logical",
    "shift_right_arithmetic": "shift_right_arithmetic", "select": "where",
}.items():
    LOWERINGS[f"stablehlo.{_shlo}"] = _elementwise(_ttnn)


@lowering("stablehlo.compare")
def _compare(lo, mop, xs):
    from jaxlib.mlir.dialects import stablehlo

    direction = stablehlo.ComparisonDirectionAttr(mop.attributes["comparison_direction"]).value
    if element_type(mop.operands[0].type) in ("ui32", "ui64"):
        # held as int32 bits: flipping the sign bit orders them as unsigned
        flip = ir.constant(np.array(np.iinfo(np.int32).min, np.int32))
        xs = [lo.emit("logical_xor", [x, flip]) for x in xs]
    return [lo.emit(direction.lower(), xs)]


@lowering("stablehlo.convert")
def _convert(lo, mop, xs):
    out = _result(mop)
    src, dst = element_type(mop.operands[0].type), element_type(mop.results[0].type)
    x = xs[0]
    if out.dtype != x.type.dtype:
        x = lo.emit("typecast", [x], dtype=dtype_code(out.dtype))
    if src in ("ui32", "ui64") and out.dtype == "float32":  # int32 bits of a value >= 2^31
        x = lo.emit("where", [lo.emit("lt", [xs[0], ir.constant(np.array(0, np.int32))]),
                              lo.emit("add", [x, ir.constant(np.array(2.0 ** 32, np.float32))]), x])
    if dst in NARROW_INTS and src != "i1":
        if src.startswith(("f", "bf")):  # float -> narrow int saturates, as XLA does
            bits, signed = NARROW_INTS[dst]
            low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            x = lo.emit("minimum", [lo.emit("maximum", [x, ir.constant(np.array(low, np.int32))]),
                                    ir.constant(np.array(high, np.int32))])
        elif NARROW_INTS.get(src, (64, True)) != NARROW_INTS[dst]:  # int -> narrower int wraps
            x = wrap_int(lo, x, dst)
    return [x]


@lowering("stablehlo.clamp")
def _clamp(lo, mop, xs):
    lower, x, upper = xs
    return [lo.emit("minimum", [lo.emit("maximum", [x, lower]), upper])]


@lowering("stablehlo.constant")
def _constant(lo, mop, xs):
    out = _result(mop)
    attr = mop.attributes["value"]
    data = _bf16_constant(attr, out.shape) if out.dtype == "bfloat16" else np.asarray(attr)
    return [ir.constant(np.broadcast_to(narrow(data, out.dtype), out.shape))]


def _bf16_constant(attr, shape) -> np.ndarray:
    """A bf16 DenseElementsAttr's values. The MLIR bindings expose no buffer
    for bf16, so they are read from the attribute's text: a hex blob of
    little-endian 16-bit patterns, or the elements, each a decimal that
    rounds back to its bf16 value or a 0x bit pattern (inf, NaN)."""
    import ml_dtypes

    text = str(attr).rsplit(" : ", 1)[0].strip()
    body = text[len("dense<"):-1].strip()
    if body.startswith('"0x'):
        raw = bytes.fromhex(body[3:-1])
        return np.frombuffer(raw, "<u2").view(ml_dtypes.bfloat16).reshape(shape).copy()
    tokens = [t for t in re.split(r"[\[\],\s]+", body) if t]
    bits = np.array([int(t, 16) if t.lower().startswith("0x") else
                     int(np.asarray(np.float32(float(t))).astype(ml_dtypes.bfloat16).view(np.uint16))
                     for t in tokens], np.uint16)
    values = bits.view(ml_dtypes.bfloat16)
    return values.reshape(()) if len(values) == 1 else values.reshape(shape)


def narrow(data: np.ndarray, dtype: str) -> np.ndarray:
    """Converts data to the compute type (see ELEMENT_TYPES): uint32 keeps
    its bits, 64-bit integers saturate."""
    if dtype == "int32" and data.dtype == np.uint32:
        return data.view(np.int32)
    if dtype == "int32" and data.dtype == np.uint64 and (data.size == 0 or int(data.max()) < 2 ** 32):
        return data.astype(np.uint32).view(np.int32)
    if np.dtype(dtype).kind == "i" and data.dtype.kind in "iu":
        info = np.iinfo(dtype)
        data = np.clip(data, info.min, info.max)
    return data.astype(dtype)


@lowering("stablehlo.iota")
def _iota(lo, mop, xs):
    out = _result(mop)
    dim = _int(mop, "iota_dimension")
    line = lo.emit("arange", [], start=0, step=1, shape=out.shape[dim], dtype=dtype_code(out.dtype))
    return [broadcast_in_dim(lo, line, (dim,), out.shape)]


def broadcast_in_dim(lo: Lowerer, x: ir.Value, dims: tuple[int, ...], shape: tuple[int, ...]) -> ir.Value:
    """Operand dim i becomes result dim dims[i]: permute, reshape, then repeat."""
    order = sorted(range(len(dims)), key=lambda i: dims[i])
    if order != list(range(len(dims))):
        x = lo.emit("permute", [x], perm=order)
    mapped = {dims[i]: x.type.shape[k] for k, i in enumerate(order)}
    aligned = tuple(mapped.get(d, 1) for d in range(len(shape)))
    if aligned != x.type.shape:
        x = lo.emit("reshape", [x], shape=aligned)
    if aligned != tuple(shape):
        x = lo.emit("repeat", [x], shape=shape)
    return x


@lowering("stablehlo.broadcast_in_dim")
def _broadcast_in_dim(lo, mop, xs):
    return [broadcast_in_dim(lo, xs[0], _ints(mop, "broadcast_dimensions"), _result(mop).shape)]


@lowering("stablehlo.reshape")
def _reshape(lo, mop, xs):
    return [lo.emit("reshape", xs, shape=_result(mop).shape)]


@lowering("stablehlo.transpose")
def _transpose(lo, mop, xs):
    return [lo.emit("permute", xs, perm=_ints(mop, "permutation"))]


@lowering("stablehlo.concatenate")
def _concatenate(lo, mop, xs):
    return [lo.emit("concat", xs, dim=_int(mop, "dimension"))]


@lowering("stablehlo.slice")
def _slice(lo, mop, xs):
    return [lo.emit("slice", xs, begins=_ints(mop, "start_indices"),
                    ends=_ints(mop, "limit_indices"), steps=_ints(mop, "strides"))]


@lowering("stablehlo.dot_general")
def _dot_general(lo, mop, xs):
    """Any dot_general as one batched matmul: bring each side to
    [batch..., free..., contract...] / [batch..., contract..., free...],
    flatten to 3-D, multiply, and reshape to StableHLO's result order
    (batch, lhs free, rhs free). Identity permutes and reshapes are removed
    by the simplify pass."""
    from jaxlib.mlir.dialects import stablehlo

    d = stablehlo.DotDimensionNumbers(mop.attributes["dot_dimension_numbers"])
    lb, rb = list(d.lhs_batching_dimensions), list(d.rhs_batching_dimensions)
    lc, rc = list(d.lhs_contracting_dimensions), list(d.rhs_contracting_dimensions)
    lhs, rhs = xs
    out = _result(mop)
    if lhs.type.dtype != out.dtype or rhs.type.dtype != out.dtype:
        raise Unsupported("mixed-precision dot_general (operand and result element types differ)")
    lf = [i for i in range(lhs.type.rank) if i not in lb + lc]
    rf = [i for i in range(rhs.type.rank) if i not in rb + rc]
    size = lambda v, dims: int(np.prod([v.type.shape[i] for i in dims], dtype=np.int64))
    B, M, K, N = size(lhs, lb), size(lhs, lf), size(lhs, lc), size(rhs, rf)
    # Without batch dims stay 2-D, so a plain x @ W keeps W as it is.
    batch = (B,) if lb else ()

    def arrange(v, perm, shape):
        if perm != list(range(v.type.rank)):
            v = lo.emit("permute", [v], perm=perm)
        return lo.emit("reshape", [v], shape=shape)

    a = arrange(lhs, lb + lf + lc, batch + (M, K))
    b = arrange(rhs, rb + rc + rf, batch + (K, N))
    return [lo.emit("reshape", [lo.emit("matmul", [a, b])], shape=out.shape)]


# reduce body op -> (ttnn reduction, identity of the init value per dtype)
_REDUCERS = {
    "stablehlo.add": ("sum", {"float32": 0.0, "bfloat16": 0.0, "float16": 0.0, "int32": 0}),
    "stablehlo.maximum": ("max", {"float32": -np.inf, "bfloat16": -np.inf, "float16": -np.inf, "int32": np.iinfo(np.int32).min,
                                  "bool": False}),
    "stablehlo.minimum": ("min", {"float32": np.inf, "bfloat16": np.inf, "float16": np.inf, "int32": np.iinfo(np.int32).max,
                                  "bool": True}),
    "stablehlo.or": ("max", {"bool": False}),
    "stablehlo.and": ("min", {"bool": True}),
    "stablehlo.multiply": ("prod", {"float32": 1.0, "bfloat16": 1.0, "float16": 1.0, "int32": 1}),
}
_COMBINE = {"sum": "add", "max": "maximum", "min": "minimum", "prod": "multiply"}


def _is_bool_constant(value, truth: bool) -> bool:
    owner = value.owner
    return (getattr(owner, "name", None) == "stablehlo.constant"
            and str(owner.attributes["value"]).startswith(f"dense<{'true' if truth else 'false'}>"))


def _without_bool_identity_select(operations: list) -> list:
    """A reducer body [op, select(op, true, false), return] is [op, return]:
    torch_xla wraps boolean and/or reductions (all(), any()) in that select."""
    if len(operations) == 3 and operations[1].operation.name == "stablehlo.select":
        pred, on_true, on_false = operations[1].operands
        if (pred == operations[0].result and _is_bool_constant(on_true, True)
                and _is_bool_constant(on_false, False)):
            return [operations[0], operations[2]]
    return operations


@lowering("stablehlo.reduce")
def _reduce(lo, mop, xs):
    if len(xs) == 4:
        return _arg_reduce(lo, mop, xs)
    if len(xs) != 2:
        raise Unsupported(f"reduce over {len(xs) // 2} operands together is not supported")
    x, init = xs
    body = mop.regions[0].blocks[0]
    operations = _without_bool_identity_select(list(body.operations))
    body_ops = [o.operation.name for o in operations]
    args = list(body.arguments)
    if len(body_ops) != 2 or body_ops[0] not in _REDUCERS:
        raise Unsupported(f"reduce with body {body_ops[:-1]} is not supported (only add, max, min, multiply, and, or)")
    body_op = operations[0]
    if set(body_op.operands) != set(args):
        raise Unsupported("reduce body must combine its two arguments")
    kind, identities = _REDUCERS[body_ops[0]]
    if x.type.dtype not in identities:
        raise Unsupported(f"{body_ops[0]} reduction over {x.type.dtype}")
    dims = _ints(mop, "dimensions")
    r = lo.emit(kind, [x], dims=dims, keepdim=0)
    # Fold a non-identity init value in, as StableHLO defines it.
    init_data = lo.constant_value(init)
    if init_data is None or not np.all(init_data == identities[x.type.dtype]):
        r = lo.emit(_COMBINE[kind], [r, init])
    return [r]


def _arg_reduce(lo, mop, xs):
    """reduce(values, iota) -> (max, index of max): argmax/argmin."""
    x, idx, _, _ = xs
    kind = _argmax_kind(mop)
    dims = _ints(mop, "dimensions")
    if kind is None or len(dims) != 1:
        raise Unsupported("reduce over two operands that is not an argmax/argmin over one dim")
    (dim,) = dims
    expected = np.broadcast_to(np.arange(x.type.shape[dim]).reshape(
        [-1 if i == dim else 1 for i in range(x.type.rank)]), x.type.shape)
    idx_data = lo.constant_value(idx)
    if idx_data is None or not np.array_equal(idx_data, expected):
        raise Unsupported("argmax-style reduce whose second operand is not an iota along the reduced dim")
    values = lo.emit("max" if kind == "argmax" else "min", [x], dims=(dim,), keepdim=0)
    index = lo.emit(kind, [x], dim=dim, keepdim=0)
    if index.type.dtype != _result(mop, 1).dtype:
        index = lo.emit("typecast", [index], dtype=dtype_code(_result(mop, 1).dtype))
    return [values, index]


@lowering("func.call")
def _call(lo, mop, xs):
    from jaxlib.mlir import ir as mlir

    callee = mlir.FlatSymbolRefAttr(mop.attributes["callee"]).value
    if callee not in lo.functions:
        raise Unsupported(f"call to unknown function @{callee}")
    saved_location, saved_site = lo.location, lo.call_site
    lo.call_site = lo.call_site or lo.location
    outs = lo.lower_block(lo.functions[callee].regions[0].blocks[0], xs)
    lo.location, lo.call_site = saved_location, saved_site
    return outs


# --- control flow -----------------------------------------------------------------


def _region(lo, block, types: list[TensorType], name: str, captured=()) -> ir.Program | None:
    """A region of a loop lowered as a program of its own (ir.py): its block
    arguments, then the MLIR values `captured` from around it, become the
    program's inputs; None when something in it could not be lowered
    (reported where it happened)."""
    args = [ir.Value(t) for t in types]
    outer_ops, outer_location = lo.ops, lo.location
    lo.ops = []
    try:
        results = lo.lower_block(block, args, captured)
        ops = lo.ops
    finally:
        lo.ops, lo.location = outer_ops, outer_location
    if any(v.id in lo.poisoned for v in results):
        return None
    return ir.Program(name, [(f"arg{i}", a) for i, a in enumerate(args)],
                      [(f"result{i}", r) for i, r in enumerate(results)], ops)


@lowering("stablehlo.while")
def _while(lo, mop, xs):
    """A loop, kept a loop: the archive holds its cond and body once, whatever
    the trip count (lax.while_loop, fori_loop, scan; jax.random's threefry)."""
    types = [x.type for x in xs]
    cond = _region(lo, mop.regions[0].blocks[0], types, "cond")
    body = _region(lo, mop.regions[1].blocks[0], types, "body")
    if cond is None or body is None:  # already reported: poison the results quietly
        outs = [ir.Value(t) for t in types]
        lo.poisoned.update(v.id for v in outs)
        return outs
    return _emit_all(lo, "while", xs, (cond, body), cond=0, body=1)


def _free_values(block) -> list:
    """MLIR values the block's ops (nested regions included) read but do not
    define, in order of first use."""
    defined, free = set(block.arguments), []
    for mop in block.operations:
        nested = [v for r in mop.regions for b in r.blocks for v in _free_values(b)]
        for v in [*mop.operands, *nested]:
            if v not in defined and v not in free:
                free.append(v)
        defined.update(mop.results)
    return free


def _branches(lo, mop, index: ir.Value, blocks) -> list[ir.Value]:
    """case(index, captured...) running one of `blocks`. StableHLO's branches
    read values around them directly; ttpack's regions are isolated, so
    every non-constant value any branch reads becomes an operand of the case
    and an input of every branch (constants stay in the branches)."""
    env = lo.scopes[-1]
    captured = [v for v in dict.fromkeys(v for b in blocks for v in _free_values(b))
                if not lo.lookup(env, v).is_constant]
    operands = [lo.lookup(env, v) for v in captured]
    outs_types = [tensor_type(r.type) for r in mop.results]
    if any(v.id in lo.poisoned for v in operands):
        regions = None
    else:
        regions = [_region(lo, b, [v.type for v in operands], f"branch{k}", captured) for k, b in enumerate(blocks)]
    if regions is None or any(r is None for r in regions):  # already reported: poison the results quietly
        outs = [ir.Value(t) for t in outs_types]
        lo.poisoned.update(v.id for v in outs)
        return outs
    return _emit_all(lo, "case", [index, *operands], tuple(regions), branches=list(range(len(regions))))


@lowering("stablehlo.case")
def _case(lo, mop, xs):
    """lax.switch, and lax.cond (JAX lowers it to a case on the predicate):
    one branch runs, whichever the index picks at run time."""
    return _branches(lo, mop, xs[0], [r.blocks[0] for r in mop.regions])


@lowering("stablehlo.if")
def _if(lo, mop, xs):
    """if(pred) {true} else {false} as case(int32(pred)) of (false, true)."""
    index = lo.emit("typecast", [xs[0]], dtype=dtype_code("int32"))
    return _branches(lo, mop, index, [mop.regions[1].blocks[0], mop.regions[0].blocks[0]])


@lowering("stablehlo.bitcast_convert")
def _bitcast_convert(lo, mop, xs):
    (x,), out = xs, _result(mop)
    widths = {element_type(mop.operands[0].type), element_type(mop.results[0].type)}
    if not widths <= {"f32", "i32", "ui32"} or x.type.shape != out.shape:
        raise Unsupported(f"bitcast_convert between {sorted(widths)} (only 32-bit float <-> integer, same shape)")
    if x.type.dtype == out.dtype:
        return [x]
    return [lo.emit("bitcast", [x], dtype=dtype_code(out.dtype))]


# --- NN ops ---------------------------------------------------------------------


def _ints_or(mop, name, default):
    return _ints(mop, name) if name in mop.attributes else default


def _padding(mop, rank):
    """An [rank, 2] (low, high) padding attribute; zeros when absent."""
    if "padding" not in mop.attributes:
        return [(0, 0)] * rank
    return [tuple(int(v) for v in row) for row in np.asarray(mop.attributes["padding"]).reshape(rank, 2)]


def _permute(lo, x, perm):
    return lo.emit("permute", [x], perm=perm) if list(perm) != list(range(len(perm))) else x


@lowering("stablehlo.custom_call")
def _custom_call(lo, mop, xs):
    from jaxlib.mlir import ir as mlir

    target = mlir.StringAttr(mop.attributes["call_target_name"]).value
    if target == "mhlo.erf" and len(xs) == 1:
        return [lo.emit("erf", xs)]
    raise Unsupported(f"custom_call @{target} is not supported")


@lowering("chlo.erf")
def _erf(lo, mop, xs):
    return [lo.emit("erf", xs)]


# erf_inv in float32 as M. Giles, "Approximating the erfinv function" (GPU
# Computing Gems, 2011) computes it: w = -log((1 - x)(1 + x)), then one of two
# polynomials (Horner, highest coefficient first) in w - 2.5 (w < 5) or
# sqrt(w) - 3, times x; +-inf at +-1. XLA evaluates float32 erf_inv the same way.
_ERF_INV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERF_INV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                 -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


@lowering("chlo.erf_inv")
def _erf_inv(lo, mop, xs):
    (x,) = xs
    if x.type.dtype != "float32":
        raise Unsupported(f"erf_inv of {x.type.dtype} (float32 only)")

    def c(v):
        return ir.constant(np.array(v, np.float32))

    def horner(coeffs, t):
        p = c(coeffs[0])
        for k in coeffs[1:]:
            p = lo.emit("add", [lo.emit("multiply", [p, t]), c(k)])
        return p

    one = c(1.0)
    w = lo.emit("neg", [lo.emit("log", [lo.emit("multiply", [lo.emit("subtract", [one, x]),
                                                             lo.emit("add", [one, x])])])])
    central = horner(_ERF_INV_CENTRAL, lo.emit("subtract", [w, c(2.5)]))
    tail = horner(_ERF_INV_TAIL, lo.emit("subtract", [lo.emit("sqrt", [w]), c(3.0)]))
    p = lo.emit("where", [lo.emit("lt", [w, c(5.0)]), central, tail])
    # at +-1 the polynomials overflow with alternating signs: erf_inv is +-inf there
    edge = lo.emit("eq", [lo.emit("abs", [x]), one])
    return [lo.emit("where", [edge, lo.emit("multiply", [x, c(np.inf)]), lo.emit("multiply", [p, x])])]


@lowering("chlo.square")
def _square(lo, mop, xs):
    return [lo.emit("multiply", [xs[0], xs[0]])]


@lowering("chlo.erfc")
def _erfc(lo, mop, xs):
    return [lo.emit("erfc", xs)]


@lowering("stablehlo.batch_norm_inference")
def _batch_norm_inference(lo, mop, xs):
    from jaxlib.mlir import ir as mlir

    x, scale, offset, mean, var = xs
    eps = mlir.FloatAttr(mop.attributes["epsilon"]).value
    return [lo.emit("batch_norm", [x, mean, var, scale, offset], dim=_int(mop, "feature_index"), epsilon=float(eps))]


@lowering("stablehlo.batch_norm_training")
def _batch_norm_training(lo, mop, xs):
    """Normalizes with the batch's own statistics over every dim but the
    feature dim. torch_xla emits this for layer_norm: x reshaped to
    [1, rows, D] with feature_index 1, i.e. a layer norm over D per row."""
    from jaxlib.mlir import ir as mlir

    x, scale, offset = xs
    eps = float(mlir.FloatAttr(mop.attributes["epsilon"]).value)
    f = _int(mop, "feature_index")
    shape = x.type.shape
    if any(n != 1 for n in shape[:f]):
        raise Unsupported("batch_norm_training with statistics over the batch (a model in training mode); "
                          "export the model in eval mode")
    rows, d = shape[f], int(np.prod(shape[f + 1:], dtype=np.int64))
    flat = lo.emit("reshape", [x], shape=(rows, d))
    ones = ir.constant(np.ones(d, x.type.dtype))
    zeros = ir.constant(np.zeros(d, x.type.dtype))
    normed = lo.emit("reshape", [lo.emit("layer_norm", [flat, ones, zeros], epsilon=eps)], shape=shape)
    per_feature = tuple(rows if i == f else 1 for i in range(len(shape)))
    out = normed
    scale_data, offset_data = lo.constant_value(scale), lo.constant_value(offset)
    if scale_data is None or np.any(scale_data != 1):
        out = lo.emit("multiply", [out, lo.emit("reshape", [scale], shape=per_feature)])
    if offset_data is None or np.any(offset_data != 0):
        out = lo.emit("add", [out, lo.emit("reshape", [offset], shape=per_feature)])
    # the batch statistics, for the rare program that reads them
    mean = lo.emit("divide", [lo.emit("sum", [flat], dims=(1,), keepdim=0), ir.constant(np.array(d, x.type.dtype))])
    centered = lo.emit("subtract", [flat, lo.emit("reshape", [mean], shape=(rows, 1))])
    var = lo.emit("divide", [lo.emit("sum", [lo.emit("multiply", [centered, centered])], dims=(1,), keepdim=0),
                             ir.constant(np.array(d, x.type.dtype))])
    return [out, mean, var]


@lowering("stablehlo.convolution")
def _convolution(lo, mop, xs):
    """Any 1-D or 2-D convolution as TTNN's NHWC conv2d with HWIO weights, or
    with lhs_dilation (a transposed convolution: ConvTranspose2d,
    lax.conv_transpose) as conv_transpose2d. The operand layouts are
    permuted to that and the result permuted back (the weight permute is
    folded at build time, the others mostly cancel); a 1-D convolution gets
    a unit height."""
    from jaxlib.mlir.dialects import stablehlo

    d = stablehlo.ConvDimensionNumbers(mop.attributes["dimension_numbers"])
    spatial = list(d.input_spatial_dimensions)
    nd = len(spatial)
    if nd not in (1, 2):
        raise Unsupported(f"{nd}-D convolution (only 1-D and 2-D are supported)")
    if _int(mop, "batch_group_count") != 1:
        raise Unsupported("batch_group_count != 1")
    if "window_reversal" in mop.attributes and any(np.asarray(mop.attributes["window_reversal"]).ravel()):
        raise Unsupported("window_reversal")
    x, w = xs
    xin = _permute(lo, x, [d.input_batch_dimension, *spatial, d.input_feature_dimension])
    wk = _permute(lo, w, [*d.kernel_spatial_dimensions, d.kernel_input_feature_dimension,
                          d.kernel_output_feature_dimension])
    strides = tuple(_ints_or(mop, "window_strides", (1,) * nd))
    lhs_dilation = tuple(_ints_or(mop, "lhs_dilation", (1,) * nd))
    rhs_dilation = tuple(_ints_or(mop, "rhs_dilation", (1,) * nd))
    pads = _padding(mop, nd)
    if nd == 1:  # [N, W, C] as [N, 1, W, C]
        xin = lo.emit("reshape", [xin], shape=(xin.type.shape[0], 1) + xin.type.shape[1:])
        wk = lo.emit("reshape", [wk], shape=(1,) + wk.type.shape)
        strides, lhs_dilation, rhs_dilation, pads = (1,) + strides, (1,) + lhs_dilation, (1,) + rhs_dilation, \
            [(0, 0)] + pads
    groups = _int(mop, "feature_group_count")
    bias = ir.constant(np.zeros(wk.type.shape[3], x.type.dtype))
    if any(v != 1 for v in lhs_dilation):
        y = _transposed_convolution(lo, xin, wk, bias, strides, lhs_dilation, rhs_dilation, pads, groups)
    else:
        (pt, pb), (pl, pr) = pads
        y = lo.emit("conv2d", [xin, wk, bias], stride=strides, padding=(pt, pb, pl, pr), dilation=rhs_dilation,
                    groups=groups, activation=0)
    if nd == 1:
        y = lo.emit("reshape", [y], shape=(y.type.shape[0],) + y.type.shape[2:])
    out_perm = [0] * (nd + 2)
    for i, dim in enumerate([d.output_batch_dimension, *d.output_spatial_dimensions, d.output_feature_dimension]):
        out_perm[dim] = i
    return [_permute(lo, y, out_perm)]


def _transposed_convolution(lo, x, w, bias, strides, lhs_dilation, rhs_dilation, pads, groups):
    """A convolution of the input dilated by s (s - 1 zeros between pixels),
    padded by (lo, hi), with a kernel of k taps d apart, is PyTorch's
    transposed convolution with the kernel flipped: input pixel h reaches
    output h * s - p + i * d for the flipped tap i, where p = d * (k - 1) - lo
    (and likewise p_hi = d * (k - 1) - hi at the end). A negative p_hi is
    output padding; a negative p is zero rows in front, a pad of the result."""
    if any(v != 1 for v in strides):
        raise Unsupported("convolution with both lhs_dilation and window strides")
    ks = w.type.shape[:2]
    flip = tuple(i for i in range(2) if ks[i] > 1)
    wf = lo.emit("reverse", [w], dims=flip) if flip else w
    padding, extra, front = [], [], []
    for (low, high), k, dil in zip(pads, ks, rhs_dilation):
        p_lo, p_hi = dil * (k - 1) - low, dil * (k - 1) - high
        front.append(max(-p_lo, 0))
        padding += [max(p_lo, 0), max(p_hi, 0)]
        extra.append(max(-p_hi, 0))
    y = lo.emit("conv_transpose2d", [x, wf, bias], stride=lhs_dilation, padding=tuple(padding),
                output_padding=tuple(extra), dilation=rhs_dilation, groups=groups, activation=0)
    if any(front):
        y = lo.emit("pad", [y], low=(0, front[0], front[1], 0), high=(0, 0, 0, 0), value=0.0)
    return y


def _body_op(mop) -> str:
    body = list(mop.regions[0].blocks[0].operations)
    return body[0].operation.name if len(body) == 2 else ""


@lowering("stablehlo.reduce_window")
def _reduce_window(lo, mop, xs):
    """Pooling over two dims (max or sum, the latter fused into avg_pool2d
    later), or a prefix sum over one dim (cumsum)."""
    if len(xs) != 2:
        raise Unsupported("reduce_window over several operands")
    x, init = xs
    rank = x.type.rank
    window = _ints(mop, "window_dimensions")
    strides = _ints_or(mop, "window_strides", (1,) * rank)
    pads = _padding(mop, rank)
    if any(v != 1 for v in _ints_or(mop, "base_dilations", (1,) * rank)):
        raise Unsupported("reduce_window with base dilation")
    dilations = _ints_or(mop, "window_dilations", (1,) * rank)
    body = _body_op(mop)
    kind = {"stablehlo.maximum": "max", "stablehlo.add": "sum", "stablehlo.multiply": "prod"}.get(body)
    if kind is None:
        raise Unsupported(f"reduce_window with body {body or 'of several ops'}")
    init_data = lo.constant_value(init)
    if init_data is None:
        raise Unsupported("reduce_window with a computed init value")
    identities = {"sum": (0,), "prod": (1,), "max": (-np.inf, np.iinfo(np.int32).min)}[kind]
    if init_data.item() not in identities:
        raise Unsupported(f"reduce_window {kind} with init {init_data.item()}")
    dims = [i for i, k in enumerate(window) if k != 1 or pads[i] != (0, 0) or strides[i] != 1]
    if not dims:  # a window of one element: the identity
        return [x]
    if kind == "prod":
        return [_cumulative_product(x, dims, window, pads, strides, dilations, lo)]
    if (kind == "sum" and len(dims) == 1 and window[dims[0]] == x.type.shape[dims[0]]
            and pads[dims[0]] == (window[dims[0]] - 1, 0) and strides[dims[0]] == 1 and dilations[dims[0]] == 1):
        return [lo.emit("cumsum", [x], dim=dims[0])]
    if len(dims) > 2:
        raise Unsupported(f"reduce_window over {len(dims)} dims (pooling covers 2)")
    if len(dims) == 1:  # pool over one dim as a 2-D pool with a unit window
        dims = [dims[0], next(i for i in range(rank) if i != dims[0])] if rank > 1 else dims
    if rank == 4:  # NCHW, NHWC...: the two other dims become N and C
        others = [i for i in range(4) if i not in dims]
        perm = [others[0], dims[0], dims[1], others[1]]
        xin, restore = _permute(lo, x, perm), lambda y: _permute(lo, y, ir.inverse_permutation(perm))
    else:  # any other rank: the other dims flatten into N, C is 1
        if len(dims) == 1:
            raise Unsupported("reduce_window over the only dim of a rank-1 tensor")
        others = [i for i in range(rank) if i not in dims]
        perm = others + dims
        moved = _permute(lo, x, perm)
        n = int(np.prod([x.type.shape[i] for i in others], dtype=np.int64))
        xin = lo.emit("reshape", [moved], shape=(n, x.type.shape[dims[0]], x.type.shape[dims[1]], 1))

        def restore(y):
            y = lo.emit("reshape", [y], shape=tuple(x.type.shape[i] for i in others) + y.type.shape[1:3])
            return _permute(lo, y, ir.inverse_permutation(perm))
    kernel = (window[dims[0]], window[dims[1]])
    stride = (strides[dims[0]], strides[dims[1]])
    padding = (*pads[dims[0]], *pads[dims[1]])
    if kind == "max":
        y = lo.emit("max_pool2d", [xin], kernel=kernel, stride=stride, padding=padding,
                    dilation=(dilations[dims[0]], dilations[dims[1]]))
    else:
        if (dilations[dims[0]], dilations[dims[1]]) != (1, 1):
            raise Unsupported("dilated sum pooling")
        y = lo.emit("sum_pool2d", [xin], kernel=kernel, stride=stride, padding=padding)
    return [restore(y)]


def _cumulative_product(x, dims, window, pads, strides, dilations, lo):
    """A window over a whole dim padded by n - 1 in front (jnp.cumprod,
    torch.cumprod), or behind (lax.cumprod(reverse=True): a reversed cumprod)."""
    if len(dims) == 1:
        (d,) = dims
        n = x.type.shape[d]
        if window[d] == n and strides[d] == 1 and dilations[d] == 1:
            if pads[d] == (n - 1, 0):
                return lo.emit("cumprod", [x], dim=d)
            if pads[d] == (0, n - 1):
                rev = lo.emit("reverse", [x], dims=(d,))
                return lo.emit("reverse", [lo.emit("cumprod", [rev], dim=d)], dims=(d,))
    raise Unsupported("reduce_window multiply other than a cumulative product over one dim")


@lowering("stablehlo.pad")
def _pad(lo, mop, xs):
    x, value = xs
    value_data = lo.constant_value(value)
    if value_data is None:
        raise Unsupported("pad with a computed padding value")
    if any(v != 0 for v in _ints(mop, "interior_padding")):
        raise Unsupported("interior (dilating) padding")
    low, high = _ints(mop, "edge_padding_low"), _ints(mop, "edge_padding_high")
    y = x
    if any(v > 0 for v in low + high):
        y = lo.emit("pad", [x], low=tuple(max(v, 0) for v in low), high=tuple(max(v, 0) for v in high),
                    value=float(value_data.item()))
    if any(v < 0 for v in low + high):  # negative padding crops
        shape = y.type.shape
        y = lo.emit("slice", [y], begins=tuple(max(-v, 0) for v in low),
                    ends=tuple(n - max(-v, 0) for n, v in zip(shape, high)), steps=(1,) * len(shape))
    return [y]


@lowering("stablehlo.gather")
def _gather(lo, mop, xs):
    """Gathers whose slices are whole rows of the indexed dims (embedding
    lookups, mask indexing) as one embedding over a flattened table."""
    from jaxlib.mlir.dialects import stablehlo

    operand, indices = xs
    g = stablehlo.GatherDimensionNumbers(mop.attributes["dimension_numbers"])
    offset_dims = list(g.offset_dims)
    collapsed = list(g.collapsed_slice_dims)
    index_map = list(g.start_index_map)
    ivd = g.index_vector_dim
    sizes = _ints(mop, "slice_sizes")
    if element_type(mop.operands[1].type) in ("ui32", "ui64"):
        indices = _unsigned_indices(lo, indices)
    rest = [i for i in range(operand.type.rank) if i not in index_map]
    if (list(getattr(g, "operand_batching_dims", [])) or sorted(collapsed) != sorted(index_map)
            or any(sizes[i] != 1 for i in index_map) or any(sizes[i] != operand.type.shape[i] for i in rest)
            or operand.type.numel == 0):
        return [_general_gather(lo, mop, operand, indices, g, sizes)]
    out = _result(mop)
    batch_dims = [i for i in range(out.rank) if i not in offset_dims]
    # indices [..., k] -> one linear row index into the indexed dims
    if ivd == indices.type.rank:
        indices = lo.emit("reshape", [indices], shape=indices.type.shape + (1,))
    else:
        indices = _permute(lo, indices, [i for i in range(indices.type.rank) if i != ivd] + [ivd])
    batch_shape = indices.type.shape[:-1]
    linear = None
    stride = 1
    for k in reversed(range(len(index_map))):
        n = operand.type.shape[index_map[k]]
        col = lo.emit("slice", [indices], begins=(0,) * (indices.type.rank - 1) + (k,),
                      ends=batch_shape + (k + 1,), steps=(1,) * indices.type.rank)
        # XLA clamps each start index into range
        col = lo.emit("minimum", [lo.emit("maximum", [col, ir.constant(np.array(0, np.int32))]),
                                  ir.constant(np.array(n - 1, np.int32))])
        term = col if stride == 1 else lo.emit("multiply", [col, ir.constant(np.array(stride, np.int32))])
        linear = term if linear is None else lo.emit("add", [linear, term])
        stride *= n
    linear = lo.emit("reshape", [linear], shape=batch_shape)
    table = _permute(lo, operand, index_map + rest)
    row = int(np.prod([operand.type.shape[i] for i in rest], dtype=np.int64))
    table = lo.emit("reshape", [table], shape=(stride, row))
    if table.type.dtype == "bool":  # the embedding kernel copies numbers
        table = lo.emit("typecast", [table], dtype=dtype_code("int32"))
        rows = lo.emit("ne", [lo.emit("embedding", [linear, table]), ir.constant(np.array(0, np.int32))])
    else:
        rows = lo.emit("embedding", [linear, table])
    # rows are [batch..., offset...]; StableHLO puts offset dims at offset_dims
    order = batch_dims + offset_dims
    staged = tuple(out.shape[i] for i in order)
    return [_permute(lo, lo.emit("reshape", [rows], shape=staged), ir.inverse_permutation(order))]


def _index_columns(lo: Lowerer, indices: ir.Value, ivd: int) -> ir.Value:
    """indices with the index vector dim moved last (a unit one added when
    ivd is the rank, as StableHLO allows)."""
    if ivd == indices.type.rank:
        return lo.emit("reshape", [indices], shape=indices.type.shape + (1,))
    return _permute(lo, indices, [i for i in range(indices.type.rank) if i != ivd] + [ivd])


def _general_gather(lo: Lowerer, mop, operand: ir.Value, indices: ir.Value, g, sizes) -> ir.Value:
    """Any StableHLO gather as one ttpack gather (slices of slice_sizes at
    clamped starts, output [batch..., *slice_sizes]), then a reshape that
    drops the collapsed and batching dims and a permute to StableHLO's
    result order. Batching dims become index columns: an iota along the
    indices' batch dim, looked up in the operand's batching dim."""
    offset_dims = list(g.offset_dims)
    collapsed = list(g.collapsed_slice_dims)
    index_map = list(g.start_index_map)
    obd = list(getattr(g, "operand_batching_dims", []))
    sbd = list(getattr(g, "start_indices_batching_dims", []))
    ivd = g.index_vector_dim
    out = _result(mop)
    cols = _index_columns(lo, indices, ivd)
    batch_shape = cols.type.shape[:-1]
    # the indices' batch dims, numbered as in cols (ivd removed)
    batch_pos = [d if d < ivd else d - 1 for d in sbd]
    parts = [cols] if index_map else []
    for p in batch_pos:
        iota = np.broadcast_to(np.arange(batch_shape[p], dtype=np.int32).reshape(
            [-1 if i == p else 1 for i in range(len(batch_shape))]), batch_shape)
        parts.append(ir.constant(np.ascontiguousarray(iota).reshape(batch_shape + (1,))))
    if not parts:  # no index dims at all: every slice starts at 0
        parts = [ir.constant(np.zeros(batch_shape + (0,), np.int32))]
    idx = parts[0] if len(parts) == 1 else lo.emit("concat", parts, dim=len(batch_shape))
    sliced = lo.emit("gather", [operand, idx], index_dims=tuple(index_map + obd), slice_sizes=tuple(sizes))
    kept = [d for d in range(operand.type.rank) if d not in collapsed and d not in obd]
    batch_dims = [i for i in range(out.rank) if i not in offset_dims]
    staged = batch_shape + tuple(sizes[d] for d in kept)
    order = batch_dims + offset_dims
    if tuple(out.shape[i] for i in order) != staged:
        raise Unsupported(f"gather result {out.shape} does not match its dimension numbers")
    y = lo.emit("reshape", [sliced], shape=staged) if staged != sliced.type.shape else sliced
    return _permute(lo, y, ir.inverse_permutation(order))


def _unsigned_indices(lo: Lowerer, v: ir.Value) -> ir.Value:
    """Unsigned 32-bit indices (torch_xla's for torch.gather and
    index_select) are held as int32 bits: one >= 2^31 reads as negative, but
    lies beyond every dim, so it becomes INT32_MAX, which clamps (gather,
    dynamic_slice) or drops (scatter) exactly as the unsigned value does."""
    zero, top = ir.constant(np.array(0, np.int32)), ir.constant(np.array(np.iinfo(np.int32).max, np.int32))
    return lo.emit("where", [lo.emit("lt", [v, zero]), top, v])


def _start_vector(lo: Lowerer, mop, starts: list[ir.Value], first: int) -> ir.Value:
    """The scalar start operands of a dynamic (update) slice as one int32[R]."""
    starts = [_unsigned_indices(lo, v) if element_type(mop.operands[first + i].type) in ("ui32", "ui64") else v
              for i, v in enumerate(starts)]
    parts = [lo.emit("reshape", [v], shape=(1,)) for v in starts]
    return parts[0] if len(parts) == 1 else lo.emit("concat", parts, dim=0)


# scatter region op -> mode (ops.SCATTER_MODES); for bool, add is or and multiply is and
_SCATTER_BODIES = {"stablehlo.add": "add", "stablehlo.multiply": "multiply", "stablehlo.minimum": "min",
                   "stablehlo.maximum": "max", "stablehlo.or": "max", "stablehlo.and": "min"}


def _scatter_mode(mop, dtype: str) -> int:
    """The update computation of a scatter region: returning the update is
    an assignment; one add, multiply, minimum or maximum of the current
    value and the update is that combination. Anything else is refused."""
    from ..compiler.ops import SCATTER_MODES

    block = mop.regions[0].blocks[0]
    args = list(block.arguments)
    body = list(block.operations)
    ret = body[-1]
    if len(args) != 2 or len(ret.operands) != 1:
        raise Unsupported("scatter of several operands at once")
    if len(body) == 1 and ret.operands[0] == args[1]:
        return SCATTER_MODES["assign"]
    if len(body) == 2:
        op = body[0]
        name = op.operation.name
        if name in _SCATTER_BODIES and set(op.operands) == set(args) and len(op.operands) == 2 \
                and ret.operands[0] == op.results[0]:
            kind = _SCATTER_BODIES[name]
            if dtype == "bool":
                kind = {"add": "max", "multiply": "min"}.get(kind, kind)
            elif name in ("stablehlo.or", "stablehlo.and"):
                raise Unsupported(f"scatter with a bitwise {name[10:]} of integers")
            return SCATTER_MODES[kind]
    names = [o.operation.name for o in body[:-1]]
    raise Unsupported(f"scatter whose update computation is {names or 'returning the current value'} "
                      "(only assignment, add, multiply, minimum and maximum)")


@lowering("stablehlo.scatter")
def _scatter(lo, mop, xs):
    """Any single-operand StableHLO scatter as one ttpack scatter: indices
    with the index vector last (batching dims as iota columns, as in
    gather), updates permuted to [scatter dims..., window dims...] and
    reshaped to full-rank windows (a unit dim at each inserted or batching
    dim). Out-of-bounds windows are dropped by the kernel, as XLA drops them."""
    from jaxlib.mlir.dialects import stablehlo

    if len(xs) != 3:
        raise Unsupported("scatter of several operands at once")
    x, indices, updates = xs
    if element_type(mop.operands[1].type) in ("ui32", "ui64"):
        indices = _unsigned_indices(lo, indices)  # (negative int32 bits are dropped too; kept explicit)
    mode = _scatter_mode(mop, x.type.dtype)
    if mode in (3, 4) and element_type(mop.operands[0].type) in ("ui32", "ui64"):
        raise Unsupported("unsigned 32-bit minimum/maximum scatter (TTNN computes integers as int32)")
    sd = stablehlo.ScatterDimensionNumbers(mop.attributes["scatter_dimension_numbers"])
    uwd, iwd = list(sd.update_window_dims), list(sd.inserted_window_dims)
    ibd = list(getattr(sd, "input_batching_dims", []))
    sibd = list(getattr(sd, "scatter_indices_batching_dims", []))
    s2o, ivd = list(sd.scattered_dims_to_operand_dims), sd.index_vector_dim
    cols = _index_columns(lo, indices, ivd)
    batch_shape = cols.type.shape[:-1]
    parts = [cols] if s2o else []
    for d in sibd:
        p = d if d < ivd else d - 1
        iota = np.broadcast_to(np.arange(batch_shape[p], dtype=np.int32).reshape(
            [-1 if i == p else 1 for i in range(len(batch_shape))]), batch_shape)
        parts.append(ir.constant(np.ascontiguousarray(iota).reshape(batch_shape + (1,))))
    if not parts:
        parts = [ir.constant(np.zeros(batch_shape + (0,), np.int32))]
    idx = parts[0] if len(parts) == 1 else lo.emit("concat", parts, dim=len(batch_shape))
    scatter_dims = [d for d in range(updates.type.rank) if d not in uwd]
    u = _permute(lo, updates, scatter_dims + uwd)
    kept = [d for d in range(x.type.rank) if d not in iwd and d not in ibd]
    window = [1] * x.type.rank
    for d, w in zip(kept, uwd):
        window[d] = updates.type.shape[w]
    if u.type.shape[:len(scatter_dims)] != batch_shape:
        raise Unsupported("scatter updates whose scatter dims do not match the indices")
    shape = batch_shape + tuple(window)
    if u.type.shape != shape:
        u = lo.emit("reshape", [u], shape=shape)
    return [lo.emit("scatter", [x, idx, u], index_dims=tuple(s2o + ibd), mode=mode)]


@lowering("stablehlo.dynamic_slice")
def _dynamic_slice(lo, mop, xs):
    x, starts = xs[0], [lo.constant_value(v) for v in xs[1:]]
    sizes = _ints(mop, "slice_sizes")
    if any(v is None for v in starts):  # traced starts: one gather of one slice, clamped by the kernel
        return [lo.emit("gather", [x, _start_vector(lo, mop, xs[1:], 1)], index_dims=tuple(range(x.type.rank)),
                        slice_sizes=tuple(sizes))]
    # StableHLO clamps starts so the slice stays inside the operand
    begins = tuple(int(min(max(int(v.item()), 0), n - k)) for v, n, k in zip(starts, x.type.shape, sizes))
    return [lo.emit("slice", [x], begins=begins, ends=tuple(b + k for b, k in zip(begins, sizes)),
                    steps=(1,) * x.type.rank)]


@lowering("stablehlo.dynamic_update_slice")
def _dynamic_update_slice(lo, mop, xs):
    """With constant starts: the update padded into place, selected by a mask."""
    x, update, starts = xs[0], xs[1], [lo.constant_value(v) for v in xs[2:]]
    if any(v is None for v in starts):  # traced starts: clamped by the kernel
        return [lo.emit("update_slice", [x, update, _start_vector(lo, mop, xs[2:], 2)])]
    shape, ushape = x.type.shape, update.type.shape
    begins = [int(min(max(int(v.item()), 0), n - k)) for v, n, k in zip(starts, shape, ushape)]
    high = tuple(n - b - k for n, b, k in zip(shape, begins, ushape))
    placed = lo.emit("pad", [update], low=tuple(begins), high=high, value=0.0)
    mask = np.zeros(shape, bool)
    mask[tuple(slice(b, b + k) for b, k in zip(begins, ushape))] = True
    return [lo.emit("where", [ir.constant(mask), placed, x])]


def _argmax_kind(mop) -> str | None:
    """'argmax' or 'argmin' when a two-operand reduce body compares values
    and selects the matching index, as JAX and torch_xla emit."""
    from jaxlib.mlir.dialects import stablehlo

    for op in mop.regions[0].blocks[0].operations:
        if op.operation.name == "stablehlo.compare":
            d = stablehlo.ComparisonDirectionAttr(op.attributes["comparison_direction"]).value
            if d in ("GT", "GE"):
                return "argmax"
            if d in ("LT", "LE"):
                return "argmin"
    return None


# --- Coverage II: reverse, sort / top_k, elementwise, cumulative product -------------------

for _shlo, _ttnn in {"exponential_minus_one": "expm1", "log_plus_one": "log1p", "is_finite": "isfinite",
                     "round_nearest_even": "round", "round_nearest_afz": "round_afz"}.items():
    LOWERINGS[f"stablehlo.{_shlo}"] = _elementwise(_ttnn)


@lowering("stablehlo.multiply")
def _multiply(lo, mop, xs):
    """multiply of i1 is logical and (torch_xla's torch.isfinite multiplies
    two predicates)."""
    return [lo.emit("logical_and" if xs[0].type.dtype == "bool" else "multiply", xs)]


def _emit_all(lo: Lowerer, name: str, inputs: list[ir.Value], regions: tuple = (), **attrs) -> list[ir.Value]:
    """lo.emit for ops with several outputs (sort, top_k, while, case): all of them."""
    op = ir.make_op(name, inputs, attrs, lo.location, regions)
    lo.ops.append(op)
    for v in op.outputs:
        lo.producer[v.id] = op
    return op.outputs


@lowering("stablehlo.reverse")
def _reverse(lo, mop, xs):
    x = xs[0]
    dims = tuple(sorted({d % x.type.rank for d in _ints(mop, "dimensions") if x.type.shape[d] > 1}))
    return [lo.emit("reverse", [x], dims=dims) if dims else x]


# Probe values for reading what a sort comparator does to its operands.
_NAN_BITS = {"float32": [0x7FC00000, 0xFFC00000, 0x7F800001], "bfloat16": [0x7FC0, 0xFFC0, 0x7F81],
             "float16": [0x7E00, 0xFE00, 0x7C01]}


def _probes(dtype: str) -> list[np.ndarray]:
    if dtype == "bool":
        return [np.array(False), np.array(True)]
    if dtype == "int32":
        return [np.array(v, np.int32) for v in (np.iinfo(np.int32).min, -7, -1, 0, 1, 5, np.iinfo(np.int32).max)]
    ordinary = [np.asarray(v).astype(dtype) for v in (-np.inf, -2.5, -0.0, 0.0, 1.0, 3.0e38, np.inf)]
    bits = np.uint16 if dtype in ("bfloat16", "float16") else np.uint32
    return ordinary + [np.array(b, bits).view(dtype) for b in _NAN_BITS[dtype]]


def _evaluate_with(sub: Lowerer, v: ir.Value, bound: dict[int, np.ndarray]) -> np.ndarray:
    """v computed by the registry's references from the bound inputs."""
    from ..compiler import ops as registry

    env = dict(bound)

    def value(u):
        if u.is_constant:
            return u.data
        if u.id not in env:
            op = sub.producer.get(u.id)
            if op is None:
                raise Unsupported("sort comparator reads a value it cannot evaluate")
            results = registry.evaluate(op.name, [value(i) for i in op.inputs], op.attrs)
            env.update((o.id, r) for o, r in zip(op.outputs, results))
        return env[u.id]

    return np.asarray(value(v))


def _inputs_of(sub: Lowerer, v: ir.Value) -> set[int]:
    """Ids of the block arguments v is computed from."""
    seen, todo, found = set(), [v], set()
    while todo:
        u = todo.pop()
        if u.id in seen or u.is_constant:
            continue
        seen.add(u.id)
        op = sub.producer.get(u.id)
        if op is None:
            found.add(u.id)
        else:
            todo.extend(op.inputs)
    return found


def _key_transform(sub: Lowerer, v: ir.Value, arg: ir.Value) -> str:
    """What the comparator does to an operand before comparing it:
    'identity', or 'canonical' (-0 -> +0 and NaN -> one NaN, the
    canonicalization JAX's sort comparators start with)."""
    same, canonical = True, True
    is_float = arg.type.dtype in FLOAT_DTYPES  # (numpy's kind of bfloat16 is "V")
    for p in _probes(arg.type.dtype):
        out = _evaluate_with(sub, v, {arg.id: p})
        if out.shape != () or out.dtype != p.dtype:
            return "other"
        bits = lambda a: a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32 if a.dtype.itemsize == 4
                                else np.uint8).item()
        same &= bits(out) == bits(p)
        if is_float and np.isnan(p):
            canonical &= bool(np.isnan(out))
        elif is_float and p == 0:
            canonical &= bits(out) == 0
        else:
            canonical &= bits(out) == bits(p)
    return "identity" if same else "canonical" if canonical else "other"


def _sort_keys(lo: Lowerer, mop) -> list[tuple[int, int, int]]:
    """(operand, descending, total_order) of each key a sort's comparator
    orders by, the first deciding: one LT or GT comparison of an operand's
    two elements, as JAX (jnp.sort, argsort: LT after canonicalizing -0 and
    NaN, TOTALORDER) and torch_xla (LT or GT, TOTALORDER, or plain for
    integers) emit, or a lexicographic chain of them,
    `lt(k0) or (eq(k0) and <the rest>)`, as JAX emits for several keys
    (lax.sort with num_keys > 1, jnp.lexsort); anything else is refused."""
    block = mop.regions[0].blocks[0]
    sub = Lowerer(lo.functions)
    args = [ir.Value(tensor_type(a.type)) for a in block.arguments]
    env = dict(zip(block.arguments, args))
    sub.scopes.append(env)
    (result,) = sub._lower_ops(block, env)
    if sub.problems:
        raise Unsupported(f"sort comparator: {sub.problems[0][2]}")
    compare_of = {v.id: m.owner for m, v in env.items() if hasattr(m, "owner")}  # ttpack value -> MLIR op
    keys = []
    while True:
        op = sub.producer.get(result.id)
        if op is None or op.name != "logical_or":
            keys.append(_sort_key(sub, mop, args, result, compare_of))
            break
        first, result = _lexicographic_step(sub, op)
        keys.append(_sort_key(sub, mop, args, first, compare_of))
    operands = [k[0] for k in keys]
    if len(set(operands)) != len(operands):
        raise Unsupported("sort comparator that compares one operand as two keys")
    return keys


def _lexicographic_step(sub: Lowerer, or_op: ir.Op) -> tuple[ir.Value, ir.Value]:
    """(lt, rest) of `lt or (eq and rest)`, where eq compares what lt does."""
    for lt, conj in (or_op.inputs, or_op.inputs[::-1]):
        lt_op, and_op = sub.producer.get(lt.id), sub.producer.get(conj.id)
        if lt_op is None or lt_op.name not in ("lt", "gt") or and_op is None or and_op.name != "logical_and":
            continue
        for eq, rest in (and_op.inputs, and_op.inputs[::-1]):
            eq_op = sub.producer.get(eq.id)
            if eq_op is not None and eq_op.name == "eq" and {v.id for v in eq_op.inputs} == {
                    v.id for v in lt_op.inputs}:
                return lt, rest
    raise Unsupported("sort comparator that is neither one comparison nor a lexicographic chain of them "
                      "(a custom comparator)")


def _sort_key(sub: Lowerer, mop, args: list[ir.Value], v: ir.Value, compare_of: dict) -> tuple[int, int, int]:
    """(operand, descending, total_order) of the key comparison v."""
    from jaxlib.mlir.dialects import stablehlo

    cmp = compare_of.get(v.id)
    cmp = getattr(cmp, "operation", cmp)
    if cmp is None or not hasattr(cmp, "name") or cmp.name != "stablehlo.compare":
        raise Unsupported("sort comparator that is not one comparison (a custom comparator)")
    direction = stablehlo.ComparisonDirectionAttr(cmp.attributes["comparison_direction"]).value
    kind = (stablehlo.ComparisonTypeAttr(cmp.attributes["compare_type"]).value
            if "compare_type" in cmp.attributes else None)
    if direction not in ("LT", "GT"):
        raise Unsupported(f"sort comparator {direction} (only the strict orders LT and GT)")
    op = sub.producer.get(v.id)
    if op is None or op.name not in ("lt", "gt"):
        raise Unsupported("sort comparator that is not one comparison (a custom comparator)")
    lhs, rhs = op.inputs
    reads = (_inputs_of(sub, lhs), _inputs_of(sub, rhs))
    for operand in range(len(args) // 2):
        first, second = args[2 * operand], args[2 * operand + 1]
        if reads == ({first.id}, {second.id}):
            a, b, swapped = first, second, False
            break
        if reads == ({second.id}, {first.id}):
            a, b, swapped = second, first, True
            break
    else:
        raise Unsupported("sort comparator that does not compare an operand's two elements with each other")
    transform = _key_transform(sub, lhs, a)
    if transform == "other" or _key_transform(sub, rhs, b) != transform:
        raise Unsupported("sort comparator that transforms its keys before comparing them")
    descending = int((direction == "GT") != swapped)
    if a.type.dtype in FLOAT_DTYPES:
        if kind not in (None, "FLOAT", "TOTALORDER"):
            raise Unsupported(f"{kind} comparison of float sort keys")
        # FLOAT comparisons leave NaN unordered: ordered here as NumPy does (last)
        return operand, descending, int(kind == "TOTALORDER" and transform == "identity")
    if kind == "UNSIGNED" and element_type(mop.operands[operand].type) not in ("i1", "ui8", "ui16"):
        raise Unsupported("UNSIGNED comparison of signed sort keys")
    if kind not in (None, "SIGNED", "UNSIGNED"):
        raise Unsupported(f"{kind} comparison of integer sort keys")
    return operand, descending, 0


def _take_along(lo: Lowerer, payload: ir.Value, indices: ir.Value, dim: int) -> ir.Value:
    """payload's elements along dim picked by indices (int32, payload's
    shape): an iota along dim is the indices themselves (start + step * i
    is computed from them), another constant vector along dim one embedding
    lookup, anything else an embedding over the flattened rows
    (row * n + index)."""
    t = payload.type
    n = t.shape[dim]
    if t.numel == 0:
        return ir.constant(np.zeros(t.shape, t.dtype))
    as_table = t.dtype == "bool"  # the embedding kernel copies numbers

    def lookup(ids, table):
        if as_table:
            table = table.astype(np.int32) if isinstance(table, np.ndarray) else \
                lo.emit("typecast", [table], dtype=dtype_code("int32"))
        if isinstance(table, np.ndarray):
            table = ir.constant(table)
        rows = lo.emit("embedding", [ids, table])
        return lo.emit("ne", [rows, ir.constant(np.array(0, np.int32))]) if as_table else rows

    data = lo.constant_value(payload)
    if data is not None:
        line = np.moveaxis(data, dim, 0).reshape(n, -1)[:, 0]
        along = line.reshape([-1 if i == dim else 1 for i in range(t.rank)])
        if np.array_equal(np.broadcast_to(along, t.shape), data):
            step = int(line[1]) - int(line[0]) if n > 1 else 1
            if t.dtype == "int32" and np.array_equal(line, line[0] + step * np.arange(n)):
                # an iota (the indices themselves), or reversed (JAX's descending argsort): start + step * i
                y = indices
                if step != 1:
                    y = lo.emit("multiply", [y, ir.constant(np.array(step, np.int32))])
                if line[0] != 0:
                    y = lo.emit("add", [y, ir.constant(np.array(line[0], np.int32))])
                return y
            if t.dtype in FLOAT_DTYPES and np.array_equal(line, np.arange(n)):
                return lo.emit("typecast", [indices], dtype=dtype_code(t.dtype))
            rows = lookup(indices, np.ascontiguousarray(line.reshape(n, 1)))
            return lo.emit("reshape", [rows], shape=t.shape)
    perm = [i for i in range(t.rank) if i != dim] + [dim]
    moved, ids = _permute(lo, payload, perm), _permute(lo, indices, perm)
    rows_shape = moved.type.shape[:-1]
    count = int(np.prod(rows_shape, dtype=np.int64))
    starts = (np.arange(count, dtype=np.int64) * n).astype(np.int32).reshape(rows_shape + (1,))
    linear = lo.emit("add", [ids, ir.constant(starts)])
    table = lo.emit("reshape", [moved], shape=(count * n, 1))
    picked = lo.emit("reshape", [lookup(linear, table)], shape=moved.type.shape)
    return _permute(lo, picked, ir.inverse_permutation(perm))


@lowering("stablehlo.sort")
def _sort(lo, mop, xs):
    """A sort of operands by one or more of them (its keys): one sort op
    for the keys (the first key's values, and indices), the other operands
    picked by the indices. TTNN-style sorts are always stable here."""
    from jaxlib.mlir import ir as mlir

    keys = _sort_keys(lo, mop)
    rank = xs[0].type.rank
    if rank == 0:
        raise Unsupported("sort of a rank-0 tensor")
    for operand, _, _ in keys:
        if element_type(mop.operands[operand].type) in ("ui32", "ui64"):
            raise Unsupported("sort of unsigned 32-bit keys (TTNN computes integers as int32)")
    dim = _int(mop, "dimension") % rank
    stable = int("is_stable" in mop.attributes and mlir.BoolAttr(mop.attributes["is_stable"]).value)
    as_int = lambda x: lo.emit("typecast", [x], dtype=dtype_code("int32")) if x.type.dtype == "bool" else x
    values, indices = _emit_all(lo, "sort", [as_int(xs[k]) for k, _, _ in keys], dim=dim,
                                descending=[d for _, d, _ in keys], stable=stable,
                                total_order=[t for _, _, t in keys])
    first = keys[0][0]
    if xs[first].type.dtype == "bool":
        values = lo.emit("ne", [values, ir.constant(np.array(0, np.int32))])
    return [values if i == first else _take_along(lo, x, indices, dim) for i, x in enumerate(xs)]


@lowering("chlo.top_k")
def _top_k(lo, mop, xs):
    """The k largest along the last dim, IEEE totalOrder, ties by index (XLA's TopK)."""
    x = xs[0]
    if x.type.rank == 0:
        raise Unsupported("top_k of a rank-0 tensor")
    if x.type.dtype == "bool" or element_type(mop.operands[0].type) in ("ui32", "ui64"):
        raise Unsupported(f"top_k of {element_type(mop.operands[0].type)} values")
    values, indices = _emit_all(lo, "top_k", [x], k=_int(mop, "k"), dim=x.type.rank - 1, largest=1)
    if indices.type.dtype != _result(mop, 1).dtype:
        indices = lo.emit("typecast", [indices], dtype=dtype_code(_result(mop, 1).dtype))
    return [values, indices]


# --- module import ---------------------------------------------------------------


def import_module(module, name: str, input_names: list[str], output_names: list[str],
                  weights: dict[int, tuple[str, np.ndarray]]) -> ir.Program:
    """Lowers @main of a StableHLO module to a ttpack program.

    weights maps main-argument positions to (name, data): those arguments
    become named constants; the others are the program inputs, named in
    order by input_names."""
    from jaxlib.mlir import ir as mlir

    functions = {mlir.StringAttr(op.attributes["sym_name"]).value: op for op in module.body.operations
                 if op.operation.name == "func.func"}
    if "main" not in functions:
        raise ValueError("the StableHLO module has no @main function")
    block = functions["main"].regions[0].blocks[0]
    lo = Lowerer(functions)
    args, inputs = [], []
    names = iter(input_names)
    for i, a in enumerate(block.arguments):
        what = f"weight '{weights[i][0]}'" if i in weights else f"input '{next(names)}'"
        try:
            t = tensor_type(a.type)
        except Unsupported as e:
            raise UnsupportedOpsError([("argument", what, str(e))]) from None
        if t.dtype not in LOGICAL_DTYPES:  # say it once, here, not at every op that computes with it
            fix = ("convert the model's weights (model.float() or model.to(torch.bfloat16))" if i in weights
                   else "pass float32 or bfloat16 example inputs (and cast in the model if it needs another type)")
            raise BuildError(f"{what} is {t.dtype}; ttpack computes in {', '.join(LOGICAL_DTYPES)}: {fix}")
        if i in weights:
            wname, data = weights[i]
            args.append(ir.constant(narrow(np.asarray(data), t.dtype).reshape(t.shape), wname))
        else:
            v = ir.Value(t)
            inputs.append((what[7:-1], v))
            args.append(v)
    results = lo.lower_block(block, args)
    if lo.problems:
        raise UnsupportedOpsError(lo.problems)
    if len(output_names) != len(results):
        raise ValueError(f"{len(results)} results but {len(output_names)} output names")
    program = ir.Program(name, inputs, list(zip(output_names, results)), lo.ops)
    if lo.ranges.warnings:
        program.facts["warnings"] = list(lo.ranges.warnings)
    return program
