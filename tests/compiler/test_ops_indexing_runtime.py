"""gather, update_slice and scatter in archives of one op, assembled by hand:
the C kernels against the registry's numpy references on the cases
frameworks fold away or rarely produce (empty batches and slices, no index
dims, rank-0 operands, int32 extremes as indices, partial windows, every
scatter mode on every element type), and the op verifier
(runtime_c/src/op_verify.c) refusing every count, type, shape and attribute
those kernels rely on to stay inside their buffers. Framework-level tests
are in test_ops_jax.py and test_ops_torch.py.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from test_ops_coverage2_runtime import BF16, BOOL, F32, I32, archive, run_against_reference
from test_c_api import expect_refused

import ttpack.runtime as rt

INT_MIN, INT_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


def data(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int32":
        return rng.integers(-50, 50, shape).astype(np.int32)
    x = rng.standard_normal(shape).astype(np.float32)
    return x.astype(ml_dtypes.bfloat16) if dtype == "bfloat16" else x


DTYPES = ["float32", "int32", "bool", "bfloat16"]

GATHERS = [
    # operand shape, indices, index_dims, slice_sizes
    ((4, 5, 6), [[1, 2], [3, 4], [-7, 9], [INT_MIN, INT_MAX]], (0, 2), (2, 3, 4)),   # partial, clamped
    ((4, 5, 6), [[[0], [4]], [[2], [-1]]], (1,), (4, 1, 6)),                          # rows along a middle dim
    ((4, 5, 6), [[2, 0, 1]], (2, 0, 1), (1, 5, 1)),                                   # index dims out of order
    ((4, 5, 6), [[], [], []], (), (2, 2, 2)),                                         # no index dims
    ((4, 5, 6), np.zeros((0, 2), np.int32), (0, 1), (1, 1, 6)),                       # empty batch
    ((4, 5, 6), [[1], [2]], (1,), (4, 0, 6)),                                         # empty slices
    ((4, 0, 6), [[1], [9]], (0,), (1, 0, 6)),                                         # empty operand dim
    ((), np.zeros((3, 0), np.int32), (), ()),                                          # rank-0 operand
    ((7,), [[3], [6], [-2]], (0,), (7,)),                                             # the whole operand
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,idx,dims,sizes", GATHERS, ids=[str(i) for i in range(len(GATHERS))])
def test_gather_kernel(rng, shape, idx, dims, sizes, dtype):
    x = data(rng, shape, dtype)
    i = np.asarray(idx, np.int32).reshape(np.asarray(idx).shape if np.asarray(idx).size else np.shape(idx))
    run_against_reference("gather", [x, i], {"index_dims": dims, "slice_sizes": sizes})


UPDATE_SLICES = [
    # operand shape, update shape, starts
    ((5, 6), (2, 3), [1, 2]),
    ((5, 6), (2, 3), [4, 5]),           # clamped to (3, 3)
    ((5, 6), (2, 3), [INT_MIN, INT_MAX]),
    ((2, 3, 4), (2, 1, 4), [-1, 2, 3]),
    ((5, 6), (5, 6), [2, 2]),
    ((5, 6), (0, 3), [1, 1]),           # empty update
    ((5, 0), (2, 0), [1, 0]),           # empty operand
    ((), (), []),                        # rank 0
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ushape,starts", UPDATE_SLICES, ids=[str(i) for i in range(len(UPDATE_SLICES))])
def test_update_slice_kernel(rng, shape, ushape, starts, dtype):
    x, u = data(rng, shape, dtype), data(rng, ushape, dtype)
    run_against_reference("update_slice", [x, u, np.asarray(starts, np.int32).reshape(len(shape))], {})


SCATTERS = [
    # operand shape, indices, index_dims, update shape
    ((6, 4), [[1], [3], [1], [5]], (0,), (4, 1, 4)),                              # rows, a duplicate
    ((6, 4), [[1], [-1], [6], [INT_MAX], [INT_MIN]], (0,), (5, 1, 4)),            # out of bounds dropped
    ((6, 5), [[0, 0], [5, 1], [2, 3], [4, 2]], (0, 1), (4, 2, 3)),                # partial windows dropped
    ((6, 5), [[1, 4], [0, 0], [1, 4]], (1, 0), (3, 1, 1)),                        # elements, dims swapped
    ((3, 4, 5), [[[2], [0]], [[1], [2]]], (2,), (2, 2, 3, 4, 1)),                 # 2-D batch, middle window
    ((6, 4), [[], []], (), (2, 2, 4)),                                            # no index dims: at 0
    ((6, 4), np.zeros((0, 1), np.int32), (0,), (0, 1, 4)),                        # empty batch
    ((6, 4), [[2], [3]], (0,), (2, 1, 0)),                                        # empty windows
    ((), np.zeros((2, 0), np.int32), (), (2,)),                                   # rank 0
]


# add and multiply are not defined on bool (the verifier refuses them: tested below)
SCATTER_MODES = [(d, m) for d in DTYPES for m in range(5) if not (d == "bool" and m in (1, 2))]


@pytest.mark.parametrize("dtype,mode", SCATTER_MODES,
                         ids=[f"{d}-{['assign', 'add', 'multiply', 'min', 'max'][m]}" for d, m in SCATTER_MODES])
@pytest.mark.parametrize("shape,idx,dims,ushape", SCATTERS, ids=[str(i) for i in range(len(SCATTERS))])
def test_scatter_kernel(rng, shape, idx, dims, ushape, dtype, mode):
    x, u = data(rng, shape, dtype), data(rng, ushape, dtype)
    i = np.asarray(idx, np.int32)
    run_against_reference("scatter", [x, i, u], {"index_dims": dims, "mode": (mode,)})


def test_scatter_float_specials_and_int_wrap():
    x = np.array([1.0, np.nan, -0.0, 3.0, 0.0], np.float32)
    u = np.array([np.nan, 2.0, 0.0, -np.inf, -0.0], np.float32).reshape(5, 1)
    i = np.arange(5, dtype=np.int32).reshape(5, 1)
    for mode in range(5):
        run_against_reference("scatter", [x, i, u], {"index_dims": (0,), "mode": (mode,)})
    xi = np.array([INT_MAX, INT_MIN, 7], np.int32)
    ui = np.array([1, -1, INT_MAX], np.int32).reshape(3, 1)
    for mode in (1, 2):
        run_against_reference("scatter", [xi, i[:3], ui], {"index_dims": (0,), "mode": (mode,)})


def gather_attrs(dims, sizes):
    return [("index_dims", dims), ("slice_sizes", sizes)]


@pytest.mark.parametrize("name,inputs,outputs,attrs,words", [
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1, 5], F32)], gather_attrs([0], [1, 5]), None),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1, 6], F32)], gather_attrs([0], [1, 6]),
     ["'slice_sizes' [1, 6] does not fit float32[4, 5]"]),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1, 5], F32)], gather_attrs([0], [-1, 5]),
     ["does not fit"]),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1], F32)], gather_attrs([0], [1]),
     ["'slice_sizes' must hold 2 integer(s)"]),
    ("gather", [([4, 5], F32), ([3, 2], I32)], [([3, 1, 5], F32)], gather_attrs([0], [1, 5]),
     ["index 2 dims, but attribute 'index_dims' names 1"]),
    ("gather", [([4, 5], F32), ([3, 2], I32)], [([3, 1, 1], F32)], gather_attrs([0, 0], [1, 1]),
     ["'index_dims' [0, 0] is not a set of dims"]),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1, 5], F32)], gather_attrs([2], [1, 5]),
     ["'index_dims' [2] is not a set of dims"]),
    ("gather", [([4, 5], F32), ([3, 1], F32)], [([3, 1, 5], F32)], gather_attrs([0], [1, 5]),
     ["int32 indices"]),
    ("gather", [([4, 5], F32), ([], I32)], [([1, 5], F32)], gather_attrs([], [1, 5]), ["int32 indices of rank >= 1"]),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 5], F32)], gather_attrs([0], [1, 5]),
     ["expected shape [3, 1, 5]"]),
    ("gather", [([4, 5], I32), ([3, 1], I32)], [([3, 1, 5], F32)], gather_attrs([0], [1, 5]),
     ["expected element type int32"]),
    ("gather", [([4, 5], F32), ([3, 1], I32)], [([3, 1, 5], F32)], [("index_dims", [0])],
     ["missing attribute 'slice_sizes'"]),
    ("update_slice", [([4, 5], F32), ([2, 6], F32), ([2], I32)], [([4, 5], F32)], [],
     ["update float32[2, 6] does not fit in float32[4, 5]"]),
    ("update_slice", [([4, 5], F32), ([2], F32), ([2], I32)], [([4, 5], F32)], [], ["element type and rank"]),
    ("update_slice", [([4, 5], F32), ([2, 2], I32), ([2], I32)], [([4, 5], F32)], [], ["element type and rank"]),
    ("update_slice", [([4, 5], F32), ([2, 2], F32), ([3], I32)], [([4, 5], F32)], [], ["starts must be int32[2]"]),
    ("update_slice", [([4, 5], F32), ([2, 2], F32), ([2], F32)], [([4, 5], F32)], [], ["starts must be int32[2]"]),
    ("update_slice", [([4, 5], F32), ([2, 2], F32), ([2], I32)], [([5, 4], F32)], [], ["expected shape [4, 5]"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 1, 5], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [5])], ["attribute 'mode' is 5, expected 0 to 4"]),
    ("scatter", [([4, 5], BOOL), ([3, 1], I32), ([3, 1, 5], BOOL)], [([4, 5], BOOL)],
     [("index_dims", [0]), ("mode", [1])], ["not defined on bool"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 1, 6], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["updates float32[3, 1, 6] do not match"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([2, 1, 5], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["do not match"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 5], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["do not match"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 1, 5], BF16)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["do not match"]),
    ("scatter", [([4, 5], F32), ([3, 2], I32), ([3, 1, 5], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["index 2 dims"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 1, 5], F32)], [([4, 5], F32)],
     [("index_dims", [3]), ("mode", [0])], ["is not a set of dims"]),
    ("scatter", [([4, 5], F32), ([3, 1], F32), ([3, 1, 5], F32)], [([4, 5], F32)],
     [("index_dims", [0]), ("mode", [0])], ["int32 indices"]),
    ("scatter", [([4, 5], F32), ([3, 1], I32), ([3, 1, 5], F32)], [([4, 4], F32)],
     [("index_dims", [0]), ("mode", [0])], ["expected shape [4, 5]"]),
])
def test_broken_indexing_ops_are_refused(name, inputs, outputs, attrs, words):
    blob = archive(name, inputs, outputs, attrs)
    if words is None:
        rt.load(blob)
    else:
        expect_refused(blob, rt.InvalidArchiveError, f"operation 0 '{name}' (model.py:7)", *words)


def test_gather_output_rank_is_bounded():
    # an output of rank 9 cannot even be a tensor of the plan; the verifier's
    # own rank check (idx.rank - 1 + x.rank <= 8) stands behind that
    blob = archive("gather", [([2] * 5, F32), ([2] * 4 + [1], I32)], [([2] * 4 + [1] * 5, F32)],
                   gather_attrs([0], [1] * 5))
    expect_refused(blob, rt.InvalidArchiveError, "rank 9 exceeds the maximum of 8")
