"""Fusion passes: rewrite lowered StableHLO idioms into the ops TTNN has
(conv2d with bias and activation, linear, softmax, layer_norm, gelu,
avg_pool2d) and keep activations in one layout. Each is Program -> Program.

Elementwise idioms (gelu, softmax) are found by their anchor op (erf, tanh,
exp) and confirmed numerically: the candidate subgraph is evaluated on probe
inputs with the registry's references and must equal the fused op. That makes
the match independent of operand order and of how a frontend spelled the
formula, and a wrong match impossible short of a numerical coincidence on
random probes.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import ops as registry
from .ir import Op, Program, Value, constant, inverse_permutation, resolve
from .passes import dce, simplify
from .types import DTYPE_CODES, FLOAT_DTYPES

ACT = registry.ACTIVATIONS


class Graph:
    """Producer and user maps of a program, for pattern matching."""

    def __init__(self, program: Program):
        self.program = program
        self.producer: dict[int, Op] = {}
        self.users: dict[int, list[Op]] = {}
        for op in program.ops:
            for v in op.outputs:
                self.producer[v.id] = op
            for v in op.inputs:
                self.users.setdefault(v.id, []).append(op)
        self.outputs = {v.id for _, v in program.outputs}

    def op(self, v: Value) -> Op | None:
        return self.producer.get(v.id)

    def single_use(self, v: Value) -> bool:
        return len(self.users.get(v.id, [])) == 1 and v.id not in self.outputs


def _rewrite(program: Program, replace: dict[int, Op], drop: set[int]) -> Program:
    """Ops replaced by id(op) -> new op (same outputs), others dropped, then DCE."""
    ops = []
    for op in program.ops:
        if id(op) in drop:
            continue
        ops.append(replace.get(id(op), op))
    return dce(program.with_ops(ops))


def _scalar(v: Value) -> float | None:
    """The value of a constant whose elements are all equal, else None."""
    if not v.is_constant or v.data.size == 0:
        return None
    flat = v.data.reshape(-1)
    return float(flat[0]) if np.all(flat == flat[0]) else None


# --- layout: keep activations NHWC between convolutions ---------------------------

_LAYOUT_FREE = registry.UNARY | registry.BROADCASTING | {"typecast"}


def sink_permutes(program: Program) -> Program:
    """op(permute(x, P), ...) -> permute(op(x, ...), P) for elementwise ops,
    so the permutes a frontend puts around every NHWC conv2d meet and cancel
    (simplify removes permute pairs) instead of running between each op."""
    mapping: dict[int, Value] = {}
    out_ops: list[Op] = []
    producer: dict[int, Op] = {}
    sub = partial(resolve, mapping)

    for op in program.ops:
        op = op.with_inputs([sub(v) for v in op.inputs])
        perm = _common_perm(op, producer)
        if perm is not None:
            inv = inverse_permutation(perm)
            inputs = []
            for v in op.inputs:
                src = producer.get(v.id)
                if src is not None and src.name == "permute":
                    inputs.append(src.inputs[0])
                elif v.type.rank == len(perm):  # a constant in the permuted layout
                    inputs.append(constant(np.transpose(v.data, inv), _derived(v, "permute"),
                                           folded=v.weight_name is not None))
                else:  # a rank-0 constant
                    inputs.append(v)
            attrs = dict(op.attrs)
            if op.name == "batch_norm":
                attrs["dim"] = (perm[op.attrs["dim"][0]],)
            if op.name == "pad":  # y dim i is x dim perm[i]
                for key in ("low", "high"):
                    attrs[key] = tuple(op.attrs[key][inv[i]] for i in range(len(perm)))
            inner = Op(op.name, inputs, attrs, [Value(_unpermuted(op.outputs[0].type, perm))], op.location)
            after = Op("permute", [inner.outputs[0]], {"perm": tuple(perm)}, op.outputs, op.location)
            out_ops += [inner, after]
            producer[inner.outputs[0].id] = inner
            producer[op.outputs[0].id] = after
            continue
        out_ops.append(op)
        for v in op.outputs:
            producer[v.id] = op
    return dce(program.with_ops(out_ops, [(n, sub(v)) for n, v in program.outputs]))


def _unpermuted(t, perm):
    shape = [0] * len(perm)
    for i, p in enumerate(perm):
        shape[p] = t.shape[i]
    return type(t)(tuple(shape), t.dtype)


def _common_perm(op: Op, producer: dict[int, Op]):
    if op.name not in _LAYOUT_FREE and op.name not in ("batch_norm", "pad"):
        return None
    if len(op.outputs) != 1:
        return None
    perm = None
    for i, v in enumerate(op.inputs):
        if op.name == "batch_norm" and i > 0:
            continue
        src = producer.get(v.id)
        if src is not None and src.name == "permute":
            p = tuple(src.attrs["perm"])
            if perm is not None and p != perm:
                return None
            perm = p
        elif not v.is_constant or (v.type.rank not in (0,) and v.type.rank != op.outputs[0].type.rank):
            return None
    if perm is None or op.outputs[0].type.rank != len(perm):
        return None
    return perm


# --- conv2d: batch norm, bias and activation folded in ----------------------------


def fold_batch_norm(program: Program) -> Program:
    """batch_norm(conv2d(x, w, b)) with constant statistics -> conv2d(x, w', b');
    conv_transpose2d likewise (its weights' last dim is the output channel too)."""
    g = Graph(program)
    replace, drop, mapping = {}, set(), {}
    for op in program.ops:
        if op.name != "batch_norm" or op.attrs["dim"][0] != 3:
            continue
        conv = g.op(op.inputs[0])
        params = op.inputs[1:]
        if (conv is None or conv.name not in ("conv2d", "conv_transpose2d") or not g.single_use(op.inputs[0])
                or conv.attrs["activation"][0] != ACT["none"]
                or not all(v.is_constant for v in params + conv.inputs[1:])):
            continue
        mean, var, weight, bias = (v.data.astype(np.float64) for v in params)
        scale = weight / np.sqrt(var + op.attrs["epsilon"][0])
        w, b = conv.inputs[1].data, conv.inputs[2].data
        dtype = w.dtype
        w2 = constant((w * scale).astype(dtype), _derived(conv.inputs[1], "bn"), folded=True)
        b2 = constant(((b - mean) * scale + bias).astype(dtype),
                      _derived(conv.inputs[2], "bn") or _derived(op.inputs[4], "conv"), folded=True)
        replace[id(conv)] = Op(conv.name, [conv.inputs[0], w2, b2], conv.attrs, op.outputs, conv.location)
        drop.add(id(op))
    return _rewrite(program, replace, drop) if replace else program


def fuse_conv2d_multiply(program: Program) -> Program:
    """conv2d(x, w, b) * s with s constant along the output channels ->
    conv2d(x, w * s, b * s) (tt-mlir's conv2d-with-multiply fusion: a
    scale after a convolution costs nothing once folded into its weights).
    Only before an activation: act(y) * s is not act(y * s)."""
    g = Graph(program)
    replace, drop = {}, set()
    for op in program.ops:
        if op.name != "conv2d" or op.attrs["activation"][0] != ACT["none"] or not op.inputs[1].is_constant \
                or not op.inputs[2].is_constant or not g.single_use(op.outputs[0]):
            continue
        (out,) = op.outputs
        (user,) = g.users[out.id]
        if user.name != "multiply" or user.outputs[0].type != out.type:
            continue
        other = user.inputs[1] if user.inputs[0] is out else user.inputs[0]
        scale = _channel_bias(other, out.type.shape[-1], out.type.rank)
        if scale is None:
            continue
        w, b = op.inputs[1].data, op.inputs[2].data
        w2 = constant((w.astype(np.float64) * scale).astype(w.dtype), _derived(op.inputs[1], "scaled"), folded=True)
        b2 = constant((b.astype(np.float64) * scale).astype(b.dtype), _derived(op.inputs[2], "scaled"), folded=True)
        replace[id(op)] = Op("conv2d", [op.inputs[0], w2, b2], op.attrs, user.outputs, op.location)
        drop.add(id(user))
    return _rewrite(program, replace, drop) if replace else program


def _derived(v: Value, what: str) -> str | None:
    return f"{v.weight_name}:{what}" if v.weight_name else None


def _activation_of(g: Graph, op: Op):
    """(activation code, the op applying it) when op's only user is a
    relu / relu6 written as maximum(x, 0) and minimum(., 6), or relu/gelu ops."""
    (out,) = op.outputs
    if not g.single_use(out):
        return None
    (user,) = g.users[out.id]
    if user.name == "relu":
        return ACT["relu"], user
    if user.name == "gelu":
        return (ACT["gelu_tanh"] if user.attrs["approximate"][0] else ACT["gelu"]), user
    if user.name == "maximum" and len(user.inputs) == 2:
        other = user.inputs[1] if user.inputs[0] is out else user.inputs[0]
        if _scalar(other) == 0.0 and user.outputs[0].type == out.type:
            nxt = g.users.get(user.outputs[0].id, [])
            if len(nxt) == 1 and g.single_use(user.outputs[0]) and nxt[0].name == "minimum":
                six = nxt[0].inputs[1] if nxt[0].inputs[0] is user.outputs[0] else nxt[0].inputs[0]
                if _scalar(six) == 6.0 and nxt[0].outputs[0].type == out.type:
                    return ACT["relu6"], (user, nxt[0])
            return ACT["relu"], user
    return None


def _bias_name(old: Value, added: Value) -> str | None:
    """A bias keeps the name of the user weight it came from."""
    return old.weight_name or added.weight_name


def _channel_bias(v: Value, channels: int, rank: int) -> np.ndarray | None:
    """A constant that broadcasts along the last dim only -> its [channels] vector."""
    if not v.is_constant or v.type.rank > rank or v.type.numel != channels:
        return None
    if v.type.rank and v.type.shape[-1] != channels:
        return None
    return v.data.reshape(channels)


def _bias_after(g: Graph, op: Op):
    """(signed bias vector, the constant, the op) when op's only user adds
    (or subtracts) a constant along the channel dim: out + c, c + out, out - c."""
    (out,) = op.outputs
    if not g.single_use(out) or not op.inputs[2].is_constant:
        return None
    (user,) = g.users[out.id]
    if user.name not in ("add", "subtract") or user.outputs[0].type != out.type:
        return None
    if user.inputs[0] is out:
        other, sign = user.inputs[1], (1 if user.name == "add" else -1)
    elif user.name == "add":
        other, sign = user.inputs[0], 1
    else:
        return None
    vec = _channel_bias(other, out.type.shape[-1], out.type.rank)
    return None if vec is None else (sign * vec, other, user)


def fuse_bias(program: Program) -> Program:
    """Only the bias half of fuse_bias_activation: runs before batch norm
    folding, which needs conv2d -> batch_norm adjacent."""
    return fuse_bias_activation(program, activations=False)


def fuse_bias_activation(program: Program, activations: bool = True) -> Program:
    """conv2d / conv_transpose2d / linear followed by + bias (a constant
    along the channel dim) and an activation -> one op with the bias and
    activation attribute."""
    changed = True
    while changed:
        changed = False
        g = Graph(program)
        for op in program.ops:
            if op.name not in ("conv2d", "conv_transpose2d", "linear") or op.attrs["activation"][0] != ACT["none"]:
                continue
            (out,) = op.outputs
            bias = _bias_after(g, op)
            if bias is not None:
                vec, other, user = bias
                b = constant((op.inputs[2].data + vec).astype(out.type.dtype),
                             _bias_name(op.inputs[2], other), folded=True)
                fused = Op(op.name, [op.inputs[0], op.inputs[1], b], op.attrs, user.outputs, op.location)
                program = _rewrite(program, {id(op): fused}, {id(user)})
                changed = True
                break
            act = _activation_of(g, op) if activations else None
            if act is not None:
                code, users = act
                users = users if isinstance(users, tuple) else (users,)
                attrs = dict(op.attrs, activation=(code,))
                fused = Op(op.name, op.inputs, attrs, users[-1].outputs, op.location)
                program = _rewrite(program, {id(op): fused}, {id(u) for u in users})
                changed = True
                break
    return program


# --- linear --------------------------------------------------------------------------


def fuse_linear(program: Program) -> Program:
    """matmul(x, w) with a 2-D right operand -> linear(x, w, 0); the bias and
    activation are then folded in by fuse_bias_activation. A bias added after
    a reshape that keeps the last dim is moved before it first."""
    ops = []
    for op in program.ops:
        if op.name == "matmul" and op.inputs[1].type.rank == 2 and op.inputs[1].type.dtype in FLOAT_DTYPES:
            n = op.inputs[1].type.shape[1]
            zero = constant(np.zeros(n, op.inputs[1].type.dtype))
            op = Op("linear", [op.inputs[0], op.inputs[1], zero], {"activation": (ACT["none"],)}, op.outputs,
                    op.location)
        ops.append(op)
    program = program.with_ops(ops)
    return fuse_bias_activation(hoist_unary_above_reshape(_bias_before_reshape(program)))


def _bias_before_reshape(program: Program) -> Program:
    """add(reshape(linear), bias) -> reshape(add(linear, bias)) when the
    reshape keeps the last dim, so the bias can join the linear."""
    g = Graph(program)
    mapping, new_ops, drop = {}, {}, set()
    for op in program.ops:
        if op.name != "add" or len(op.inputs) != 2:
            continue
        r = g.op(op.inputs[0])
        if r is None or r.name != "reshape" or not g.single_use(op.inputs[0]):
            continue
        src = g.op(r.inputs[0])
        last = r.inputs[0].type.shape[-1] if r.inputs[0].type.rank else None
        if (src is None or src.name != "linear" or op.outputs[0].type != r.outputs[0].type
                or r.outputs[0].type.shape[-1:] != (last,)
                or _channel_bias(op.inputs[1], last, op.outputs[0].type.rank) is None):
            continue
        vec = constant(_channel_bias(op.inputs[1], last, op.outputs[0].type.rank))
        added = Op("add", [r.inputs[0], vec], {}, [Value(r.inputs[0].type)], op.location)
        reshaped = Op("reshape", [added.outputs[0]], r.attrs, op.outputs, r.location)
        new_ops[id(op)] = [added, reshaped]
        drop.add(id(op))
    if not new_ops:
        return program
    ops = []
    for op in program.ops:
        ops += new_ops.get(id(op), [])
        if id(op) not in drop:
            ops.append(op)
    return dce(program.with_ops(ops))


# --- numerically confirmed idioms: gelu, softmax -----------------------------------


def _backward_values(g: Graph, start: Value, depth: int) -> list[Value]:
    """Non-constant values start is computed from within depth ops, nearest first."""
    found, frontier = {}, [start]
    for _ in range(depth):
        nxt = []
        for v in frontier:
            op = g.op(v)
            for u in (op.inputs if op else []):
                if not u.is_constant and u.id not in found:
                    found[u.id] = u
                    nxt.append(u)
        frontier = nxt
    return list(found.values())


_FLOAT_CODES = {DTYPE_CODES[d] for d in FLOAT_DTYPES}


def _as_float32(data: np.ndarray) -> np.ndarray:
    return data.astype(np.float32) if data.dtype.name in ("bfloat16", "float16") else data


def _evaluate(ops: list[Op], x: Value, probe: np.ndarray, root: Value, order: dict[int, int]) -> np.ndarray:
    """root computed from x = probe by ops. A bfloat16 subgraph is evaluated
    in float32 (its constants widened, casts between float types skipped):
    whether it computes an op is a question of its arithmetic, not of where
    a bfloat16 program rounds."""
    env = {x.id: probe}
    for op in sorted(ops, key=lambda o: order[id(o)]):
        args = [_as_float32(v.data) if v.is_constant else env[v.id] for v in op.inputs]
        if op.name == "typecast" and op.attrs["dtype"][0] in _FLOAT_CODES and args[0].dtype.kind == "f":
            results = [args[0]]
        else:
            results = registry.evaluate(op.name, args, op.attrs)
        for v, r in zip(op.outputs, results):
            env[v.id] = r
    return env[root.id]


def _subgraph(g: Graph, x: Value, root: Value, limit=40):
    """The ops computing root from x and constants only, None otherwise.
    Values inside must not be used outside (fusing would recompute them)."""
    ops, seen, stack = [], {x.id}, [root]
    while stack:
        v = stack.pop()
        if v.id in seen or v.is_constant:
            continue
        seen.add(v.id)
        op = g.op(v)
        if op is None or len(ops) >= limit:
            return None  # reaches another input: not a function of x alone
        if op not in ops:
            ops.append(op)
        stack.extend(op.inputs)
    if not ops:
        return None
    inside = {id(o) for o in ops}
    for op in ops:
        for v in op.outputs:
            if v.id != root.id and (v.id in g.outputs or any(id(u) not in inside for u in g.users.get(v.id, []))):
                return None
    return ops


def _forward_values(g: Graph, start: Value, depth: int, order: dict[int, int]) -> list[Value]:
    """Values computed from start within depth ops, in program order."""
    found, frontier = {}, [start]
    for _ in range(depth):
        nxt = []
        for v in frontier:
            for op in g.users.get(v.id, []):
                for out in op.outputs:
                    if out.id not in found:
                        found[out.id] = (order[id(op)], out)
                        nxt.append(out)
        frontier = nxt
    return [v for _, v in sorted(found.values(), key=lambda t: t[0])]


def _probes(shape, rng) -> list[np.ndarray]:
    """Random inputs, and one with the values a subgraph may treat apart
    from the op it resembles: a row of -inf (a fully masked attention row),
    a single -inf, large magnitudes, zeros. A "safe" softmax that zeroes
    fully masked rows is not a softmax, and only such a probe tells them apart."""
    probes = [(rng.standard_normal(shape) * scale).astype(np.float32) for scale in (1.0, 3.0)]
    special = (rng.standard_normal(shape) * 2).astype(np.float32)
    rows = special.reshape(-1, shape[-1]) if len(shape) and shape[-1] else special.reshape(1, -1)
    for i, row in enumerate(rows[:4]):
        if i == 0:
            row[:] = -np.inf
        elif i == 1:
            row[0] = -np.inf
        elif i == 2:
            row *= 1e4
        else:
            row[:] = 0
    probes.append(special)
    return probes


def _equivalent(ops, x, root, order, name, attrs, extra, rng) -> bool:
    """Does the subgraph compute op `name` of x (and constants extra), on
    random and special probes (NaN where the op gives NaN)?"""
    for probe in _probes(x.type.shape, rng):
        with np.errstate(all="ignore"):
            want = registry.evaluate(name, [probe] + [_as_float32(v.data) for v in extra], attrs)[0]
            got = _evaluate(ops, x, probe, root, order)
        if got.shape != want.shape:
            return False
        # a bfloat16 program's constants are bfloat16 (1/sqrt(2) is 0.70703): within its precision
        tol = {"bfloat16": dict(rtol=1e-2, atol=1e-2), "float16": dict(rtol=2e-3, atol=2e-3)}.get(
            x.type.dtype, dict(rtol=1e-4, atol=1e-5))
        if not np.allclose(got, want, equal_nan=True, **tol):
            return False
    return True


def _fuse_idiom(program: Program, anchors: set[str], candidates, depth: int = 4) -> Program:
    """For each anchor op, pair values a few ops above it (roots, largest
    first) with values a few ops below it (sources x): when the ops between
    compute root from x alone and equal one of candidates(x, ops) on probes,
    they are replaced by that op."""
    rng = np.random.default_rng(0)
    changed = True
    while changed:
        changed = False
        g = Graph(program)
        order = {id(op): i for i, op in enumerate(program.ops)}
        for anchor in program.ops:
            if anchor.name not in anchors:
                continue
            # farthest sources first: the largest subgraph that matches wins
            sources = [v for v in _backward_values(g, anchor.outputs[0], depth)
                       if v.type.dtype in FLOAT_DTYPES][::-1]
            chain = _forward_values(g, anchor.outputs[0], depth=6, order=order)
            for root in reversed(chain):  # the largest match first
                for x in sources:
                    if root.type != x.type:
                        continue
                    ops = _subgraph(g, x, root)
                    if ops is None:
                        continue
                    for name, attrs, *extra in candidates(x, ops):
                        extra = extra[0] if extra else []
                        if _equivalent(ops, x, root, order, name, attrs, extra, rng):
                            fused = Op(name, [x, *extra], attrs, [root], anchor.location)
                            last = max(ops, key=lambda o: order[id(o)])
                            program = _rewrite(program, {id(last): fused}, {id(o) for o in ops} - {id(last)})
                            changed = True
                            break
                    if changed:
                        break
                if changed:
                    break
            if changed:
                break
    return program


def fuse_gelu(program: Program) -> Program:
    # depth 6: bfloat16 programs add a cast to float32 and back around erf
    return _fuse_idiom(program, {"erf", "erfc", "tanh"},
                       lambda x, ops: [("gelu", {"approximate": (0,)}), ("gelu", {"approximate": (1,)})], depth=6)


def fuse_softmax(program: Program) -> Program:
    def candidates(x, ops):
        dims = {op.attrs["dims"][0] for op in ops if op.name in ("sum", "max") and len(op.attrs["dims"]) == 1}
        return [("softmax", {"dim": (d,)}) for d in sorted(dims) if d < x.type.rank]

    return _fuse_idiom(program, {"exp"}, candidates)


def fuse_layer_norm(program: Program) -> Program:
    """(x - mean) * rsqrt(var + eps) over the last dim, as frameworks write
    it by hand -> layer_norm(x, 1, 0); a scale and shift that follow are
    absorbed by fuse_layer_norm_affine. eps is one of the subgraph's scalars."""
    def candidates(x, ops):
        d = x.type.shape[-1] if x.type.rank else 0
        if not d or not any(op.name == "sum" and op.attrs["dims"] == (x.type.rank - 1,) for op in ops):
            return []
        eps = sorted({_scalar(v) for op in ops for v in op.inputs
                      if v.is_constant and _scalar(v) is not None and 0 < _scalar(v) < 1e-2})
        unit = [constant(np.ones(d, x.type.dtype)), constant(np.zeros(d, x.type.dtype))]
        return [("layer_norm", {"epsilon": (float(e),)}, unit) for e in eps]

    return _fuse_idiom(program, {"rsqrt"}, candidates, depth=10)  # bfloat16 adds casts around the means


def hoist_unary_above_reshape(program: Program) -> Program:
    """unary(reshape(x)) -> reshape(unary(x)): elementwise ops commute with
    reshapes, and next to their producer they can fuse into it (linear + gelu)."""
    g = Graph(program)
    replace = {}
    for op in program.ops:
        if op.name in registry.UNARY:
            x, others = op.inputs[0], []
        elif op.name in registry.BROADCASTING and len(op.inputs) == 2 and op.inputs[1].is_constant \
                and _scalar(op.inputs[1]) is not None and op.outputs[0].type == op.inputs[0].type:
            # an operand whose elements are all equal acts as a scalar
            x, others = op.inputs[0], [constant(np.asarray(op.inputs[1].data.reshape(-1)[0]))]
        else:
            continue
        r = g.op(x)
        if r is None or r.name != "reshape" or not g.single_use(x) or id(r) in replace:
            continue
        inner = Op(op.name, r.inputs + others, op.attrs, [Value(r.inputs[0].type)], op.location)
        replace[id(r)] = inner
        replace[id(op)] = Op("reshape", inner.outputs, r.attrs, op.outputs, r.location)
    if not replace:
        return program
    ops = [replace.get(id(op), op) for op in program.ops]
    return dce(program.with_ops(ops))


# --- layer_norm: absorb the affine that follows ------------------------------------


def fuse_layer_norm_affine(program: Program) -> Program:
    """layer_norm(x, w, b) followed (through reshapes keeping the last dim) by
    multiply / add with constants along the last dim -> one layer_norm."""
    changed = True
    while changed:
        changed = False
        g = Graph(program)
        for op in program.ops:
            if op.name != "layer_norm" or not all(v.is_constant for v in op.inputs[1:]):
                continue
            (out,) = op.outputs
            d = out.type.shape[-1]
            v, hops = out, []
            while g.single_use(v) and g.users[v.id][0].name == "reshape" and \
                    g.users[v.id][0].outputs[0].type.shape[-1:] == (d,):
                hops.append(g.users[v.id][0])
                v = hops[-1].outputs[0]
            if not g.single_use(v):
                continue
            (user,) = g.users[v.id]
            if user.name not in ("multiply", "add") or user.outputs[0].type != v.type:
                continue
            other = user.inputs[1] if user.inputs[0] is v else user.inputs[0]
            vec = _channel_bias(other, d, v.type.rank)
            if vec is None:
                continue
            w, b = op.inputs[1].data, op.inputs[2].data
            if user.name == "multiply":
                w, b = w * vec, b * vec
            else:
                b = b + vec
            fused_ln = Op("layer_norm", [op.inputs[0], constant(w.astype(out.type.dtype)),
                                          constant(b.astype(out.type.dtype))], op.attrs, op.outputs, op.location)
            if hops:
                last = hops[-1]
                new_last = Op("reshape", last.inputs, last.attrs, user.outputs, last.location)
                program = _rewrite(program, {id(op): fused_ln, id(last): new_last}, {id(user)})
            else:
                fused_ln.outputs = user.outputs
                program = _rewrite(program, {id(op): fused_ln}, {id(user)})
            changed = True
            break
    return program


# --- pooling -----------------------------------------------------------------------


def fuse_pooling(program: Program) -> Program:
    """pad feeding a pool -> the pool's padding; sum_pool2d / constant ->
    avg_pool2d (with or without padded taps counted)."""
    g = Graph(program)
    replace, drop = {}, set()
    for op in program.ops:
        if op.name not in ("max_pool2d", "sum_pool2d") or any(op.attrs["padding"]):
            continue
        src, perm = g.op(op.inputs[0]), (0, 1, 2, 3)
        if src is not None and src.name == "permute" and g.single_use(op.inputs[0]):
            perm = tuple(src.attrs["perm"])  # pad in another layout: look through the permute
            pad = g.op(src.inputs[0]) if g.single_use(src.inputs[0]) else None
        else:
            pad, src = src, None
        fill = -np.inf if op.name == "max_pool2d" else 0.0
        if pad is None or pad.name != "pad" or pad.attrs["value"][0] != fill or (src is None and not g.single_use(op.inputs[0])):
            continue
        lo = [pad.attrs["low"][p] for p in perm]  # in the pool's NHWC layout
        hi = [pad.attrs["high"][p] for p in perm]
        if lo[0] or hi[0] or lo[3] or hi[3]:
            continue
        attrs = dict(op.attrs, padding=(lo[1], hi[1], lo[2], hi[2]))
        if src is None:
            replace[id(op)] = Op(op.name, pad.inputs, attrs, op.outputs, op.location)
        else:
            moved = Op("permute", pad.inputs, src.attrs, [Value(src.outputs[0].type.__class__(
                tuple(pad.inputs[0].type.shape[p] for p in perm), pad.inputs[0].type.dtype))], src.location)
            replace[id(src)] = moved
            replace[id(op)] = Op(op.name, moved.outputs, attrs, op.outputs, op.location)
        drop.add(id(pad))
    program = _rewrite(program, replace, drop) if replace else program

    g = Graph(program)
    replace, drop = {}, set()
    for op in program.ops:
        if op.name != "divide" or not op.inputs[1].is_constant:
            continue
        pool = g.op(op.inputs[0])
        if pool is None or pool.name != "sum_pool2d" or not g.single_use(op.inputs[0]):
            continue
        divisor = np.broadcast_to(op.inputs[1].data, op.outputs[0].type.shape)
        kh, kw = pool.attrs["kernel"]
        base = {k: pool.attrs[k] for k in ("kernel", "stride", "padding")}
        ones = np.ones(pool.inputs[0].type.shape[:3] + (1,), np.float32)
        counts = np.broadcast_to(registry.evaluate("sum_pool2d", [ones], base)[0], divisor.shape)
        for include, expected in ((1, np.full(divisor.shape, kh * kw)), (0, counts)):
            if np.allclose(divisor, expected):
                replace[id(op)] = Op("avg_pool2d", pool.inputs, dict(base, count_include_pad=(include,)),
                                     op.outputs, pool.location)
                drop.add(id(pool))
                break
    return _rewrite(program, replace, drop) if replace else program


FUSION_PIPELINE = [sink_permutes, simplify, fuse_bias, fold_batch_norm, fuse_pooling, fuse_gelu, fuse_softmax,
                   fuse_layer_norm, fuse_linear, fuse_bias_activation,
                   fuse_layer_norm_affine]
