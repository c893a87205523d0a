"""`case` in archives: an int32 scalar index picks one of the op's branch
regions, each taking the case's other inputs to its outputs. The op verifier
(op_verify.c) checks the index's type, the branch list (in range, no region
twice) and that every branch has the case's signature; the region-tree rules
of test_while_verify apply as well. Archives are assembled by hand so each
case breaks one rule; the well-formed one runs every branch, and an index out
of range runs the last (StableHLO's case).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_c_api import INPUT, expect_refused, wrap
from test_op_verify import F32, I32, Ops

import ttpack.runtime as rt

# Tensors: program inputs index 0, x 1; case output 2; branch 0 (x + x):
# input 3, result 4; branch 1 (x * x): input 5, result 6; branch 2 (-x):
# input 7, result 8; 9: a second case's output.


def case_archive(branches=(0, 1, 2), index_tensor=0, branch_outputs=(4, 6, 8), extra_input=False,
                 second_case=False) -> bytes:
    def build(seg_offset, seg_hash):
        f = Ops()
        t = [f.typed((), I32, INPUT), f.typed((2,), F32, INPUT)]  # 0, 1
        t += [f.typed((2,), F32) for _ in range(7)]               # 2-8
        t += [f.typed((2,), F32)]                                 # 9: a second case's output
        attrs = [("branches", list(branches))]
        ins = [index_tensor, 1] + ([1] if extra_input else [])
        ops = [f.op("case", ins, [2], attrs)]
        if second_case:
            ops.append(f.op("case", [0, 1], [9], attrs))
        regions = [f.region([3], [branch_outputs[0]], [f.op("add", [3, 3], [4])]),
                   f.region([5], [branch_outputs[1]], [f.op("multiply", [5, 5], [6])]),
                   f.region([7], [branch_outputs[2]], [f.op("neg", [7], [8])])]
        prog = f.program(t, [("index", 0), ("x", 1)], [("y", 2)], ops, regions=regions)
        return f.finish([prog])
    return wrap(build)


def test_well_formed_case_runs_the_branch_its_index_picks():
    model = rt.load(case_archive())
    x = np.array([1.5, -2.0], np.float32)
    for index, want in [(0, x + x), (1, x * x), (2, -x), (3, -x), (1 << 30, -x), (-1, -x)]:
        np.testing.assert_array_equal(model(np.int32(index), x), want, err_msg=f"index {index}")


def test_branch_order_is_the_attribute_order():
    model = rt.load(case_archive(branches=(2, 0, 1)))
    x = np.array([3.0, 0.5], np.float32)
    np.testing.assert_array_equal(model(np.int32(0), x), -x)
    np.testing.assert_array_equal(model(np.int32(1), x), x + x)


def test_index_must_be_an_int32_scalar(ttpack_run_exe, tmp_path):
    expect_refused(case_archive(index_tensor=1), rt.InvalidArchiveError, "case",
                   "the branch index is float32[2], expected an int32 scalar", exe=ttpack_run_exe, tmp_path=tmp_path)


@pytest.mark.parametrize("branches, message", [
    ((0, 1, 5), "branch 2 names region 5"),
    ((0, 1, 1), "branches 1 and 2 are one region 1"),
    ((), "branches"),
])
def test_bad_branch_lists(branches, message):
    expect_refused(case_archive(branches=branches), rt.InvalidArchiveError, message)


def test_a_branch_may_return_its_input():
    model = rt.load(case_archive(branch_outputs=(4, 5, 8)))
    x = np.array([3.0, 0.5], np.float32)
    np.testing.assert_array_equal(model(np.int32(1), x), x)


def test_branch_signatures_must_match_the_case():
    expect_refused(case_archive(extra_input=True), rt.InvalidArchiveError, "branch 0 takes 1 values, the case passes 2")
    expect_refused(case_archive(branch_outputs=(4, 6, 4)), rt.InvalidArchiveError, "region 2 output 0 (tensor 4)")


def test_branch_run_by_two_cases_or_none():
    expect_refused(case_archive(second_case=True), rt.InvalidArchiveError, "is run by two operations")
    expect_refused(case_archive(branches=(0, 1)), rt.InvalidArchiveError, "region 2 is run by no operation")
