"""Source locations of PyTorch ops in torch_xla's StableHLO.

Exported with node metadata, each StableHLO op's location is the JSON of
its torch.export node: the Python stack trace, the nn.Module stack and the
torch function. ttpack's messages name the user's frame (the innermost one
outside torch and site-packages), the module path and the torch function:
`model.py:12 in forward (module encoder.layer.0: BertLayer; torch gelu)`.
"""

from __future__ import annotations

import json
import re

_LOC_JSON = re.compile(r'loc\("(\{.*\})"')
_MLIR_ESCAPE = re.compile(r"\\(\\|[0-9A-Fa-f]{2})")
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\w+)')
# the positional wrapper torch_frontend exports through adds this module
_WRAPPER = "inner"


def _unescape(text: str) -> str:
    return _MLIR_ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1), 16)), text)


def _library(path: str) -> bool:
    return "site-packages" in path or "/torch/" in path or path.startswith("<")


def torch_location(text: str) -> str | None:
    """The readable location of an MLIR location that carries torch.export
    node metadata; None when it carries none."""
    m = _LOC_JSON.search(text)
    if not m or "stack_trace" not in m.group(1):
        return None
    try:
        meta = json.loads(_unescape(m.group(1)))
    except ValueError:
        return None
    stack = [entry.split(",") for entry in (meta.get("nn_module_stack") or "").split(";") if entry]
    modules = [(e[1], e[2]) for e in stack if len(e) >= 3]
    return _format(meta.get("stack_trace") or "", modules, (meta.get("torch_fn") or "").split(";")[-1])


def node_location(node) -> str:
    """The same for a torch.fx node of an exported program."""
    modules = [(path, getattr(cls, "__qualname__", str(cls)))
               for path, cls in (node.meta.get("nn_module_stack") or {}).values()]
    fn = node.meta.get("torch_fn")
    return _format(node.meta.get("stack_trace") or "", modules, fn[-1] if fn else "") or "unknown location"


def _format(stack_trace: str, modules: list[tuple[str, str]], fn: str) -> str | None:
    frames = _FRAME.findall(stack_trace)
    user = [f for f in frames if not _library(f[0])]
    parts = []
    if user or frames:
        path, line, func = (user or frames)[-1]
        parts.append(f"{path}:{line} in {func}")
    details = []
    if modules:
        module_path, cls = modules[-1]
        if module_path == _WRAPPER or module_path.startswith(_WRAPPER + "."):
            module_path = module_path[len(_WRAPPER) + 1:]
        details.append(f"module {module_path or '(top)'}: {cls.rsplit('.', 1)[-1]}")
    if fn:
        details.append(f"torch {fn.rsplit('.', 1)[-1]}")
    if details:
        parts.append(f"({'; '.join(details)})")
    return " ".join(parts) or None
