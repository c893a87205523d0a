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
from ..compiler.ops import OpError
from ..compiler.types import RUNTIME_DTYPES, TensorType, dtype_code

# MLIR element type spelling -> numpy dtype name
ELEMENT_TYPES = {
    "f32": "float32", "f16": "float16", "bf16": "bfloat16", "f64": "float64",
    "i1": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "ui8": "uint8", "ui16": "uint16", "ui32": "uint32", "ui64": "uint64",
}


class UnsupportedOpsError(Exception):
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
    """'model.py:12:8 (jit(f)/tanh)' from an MLIR location; '' if unknown."""
    text = str(loc)
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
    location: str = ""

    def emit(self, name: str, inputs: list[ir.Value], **attrs) -> ir.Value:
        op = ir.make_op(name, inputs, attrs, self.location)
        self.ops.append(op)
        return op.outputs[0]

    def lower_block(self, block, args: list[ir.Value]) -> list[ir.Value]:
        env = dict(zip(block.arguments, args))
        for mop in block.operations:
            name = mop.operation.name
            if name in ("func.return", "stablehlo.return"):
                return [env[v] for v in mop.operands]
            self.location = format_location(mop.location)
            if self.call_site and ":" not in self.location:
                # ops inside jnp helpers (@clip, @_where) carry no file; name the call
                self.location = f"{self.call_site} ({self.location})"
            inputs = [env[v] for v in mop.operands]
            if any(v.id in self.poisoned for v in inputs):
                outs = None  # already reported where the poison came from
            else:
                try:
                    outs = self.lower_op(name, mop, inputs)
                except (Unsupported, OpError) as e:
                    self.problems.append((name, self.location, str(e)))
                    outs = None
            if outs is None:
                outs = [ir.Value(TensorType((), "float32")) for _ in mop.results]
                self.poisoned.update(v.id for v in outs)
            for r, v in zip(mop.results, outs):
                env[r] = v
        raise Unsupported("block has no terminator")

    def lower_op(self, name: str, mop, inputs: list[ir.Value]) -> list[ir.Value]:
        lowering = LOWERINGS.get(name)
        if lowering is None:
            raise Unsupported("no lowering for this op")
        for r in mop.results:
            t = tensor_type(r.type)
            if t.dtype not in RUNTIME_DTYPES:
                raise Unsupported(f"{t.dtype} results are not supported by the CPU runtime yet "
                                  f"(it computes in {', '.join(RUNTIME_DTYPES)})")
        return lowering(self, mop, inputs)


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
    return [lo.emit(direction.lower(), xs)]


@lowering("stablehlo.convert")
def _convert(lo, mop, xs):
    out = _result(mop)
    if out.dtype == xs[0].type.dtype:
        return xs
    return [lo.emit("typecast", xs, dtype=dtype_code(out.dtype))]


@lowering("stablehlo.clamp")
def _clamp(lo, mop, xs):
    lower, x, upper = xs
    return [lo.emit("minimum", [lo.emit("maximum", [x, lower]), upper])]


@lowering("stablehlo.constant")
def _constant(lo, mop, xs):
    out = _result(mop)
    data = np.asarray(mop.attributes["value"], dtype=out.dtype)
    return [ir.constant(np.broadcast_to(data, out.shape))]


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
    "stablehlo.add": ("sum", {"float32": 0.0, "int32": 0}),
    "stablehlo.maximum": ("max", {"float32": -np.inf, "int32": np.iinfo(np.int32).min, "bool": False}),
    "stablehlo.minimum": ("min", {"float32": np.inf, "int32": np.iinfo(np.int32).max, "bool": True}),
    "stablehlo.or": ("max", {"bool": False}),
    "stablehlo.and": ("min", {"bool": True}),
}
_COMBINE = {"sum": "add", "max": "maximum", "min": "minimum"}


@lowering("stablehlo.reduce")
def _reduce(lo, mop, xs):
    if len(xs) != 2:
        raise Unsupported(f"reduce over {len(xs) // 2} operands together (argmax/argmin style) is not supported yet")
    x, init = xs
    body = mop.regions[0].blocks[0]
    body_ops = [o.operation.name for o in body.operations]
    args = list(body.arguments)
    if len(body_ops) != 2 or body_ops[0] not in _REDUCERS:
        raise Unsupported(f"reduce with body {body_ops[:-1]} is not supported (only add, max, min, and, or)")
    body_op = list(body.operations)[0]
    if set(body_op.operands) != set(args):
        raise Unsupported("reduce body must combine its two arguments")
    kind, identities = _REDUCERS[body_ops[0]]
    if x.type.dtype not in identities:
        raise Unsupported(f"{body_ops[0]} reduction over {x.type.dtype}")
    dims = _ints(mop, "dimensions")
    r = lo.emit(kind, [x], dims=dims, keepdim=0)
    # Fold a non-identity init value in, as StableHLO defines it.
    if not (init.is_constant and np.all(init.data == identities[x.type.dtype])):
        r = lo.emit(_COMBINE[kind], [r, init])
    return [r]


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
        t = tensor_type(a.type)
        if i in weights:
            wname, data = weights[i]
            args.append(ir.constant(np.asarray(data, dtype=t.dtype).reshape(t.shape), wname))
        else:
            v = ir.Value(t)
            inputs.append((next(names), v))
            args.append(v)
    results = lo.lower_block(block, args)
    if lo.problems:
        raise UnsupportedOpsError(lo.problems)
    if len(output_names) != len(results):
        raise ValueError(f"{len(results)} results but {len(output_names)} output names")
    return ir.Program(name, inputs, list(zip(output_names, results)), lo.ops)
