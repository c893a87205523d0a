"""Run .ttpack archives from Python: numpy in, numpy out.

    import ttpack.runtime as rt
    model = rt.load("mlp.ttpack")        # device="cpu"
    print(model.inputs, model.outputs)
    y = model(x)                          # or model.run({"x": x}) -> {"y": ...}

Needs only numpy and the compiled C runtime (libttpack_runtime), loaded with
ctypes, which releases the GIL for the duration of every C call. Contiguous
inputs of the right dtype are passed to C without copying.
"""

from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["load", "Model", "Program", "TensorSpec", "TTPackError", "InvalidArchiveError",
           "IncompatibleArchiveError", "IntegrityError", "InvalidInputError", "UnsupportedError",
           "ArchiveNotFoundError", "ArchiveIOError"]

_LIBRARY_NAME = "libttpack_runtime.so"


class TTPackError(Exception):
    """An error reported by the ttpack runtime; `code` is its status code."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class InvalidArchiveError(TTPackError):
    """The archive is malformed (truncated, corrupted, not an archive)."""


class IncompatibleArchiveError(TTPackError):
    """The archive needs a different runtime version."""


class IntegrityError(InvalidArchiveError):
    """A content hash does not match: the archive is corrupted."""


class InvalidInputError(TTPackError, ValueError):
    """Inputs do not match the program's signature."""


class UnsupportedError(TTPackError):
    """The archive is valid but uses something this runtime or device lacks."""


class ArchiveNotFoundError(TTPackError, FileNotFoundError):
    """No archive, program or device of that name."""


class ArchiveIOError(TTPackError, OSError):
    """The archive could not be read."""


# C status code -> exception class. TTP_INVALID_ARGUMENT (1) means bad inputs
# when running, and a bad path or handle when opening (see _check's default).
_ERRORS = {2: ArchiveNotFoundError, 3: ArchiveIOError, 4: InvalidArchiveError,
           5: IncompatibleArchiveError, 6: IntegrityError, 7: UnsupportedError}

# ttp_dtype codes <-> numpy. bfloat16 buffers hold the raw 16-bit patterns;
# with ml_dtypes installed (JAX brings it) they are ml_dtypes.bfloat16 arrays,
# without it bfloat16 outputs come back as float32 (exactly) and inputs may
# be float arrays, rounded to bfloat16 to nearest even. ml_dtypes is imported
# only for programs with bfloat16 inputs or outputs: its import takes
# hundreds of milliseconds, most of this module's cold start.
_DTYPES = {1: np.dtype(np.float32), 2: np.dtype(np.float16), 7: np.dtype(np.int32), 13: np.dtype(np.bool_)}


@functools.lru_cache(maxsize=None)
def _bf16() -> np.dtype | None:
    try:
        import ml_dtypes
    except ImportError:  # the runtime needs numpy only
        return None
    return np.dtype(ml_dtypes.bfloat16)


def _numpy_dtype(code: int) -> np.dtype:
    return (_bf16() or np.dtype(np.float32)) if code == _BF16_CODE else _DTYPES[code]


_BF16_CODE = 3


