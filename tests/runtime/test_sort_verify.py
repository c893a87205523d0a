"""`sort` with several keys in archives: sort(keys...) -> (the first key
sorted, int32 indices), lexicographic by the keys, with a descending and a
total_order flag per key. The op verifier checks the keys' shapes and the
flags' counts; the well-formed archive runs and orders ties by the next key,
then by index. Archives are assembled by hand (test_c_api's helpers).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_c_api import INPUT, expect_refused, wrap
from test_op_verify import F32, I32, Ops

import ttpack.runtime as rt


def sort_archive(key_shapes=((6,), (6,)), descending=(0, 1), total_order=(0, 0), dtypes=(F32, I32)) -> bytes:
    def build(seg_offset, seg_hash):
        f = Ops()
        t = [f.typed(s, d, INPUT) for s, d in zip(key_shapes, dtypes)]
        n = len(t)
        t += [f.typed(key_shapes[0], dtypes[0]), f.typed(key_shapes[0], I32)]
        attrs = [("dim", [0]), ("descending", list(descending)), ("stable", [1]), ("total_order", list(total_order))]
        ops = [f.op("sort", list(range(n)), [n, n + 1], attrs)]
        prog = f.program(t, [(f"k{i}", i) for i in range(n)], [("values", n), ("indices", n + 1)], ops)
        return f.finish([prog])
    return wrap(build)


def test_two_keys_run_lexicographically():
    k0 = np.array([1.0, 0.0, 1.0, -0.0, 1.0, 0.0], np.float32)
    k1 = np.array([5, 7, 9, 7, 5, 1], np.int32)
    values, indices = rt.load(sort_archive())(k0, k1)
    # ascending k0 (-0 == +0), ties by descending k1, then by index
    want = np.lexsort((np.arange(6), -k1.astype(np.int64), k0 + 0.0))
    np.testing.assert_array_equal(indices, want)
    np.testing.assert_array_equal(values.view(np.uint32), k0[want].view(np.uint32))  # bits kept (-0.0)


def test_keys_of_other_shapes_are_refused(ttpack_run_exe, tmp_path):
    expect_refused(sort_archive(key_shapes=((6,), (5,))), rt.InvalidArchiveError, "sort",
                   "key 1 is int32[5], the first key float32[6]", exe=ttpack_run_exe, tmp_path=tmp_path)


@pytest.mark.parametrize("kw, message", [
    ({"descending": (0,)}, "attribute 'descending' must hold 2 integer(s)"),
    ({"total_order": (0, 0, 1)}, "attribute 'total_order' must hold 2 integer(s)"),
    ({"descending": (0, 2)}, "key 1 has 2"),
])
def test_one_flag_per_key(kw, message):
    expect_refused(sort_archive(**kw), rt.InvalidArchiveError, message)
