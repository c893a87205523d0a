"""ttpack: ahead-of-time packaging of JAX (and later PyTorch) models for
Tenstorrent chips, with a C runtime that runs the archives.

Importing ttpack stays light: `ttpack.runtime` must work with neither JAX
nor PyTorch installed, so the compiler is imported only when `build` runs.
"""

__version__ = "0.1.0"


def build(fn_or_module, example_inputs, *, output, params=None, options=None, target="cpu", **kwargs):
    """Compiles a JAX function (fn(params, *inputs)) and its weights into one
    .ttpack archive at `output`; returns its path. See ttpack.build_api.build."""
    from .build_api import build as _build

    return _build(fn_or_module, example_inputs, output=output, params=params, options=options,
                  target=target, **kwargs)


def __getattr__(name):
    if name == "BuildSpec":
        from .build_api import BuildSpec

        return BuildSpec
    raise AttributeError(f"module 'ttpack' has no attribute {name!r}")
