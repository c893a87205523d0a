"""The dynamo backend "tt": `torch.compile(m, backend="tt")`, `model.compile(backend="tt")`.

Dynamo hands each graph it captures (the code between graph breaks) to
`tt_backend`. Each graph is compiled by ttpack's PyTorch frontend
(torch.export -> torch_xla's StableHLO -> ttpack's compiler, as `ttpack
build` does) into an archive that ttpack.runtime runs on its CPU device,
emulating the target chip's numerics: `options={"target": ...}`, else
$TTPACK_TARGET, else n150 (as the PJRT plugin). Between graphs, dynamo runs
the Python code eagerly.

- Shapes are static. Dynamo recompiles when an input's shape changes (its
  guards); when it then passes a graph with symbolic sizes, that graph is
  compiled once per concrete shape it is called with.
- The graph's parameters and buffers are the archive's weights. A weight
  changed after compiling (in place, by load_state_dict or an optimizer
  step, or replaced) makes the graph compile again; writes through `.data`
  bypass PyTorch's version counter and are not seen (as with inductor's
  freezing).
- Inference only: the outputs carry no gradient, and backward() through
  them raises an error that says so.
- A graph ttpack cannot compile raises ttpack build's error (every
  unsupported op with its source location), wrapped by dynamo in
  BackendCompilerFailed. It is not run eagerly behind the user's back: a
  model asked to run on the chip that silently ran on the host would hide
  that it cannot be deployed. `torch._dynamo.config.suppress_errors = True`
  is PyTorch's switch to run such graphs eagerly instead (dynamo logs why).
"""

from __future__ import annotations

import copy
import inspect
import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.fx import traceback as fx_traceback
from torch.fx.node import map_aggregate

from ..build_api import UnverifiedArchive, compile_archive, resolve_target_and_options
from ..errors import BuildError
from ..frontends import torch_to_numpy
from ..frontends.torch_locations import node_location
from ..targets import device_target

TRAINING_MESSAGE = ("backward() through a graph compiled by torch.compile(backend='tt'): ttpack compiles for "
                    "inference only, so its outputs have no gradient. Train with the eager module (or another "
                    "backend) and compile the trained model with backend='tt' to run it.")


@dataclass(frozen=True)
class _Slot:
    """One placeholder of the graph: a user input, a weight (a parameter or
    buffer of the module) or a symbolic size (graphs dynamo made dynamic)."""
    kind: str   # "input", "weight" or "size"
    name: str


def _slot(node, example) -> _Slot:
    if isinstance(example, (int, torch.SymInt)):
        return _Slot("size", node.name)
    if not isinstance(example, torch.Tensor):
        raise BuildError(f"graph input '{node.name}' is a {type(example).__name__}; backend 'tt' takes tensors "
                         f"and sizes")
    grapharg = node.meta.get("grapharg")
    source = grapharg.source.name() if grapharg is not None else ""
    if isinstance(example, torch.nn.Parameter) or "._parameters[" in source or "._buffers[" in source:
        keys = re.findall(r"\['([^']*)'\]", source)[1:]  # L['self']._modules['fc']._parameters['weight']
        return _Slot("weight", ".".join(keys) or node.name)
    return _Slot("input", node.name)


class DynamoGraph(torch.nn.Module):
    """One graph dynamo captured, as a module for ttpack's frontend: the
    user inputs are its inputs, the weights its buffers (so they become
    archive weights) and the sizes constants (so the export is static)."""

    def __init__(self, graph_module, slots: list[_Slot], values: list):
        super().__init__()
        self.graph_module = graph_module
        self._args = []  # per slot: ("input", None), ("weight", buffer name) or ("size", value)
        for slot, value in zip(slots, values):
            if slot.kind == "weight":
                name = re.sub(r"\W", "_", slot.name)
                while hasattr(self, name):
                    name += "_"
                self.register_buffer(name, value)
                self._args.append(("weight", name))
            else:
                self._args.append((slot.kind, value))

    def forward(self, *inputs):
        given = iter(inputs)
        args = [next(given) if kind == "input" else getattr(self, what) if kind == "weight" else what
                for kind, what in self._args]
        # Node by node, with each node's metadata current: torch.export then
        # gives its ops the user's source lines, which dynamo recorded, so
        # errors point at the model's code, not at this wrapper.
        with fx_traceback.preserve_node_meta():
            return torch.fx.Interpreter(self.graph_module).run(*args)


