"""Control flow in archives (format 2.1): a `while` op names two regions of
its program, its cond and body. The decoder (program.c) and the op verifier
(op_verify.c) check what the executor relies on: region indices in range,
cond returning one bool scalar, body taking and returning the carried types,
regions isolated from the tensors around them, and regions forming a tree
(no recursion, each region run by exactly one op). Archives are assembled
by hand with test_c_api's flatbuffer helpers so each case breaks one rule;
the well-formed one runs and gives the loop's result.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_c_api import INPUT, INTERMEDIATE, expect_refused, wrap
from test_op_verify import BOOL, F32, I32, Ops

import ttpack.runtime as rt

# Tensors of the reference loop: carried (i, n, one, x); cond i < n; body
# (i + one, n, one, x + x). Program inputs 0-3, while outputs 4-7, cond's
# inputs 8-11 and result 12, body's inputs 13-16 and results 17, 18.
CARRIED = [((), I32), ((), I32), ((), I32), ((2,), F32)]


def loop_archive(cond_attr=0, body_attr=1, body_outputs=(17, 14, 15, 18), cond_output=12, body_extra_ops=(),
                 extra_regions=0, second_while=False, body_inputs=(13, 14, 15, 16), body_reads_x=16,
                 cond_result_type=((), BOOL), cond_inputs=(8, 9, 10, 11)) -> bytes:
    def build(seg_offset, seg_hash):
        f = Ops()
        t = [f.typed(s, d, INPUT) for s, d in CARRIED]
        t += [f.typed(s, d) for s, d in CARRIED]                  # 4-7 while outputs
        t += [f.typed(s, d) for s, d in CARRIED]                  # 8-11 cond inputs
        t += [f.typed(*cond_result_type)]                         # 12
        t += [f.typed(s, d) for s, d in CARRIED]                  # 13-16 body inputs
        t += [f.typed((), I32), f.typed((2,), F32)]               # 17, 18
        t += [f.typed(s, d) for s, d in CARRIED]                  # 19-22 second while's outputs
        attrs = [("cond", [cond_attr]), ("body", [body_attr])]
        ops = [f.op("while", [0, 1, 2, 3], [4, 5, 6, 7], attrs)]
        if second_while:
            ops.append(f.op("while", [0, 1, 2, 3], [19, 20, 21, 22], attrs))
        cond = f.region(list(cond_inputs), [cond_output], [f.op("lt", [8, 9], [12])])
        body_ops = [f.op("add", [13, 15], [17]), f.op("add", [body_reads_x, 16], [18]), *[
            f.op(name, ins, outs, a) for name, ins, outs, a in body_extra_ops]]
        body = f.region(list(body_inputs), list(body_outputs), body_ops)
        regions = [cond, body] + [f.region([], [], []) for _ in range(extra_regions)]
        prog = f.program(t, [("i", 0), ("n", 1), ("one", 2), ("x", 3)], [("y", 7), ("steps", 4)], ops,
                         regions=regions)
        return f.finish([prog])
    return wrap(build)


def run_loop(data, n):
    x = np.array([1.5, -2.0], np.float32)
    y, steps = rt.load(data)(np.int32(0), np.int32(n), np.int32(1), x)
    return y, steps, x


def test_well_formed_loop_runs():
    for n in (0, 1, 5):
        y, steps, x = run_loop(loop_archive(), n)
        np.testing.assert_array_equal(y, x * 2.0 ** n)
        assert int(steps) == n


@pytest.mark.parametrize("attr", ["cond_attr", "body_attr"])
def test_region_index_out_of_range(attr, ttpack_run_exe, tmp_path):
    expect_refused(loop_archive(**{attr: 5}), rt.InvalidArchiveError, "while", "expected 0 to 1",
                   exe=ttpack_run_exe, tmp_path=tmp_path)


def test_cond_and_body_are_one_region():
    expect_refused(loop_archive(body_attr=0), rt.InvalidArchiveError, "cond and body are one region")


def test_body_returning_other_types():
    # body returns the bool of cond's tensor... from another region; use its own i twice instead
    expect_refused(loop_archive(body_outputs=(17, 14, 15, 17)), rt.InvalidArchiveError,
                   "body's output value 3 is int32[]", "the loop carries float32[2]")


def test_cond_taking_fewer_values():
    expect_refused(loop_archive(cond_inputs=(8, 9, 10)), rt.InvalidArchiveError,
                   "cond's input has 3 values, the loop carries 4")


def test_cond_returning_a_non_bool():
    expect_refused(loop_archive(cond_result_type=((), I32)), rt.InvalidArchiveError)
    expect_refused(loop_archive(cond_output=8), rt.InvalidArchiveError, "cond returns int32[]",
                   "expected a bool scalar")


def test_region_reading_a_tensor_of_the_program():
    expect_refused(loop_archive(body_reads_x=3), rt.InvalidArchiveError, "region 1 operation 1 'add'",
                   "of another region")


def test_region_returning_a_tensor_it_does_not_compute():
    expect_refused(loop_archive(body_outputs=(17, 14, 15, 3)), rt.InvalidArchiveError,
                   "region 1 output 3 (tensor 3) is not computed in the region")


def test_recursion_is_refused():
    # the body runs a while whose regions are the loop's own cond and body
    extra = [("while", [13, 14, 15, 16], [19, 20, 21, 22], [("cond", [0]), ("body", [1])])]
    expect_refused(loop_archive(body_extra_ops=extra), rt.InvalidArchiveError, "of region 1 runs region 0",
                   "recursion")


def test_region_run_twice_or_never():
    expect_refused(loop_archive(second_while=True), rt.InvalidArchiveError, "is run by two operations")
    expect_refused(loop_archive(extra_regions=1), rt.InvalidArchiveError, "region 2 is run by no operation")


def test_region_inputs_must_be_fresh_intermediates():
    expect_refused(loop_archive(body_inputs=(13, 14, 15, 3), body_reads_x=3), rt.InvalidArchiveError,
                   "region 1 input 3 is tensor 3")
