"""Tensor types shared by the compiler, the archive writer and the tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name -> ttpack.fb.DataType code (ttpack/archive/ttpack.fbs). The CPU runtime
# computes in the first three; the others can be named in an archive so that
# later targets (bfloat16, TTNN block floats) need no format change.
DTYPE_CODES = {
    "float32": 1,
    "int32": 7,
    "bool": 13,
    "float16": 2,
    "bfloat16": 3,
    "float64": 4,
    "int8": 5,
    "int16": 6,
    "int64": 8,
    "uint8": 9,
    "uint16": 10,
    "uint32": 11,
    "uint64": 12,
}
# TTNN's block floats: named in archives for later targets, never computed here
BLOCK_FLOAT_CODES = {"bfloat8_b": 14, "bfloat4_b": 15}
DTYPE_NAMES = {code: name for name, code in {**DTYPE_CODES, **BLOCK_FLOAT_CODES}.items()}
RUNTIME_DTYPES = ("float32", "int32", "bool")


def dtype_code(name: str) -> int:
    return DTYPE_CODES[name]


def dtype_name(code: int) -> str:
    return DTYPE_NAMES[code]


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: str  # a numpy dtype name: "float32", "int32", "bool", ...

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"unknown element type {self.dtype!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting; raises ValueError naming the shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from None