def _device_literals_on_host(graph_module) -> None:
    """Device arguments in the graph (torch.ones(..., device=xla:0)) become
    the CPU: ttpack exports and verifies graphs on the host."""
    cpu = torch.device("cpu")

    def host(a):
        return cpu if isinstance(a, torch.device) and a.type != "cpu" else a

    for node in graph_module.graph.nodes:
        node.args, node.kwargs = map_aggregate(node.args, host), map_aggregate(node.kwargs, host)
    graph_module.recompile()


def _on_host(graph_module):
    """The graph module, or a copy of it on the host if it holds tensors on
    another device (with dynamo's inline_inbuilt_nn_modules off it holds the
    user's submodules, which must stay where the user put them)."""
    if all(t.device.type == "cpu" for t in (*graph_module.parameters(), *graph_module.buffers())):
        return graph_module
    return copy.deepcopy(graph_module).to("cpu")


def _as_torch(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A runtime output as the dtype eager PyTorch gives (the runtime computes
    int64 as int32, and returns bfloat16 as ml_dtypes.bfloat16)."""
    if array.dtype.name == "bfloat16":
        t = torch.from_numpy(array.view(np.uint16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(array)
    return t.to(dtype)


def _run_on_host(program, inputs: list[torch.Tensor], dtypes: list[torch.dtype], device) -> tuple:
    """The one step that crosses devices. The runtime's device is the host
    CPU: inputs on another device (torch_xla's TT device) are copied to the
    host, and the results go back to `device`, the inputs' device."""
    arrays = [torch_to_numpy(t) for t in inputs]  # .detach().cpu(): no copy for CPU tensors
    outputs = program(*arrays)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return tuple(_as_torch(a, d).to(device) for a, d in zip(outputs, dtypes))


class _InferenceOnly(torch.autograd.Function):
    """Outputs that raise TRAINING_MESSAGE when a gradient reaches them."""

    @staticmethod
    def forward(ctx, results, *requiring_grad):
        ctx.mark_non_differentiable(*[r for r in results if not (r.is_floating_point() or r.is_complex())])
        return tuple(results)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(TRAINING_MESSAGE)


def _weight_state(tensors) -> list[tuple[int, int]]:
    """What tells that a weight changed: its storage and its version counter
    (bumped by every in-place write PyTorch tracks)."""
    return [(t.data_ptr(), t._version) for t in tensors]


@dataclass
class _Executable:
    program: object                 # ttpack.runtime.Model
    weight_state: list[tuple[int, int]]


def _example_value(x):
    """The concrete value of an example input; None if it has none (a fake tensor or an unhinted size)."""
    if isinstance(x, torch.SymInt):
        hint = x.node.hint
        return None if hint is None else int(hint)
    if isinstance(x, torch.Tensor) and torch._subclasses.fake_tensor.is_fake(x):
        return None
    return x


class CompiledGraph:
    """What tt_backend returns for one graph. Dynamo calls it with the
    values of the graph's placeholders and gets the graph's outputs."""

    def __init__(self, graph_module, example_inputs, options: dict, target: str):
        placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
        self.slots = [_slot(node, x) for node, x in zip(placeholders, example_inputs)]
        (output,) = [n for n in graph_module.graph.nodes if n.op == "output"]
        self.output_dtypes = [leaf.meta["example_value"].dtype for leaf in output.args[0]]
        _device_literals_on_host(graph_module)
        self.graph_module = graph_module
        # weights the graph holds itself rather than takes as inputs (dynamo's
        # inline_inbuilt_nn_modules off, tensor constants)
        self._held = [*graph_module.parameters(), *graph_module.buffers()]
        self.options, self.target = options, target
        self._executables: dict[tuple, _Executable] = {}

    def _key(self, args) -> tuple:
        return tuple(int(a) if s.kind == "size" else (tuple(a.shape), a.dtype) for s, a in zip(self.slots, args))

    def _weights(self, args) -> list[torch.Tensor]:
        return [a for s, a in zip(self.slots, args) if s.kind == "weight"]

    def _weight_state(self, args) -> list[tuple[int, int]]:
        return _weight_state(self._weights(args) + self._held)

    def _compile(self, args) -> _Executable:
        import ttpack.runtime as rt

        values = [int(a) if s.kind == "size" else a.detach().cpu() for s, a in zip(self.slots, args)]
        module = DynamoGraph(_on_host(self.graph_module), self.slots, values)
        inputs = [v for s, v in zip(self.slots, values) if s.kind == "input"]
        try:
            # outside dynamo's tracing context: torch.export would otherwise
            # take dynamo's symbolic sizes and guards for its own
            with torch._guards.tracing(None):
                built = compile_archive(module, inputs, options=self.options, target=self.target)
        except UnverifiedArchive as failed:
            raise failed.error from None
        return _Executable(rt.load(built.data), self._weight_state(args))

    def executable(self, args) -> _Executable:
        """The archive for these shapes and weights, compiled on first use."""
        key = self._key(args)
        found = self._executables.get(key)
        if found is not None and found.weight_state != self._weight_state(args):
            warnings.warn("backend 'tt': the module's weights changed since this graph was compiled; compiling "
                          "it again with the new weights", stacklevel=3)
            found = None
        if found is None:
            found = self._executables[key] = self._compile(args)
        return found

    def __call__(self, *args):
        executable = self.executable(args)
        inputs = [a for s, a in zip(self.slots, args) if s.kind == "input"]
        tensors = inputs or self._weights(args)
        device = tensors[0].device if tensors else torch.device("cpu")
        results = _run_on_host(executable.program, inputs, self.output_dtypes, device)
        requiring_grad = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
        if torch.is_grad_enabled() and requiring_grad:
            return _InferenceOnly.apply(results, *requiring_grad)
        return results


def _refuse_training_mode(graph_module) -> None:
    """Ops called with training=True (dropout, batch norm on batch
    statistics): the model is in training mode, which backend 'tt' does not
    compile (it is inference only), so say that rather than fail on the ops."""
    found = []
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        try:
            bound = inspect.signature(node.target).bind(*node.args, **node.kwargs)
        except (TypeError, ValueError):  # builtins without a Python signature take no `training`
            continue
        if bound.arguments.get("training") is True:
            found.append(f"  {getattr(node.target, '__name__', node.target)} at {node_location(node)}")
    if found:
        raise BuildError("the graph runs ops in training mode:\n" + "\n".join(found) + "\nbackend 'tt' compiles "
                         "for inference: call model.eval() before running the compiled model")


def _custom_compile_options() -> dict:
    """What torch_xla.set_custom_compile_options set (TT-XLA's tutorial calls
    it before model.compile(backend="tt")), kept by ttpack's PJRT plugin
    where that is installed."""
    try:
        from ..pjrt import custom_compile_options
    except ImportError:
        return {}
    return custom_compile_options()


def tt_backend(graph_module, example_inputs, options: dict | None = None, mode: str | None = None):
    """The dynamo backend "tt" (registered by the torch_dynamo_backends entry
    point). options: ttpack's compile options (ttpack/compiler/options.py,
    TT-XLA's names included) plus "target" (n150, n300, p150 or cpu), over
    those given to torch_xla.set_custom_compile_options."""
    if mode is not None:
        warnings.warn(f"backend 'tt' has one way of compiling; mode={mode!r} is ignored (compile options go in "
                      f"options=)", stacklevel=2)
    options = {**_custom_compile_options(), **(options or {})}
    target = device_target(options.pop("target", None))
    resolve_target_and_options(target, options)  # unknown options and targets fail now, as `ttpack build -O` does
    _refuse_training_mode(graph_module)
    compiled = CompiledGraph(graph_module, example_inputs, options, target)
    example = [_example_value(x) for x in example_inputs]
    if all(x is not None for x in example):
        compiled.executable(example)  # compile now, so that errors surface through dynamo
    return compiled
