"""JAX -> StableHLO -> ttpack IR.

`fn(params, *inputs)` is lowered with jax.jit(...).lower(...). Parameters
(any pytree) become named archive weights, named by their pytree paths
("dense.kernel", "layers.0.w"); inputs are named after fn's parameters.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import numpy as np

from ..compiler import ir
from . import stablehlo
from .naming import output_names, path_name


def _input_names(fn, n_inputs: int, has_params: bool) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    params = params[1:] if has_params else params
    names = []
    for i in range(n_inputs):
        p = params[i] if i < len(params) else None
        if p is None or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            names.append(f"input_{i}")
        else:
            names.append(p.name)
    return names


def _leaf_names(prefix: str, tree) -> list[str]:
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if len(leaves) == 1 and not leaves[0][0]:
        return [prefix]
    return [".".join(filter(None, [prefix, path_name(p)])) for p, _ in leaves]


def _output_names(out_tree) -> list[str]:
    import jax

    return output_names([p for p, _ in jax.tree_util.tree_flatten_with_path(out_tree)[0]])


def _example_struct(x):
    import jax

    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    a = np.asarray(x) if not hasattr(x, "shape") else x
    return jax.ShapeDtypeStruct(a.shape, a.dtype)


def lower_jax(fn, example_inputs: Sequence[Any], params: Any = None,
              name: str = "main") -> tuple[ir.Program, dict, str]:
    """Returns the program, a description of the source for the metadata and
    the StableHLO text it was imported from."""
    import jax

    has_params = params is not None
    structs = [jax.tree_util.tree_map(_example_struct, x) for x in example_inputs]
    args = ([params] if has_params else []) + structs
    jitted = jax.jit(fn, keep_unused=True)  # keep unused args so @main's args match our leaves
    lowered = jitted.lower(*args)
    module = lowered.compiler_ir("stablehlo")

    weights: dict[int, tuple[str, np.ndarray]] = {}
    position = 0
    if has_params:
        for pname, leaf in zip(_leaf_names("", params), jax.tree_util.tree_leaves(params)):
            weights[position] = (pname or "params", np.asarray(leaf))
            position += 1
    input_names = []
    for iname, x in zip(_input_names(fn, len(structs), has_params), structs):
        input_names += _leaf_names(iname, x)

    out_tree = jax.eval_shape(fn, *args)
    program = stablehlo.import_module(module, name, input_names, _output_names(out_tree), weights)
    source = {
        "framework": "jax",
        "framework_version": jax.__version__,
        "function": getattr(fn, "__qualname__", repr(fn)),
        "module": getattr(fn, "__module__", None),
        "parameters": [name for name, _ in weights.values()],  # pytree order
    }
    return program, source, str(module)
