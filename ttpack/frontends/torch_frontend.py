"""PyTorch -> torch.export -> torch_xla StableHLO -> ttpack IR.

The module is exported with torch.export (in eval mode unless asked not
to), converted by torch_xla's exported_program_to_stablehlo, and its
portable StableHLO bytecode is read with jaxlib's MLIR bindings, so both
frontends meet in the same StableHLO importer. Parameters and buffers become
archive weights named by their state_dict names; inputs are named after
forward()'s parameters (or the keyword names given); outputs after the
output pytree (tuples, dicts, transformers' ModelOutput).
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np

from ..compiler import ir
from ..errors import BuildError
from . import stablehlo, torch_to_numpy
from .naming import output_names


def _undo_torch_xla_patches(module) -> None:
    """Importing torch_xla replaces torch.nn.GRU with its XLA-scan GRU, which
    fails on CPU tensors (the eager run, torch.export): the user asked for
    PyTorch's GRU, so put it back, for this module's GRUs and for later ones."""
    import torch

    original = getattr(torch.nn.GRU, "_orig", None)
    if original is None:
        return
    torch.nn.GRU = original
    for m in module.modules():
        if type(m) is not original and isinstance(m, original) and type(m).__module__.startswith("torch_xla"):
            m.__class__ = original


def _positional_wrapper(module, names: list[str], n_positional: int):
    """torch_xla's exporter takes positional inputs only: call the user's
    module with its keyword inputs from a wrapper that takes all positionally."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, *args):
            return self.inner(*args[:n_positional], **dict(zip(names[n_positional:], args[n_positional:])))

    return Positional()


@contextmanager
def _torch_xla_state_restored():
    """torch_xla's exporter sets XLA_HLO_DEBUG and its inline-scalars flag
    for the export and resets them only when it succeeds: after a failed
    build they would change every later export in the process (and in the
    processes it starts). Put both back whatever happens."""
    import os

    import torch_xla

    debug = os.environ.get("XLA_HLO_DEBUG")
    try:
        yield
    finally:
        if debug is None:
            os.environ.pop("XLA_HLO_DEBUG", None)
        else:
            os.environ["XLA_HLO_DEBUG"] = debug
        torch_xla._XLAC._set_xla_all_numbers_special_scalars(False)


@contextmanager
def _stage(stage: str, hint=None):
    """Failures inside torch.export and torch_xla become a BuildError naming
    the stage, what failed in it and, where known, what to change."""
    try:
        yield
    except BuildError:
        raise
    except Exception as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        advice = hint(e) if hint else None
        raise BuildError(f"{stage} failed: {type(e).__name__}: {message}" +
                         (f"\n{advice}" if advice else "")) from e


def _export_hint(error: Exception) -> str | None:
    text = str(error)
    if "Cache" in text and ("pytree" in text or "not a known type" in text):
        return ("The model returns a key/value cache (transformers' DynamicCache), which torch.export cannot "
                "flatten: build it with the cache off, model.config.use_cache = False.")
    if "scaled_dot_product" in text or "sdpa" in text.lower():
        return ("The SDPA attention path did not trace: set model.config._attn_implementation = 'eager' "
                "before building.")
    if "data-dependent" in text.lower() or "guard" in text.lower():
        return ("forward() branches on tensor values, which torch.export cannot trace into one program: "
                "make the control flow depend on shapes only, or use torch.cond.")
    return None


def _decompose_hint(error: Exception) -> str | None:
    text = str(error).lower()
    if "data-dependent" in text or "guard" in text:
        return ("An op's output size depends on tensor values (x[mask], nonzero, or y[mask] = one value per "
                "selected element), which one static program cannot hold: write it with torch.where(mask, v, y), "
                "which ttpack also uses for y[mask] = v when v is a scalar or one row.")
    return None


