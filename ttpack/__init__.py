"""ttpack: ahead-of-time packaging of JAX functions and PyTorch modules for
Tenstorrent chips, with a C runtime that runs the archives.

Importing ttpack stays light: `ttpack.runtime` must work with neither JAX
nor PyTorch installed, so the compiler is imported only when `build` runs.
"""

__version__ = "0.1.0"


def build(fn_or_module, example_inputs, *, output, params=None, options=None, target="cpu", **kwargs):
    """Compiles a JAX function (fn(params, *inputs)) or a torch.nn.Module and
    its weights into one .ttpack archive at `output`; returns its path. See
    ttpack.build_api.build."""
    from .build_api import build as _build

    return _build(fn_or_module, example_inputs, output=output, params=params, options=options,
                  target=target, **kwargs)


def __getattr__(name):
    if name == "BuildSpec":
        from .build_api import BuildSpec

        return BuildSpec
    if name == "BuildError":
        from .errors import BuildError

        return BuildError
    raise AttributeError(f"module 'ttpack' has no attribute {name!r}")