def _bf16_bits(a: np.ndarray) -> np.ndarray:
    """float -> bfloat16 bit patterns, round to nearest even; NaN -> 0x7FC0 (as tt-metal)."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32)
    bits = ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    return np.where(np.isnan(a), np.uint16(0x7FC0), bits)


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class _DeviceOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("num_threads", ctypes.c_int32)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_uint32),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("nbytes", ctypes.c_size_t)]


def _find_library() -> str:
    override = os.environ.get("TTPACK_RUNTIME_LIBRARY")
    if override:
        return override
    # Next to this file in an installed wheel; editable installs list the
    # build tree's copy on the package path too.
    for d in [Path(__file__).parent, *map(Path, __path__)]:
        if (d / _LIBRARY_NAME).exists():
            return str(d / _LIBRARY_NAME)
    raise ImportError(f"{_LIBRARY_NAME} not found next to {__file__}; reinstall ttpack "
                      f"(pip install .) or set TTPACK_RUNTIME_LIBRARY to the built library")


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    P, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    sigs = {
        "ttp_status_get_code": (ctypes.c_int, [P]),
        "ttp_status_message": (cp, [P]),
        "ttp_status_free": (None, [P]),
        "ttp_runtime_version": (cp, []),
        "ttp_model_open_file": (P, [cp, ctypes.POINTER(P)]),
        "ttp_model_open_memory": (P, [ctypes.c_char_p, sz, ctypes.POINTER(P)]),
        "ttp_model_free": (None, [P]),
        "ttp_model_program_count": (sz, [P]),
        "ttp_model_program_name": (cp, [P, sz]),
        "ttp_model_target": (cp, [P]),
        "ttp_model_metadata": (None, [P, ctypes.POINTER(P), ctypes.POINTER(sz)]),
        "ttp_device_open": (P, [cp, P, ctypes.POINTER(P)]),
        "ttp_device_free": (None, [P]),
        "ttp_program_load": (P, [P, cp, P, ctypes.POINTER(P)]),
        "ttp_program_free": (None, [P]),
        "ttp_program_name": (cp, [P]),
        "ttp_program_input_count": (sz, [P]),
        "ttp_program_output_count": (sz, [P]),
        "ttp_program_input": (_TensorInfo, [P, sz]),
        "ttp_program_output": (_TensorInfo, [P, sz]),
        "ttp_program_op_count": (sz, [P]),
        "ttp_program_run": (P, [P, ctypes.POINTER(_Buffer), sz, ctypes.POINTER(_Buffer), sz]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


_lib = _bind(ctypes.CDLL(_find_library()))


def _check(status, invalid_argument=TTPackError) -> None:
    if status:
        code = _lib.ttp_status_get_code(status)
        message = _lib.ttp_status_message(status).decode(errors="replace")
        _lib.ttp_status_free(status)
        raise {**_ERRORS, 1: invalid_argument}.get(code, TTPackError)(message, code)


def runtime_version() -> str:
    return _lib.ttp_runtime_version().decode()


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    bfloat16: bool = False  # the archive's type; dtype is float32 when ml_dtypes is missing

    def __repr__(self) -> str:
        return f"{self.name}: {'bfloat16' if self.bfloat16 else self.dtype.name}{list(self.shape)}"


def _spec(info: _TensorInfo) -> TensorSpec:
    shape = tuple(info.dims[i] for i in range(info.rank))
    return TensorSpec(info.name.decode(), shape, _numpy_dtype(info.dtype), info.dtype == _BF16_CODE)


class Program:
    """One program of an archive, loaded onto a device and ready to run."""

    def __init__(self, model: "Model", name: str | None):
        handle = ctypes.c_void_p()
        _check(_lib.ttp_program_load(model._handle, name.encode() if name else None,
                                     model._device, ctypes.byref(handle)))
        self._handle = handle
        self.device = model.device
        self.name = _lib.ttp_program_name(handle).decode()
        self.inputs = [_spec(_lib.ttp_program_input(handle, i))
                       for i in range(_lib.ttp_program_input_count(handle))]
        self.outputs = [_spec(_lib.ttp_program_output(handle, i))
                        for i in range(_lib.ttp_program_output_count(handle))]
        self.op_count = _lib.ttp_program_op_count(handle)

    def __del__(self):
        if getattr(self, "_handle", None) and _lib is not None:
            _lib.ttp_program_free(self._handle)
            self._handle = None

    def _prepare(self, arrays: Sequence) -> list[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise InvalidInputError(
                f"program '{self.name}' takes {len(self.inputs)} input(s) "
                f"({', '.join(map(repr, self.inputs))}), got {len(arrays)}")
        prepared = []
        for spec, x in zip(self.inputs, arrays):
            a = np.asarray(x)
            if a.shape != spec.shape:
                raise InvalidInputError(f"input '{spec.name}' must have shape {list(spec.shape)}, "
                                        f"got {list(a.shape)}")
            if spec.bfloat16:
                if a.dtype != _bf16() and a.dtype.kind != "f":
                    raise InvalidInputError(f"input '{spec.name}' must be bfloat16 (or float), got {a.dtype.name}")
                bits = a.view(np.uint16) if a.dtype == _bf16() else _bf16_bits(a)
                prepared.append(np.require(bits, np.uint16, ["C", "A"]))
                continue
            if a.dtype != spec.dtype:
                # float64 -> float32 and int64 / uint8 -> int32 are what numpy
                # users mean; crossing kinds (float <-> int <-> bool) never is.
                kinds = {"f": "f", "i": "iu", "b": "b"}[spec.dtype.kind]
                if a.dtype.kind not in kinds:
                    raise InvalidInputError(f"input '{spec.name}' must be {spec.dtype.name}, got {a.dtype.name}")
                if spec.dtype.kind == "i" and a.size:
                    info = np.iinfo(spec.dtype)
                    if a.min() < info.min or a.max() > info.max:
                        raise InvalidInputError(f"input '{spec.name}' has values outside {spec.dtype.name}'s range "
                                                f"[{info.min}, {info.max}] (the archive computes integers as int32)")
                a = a.astype(spec.dtype)
            # C-contiguous and aligned: passed to C as is, copied only when not
            prepared.append(np.require(a, spec.dtype, ["C", "A"]))
        return prepared

    def __call__(self, *arrays):
        """Runs on positional inputs; returns one array or a tuple of them."""
        outs = self._run(self._prepare(arrays))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def run(self, inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Runs on inputs by name; returns {output name: array}."""
        names = [s.name for s in self.inputs]
        missing = [n for n in names if n not in inputs]
        extra = [n for n in inputs if n not in names]
        if missing or extra:
            raise InvalidInputError(f"program '{self.name}' takes inputs {names}; "
                                    f"missing {missing}, unexpected {extra}")
        outs = self._run(self._prepare([inputs[n] for n in names]))
        return {s.name: o for s, o in zip(self.outputs, outs)}

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        outs = [np.empty(s.shape, np.uint16 if s.bfloat16 else s.dtype) for s in self.outputs]
        ins = (_Buffer * max(len(arrays), 1))(*[_Buffer(a.ctypes.data, a.nbytes) for a in arrays])
        res = (_Buffer * max(len(outs), 1))(*[_Buffer(o.ctypes.data, o.nbytes) for o in outs])
        _check(_lib.ttp_program_run(self._handle, ins, len(arrays), res, len(outs)), InvalidInputError)
        return [(o.view(_bf16()) if _bf16() is not None else _bf16_to_f32(o)) if s.bfloat16 else o
                for s, o in zip(self.outputs, outs)]

    def __repr__(self) -> str:
        return f"<ttpack.runtime.Program {self.name} on {self.device}: {self.inputs} -> {self.outputs}>"