def _capture_hint(exported, error: Exception) -> str | None:
    """Where the ops torch_xla says it cannot capture are used in the model."""
    from .torch_locations import node_location

    m = re.search(r"not capturable by Pytorch/XLA: (.+)", str(error))
    if not m:
        return None
    ops = [op.strip().replace("aten::", "") for op in m.group(1).split(",") if op.strip()]
    lines = []
    for node in exported.graph.nodes:
        target = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        if node.op == "call_function" and target in ops:
            lines.append(f"  aten.{target} at {node_location(node)}")
    where = "\n".join(lines) or "  (no graph node names it)"
    return (f"torch_xla has no lowering for these ops, used at:\n{where}\n"
            f"Rewrite these parts of the model with other torch ops, or file an issue naming them.")


def _safe_softmax(x, dim, dtype=None):
    """PyTorch's aten._safe_softmax (what scaled_dot_product_attention uses):
    softmax, except that a row whose every logit is -inf gives zeros, not
    NaN (a fully masked attention row: a padded sequence). torch_xla's
    exporter replaces it with a plain softmax, which gives NaN there."""
    import torch

    out = torch.softmax(x, dim, dtype=dtype)
    # every logit -inf, counted: torch_xla lowers amax with a finite initial
    # value and all() to a reduction ttpack does not take
    masked = (x != float("-inf")).sum(dim=dim, keepdim=True) == 0
    return torch.where(masked, torch.zeros_like(out), out)


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """scaled_dot_product_attention as PyTorch's math path computes it in
    eval mode (safe softmax: fully masked rows give zeros)."""
    import math

    import torch

    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeat = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeat, dim=-3)
        value = value.repeat_interleave(repeat, dim=-3)
    factor = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    scores = torch.matmul(query, key.transpose(-2, -1)) * factor
    if is_causal:
        n, m = query.shape[-2], key.shape[-2]
        causal = torch.ones(n, m, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        scores = (scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool
                  else scores + attn_mask)
    return torch.matmul(_safe_softmax(scores, -1), value)


# --- ops torch_xla cannot capture, decomposed into ones it can ---------------------------


def _adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling for any sizes (torch_xla captures only those
    that divide): output cell i averages input rows floor(i H / oh) up to
    ceil((i + 1) H / oh), as PyTorch's kernel; as two averaging matmuls."""
    import torch

    def averaging(n_in, n_out):  # [n_out, n_in], built from iotas (decompositions stay functional)
        i = torch.arange(n_out, device=x.device)[:, None]
        j = torch.arange(n_in, device=x.device)[None, :]
        start, end = (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out
        inside = (j >= start) & (j < end)
        return inside.to(x.dtype) / (end - start).to(x.dtype)

    oh, ow = output_size
    return averaging(x.shape[-2], oh) @ x @ averaging(x.shape[-1], ow).T


def _embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                   per_sample_weights=None, include_last_offset=False, padding_idx=-1):
    """aten._embedding_bag: each bag (a run of indices starting at an offset)
    reduced by sum (mode 0), mean (1) or max (2), as one-hot matmuls and
    masked maxima; empty bags give zeros, padding_idx entries are left out.
    Returns (output, offset2bag, bag_size, max_indices) like the kernel;
    max_indices, which only the backward pass reads, is zeros."""
    import torch

    n, bags = indices.shape[0], offsets.shape[0] - (1 if include_last_offset else 0)
    position = torch.arange(n, device=indices.device)
    bag_of = (position[None, :] >= offsets[:bags, None]).sum(0) - 1                # [n]
    member = bag_of[None, :] == torch.arange(bags, device=indices.device)[:, None]  # [bags, n]
    if padding_idx >= 0:
        member = member & (indices != padding_idx)[None, :]
    rows = torch.nn.functional.embedding(indices, weight)                           # [n, dim]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights[:, None]
    count = member.sum(1)
    if mode == 2:
        picked = torch.where(member[:, :, None], rows[None, :, :], float("-inf")).amax(1)
        output = torch.where(count[:, None] > 0, picked, torch.zeros_like(picked))
    else:
        output = member.to(rows.dtype) @ rows
        if mode == 1:
            output = output / count.clamp(min=1)[:, None].to(rows.dtype)
    max_indices = torch.zeros(output.shape if mode == 2 else (bags,), dtype=torch.int64)
    return output, bag_of, count, max_indices


def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """Dilated max pooling (torch_xla captures only dilation 1, which it
    keeps): the maximum over the window's taps, each a strided slice of the
    -inf-padded input, and the flat input index of the first maximum."""
    import torch

    pair = lambda v: tuple(v) * (2 // len(v)) if isinstance(v, (list, tuple)) and v else (v, v)  # noqa: E731
    (kh, kw), (dh, dw) = pair(kernel_size), pair(dilation)
    (sh, sw), (ph, pw) = pair(stride) if stride else (kh, kw), pair(padding)
    if (dh, dw) == (1, 1):
        return NotImplemented
    h, w = x.shape[-2:]

    def out_size(size, k, s, p, d):
        span = d * (k - 1) + 1
        n = -(-(size + 2 * p - span) // s) + 1 if ceil_mode else (size + 2 * p - span) // s + 1
        return n - 1 if ceil_mode and (n - 1) * s >= size + p else n

    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw))
    padded = torch.nn.functional.pad(x, (pw, pw + extra_w, ph, ph + extra_h), value=float("-inf"))
    taps, where = [], []
    for i in range(kh):
        for j in range(kw):
            taps.append(padded[..., i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw])
            rows = torch.arange(oh) * sh - ph + i * dh
            cols = torch.arange(ow) * sw - pw + j * dw
            where.append(rows[:, None] * w + cols[None, :])
    stacked = torch.stack(taps, -1)
    best = stacked.argmax(-1)
    values = stacked.amax(-1)
    indices = torch.gather(torch.stack(where, -1).expand(*stacked.shape), -1, best[..., None])[..., 0]
    return values, indices


def _round_decimals(x, decimals=0):
    """torch.round(x, decimals=d): to nearest even at 10^-d, as PyTorch does
    it (scale, round, unscale)."""
    import torch

    if decimals >= 0:
        scale = 10.0 ** decimals
        return torch.round(x * scale) / scale
    scale = 10.0 ** -decimals
    return torch.round(x / scale) * scale


def _unfold(x, dim, size, step):
    """Tensor.unfold: the windows of `size` every `step` along dim, as a new last dim."""
    import torch

    dim = dim % x.dim()
    windows = [x.narrow(dim, i * step, size) for i in range((x.shape[dim] - size) // step + 1)]
    return torch.stack(windows, dim).movedim(dim + 1, -1)


def _reduce_all_dims(op):
    """aten.sum/amax/amin over every dim (dim None or []): torch_xla's
    exporter reads an empty dim list as "reduce none" and returns the input
    unreduced, so every dim is named. Other reductions are left alone."""
    def reduce(x, dim=None, keepdim=False, *rest, **kwargs):
        if (dim is not None and len(dim) > 0) or x.dim() == 0:
            return NotImplemented
        return op(x, list(range(x.dim())), keepdim, *rest, **kwargs)

    return reduce


def _sum_all(x, *, dtype=None):
    import torch

    return torch.ops.aten.sum.dim_IntList(x, list(range(x.dim())), False, dtype=dtype) if x.dim() else NotImplemented


def _interpolation(n_in: int, n_out: int, mode: str, align_corners, scale, dtype):
    """The [n_out, n_in] matrix of 1-D nearest or linear interpolation, with
    PyTorch's source-index rules (area_pixel_compute_source_index, nearest_idx),
    in float32 as its kernels compute them."""
    import torch

    dst = torch.arange(n_out, dtype=torch.float32)
    f32 = np.float32
    if align_corners:
        step = f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0)
    else:
        step = f32(1) / f32(scale) if scale else f32(n_in) / f32(n_out)
    step = float(step)  # a float32 value: the products below round as PyTorch's float kernels do
    columns = torch.arange(n_in)[None, :]
    if mode == "nearest":
        src = torch.clamp(torch.floor(dst * step).to(torch.int64), max=n_in - 1)
        return (columns == src[:, None]).to(dtype)
    if mode == "nearest-exact":
        src = torch.clamp(torch.floor((dst + 0.5) * step).to(torch.int64), max=n_in - 1)
        return (columns == src[:, None]).to(dtype)
    src = dst * step if align_corners else torch.clamp((dst + 0.5) * step - 0.5, min=0.0)
    x0 = torch.clamp(torch.floor(src).to(torch.int64), max=n_in - 1)
    x1 = torch.clamp(x0 + 1, max=n_in - 1)
    frac = (src - x0.to(torch.float32))[:, None]
    return ((columns == x0[:, None]) * (1 - frac) + (columns == x1[:, None]) * frac).to(dtype)


def _upsample(mode: str, vec: bool):
    """aten.upsample_{nearest,bilinear}2d (.default and .vec): torch_xla
    lowers them to general gathers; as interpolation matmuls over H and W
    they are ops ttpack runs (nearest by a whole factor: a repeat, exact for
    every value). A linear interpolation matrix multiplies every input of a
    row, so an inf input spreads NaN along its row where PyTorch touches
    only the two neighbours."""
    linear = mode == "bilinear"

    def upsample(x, output_size, *args):
        align = args[0] if linear else None
        rest = args[1:] if linear else args
        if vec:
            scales = tuple(rest[0]) if rest and rest[0] is not None else (None, None)
        else:
            scales = (tuple(rest) + (None, None))[:2]
        return _resize(mode, x, output_size, align, scales)

    return upsample


def _resize(mode, x, output_size, align_corners, scales):
    import torch

    h, w = x.shape[-2:]
    if output_size:
        oh, ow = output_size
    else:
        oh, ow = int(h * scales[0]), int(w * scales[1])
    if mode == "nearest" and oh % h == 0 and ow % w == 0 and (scales[0] in (None, oh / h)) and \
            (scales[1] in (None, ow / w)):
        fh, fw = oh // h, ow // w
        lead = x.shape[:-2]
        y = x.reshape(*lead, h, 1, w, 1).expand(*lead, h, fh, w, fw)
        return y.reshape(*lead, oh, ow)
    a_h = _interpolation(h, oh, mode, align_corners, scales[0], x.dtype)
    a_w = _interpolation(w, ow, mode, align_corners, scales[1], x.dtype)
    return torch.matmul(torch.matmul(a_h, x), a_w.transpose(0, 1))


def _views_as_reshapes(exported):
    """aten.view -> aten.reshape in the exported graph. A decomposition can
    return other strides than the kernel it replaces (SDPA's CPU kernel
    returns [batch, seq, heads, dim] memory order; its math form does not),
    and a .view() the model applied to the kernel's output then fails (GPT-2,
    nn.MultiheadAttention). In an inference graph, where nothing is mutated
    through a view, reshape computes the same values."""
    import torch

    graph = exported.graph_module.graph
    for node in graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.aten.view.default:
            node.target = torch.ops.aten.reshape.default
    exported.graph_module.recompile()
    return exported


def _masked_assignments_as_where(exported):
    """y[mask] = v (and y[mask] += v) with a boolean mask: aten.index_put
    with one bool index, which torch_xla lowers through aten::nonzero and
    rejects (its output size depends on the data). When v does not depend on
    how many elements the mask selects (a scalar, or values broadcast over
    the selected rows), the result is where(mask, v, y) (where(mask, y + v,
    y) accumulating): the same values, with no data-dependent shape."""
    import torch

    aten = torch.ops.aten
    graph = exported.graph_module.graph
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not aten.index_put.default:
            continue
        y, indices, values = node.args[:3]
        accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
        if len(indices) != 1 or indices[0] is None:
            continue
        mask = indices[0]
        y_val, m_val, v_val = (n.meta.get("val") for n in (y, mask, values))
        if y_val is None or m_val is None or v_val is None or m_val.dtype != torch.bool:
            continue
        k = m_val.dim()
        rest = tuple(y_val.shape[k:])
        if tuple(m_val.shape) != tuple(y_val.shape[:k]):
            continue
        v_shape = tuple(v_val.shape)
        if v_val.numel() != 1 and (len(v_shape) > len(rest) or any(
                a not in (1, b) for a, b in zip(v_shape[::-1], rest[::-1]))):
            continue  # one value per selected element: its count depends on the data
        with graph.inserting_before(node):
            m = graph.call_function(aten.reshape.default, (mask, list(m_val.shape) + [1] * len(rest)))
            v = values
            if v_val.numel() == 1 and len(v_shape) > len(rest):
                v = graph.call_function(aten.reshape.default, (v, []))
            if v_val.dtype != y_val.dtype:
                v = graph.call_function(aten._to_copy.default, (v,), {"dtype": y_val.dtype})
            if accumulate:
                v = graph.call_function(aten.add.Tensor, (y, v))
            out = graph.call_function(aten.where.self, (m, v, y))
        out.meta = dict(node.meta)
        node.replace_all_uses_with(out)
        graph.erase_node(node)
    graph.eliminate_dead_code()
    exported.graph_module.recompile()
    return exported


def _decompositions() -> dict:
    """The decompositions ttpack runs on the exported program before torch_xla
    sees it: PyTorch's defaults, with the ops whose torch_xla treatment would
    change the answer spelled out as PyTorch computes them."""
    import torch

    table = torch.export.default_decompositions()
    table[torch.ops.aten._safe_softmax.default] = _safe_softmax
    table[torch.ops.aten.scaled_dot_product_attention.default] = _sdpa
    aten = torch.ops.aten
    for op, fn in [(aten._adaptive_avg_pool2d.default, _adaptive_avg_pool2d),
                   (aten._embedding_bag.default, _embedding_bag),
                   (aten._embedding_bag_forward_only.default, _embedding_bag),
                   (aten.max_pool2d_with_indices.default, _max_pool2d_with_indices),
                   (aten.round.decimals, _round_decimals),
                   (aten.unfold.default, _unfold),
                   (aten.upsample_nearest2d.default, _upsample("nearest", False)),
                   (aten.upsample_nearest2d.vec, _upsample("nearest", True)),
                   (aten._upsample_nearest_exact2d.default, _upsample("nearest-exact", False)),
                   (aten._upsample_nearest_exact2d.vec, _upsample("nearest-exact", True)),
                   (aten.upsample_bilinear2d.default, _upsample("bilinear", False)),
                   (aten.upsample_bilinear2d.vec, _upsample("bilinear", True)),
                   (aten.unfold_copy.default, _unfold),
                   (aten.sum.default, _sum_all),
                   (aten.sum.dim_IntList, _reduce_all_dims(aten.sum.dim_IntList)),
                   (aten.amax.default, _reduce_all_dims(aten.amax.default)),
                   (aten.amin.default, _reduce_all_dims(aten.amin.default))]:
        table[op] = fn
    return table


def _refuse_mutations(exported, what: str) -> None:
    """An archive's inputs and weights are read-only: a forward() that writes
    into them (x.add_(1), a counter buffer, batch norm's running statistics)
    would lose those writes, so it is refused rather than built."""
    signature = exported.graph_signature
    written = [f"input '{name}'" for name in signature.user_inputs_to_mutate.values()]
    written += [f"buffer '{name.removeprefix('inner.')}'" for name in signature.buffers_to_mutate.values()]
    if written:
        raise BuildError(f"{what}.forward() writes in place to {', '.join(written)}; an archive cannot update its "
                         f"inputs or weights: return the new values instead (for batch norm's running statistics: "
                         f"call model.eval())")


def _eager_output_shapes(program: ir.Program, eager_shapes: list[tuple[int, ...]]) -> ir.Program:
    """Outputs shaped as the module's eager outputs. torch_xla's StableHLO
    can disagree with them (nn.LSTM's h_n and c_n come out as [layers, 1,
    batch, hidden], not [layers, batch, hidden]); the same elements in
    another shape are reshaped, anything else is refused."""
    if len(eager_shapes) != len(program.outputs):
        raise BuildError(f"torch_xla's program returns {len(program.outputs)} outputs, the module's forward() "
                         f"{len(eager_shapes)}: ttpack cannot tell which is which")
    ops, outputs = list(program.ops), []
    for (name, v), shape in zip(program.outputs, eager_shapes):
        if v.type.shape != shape:
            if int(np.prod(shape, dtype=np.int64)) != v.type.numel:
                raise BuildError(f"output '{name}' is {list(shape)} in PyTorch but {list(v.type.shape)} in "
                                 f"torch_xla's program: the elements differ, so ttpack refuses to guess")
            reshape = ir.make_op("reshape", [v], {"shape": shape}, location=f"output '{name}' as PyTorch shapes it")
            ops.append(reshape)
            v = reshape.outputs[0]
        outputs.append((name, v))
    return program.with_ops(ops, outputs)


def _input_names(module, n_positional: int, keywords: Sequence[str]) -> list[str]:
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [params[i].name if i < len(params) else f"input_{i}" for i in range(n_positional)]
    return names + list(keywords)





def lower_torch(module, example_inputs: Sequence[Any] | Mapping[str, Any],
                name: str = "main") -> tuple[ir.Program, dict]:
    import torch
    import torch.utils._pytree as pytree
    from jaxlib.mlir import ir as mlir
    from jaxlib.mlir.dialects import stablehlo as shlo_dialect
    from torch_xla.stablehlo import StableHLOExportOptions, exported_program_to_stablehlo

    _undo_torch_xla_patches(module)
    if isinstance(example_inputs, Mapping):
        positional, keywords = [], dict(example_inputs)
    else:
        positional, keywords = list(example_inputs), {}
    tensors = [torch.as_tensor(x) for x in positional + list(keywords.values())]
    module.eval()  # inference: dropout off, batch norm on running statistics
    names = _input_names(module, len(positional), list(keywords))
    wrapper = _positional_wrapper(module, names, len(positional))

    what = type(module).__name__
    with torch.no_grad():
        with _stage(f"running {what} on the example inputs"):
            eager = wrapper(*tensors)
        with _stage(f"exporting {what} with torch.export", _export_hint):
            exported = torch.export.export(wrapper, tuple(tensors))
        with _stage(f"decomposing {what}'s exported program", _decompose_hint):
            exported = _masked_assignments_as_where(
                _views_as_reshapes(exported).run_decompositions(_decompositions()))
    _refuse_mutations(exported, what)
    # torch_xla would convert the weights to numpy itself, which fails on
    # bfloat16: take them from the exported program instead. With node
    # metadata, every StableHLO op's location names the user's line and module.
    options = StableHLOExportOptions(export_weights=False, export_node_metadata=True)
    with _stage(f"converting {what} to StableHLO with torch_xla", partial(_capture_hint, exported)), \
            _torch_xla_state_restored():
        bundle = exported_program_to_stablehlo(exported, options)._bundle
    states = {**exported.state_dict, **exported.constants}
    (func,) = bundle.stablehlo_funcs

    weights: dict[int, tuple[str, np.ndarray]] = {}
    input_order: list[str] = []
    for position, loc in enumerate(func.meta.input_locations):
        kind = loc.type_.value
        if kind == "parameter":
            wname = loc.name.removeprefix("inner.")
            weights[position] = (wname, torch_to_numpy(states[loc.name]))
        elif kind == "constant":
            weights[position] = (f"constant.{loc.position}", torch_to_numpy(bundle.additional_constants[loc.position]))
        else:
            input_order.append(names[loc.position])
    if sorted(input_order) != sorted(names):
        raise BuildError(f"torch_xla dropped inputs: the program takes {input_order}, forward takes {names}; "
                         f"inputs forward() never reads cannot be packaged: remove them from example_inputs")

    paths = [p for p, _ in pytree.tree_flatten_with_path(eager)[0]]
    context = mlir.Context()
    shlo_dialect.register_dialect(context)
    with context:
        module_ir = shlo_dialect.deserialize_portable_artifact(context, func.bytecode)
        program = stablehlo.import_module(module_ir, name, input_order, output_names(paths), weights)
        text = str(module_ir)
    # Present inputs in forward()'s order, whatever order torch_xla chose.
    by_name = dict(program.inputs)
    program.inputs = [(n, by_name[n]) for n in names]
    program = _eager_output_shapes(program, [tuple(t.shape) for t in pytree.tree_leaves(eager)])
    source = {
        "framework": "torch",
        "framework_version": torch.__version__,
        "module": f"{type(module).__module__}.{type(module).__qualname__}",
        "parameters": [k for k in module.state_dict()],  # the order the user sees
    }
    return program, source, text
