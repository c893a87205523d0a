"""ttpack's PJRT plugin "tt": JAX and torch_xla compile with ttpack and run
on ttpack's runtime (its CPU device, emulating the chip; no chip is used).

The plugin is a C library (runtime_c/pjrt/tt_plugin.c, installed here as
libttpack_pjrt.so). Frameworks load it by path; `load()` loads the same path
first and registers the compiler (compiler.py) that the library calls back
for Client_Compile and for deserializing executables. Everything else a
framework calls is answered in C.

    jax.jit(f, backend="tt")                       # jax_plugin.py, via the jax_plugins entry point
    xr.set_device_type("TT"); xm.xla_device()      # torch_xla_plugin.py, via torch_xla.plugins
"""

from __future__ import annotations

import atexit
import ctypes
import os
import threading
from pathlib import Path

LIBRARY_NAME = "libttpack_pjrt.so"

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_callback = None  # the ctypes function object; it must outlive every call into it
_custom_options: dict[str, object] = {}

# void compiler(int kind, const char* tag, const char* format, size_t, const char* code, size_t,
#               const char* options, size_t, tt_compile_result* result)
_COMPILER_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def library_path() -> str:
    """The plugin library's path (what frameworks dlopen); TTPACK_PJRT_LIBRARY
    overrides it (e.g. with a sanitizer build)."""
    override = os.environ.get("TTPACK_PJRT_LIBRARY")
    if override:
        return override
    # next to this file in an installed wheel; editable installs list the
    # build tree's copy on the package path too (as ttpack.runtime finds its library)
    for folder in [Path(__file__).parent, *map(Path, __path__)]:
        if (folder / LIBRARY_NAME).exists():
            return str((folder / LIBRARY_NAME).resolve())
    raise FileNotFoundError(f"ttpack's PJRT plugin {LIBRARY_NAME} is missing next to {__file__}: reinstall "
                            f"ttpack (pip install . builds it with the runtime)")


def _stop() -> None:
    """At exit: no call may enter the interpreter once it finalizes."""
    if _lib is not None:
        _lib.tt_pjrt_set_compiler(None)


def load() -> ctypes.CDLL:
    """Loads the plugin library and registers ttpack's compiler with it
    (idempotent). Must run before a framework creates its tt client."""
    global _lib, _callback
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(library_path())
            lib.tt_pjrt_set_compiler.argtypes = [ctypes.c_void_p]
            lib.tt_pjrt_set_compiler.restype = None
            lib.tt_pjrt_compile_count.restype = ctypes.c_long
            lib.tt_pjrt_result_error.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
            lib.tt_pjrt_result_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                               ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                               ctypes.c_size_t]
            lib.tt_pjrt_result_set.restype = ctypes.c_int
            from .compiler import make_callback

            _callback = _COMPILER_FN(make_callback(lib))
            lib.tt_pjrt_set_compiler(ctypes.cast(_callback, ctypes.c_void_p))
            atexit.register(_stop)
            _lib = lib
        return _lib


def compile_count() -> int:
    """How many programs the plugin compiled in this process (a program
    loaded from a serialized executable or JAX's persistent cache is not
    compiled)."""
    return int(load().tt_pjrt_compile_count())


def set_custom_compile_options(options: dict) -> None:
    """TT-XLA's `torch_xla.set_custom_compile_options`: ttpack compile options
    (`ttpack build -O` names, plus `target`) for the programs torch_xla
    compiles on the TT device from now on. They are checked when a program
    compiles, with `ttpack build`'s errors."""
    if not isinstance(options, dict):
        raise TypeError(f"set_custom_compile_options takes a dict, not {type(options).__name__}")
    with _lock:
        _custom_options.clear()
        _custom_options.update({str(k): v for k, v in options.items()})


def custom_compile_options() -> dict:
    with _lock:
        return dict(_custom_options)
