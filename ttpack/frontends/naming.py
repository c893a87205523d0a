"""Names for pytree leaves, shared by the JAX and PyTorch frontends."""

from __future__ import annotations

from typing import Any, Sequence


def path_name(path: Sequence[Any]) -> str:
    """'layers.0.w' for a pytree key path (JAX or torch key objects)."""
    parts = []
    for key in path:
        for attr in ("key", "idx", "name"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return ".".join(parts)


def output_names(paths: list[Sequence[Any]]) -> list[str]:
    """'output' for a single array, the key names for dicts and ModelOutputs,
    'output_0', 'output_1'... for tuples."""
    if len(paths) == 1 and not paths[0]:
        return ["output"]
    names: list[str] = []
    for p in paths:
        name = path_name(p).replace("/", "_") or "output"
        name = f"output_{name}" if name.split(".")[0].isdigit() else name
        base, k = name, 1
        while name in names:  # {"0": a, "output_0": b} must not collide
            k += 1
            name = f"{base}_{k}"
        names.append(name)
    return names
