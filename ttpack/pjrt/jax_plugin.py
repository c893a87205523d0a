"""The `jax_plugins` entry point: JAX calls initialize() when it discovers
plugins, and `tt` becomes a JAX platform (jax.devices("tt"),
jax.jit(f, backend="tt")).

The priority is below the CPU backend's (0), so `tt` never becomes JAX's
default backend: only code that asks for it runs on it.
"""

from __future__ import annotations

PRIORITY = -100


def _allow_persistent_cache() -> None:
    """JAX's persistent compilation cache serves only the platforms it names
    (tpu, gpu, cpu, neuron). tt executables serialize (to their ttpack
    archives) and load back, so the cache may serve tt too: this extends
    JAX's check to tt and leaves it unchanged for every other platform."""
    from jax._src import compilation_cache

    original = getattr(compilation_cache, "is_cache_used", None)
    enabled = getattr(compilation_cache, "_is_cache_enabled", None)
    if original is None or enabled is None or getattr(original, "_ttpack", False):
        return  # another JAX: its own rules apply

    def is_cache_used(backend) -> bool:
        if getattr(backend, "platform", None) == "tt":
            return enabled()
        return original(backend)

    is_cache_used._ttpack = True
    compilation_cache.is_cache_used = is_cache_used  # compiler.py looks it up on the module at each compile


class _QuietExperimentalNotice:
    """JAX initializes every registered backend at its first use of any, and
    warns then that a plugin platform is "experimental": with ttpack
    installed, every JAX program (`ttpack build` included) would print that
    about tt, whether it uses tt or not. This drops that one notice for tt;
    the device kind says what tt is ("n150 (emulated by ttpack on CPU)")."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("Platform 'tt' is experimental")


def initialize() -> None:
    import logging

    from jax._src import xla_bridge

    from . import library_path, load

    load()
    logging.getLogger(xla_bridge.__name__).addFilter(_QuietExperimentalNotice())
    xla_bridge.register_plugin("tt", priority=PRIORITY, library_path=library_path(),
                               options={"ttpack_client": "jax"})
    _allow_persistent_cache()