class Model:
    """An opened archive. Calling it runs its first program."""

    def __init__(self, source: str | os.PathLike | bytes, device: str = "cpu", num_threads: int = 0):
        handle, dev = ctypes.c_void_p(), ctypes.c_void_p()
        options = _DeviceOptions(ctypes.sizeof(_DeviceOptions), num_threads)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            _check(_lib.ttp_model_open_memory(data, len(data), ctypes.byref(handle)))
        else:
            _check(_lib.ttp_model_open_file(os.fsencode(source), ctypes.byref(handle)))
        self._handle = handle
        try:
            _check(_lib.ttp_device_open(device.encode(), ctypes.byref(options), ctypes.byref(dev)))
        except TTPackError:
            _lib.ttp_model_free(handle)
            self._handle = None
            raise
        self._device = dev  # programs keep the C device alive on their own
        self.device = device
        self.target = _lib.ttp_model_target(handle).decode()
        # an archive built for a chip runs on the cpu device by emulating the
        # chip's numerics; it is not run on the chip
        self.emulated = self.target != device
        self.programs = [_lib.ttp_model_program_name(handle, i).decode()
                         for i in range(_lib.ttp_model_program_count(handle))]
        self._loaded: dict[str, Program] = {}

    def __del__(self):
        if _lib is None:
            return
        if getattr(self, "_device", None):
            _lib.ttp_device_free(self._device)
            self._device = None
        if getattr(self, "_handle", None):
            _lib.ttp_model_free(self._handle)  # programs hold their own references
            self._handle = None

    def program(self, name: str) -> Program:
        """The program of that name, loaded onto the device on first use."""
        if name not in self._loaded:
            self._loaded[name] = Program(self, name)
        return self._loaded[name]

    @property
    def _main(self) -> Program:
        return self.program(self.programs[0])

    @property
    def metadata_bytes(self) -> bytes:
        """The archive's msgpack metadata (decode with msgpack.unpackb)."""
        ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.ttp_model_metadata(self._handle, ctypes.byref(ptr), ctypes.byref(size))
        return ctypes.string_at(ptr, size.value)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._main.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._main.outputs

    def __call__(self, *arrays):
        return self._main(*arrays)

    def run(self, inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
        return self._main.run(inputs)

    def __repr__(self) -> str:
        how = f" (emulated on {self.device})" if self.emulated else ""
        return f"<ttpack.runtime.Model target={self.target}{how} programs={self.programs}>"


def load(source: str | os.PathLike | bytes, device: str = "cpu", num_threads: int = 0) -> Model:
    """Opens and verifies an archive (a path, or its bytes) and loads its
    first program onto `device` (the others load when first used).
    num_threads: threads the device computes with (0: its default, on the
    cpu device the number of cores the process may run on)."""
    model = Model(source, device, num_threads)
    model._main  # load now, so a bad program or device fails here, not at the first call
    return model
